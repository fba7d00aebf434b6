package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/term"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media/stt"
	"github.com/texml/texml/media/tts"
	"github.com/texml/texml/sim"
	"github.com/texml/texml/stream"
	"github.com/texml/texml/verbs"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// callFlags are the flags of `texml call`.
type callFlags struct {
	from, to, method, fallback, statusCB, statusEvents string
	accountSid, authToken, trace, signingKey           string
	publicURL, direction, sendDigits                   string
	dialect, connectionID                              string
	realtime                                           bool
	inputs, outcomes, callees, params, parties         listFlag
}

func (f *callFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.from, "from", "+15005550006", "caller number (From)")
	fs.StringVar(&f.to, "to", "+15005550001", "called number (To)")
	fs.StringVar(&f.method, "method", "POST", "method for the voice URL: GET or POST")
	fs.StringVar(&f.fallback, "fallback-url", "", "URL requested when the app fails")
	fs.StringVar(&f.statusCB, "status-callback", "", "URL for call status callbacks")
	fs.StringVar(&f.statusEvents, "status-callback-event", "completed", "space-separated events: initiated ringing answered completed")
	fs.StringVar(&f.accountSid, "account-sid", "", "AccountSid sent to the app (default AC000…0)")
	fs.StringVar(&f.authToken, "auth-token", "", "sign requests with X-Twilio-Signature using this token")
	fs.StringVar(&f.signingKey, "signing-key", "", "Telnyx-style signing: base64 Ed25519 seed (32 bytes) or private key (64 bytes); adds telnyx-signature-ed25519 and telnyx-timestamp")
	fs.StringVar(&f.dialect, "dialect", "twiml", `"twiml" or "texml": Telnyx's defaults and request parameters where they differ from Twilio's (README, "TeXML dialect")`)
	fs.StringVar(&f.connectionID, "connection-id", "", "with --dialect texml: the ConnectionId sent to the app (the TeXML application's id)")
	fs.StringVar(&f.trace, "trace", "", `"json" prints one JSON event per line instead of a transcript`)
	fs.BoolVar(&f.realtime, "realtime", false, "wait in real time (Pause 30 takes 30 s)")
	fs.Var(&f.inputs, "input", "caller input, repeatable: dtmf:KEYS, speech:TEXT, silence, hangup, audio:SECONDS[:KEY], each optionally @MS; refer:SIP-URI@MS")
	fs.Var(&f.callees, "callee", "a party Dial can reach, repeatable: TARGET=STEP,... with TARGET a number, sip: URI, client:ID or *, STEP ring:S answer busy no-answer failed unreachable reject:CODE early talk:S refer:S:URI input:VALUE, and what it makes heard once answered: human[:S] machine[:S][:beep] fax silent")
	fs.Var(&f.outcomes, "dial-outcome", "scripted outcome of a Dial to a conference or a Refer, repeatable: completed:SECONDS, busy, no-answer, failed, canceled, ...; for a Refer also in-progress, rejected:CODE, hangup:SECONDS")
	fs.Var(&f.params, "param", "request parameter sent with every request, repeatable: NAME=VALUE (FromState=TX, SipHeader_X-Id=7); wins over derived ones")
	fs.StringVar(&f.direction, "direction", "inbound", `"inbound" (a caller calls --to) or "outbound-api" (a call created through the REST API to --to: it rings, a scripted callee answers — the --callee for --to, or one that answers at once with the --input — and the app runs on it)`)
	fs.StringVar(&f.sendDigits, "send-digits", "", "with --direction outbound-api: DTMF sent once the callee answers (the API's SendDigits)")
	fs.StringVar(&f.publicURL, "public-url", defaultPublicURL, "base of RecordingUrl: where the app would fetch recordings")
	fs.Var(&f.parties, "party", "another caller on the same simulated line, repeatable: "+partyUsage+
		" with TARGET a URL or file and KEY input, callee, dial-outcome, from, to, method or sid, e.g. 'agent@5000=agent.xml;input=hangup@20000'")
}

// defaultPublicURL is the base of RecordingUrl in a simulated call: where
// `texml serve` listens by default.
const defaultPublicURL = "http://localhost:8080"

// parseInterleaved parses flags that may come before or after the one
// positional argument, as users type them.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// target turns a CLI target into a URL the fetcher understands.
func target(t string) (string, error) {
	if u, err := url.Parse(t); err == nil && (u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "file") {
		return t, nil
	}
	return fetcher.FileURL(t)
}

func runCall(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("texml call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: texml call TARGET [flags]\n\nRuns a simulated call against TARGET, an http(s) URL or a file path.\n\nFlags:")
		fs.PrintDefaults()
	}
	var f callFlags
	f.register(fs)
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "texml call: need exactly one TARGET (a URL or a file path)")
		fs.Usage()
		return 2
	}
	opts, cfg, err := f.build(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "texml call:", err)
		return 2
	}
	others, err := parties(f.parties)
	if err != nil {
		fmt.Fprintln(stderr, "texml call:", err)
		return 2
	}

	out := newPrinter(stdout, f.trace == "json")
	out.quiet = cfg.ExtraParams // the user's own --param: not repeated on every request line
	if len(f.inputs) == 0 && isTerminal(stdin) {
		opts.Ask = terminalAsker(stdin, stderr) // questions stay out of a JSON trace
	}
	key, err := signingKey(f.signingKey)
	if err != nil {
		fmt.Fprintln(stderr, "texml call:", err)
		return 2
	}
	fe := fetcher.New(fetcher.Options{AuthToken: f.authToken, SigningKey: key, UserAgent: "texml/" + version})
	defer fe.Close()
	// Every warning and error is already an event in the transcript or the
	// JSON trace; logging them too would print each twice.
	log := slog.New(slog.DiscardHandler)
	cbs := interpreter.NewDispatcher(fe, interpreter.DispatcherOptions{Logger: log})

	// The simulated line: the caller waits in queues and meets others in
	// conferences with the code real calls run, in a store of its own.
	line := sim.NewWorld(sim.WorldOptions{Start: opts.Start, Realtime: opts.Realtime, AccountSid: cfg.AccountSid, Tracer: out})
	defer line.Close()
	out.partyOf = line.PartyOf
	cfg.Logger = log
	cfg.Streams = &stream.Dialer{AuthToken: f.authToken}
	if e, err := tts.NewEspeak(tts.EspeakOptions{}); err == nil {
		// The caller's speech:TEXT inputs are voiced on a media stream,
		// when espeak-ng is there; otherwise they are speech-like noise.
		opts.Synth = e
	}
	if rec, err := stt.NewSphinx(stt.SphinxOptions{}); err == nil {
		// What a voice agent says on a media stream is recognized for the
		// transcript, when pocketsphinx is there.
		opts.Recognizer = rec
	}
	first := sim.Party{Leg: opts, Config: cfg, Fetcher: fe, Callbacks: cbs}
	if f.direction == "outbound-api" {
		first.Place = &interpreter.Placement{Target: placeTarget(cfg.To), SendDigits: f.sendDigits}
	}
	if err := line.Add(first); err != nil {
		fmt.Fprintln(stderr, "texml call:", err)
		return 2
	}
	for i, p := range others {
		if err := line.Add(p.simParty(i, cfg, fe, cbs)); err != nil {
			fmt.Fprintln(stderr, "texml call:", err)
			return 2
		}
	}
	ended := line.Run(ctx)

	drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := cbs.Close(drain); err != nil {
		fmt.Fprintln(stderr, "texml call: some status callbacks were not delivered:", err)
	}
	out.end(ended[0].Result, ended[0].At)
	for i, e := range ended[1:] {
		out.endParty(e, others[i].at)
	}
	return 0
}

// build validates the flags into the leg options and call config.
func (f *callFlags) build(t string) (sim.Options, interpreter.Config, error) {
	var opts sim.Options
	var cfg interpreter.Config
	u, err := target(t)
	if err != nil {
		return opts, cfg, err
	}
	m := strings.ToUpper(f.method)
	if m != "GET" && m != "POST" {
		return opts, cfg, fmt.Errorf("--method must be GET or POST, not %q", f.method)
	}
	if f.trace != "" && f.trace != "json" {
		return opts, cfg, fmt.Errorf(`--trace takes "json", not %q`, f.trace)
	}
	for _, v := range f.inputs {
		in, err := sim.ParseInput(v)
		if err != nil {
			return opts, cfg, err
		}
		opts.Inputs = append(opts.Inputs, in)
	}
	for _, v := range f.callees {
		c, err := sim.ParseCallee(v)
		if err != nil {
			return opts, cfg, err
		}
		opts.Callees = append(opts.Callees, c)
	}
	for _, v := range f.outcomes {
		o, err := sim.ParseOutcome(v)
		if err != nil {
			return opts, cfg, err
		}
		opts.Outcomes = append(opts.Outcomes, o)
	}
	events := strings.Fields(f.statusEvents)
	for _, e := range events {
		switch e {
		case "initiated", "ringing", "answered", "completed":
		default:
			return opts, cfg, fmt.Errorf("--status-callback-event: unknown event %q (want initiated ringing answered completed)", e)
		}
	}
	if f.fallback != "" {
		if f.fallback, err = target(f.fallback); err != nil {
			return opts, cfg, err
		}
	}
	extra, err := requestParams(f.params)
	if err != nil {
		return opts, cfg, err
	}
	base, err := publicURL(f.publicURL)
	if err != nil {
		return opts, cfg, err
	}
	switch {
	case f.direction != "inbound" && f.direction != "outbound-api":
		return opts, cfg, fmt.Errorf(`--direction %q: want "inbound" or "outbound-api"`, f.direction)
	case f.sendDigits != "" && f.direction != "outbound-api":
		return opts, cfg, errors.New("--send-digits: only with --direction outbound-api (the API's SendDigits)")
	case strings.Trim(f.sendDigits, "0123456789*#wW") != "":
		return opts, cfg, fmt.Errorf("--send-digits %q: want digits, * # w W", f.sendDigits)
	}
	dialect, err := verbs.ParseDialect(f.dialect)
	if err != nil {
		return opts, cfg, fmt.Errorf("--dialect %q: %w", f.dialect, err)
	}
	if f.connectionID != "" && dialect != verbs.TeXML {
		return opts, cfg, errors.New("--connection-id: only with --dialect texml (Telnyx's ConnectionId)")
	}
	opts.Start = time.Now()
	opts.Realtime = f.realtime
	cfg = interpreter.Config{
		URL: u, Method: m, FallbackURL: f.fallback,
		StatusCallback: f.statusCB, StatusCallbackEvents: events,
		AccountSid: f.accountSid, From: f.from, To: f.to,
		ExtraParams: extra, RecordingBaseURL: base,
		Dialect: dialect, ConnectionID: f.connectionID,
	}
	return opts, cfg, nil
}

// managed are the standard parameters the call itself sets (Twilio's
// voice webhook page); --param may not replace them, since the interpreter's own
// decisions (CallStatus) or other flags (--from) own them.
var managed = map[string]string{
	"CallSid": "", "AccountSid": "--account-sid", "From": "--from", "To": "--to", "Caller": "--from",
	"Called": "--to", "CallStatus": "", "Direction": "", "ApiVersion": "", "ParentCallSid": "",
}

// requestParams parses --param NAME=VALUE flags. A NAME given twice keeps
// the last VALUE, as repeated flags usually do.
func requestParams(flags []string) (url.Values, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	p := url.Values{}
	for _, v := range flags {
		name, value, ok := strings.Cut(v, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("--param %q: want NAME=VALUE, e.g. --param FromState=TX", v)
		case strings.TrimSpace(name) == "":
			return nil, fmt.Errorf("--param %q: the NAME before = is empty", v)
		case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
			return nil, fmt.Errorf("--param %q: NAME %q contains spaces or control characters", v, name)
		}
		if flag, ok := managed[name]; ok {
			if flag != "" {
				return nil, fmt.Errorf("--param %s: set by the call itself; use %s", name, flag)
			}
			return nil, fmt.Errorf("--param %s: set by the call itself and cannot be replaced", name)
		}
		p.Set(name, value)
	}
	return p, nil
}

// publicURL validates --public-url: an absolute http(s) URL, which
// RecordingUrl continues with /2010-04-01/Accounts/….
func publicURL(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("--public-url %q: want an http(s) URL without query, e.g. https://example.ngrok.app", v)
	}
	return strings.TrimRight(v, "/"), nil
}

// isTerminal reports whether r is a terminal a person types at. Only then
// does a call without --input ask for the caller's input; otherwise (a
// pipe, a file, /dev/null, CI) the caller stays silent. A character device
// is not enough: /dev/null is one too. SyscallConn, unlike Fd, leaves the
// file's blocking mode alone.
func isTerminal(r io.Reader) bool {
	file, ok := r.(*os.File)
	if !ok {
		return false
	}
	rc, err := file.SyscallConn()
	if err != nil {
		return false
	}
	tty := false
	if err := rc.Control(func(fd uintptr) { tty = term.IsTerminal(int(fd)) }); err != nil {
		return false
	}
	return tty
}

// terminalAsker reads the caller's input from a person at the terminal.
// Lines are read by one goroutine so that a question can be abandoned
// when ctx ends (Ctrl-C); that goroutine ends with stdin.
func terminalAsker(in io.Reader, out io.Writer) sim.Asker {
	lines := make(chan string)
	var once sync.Once
	start := func() {
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(in)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
	}
	return func(ctx context.Context, q string) (string, error) {
		once.Do(start)
		fmt.Fprintf(out, "? %s: ", q)
		select {
		case line, ok := <-lines:
			if !ok {
				return "", io.EOF
			}
			return line, nil
		case <-ctx.Done():
			fmt.Fprintln(out)
			return "", ctx.Err()
		}
	}
}

// signingKey decodes --signing-key (fetcher.ParseSigningKey).
func signingKey(v string) (ed25519.PrivateKey, error) {
	key, err := fetcher.ParseSigningKey(v)
	if err != nil {
		return nil, fmt.Errorf("--signing-key: %w", err)
	}
	return key, nil
}

// placeTarget is what an outbound-api call to `to` dials: a SIP URI, a
// client: identity or a number, as the REST API reads its To.
func placeTarget(to string) interpreter.Target {
	switch {
	case strings.HasPrefix(to, "sip:"), strings.HasPrefix(to, "sips:"):
		return interpreter.Target{Kind: interpreter.SIPTarget, Addr: to}
	case strings.HasPrefix(to, "client:"):
		return interpreter.Target{Kind: interpreter.ClientTarget, Addr: strings.TrimPrefix(to, "client:")}
	}
	return interpreter.Target{Kind: interpreter.NumberTarget, Addr: to}
}
