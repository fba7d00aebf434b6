package main

import (
	"errors"
	"flag"
	"fmt"
	"github.com/texml/texml/store/memory"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/texml/texml/api"
	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/signaling"
	"github.com/texml/texml/verbs"
)

// defaultMaxSetup is --max-setup's default: calls in setup (admitted, not
// yet answered) beyond which INVITEs get 503. At 1,500 calls/s, each call
// fetching its document from an app on the same two cores: 200 refused
// 4,900 of 45,000 calls; 400 refused 900–1,664 with INVITE→200 p99 under
// 0.9 s and no timeout (3 runs); 1,000 took every call in two runs of
// three and collapsed in the third (13,514 failed, p50 2 s), because a
// longer setup queue on a saturated host means callers retransmitting.
// See docs/benchmarks.md ("One SIP writer, a fair SIPp, --max-setup 400").
const defaultMaxSetup = 400

// defaultMaxLag is --max-lag's default: off. At 20 ms (the RTP packet
// clock) it kept call setup fast at 1,500 calls/s but refused calls on a
// shared machine with CPU to spare, and in the e2e tests' single process;
// --max-setup and the SIP socket's buffer keep the server from collapsing
// without it (docs/benchmarks.md).
const defaultMaxLag = 0

// serveFlags are the flags of `texml serve`; each has an environment
// variable TEXML_<NAME> (upper case, dashes as underscores) that sets its
// default.
type serveFlags struct {
	sipListen, httpListen, rtpPorts, publicIP, publicURL       string
	voiceURL, voiceMethod, fallbackURL, statusCB, statusEvents string
	accountSid, authToken, recordingsDir, cacheDir, config     string
	stt, ttsURL, ttsToken, sipTrunk, pprof, rtpIO, redisURL    string
	nodeAddr, sttURL, sttToken                                 string
	sttHeaders                                                 headerFlag // --stt-header, repeatable
	dialect, signingKey, apiKey, connectionID                  string
	drain, rtpTimeout, holdKeepalive, maxLag                   time.Duration
	maxCalls, maxSetup, callRecords, pacerShards               int
	apiCPS                                                     float64
	envErrs                                                    []error // bad TEXML_* values, reported before starting
	file                                                       fileConfig
	inbandDTMF, mediaAuth, fetchAnyAddr                        bool
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	str := func(p *string, name, def, usage string) {
		fs.StringVar(p, name, env(name, def), usage+" (env "+envName(name)+")")
	}
	str(&f.sipListen, "sip-listen", "0.0.0.0:5060", "SIP address, UDP and TCP")
	str(&f.httpListen, "http-listen", ":8080", "HTTP address: the REST API (/2010-04-01/…, recordings), /healthz, /metrics")
	str(&f.rtpPorts, "rtp-ports", "10000-20000", "RTP port range")
	str(&f.nodeAddr, "node-addr", "", "host:port where the other nodes sharing --redis-url send SIP to this one (node-to-node legs for queues); default the public IP and the SIP port")
	str(&f.redisURL, "redis-url", "", "shared state (queues) in Redis: redis://[:PASSWORD@]HOST:PORT[/DB], rediss://, redis+sentinel://, redis+cluster:// (see store/redis); empty: in memory, one node")
	str(&f.publicIP, "public-ip", "", "address written into SDP and Contact (default: the SIP listen address, or this host's first non-loopback address)")
	str(&f.publicURL, "public-url", "", "base of RecordingUrl (default http://PUBLIC-IP:HTTP-PORT)")
	str(&f.voiceURL, "voice-url", "", "the app for every call: an http(s) URL or a file path")
	str(&f.voiceMethod, "voice-method", "POST", "method for the voice URL")
	str(&f.fallbackURL, "fallback-url", "", "URL requested when the app fails")
	str(&f.statusCB, "status-callback", "", "URL for call status callbacks")
	str(&f.statusEvents, "status-callback-event", "completed", "space-separated status callback events")
	str(&f.accountSid, "account-sid", "", "AccountSid sent to apps, and the REST API's account (default AC000…0)")
	str(&f.authToken, "auth-token", "", "sign the requests of TwiML routes with X-Twilio-Signature; Twilio's REST API's password for --account-sid (no token: no Twilio API)")
	str(&f.dialect, "dialect", "twiml", `the routes' dialect when they name none: "twiml" or "texml" (Telnyx's defaults, parameters, signatures; README, "TeXML dialect")`)
	str(&f.signingKey, "signing-key", "", "sign the requests of TeXML routes with Ed25519 (telnyx-signature-ed25519, telnyx-timestamp): base64 32-byte seed or 64-byte private key; a route's signing_key wins")
	str(&f.apiKey, "api-key", "", `Telnyx's TeXML REST API (/v2/texml/…) key for --account-sid, sent as "Authorization: Bearer KEY" (no key: no Telnyx API)`)
	str(&f.connectionID, "connection-id", "", "with --dialect texml: the --voice-url app's ConnectionId, and the ApplicationSid that Telnyx's API creates its calls with")
	str(&f.recordingsDir, "recordings-dir", "recordings", "where <Record> files are written")
	str(&f.cacheDir, "cache-dir", "", "disk cache for fetched audio and speech (default: memory only)")
	str(&f.config, "config", "", "YAML file with routes, trunks, deny patterns, clients and siprec_connectors (see README)")
	str(&f.sipTrunk, "sip-trunk", "", "default outbound route for <Dial><Number>: sip:host[:port][;transport=udp|tcp]")
	str(&f.ttsURL, "tts-url", "", "cloud text-to-speech over HTTP (docs/tts-http.md) instead of espeak-ng")
	str(&f.ttsToken, "tts-token", "", "sent to --tts-url as \"Authorization: Bearer TOKEN\"")
	str(&f.rtpIO, "rtp-io", "auto", `how the pacer reads and sends RTP: "auto" (batched in an io_uring per pacer goroutine where the kernel allows it, else one system call per packet) or "syscalls"`)
	str(&f.pprof, "pprof", "", "serve net/http/pprof on this address, a listener of its own (e.g. 127.0.0.1:6060); off when empty")
	str(&f.stt, "stt", "pocketsphinx", `speech recognizer for <Gather input="speech">: "pocketsphinx" or "none"`)
	str(&f.sttURL, "stt-url", "", `cloud speech recognition over a WebSocket (docs/stt-ws.md) instead of --stt: ws:// or wss:// URL; <Start><Transcription> streams to it, <Gather input="speech"> sends it each utterance`)
	str(&f.sttToken, "stt-token", "", "sent to --stt-url as \"Authorization: Bearer TOKEN\"")
	if v := os.Getenv(envName("stt-header")); v != "" {
		for _, h := range strings.Split(v, "\n") {
			if strings.TrimSpace(h) == "" {
				continue
			}
			if err := f.sttHeaders.Set(h); err != nil {
				f.envErrs = append(f.envErrs, fmt.Errorf("%s: %w", envName("stt-header"), err))
			}
		}
	}
	fs.Var(&f.sttHeaders, "stt-header", `"Name: value" header sent to --stt-url, such as a vendor's API key; repeatable (env `+envName("stt-header")+`, one header a line)`)
	dur := func(p *time.Duration, name string, def time.Duration, usage string) {
		d := def
		if v := os.Getenv(envName(name)); v != "" {
			parsed, err := time.ParseDuration(v)
			if err != nil {
				f.envErrs = append(f.envErrs, fmt.Errorf("%s=%q: %w", envName(name), v, err))
			} else {
				d = parsed
			}
		}
		fs.DurationVar(p, name, d, usage+" (env "+envName(name)+")")
	}
	dur(&f.drain, "drain-timeout", 5*time.Minute, "on SIGTERM, how long active calls may go on")
	dur(&f.rtpTimeout, "rtp-timeout", 60*time.Second, "hang up after this long without RTP (not while on hold)")
	dur(&f.holdKeepalive, "hold-keepalive", signaling.DefaultHoldKeepalive, "while a call is on hold, send an in-dialog OPTIONS this often and hang up when one goes unanswered; 0 disables")
	maxCalls, err := strconv.Atoi(env("max-calls", "0"))
	if err != nil {
		f.envErrs = append(f.envErrs, fmt.Errorf("%s: %w", envName("max-calls"), err))
	}
	fs.IntVar(&f.maxCalls, "max-calls", maxCalls, "refuse INVITEs beyond this many calls in progress with 503 and Retry-After; 0: no limit but the RTP ports (env "+envName("max-calls")+")")
	dur(&f.maxLag, "max-lag", defaultMaxLag, "refuse INVITEs with 503 and Retry-After while runnable goroutines wait longer than this to run (99th percentile over 100 ms: the process has more work than CPU); 0 disables")
	shards, err := strconv.Atoi(env("pacer-shards", "0"))
	if err != nil {
		f.envErrs = append(f.envErrs, fmt.Errorf("%s: %w", envName("pacer-shards"), err))
	}
	fs.IntVar(&f.pacerShards, "pacer-shards", shards, "goroutines that send and read every call's RTP, each every 20 ms for its share of the calls; 0: two per CPU (env "+envName("pacer-shards")+")")
	maxSetup, err := strconv.Atoi(env("max-setup", strconv.Itoa(defaultMaxSetup)))
	if err != nil {
		f.envErrs = append(f.envErrs, fmt.Errorf("%s: %w", envName("max-setup"), err))
	}
	fs.IntVar(&f.maxSetup, "max-setup", maxSetup, "refuse INVITEs with 503 and Retry-After while this many calls are in setup (not yet answered); 0: no limit (env "+envName("max-setup")+")")
	inband, err := strconv.ParseBool(env("inband-dtmf", "false"))
	if err != nil {
		f.envErrs = append(f.envErrs, fmt.Errorf("%s: %w", envName("inband-dtmf"), err))
	}
	fs.BoolVar(&f.inbandDTMF, "inband-dtmf", inband, "also detect DTMF tones in the audio (env "+envName("inband-dtmf")+")")
	mediaAuth, err := strconv.ParseBool(env("api-media-auth", "false"))
	if err != nil {
		f.envErrs = append(f.envErrs, fmt.Errorf("%s: %w", envName("api-media-auth"), err))
	}
	records, err := strconv.Atoi(env("call-records", strconv.Itoa(memory.DefaultMaxCallRecords)))
	if err != nil {
		f.envErrs = append(f.envErrs, fmt.Errorf("%s: %w", envName("call-records"), err))
	}
	fs.IntVar(&f.callRecords, "call-records", records, "without --redis-url: the most call records (the REST API's Calls) kept in memory; past it the calls that ended first are forgotten before their day is up (env "+envName("call-records")+")")
	cps, err := strconv.ParseFloat(env("api-cps", "0"), 64)
	if err != nil {
		f.envErrs = append(f.envErrs, fmt.Errorf("%s: %w", envName("api-cps"), err))
	}
	fs.Float64Var(&f.apiCPS, "api-cps", cps, "calls per second each account's POST /Calls starts dialing; the others wait in status queued, in order, as Twilio queues calls above an account's CPS; 0: no limit (env "+envName("api-cps")+")")
	anyAddr, err := strconv.ParseBool(env("fetch-any-address", "false"))
	if err != nil {
		f.envErrs = append(f.envErrs, fmt.Errorf("%s: %w", envName("fetch-any-address"), err))
	}
	fs.BoolVar(&f.fetchAnyAddr, "fetch-any-address", anyAddr, "let documents, audio and callbacks be fetched from link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254, 100.100.100.200), which are refused by default (env "+envName("fetch-any-address")+")")
	fs.BoolVar(&f.mediaAuth, "api-media-auth", mediaAuth, "ask for HTTP Basic auth on recording media (RecordingUrl) too; off: media is public, as Twilio's default (env "+envName("api-media-auth")+")")
}

func envName(flagName string) string {
	return "TEXML_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func env(flagName, def string) string {
	if v, ok := os.LookupEnv(envName(flagName)); ok {
		return v
	}
	return def
}

// fileConfig is the --config YAML file.
type fileConfig struct {
	AccountSid string            `yaml:"account_sid"`
	AuthToken  string            `yaml:"auth_token"`
	APIKey     string            `yaml:"api_key"` // Telnyx's API key of account_sid (--api-key)
	Routes     []signaling.Route `yaml:"routes"`
	// Trunks are the outbound routes for <Dial><Number>, tried in order;
	// Deny are number patterns no trunk may dial (a toll-fraud guard).
	Trunks []signaling.Trunk `yaml:"trunks"`
	Deny   []string          `yaml:"deny"`
	// Clients may REGISTER (digest auth in Realm, default the public
	// IP), are dialed with <Dial><Client>, and place calls as
	// client:IDENTITY once their INVITE passes the same digest (407).
	Clients []signaling.Client `yaml:"clients"`
	Realm   string             `yaml:"realm"`
	// Accounts may use the REST API besides the main one (account_sid,
	// auth_token, api_key), each seeing only its own resources: Twilio's
	// with its auth_token, Telnyx's with its api_key.
	Accounts []api.Account `yaml:"accounts"`
	// SiprecConnectors name the session recording servers of
	// <Start><Siprec connectorName="NAME">: NAME → the server's sip:
	// URI (RFC 7866), or a mapping of uri, username and password for a
	// server that challenges the INVITE, as Twilio's SIPREC connectors
	// are configured in its console.
	SiprecConnectors map[string]siprecConnector `yaml:"siprec_connectors"`
}

// siprecConnector is one entry of siprec_connectors: a plain sip: URI,
// or a mapping with uri, username and password.
type siprecConnector signaling.SiprecConnector

// UnmarshalYAML implements yaml.Unmarshaler: a scalar is the URI; a
// mapping may have uri, username and password, and nothing else.
func (c *siprecConnector) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&c.URI)
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a sip: URI or a mapping of uri, username and password", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var dst *string
		switch k.Value {
		case "uri":
			dst = &c.URI
		case "username":
			dst = &c.Username
		case "password":
			dst = &c.Password
		default:
			return fmt.Errorf("line %d: field %s not found in a SIPREC connector (uri, username, password)", k.Line, k.Value)
		}
		if err := v.Decode(dst); err != nil {
			return fmt.Errorf("siprec connector %s: %w", k.Value, err)
		}
	}
	return nil
}

// siprecConnectors checks the config file's SIPREC connectors: each
// needs a sip: URI with a host, and credentials come as a pair.
func (f *serveFlags) siprecConnectors() (map[string]signaling.SiprecConnector, error) {
	out := make(map[string]signaling.SiprecConnector, len(f.file.SiprecConnectors))
	for name, c := range f.file.SiprecConnectors {
		u, err := url.Parse(c.URI)
		if name == "" || err != nil || !strings.EqualFold(u.Scheme, "sip") || u.Opaque == "" {
			return nil, fmt.Errorf("--config: siprec_connectors[%q]: want a sip: URI (sip:[user@]host[:port][;transport=tcp]), got %q", name, c.URI)
		}
		if (c.Username == "") != (c.Password == "") {
			return nil, fmt.Errorf("--config: siprec_connectors[%q]: want both username and password, or neither", name)
		}
		out[name] = signaling.SiprecConnector(c)
	}
	return out, nil
}

// routes builds the router: the config file's routes in order, then
// --voice-url as the route for every other call.
func (f *serveFlags) routes() (*signaling.Routes, error) {
	r := &signaling.Routes{AccountSid: f.accountSid}
	var err error
	if r.Dialect, err = verbs.ParseDialect(f.dialect); err != nil {
		return nil, fmt.Errorf("--dialect %q: %w", f.dialect, err)
	}
	if r.SigningKey, err = fetcher.ParseSigningKey(f.signingKey); err != nil {
		return nil, fmt.Errorf("--signing-key: %w", err)
	}
	if f.config != "" {
		data, err := os.ReadFile(f.config)
		if err != nil {
			return nil, fmt.Errorf("--config: %w", err)
		}
		var fc fileConfig
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		if err := dec.Decode(&fc); err != nil {
			return nil, fmt.Errorf("--config %s: %w", f.config, err)
		}
		for i, a := range fc.Accounts {
			switch {
			case a.AuthToken == "" && a.APIKey == "":
				return nil, fmt.Errorf("--config %s: accounts[%d]: want an auth_token (Twilio's API), an api_key (Telnyx's) or both", f.config, i)
			case a.AuthToken != "" && (len(a.Sid) != 34 || !strings.HasPrefix(a.Sid, "AC")):
				return nil, fmt.Errorf("--config %s: accounts[%d]: an account with an auth_token wants a sid of AC followed by 32 hex digits", f.config, i)
			case strings.TrimSpace(a.Sid) == "" || strings.ContainsAny(a.Sid, "/?# "):
				return nil, fmt.Errorf("--config %s: accounts[%d]: want a sid that can stand in a URL path", f.config, i)
			}
		}
		r.Routes = fc.Routes
		f.file = fc
		if f.accountSid == "" {
			// The calls' account and the conferences' (newService) alike.
			f.accountSid = fc.AccountSid
			r.AccountSid = fc.AccountSid
		}
		if f.authToken == "" {
			f.authToken = fc.AuthToken
		}
		if f.apiKey == "" {
			f.apiKey = fc.APIKey
		}
	}
	if f.voiceURL != "" {
		r.Routes = append(r.Routes, signaling.Route{Match: "*", App: signaling.App{
			VoiceURL: f.voiceURL, VoiceMethod: f.voiceMethod, FallbackURL: f.fallbackURL,
			StatusCallback: f.statusCB, StatusCallbackEvents: strings.Fields(f.statusEvents),
			ConnectionID: f.connectionID}})
	} else if f.connectionID != "" {
		return nil, errors.New("--connection-id names the --voice-url app: set --voice-url (or connection_id on a route)")
	}
	for i := range r.Routes {
		a := &r.Routes[i].App
		for _, u := range []*string{&a.VoiceURL, &a.FallbackURL} {
			if *u == "" {
				continue
			}
			t, err := target(*u)
			if err != nil {
				return nil, fmt.Errorf("route %q: %w", r.Routes[i].Match, err)
			}
			*u = t
		}
	}
	return r, r.Validate()
}

// mainAccountSid is the account the calls run under: --account-sid, the
// config file's account_sid, or the interpreter's default AC000…0.
func (f *serveFlags) mainAccountSid() string {
	if f.accountSid != "" {
		return f.accountSid
	}
	return "AC" + strings.Repeat("0", 32)
}

// apiAccounts are the REST API's accounts: the main one, whose password
// is the auth token, then the config file's others. It is called after
// routes, which reads the file.
func (f *serveFlags) apiAccounts() []api.Account {
	return append([]api.Account{{Sid: f.mainAccountSid(), AuthToken: f.authToken, APIKey: f.apiKey}}, f.file.Accounts...)
}

// trunks builds the outbound routing table: the config file's trunks in
// order, then --sip-trunk for every other number. It is called after
// routes, which reads the file.
func (f *serveFlags) trunks() (*signaling.Trunks, error) {
	t := &signaling.Trunks{Trunks: f.file.Trunks, Deny: f.file.Deny}
	if f.sipTrunk != "" {
		t.Trunks = append(t.Trunks, signaling.Trunk{Name: "--sip-trunk", URI: f.sipTrunk})
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("trunks: %w", err)
	}
	return t, nil
}

// registrar builds the registrar for the config file's clients; nil when
// there are none (REGISTER is then refused with 405). The digest realm
// defaults to the public IP, which is what softphones are pointed at. It
// is called after routes, which reads the file.
func (f *serveFlags) registrar(public net.IP, log *slog.Logger) (*signaling.Registrar, error) {
	if len(f.file.Clients) == 0 {
		if f.file.Realm != "" {
			return nil, errors.New("--config: realm is set but there are no clients")
		}
		return nil, nil
	}
	realm := f.file.Realm
	if realm == "" {
		realm = public.String()
	}
	r, err := signaling.NewRegistrar(signaling.RegistrarConfig{Realm: realm, Clients: f.file.Clients, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	return r, nil
}

// portRange parses "10000-20000".
func portRange(s string) (int, int, error) {
	lo, hi, ok := strings.Cut(s, "-")
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil || a < 1024 || b > 65535 || a >= b {
		return 0, 0, fmt.Errorf("--rtp-ports %q: want LOW-HIGH within 1024-65535", s)
	}
	return a, b, nil
}

// publicAddr picks the address peers reach us at.
func publicAddr(flagValue, listenHost string) (net.IP, error) {
	if flagValue != "" {
		ip := net.ParseIP(flagValue)
		if ip == nil {
			return nil, fmt.Errorf("--public-ip %q is not an IP address", flagValue)
		}
		return ip, nil
	}
	if ip := net.ParseIP(listenHost); ip != nil && !ip.IsUnspecified() {
		return ip, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("finding this host's address: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP, nil
		}
	}
	return nil, errors.New("no non-loopback address found: set --public-ip")
}

// headerFlag is a repeatable "Name: value" flag.
type headerFlag map[string]string

var _ flag.Value = (*headerFlag)(nil)

// String implements flag.Value.
func (h headerFlag) String() string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k+": …") // values are secrets: not echoed in usage or errors
	}
	return strings.Join(names, ", ")
}

// Set implements flag.Value.
func (h *headerFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("header %q: want \"Name: value\"", name)
	}
	if *h == nil {
		*h = headerFlag{}
	}
	(*h)[name] = value
	return nil
}
