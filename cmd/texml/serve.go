package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/texml/texml/api"
	"github.com/texml/texml/calls"
	"github.com/texml/texml/cluster"
	"github.com/texml/texml/conference"
	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/internal/lag"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media"
	"github.com/texml/texml/media/audio"
	"github.com/texml/texml/media/stt"
	"github.com/texml/texml/media/tts"
	"github.com/texml/texml/queue"
	"github.com/texml/texml/signaling"
	"github.com/texml/texml/store"
	"github.com/texml/texml/store/memory"
	redisstore "github.com/texml/texml/store/redis"
	"github.com/texml/texml/stream"
)

// runServe answers SIP calls until ctx ends (hang up everything) or a
// SIGTERM arrives on sigs (drain: refuse new calls, let active ones end).
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, sigs <-chan os.Signal) int {
	var f serveFlags
	fs := newServeFlagSet(&f)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: texml serve [flags]\n\nAnswers SIP calls and runs their TwiML app on real RTP media.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(f.envErrs) > 0 {
		fmt.Fprintln(stderr, "texml serve:", errors.Join(f.envErrs...))
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	srv, err := newService(&f, log)
	if err != nil {
		fmt.Fprintln(stderr, "texml serve:", err)
		return 2
	}
	defer srv.close()
	if err := srv.start(); err != nil {
		fmt.Fprintln(stderr, "texml serve:", err)
		return 1
	}
	fmt.Fprintf(stdout, "texml serve: SIP on %s (udp, tcp), HTTP on %s, RTP %s, public %s\n",
		srv.sipAddr, srv.httpLn.Addr(), f.rtpPorts, srv.public)
	log.Info("RTP I/O", "mode", srv.pacer.IO())
	select {
	case <-ctx.Done():
		log.Info("stopping: hanging up active calls", "active", srv.sip.Active())
	case sig := <-sigs:
		log.Info("draining", "signal", sig.String(), "active", srv.sip.Active(), "timeout", f.drain.String())
		srv.draining.Store(true)
		dctx, cancel := context.WithTimeout(ctx, f.drain) // SIGINT during a drain hangs up at once
		if err := srv.sip.Drain(dctx); err != nil {
			log.Warn("drain timed out; remaining calls hung up", "err", err)
		}
		cancel()
	}
	return 0
}

// newServeFlagSet returns the flags of `texml serve` bound to f.
func newServeFlagSet(f *serveFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("texml serve", flag.ContinueOnError)
	f.register(fs)
	return fs
}

// service is one running `texml serve`.
type service struct {
	f        *serveFlags
	log      *slog.Logger
	reg      *prometheus.Registry
	fetch    *fetcher.Fetcher
	cbs      *interpreter.Dispatcher
	pacer    *media.Pacer
	ports    *media.Ports
	sip      *signaling.Server
	router   *signaling.Routes
	speech   *tts.Cache
	sounds   *audio.Cache
	store    *store.Store // shared state: queues and conferences (memory, or Redis)
	node     *cluster.Node
	queues   *queue.Service      // the REST API dequeues members through it
	confs    *conference.Service // the REST API's Conference and Participant resources act through it
	calls    *calls.Service      // call records, and the REST API's Call resource
	public   net.IP
	sipAddr  string
	udp      net.PacketConn
	tcp      net.Listener
	httpLn   net.Listener
	http     *http.Server
	prof     *http.Server // --pprof, nil when off
	lag      *lag.Probe   // scheduling lag, for --max-lag and /metrics
	profAddr net.Addr
	draining atomic.Bool
}

// newService checks the configuration and builds every part; nothing
// listens yet. Missing Debian packages are reported here, by name.
func newService(f *serveFlags, log *slog.Logger) (*service, error) {
	routes, err := f.routes()
	if err != nil {
		return nil, err
	}
	trunks, err := f.trunks()
	if err != nil {
		return nil, err
	}
	connectors, err := f.siprecConnectors()
	if err != nil {
		return nil, err
	}
	lo, hi, err := portRange(f.rtpPorts)
	if err != nil {
		return nil, err
	}
	if f.maxCalls < 0 {
		return nil, fmt.Errorf("--max-calls %d: want 0 (no limit) or more", f.maxCalls)
	}
	if f.maxSetup < 0 {
		return nil, fmt.Errorf("--max-setup %d: want 0 (no limit) or more", f.maxSetup)
	}
	if f.maxLag < 0 {
		return nil, fmt.Errorf("--max-lag %s: want 0 (off) or more", f.maxLag)
	}
	if f.pacerShards < 0 || f.pacerShards > 256 {
		return nil, fmt.Errorf("--pacer-shards %d: want 0 (two per CPU) to 256", f.pacerShards)
	}
	if f.rtpIO != "auto" && f.rtpIO != "syscalls" {
		return nil, fmt.Errorf(`--rtp-io %q: want "auto" or "syscalls"`, f.rtpIO)
	}
	host, _, err := net.SplitHostPort(f.sipListen)
	if err != nil {
		return nil, fmt.Errorf("--sip-listen %q: %w", f.sipListen, err)
	}
	public, err := publicAddr(f.publicIP, host)
	if err != nil {
		return nil, err
	}
	registrar, err := f.registrar(public, log)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(f.recordingsDir, 0o755); err != nil {
		return nil, fmt.Errorf("--recordings-dir: %w", err)
	}
	synth, rec, streamer, err := speechEngines(f)
	if err != nil {
		return nil, err
	}
	ip := host
	if net.ParseIP(host) == nil || net.ParseIP(host).IsUnspecified() {
		ip = "0.0.0.0"
	}
	ports, err := media.NewPorts(ip, lo, hi)
	if err != nil {
		return nil, err
	}

	s := &service{f: f, log: log, reg: prometheus.NewRegistry(), public: public, sipAddr: f.sipListen, ports: ports, router: routes}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The recording URL's port is set again in start, once the HTTP
	// socket is bound: --http-listen may ask for any free port (":0").
	s.setRecordingBase(portOf(f.httpListen))
	metrics := signaling.NewMetrics(s.reg)
	s.lag = lag.Start(lagInterval)
	s.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "texml", Name: "scheduling_lag_seconds",
		Help: "The 99th percentile of how long runnable goroutines waited to run, over the last 100 ms (see --max-lag)."}, func() float64 { return s.lag.Lag().Seconds() }))
	var overloaded func() bool
	if f.maxLag > 0 {
		overloaded = func() bool { return s.lag.Lag() > f.maxLag }
	}
	s.fetch = fetcher.New(fetcher.Options{AuthToken: f.authToken, UserAgent: "texml/" + version, AllowAll: f.fetchAnyAddr})
	s.cbs = interpreter.NewDispatcher(metrics.Fetcher("callback", s.fetch), interpreter.DispatcherOptions{Logger: log})
	rtpMetrics := media.NewMetrics(s.reg)
	s.pacer = media.NewPacer(media.PacerOptions{Metrics: rtpMetrics, Syscalls: f.rtpIO == "syscalls", Shards: f.pacerShards})
	cacheDir := func(sub string) string {
		if f.cacheDir == "" {
			return ""
		}
		return filepath.Join(f.cacheDir, sub)
	}
	// The metered synthesizer sits under the cache, so that its latency is
	// the engine's; the cache's hits are counted from its Stats.
	s.speech = tts.NewCache(metrics.Synthesizer(synth), ttsEngine(f), tts.CacheOptions{Dir: cacheDir("tts")})
	s.sounds = audio.NewCache(metrics.Fetcher("audio", s.fetch), audio.CacheOptions{Dir: cacheDir("audio")})
	metrics.WatchCaches(s.speech, s.sounds)
	if f.redisURL == "" {
		s.store = memory.New(memory.WithMaxCallRecords(f.callRecords))
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s.store, err = redisstore.Open(ctx, f.redisURL)
		cancel()
		if err != nil {
			s.close()
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
	}
	node := interpreter.NewSid("NO")
	nctx, ncancel := context.WithTimeout(context.Background(), 10*time.Second)
	s.node, err = cluster.New(nctx, s.store.Nodes, node, cluster.Options{Bus: s.store.Bus, Logger: log})
	ncancel()
	if err != nil {
		s.close()
		return nil, err
	}
	queues := queue.New(s.store.Queues, queue.Options{Node: node, Logger: log, Remote: s.node})
	s.queues = queues
	s.node.SetPicker(queues)
	s.node.Handle(queue.DequeueKind, queues.DeliverDequeue)
	s.node.AddSweeper(func(ctx context.Context) { _, _ = queues.Sweep(ctx) })
	confs := conference.New(s.store.Conferences, signaling.Mixer{RecordingsDir: f.recordingsDir, Synth: s.speech, Audio: s.sounds}, conference.Options{Node: node, Logger: log, AccountSid: f.accountSid, Alive: s.node.Alive, Remote: s.node, Fetcher: s.fetch,
		Post: func(u, method string, p url.Values) {
			s.cbs.Send(interpreter.Callback{Kind: "conference-status", URL: u, Method: method, Params: p})
		}})
	s.node.SetSeater(confs)
	s.node.Handle(conference.ControlKind, confs.DeliverControl)
	s.confs = confs
	s.node.AddSweeper(func(ctx context.Context) { _, _ = confs.Sweep(ctx) })
	if f.callRecords < 1 {
		s.close()
		return nil, fmt.Errorf("--call-records %d: want 1 or more", f.callRecords)
	}
	if f.apiCPS < 0 {
		s.close()
		return nil, fmt.Errorf("--api-cps %g: want 0 (no limit) or more", f.apiCPS)
	}
	s.calls = calls.New(calls.Options{Node: node, Store: s.store.Calls, Sender: s.node, CPS: f.apiCPS, Logger: log})
	s.node.Handle(calls.UpdateKind, s.calls.Deliver)
	s.sip, err = signaling.New(signaling.Config{
		Queues: queues, Conferences: confs, Nodes: s.node, OnStatus: s.calls.Observe,
		Streams:          &stream.Dialer{AuthToken: f.authToken, AllowAll: f.fetchAnyAddr},
		SiprecConnectors: connectors,
		PublicIP:         public, SIPPort: portOf(f.sipListen), UserAgent: "texml/" + version,
		Router: routes, Trunks: trunks, Registrar: registrar, Fetcher: metrics.Fetcher("document", s.fetch), Callbacks: s.cbs, Logger: log,
		Metrics: metrics, MaxCalls: f.maxCalls, MaxSetup: f.maxSetup, Overloaded: overloaded,
		Media: signaling.MediaConfig{
			Ports: ports, Pacer: s.pacer, Metrics: rtpMetrics,
			Synth:             s.speech,
			Recognizer:        metrics.Recognizer(rec),
			Streamer:          metrics.Streamer(streamer),
			Audio:             s.sounds,
			RecordingsDir:     f.recordingsDir,
			InactivityTimeout: f.rtpTimeout, InbandDTMF: f.inbandDTMF,
			HoldKeepalive: holdKeepalive(f.holdKeepalive),
		},
	})
	if err != nil {
		s.close()
		return nil, err
	}
	s.node.SetDialer(s.sip)
	s.calls.SetPlacer(s.sip)
	return s, nil
}

// speechEngines finds espeak-ng (unless --tts-url) and the speech
// recognizer: a cloud provider over a WebSocket with --stt-url, else
// pocketsphinx unless --stt none. A missing program is an error naming
// its Debian package.
func speechEngines(f *serveFlags) (tts.Synthesizer, stt.Recognizer, stt.Streamer, error) {
	var synth tts.Synthesizer
	if f.ttsURL != "" {
		h := map[string]string{}
		if f.ttsToken != "" {
			h["Authorization"] = "Bearer " + f.ttsToken
		}
		synth = tts.NewHTTP(tts.HTTPOptions{URL: f.ttsURL, Headers: h})
	} else {
		e, err := tts.NewEspeak(tts.EspeakOptions{})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w (or set --tts-url for a cloud provider)", err)
		}
		synth = e
	}
	if f.sttURL != "" {
		ws, err := cloudSTT(f)
		if err != nil {
			return nil, nil, nil, err
		}
		// Transcription and Gather stream to the provider; Gather
		// sends a whole utterance again (Batch) when its stream broke.
		return synth, stt.Batch{Streamer: ws}, ws, nil
	}
	switch f.stt {
	case "pocketsphinx":
		rec, err := stt.NewSphinx(stt.SphinxOptions{})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w (or run with --stt none to go without speech recognition, or --stt-url for a cloud provider)", err)
		}
		return synth, rec, nil, nil
	case "none":
		return synth, nil, nil, nil
	}
	return nil, nil, nil, fmt.Errorf(`--stt %q: want "pocketsphinx" or "none"`, f.stt)
}

// cloudSTT is the --stt-url provider, with --stt-token and --stt-header.
func cloudSTT(f *serveFlags) (*stt.WebSocket, error) {
	h := map[string]string{}
	for k, v := range f.sttHeaders {
		h[k] = v
	}
	if f.sttToken != "" {
		h["Authorization"] = "Bearer " + f.sttToken
	}
	ws, err := stt.NewWebSocket(stt.WebSocketOptions{URL: f.sttURL, Headers: h})
	if err != nil {
		return nil, fmt.Errorf("--stt-url: %w", err)
	}
	return ws, nil
}

// setRecordingBase sets the prefix of RecordingUrl: --public-url, or our
// public address and HTTP port.
func (s *service) setRecordingBase(httpPort int) {
	s.router.RecordingBaseURL = s.f.publicURL
	if s.router.RecordingBaseURL == "" {
		s.router.RecordingBaseURL = "http://" + net.JoinHostPort(s.public.String(), strconv.Itoa(httpPort))
	}
}

// holdKeepalive maps --hold-keepalive to MediaConfig.HoldKeepalive, where
// 0 means the default and a negative value disables.
func holdKeepalive(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	var n int
	fmt.Sscan(p, &n)
	return n
}

// start opens the SIP (UDP and TCP) and HTTP sockets and serves them.
func (s *service) start() error {
	var err error
	if s.udp, s.tcp, err = listenSIP(s.f.sipListen); err != nil {
		return err
	}
	s.sipAddr = s.udp.LocalAddr().String()
	nodeAddr := s.f.nodeAddr
	if nodeAddr == "" {
		nodeAddr = net.JoinHostPort(s.public.String(), strconv.Itoa(s.udp.LocalAddr().(*net.UDPAddr).Port))
	}
	s.calls.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err = s.node.Start(ctx, nodeAddr)
	cancel()
	if err != nil {
		return err
	}
	if s.httpLn, err = net.Listen("tcp", s.f.httpListen); err != nil {
		return fmt.Errorf("HTTP %s: %w", s.f.httpListen, err)
	}
	// Before any INVITE is served: the router reads it for every call.
	s.setRecordingBase(s.httpLn.Addr().(*net.TCPAddr).Port)
	go func() { _ = s.sip.ServeUDP(s.udp) }()
	go func() { _ = s.sip.ServeTCP(s.tcp) }()
	s.http = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.http.Serve(s.httpLn) }()
	if s.f.pprof != "" {
		if s.prof, s.profAddr, err = servePprof(s.f.pprof); err != nil {
			return err
		}
	}
	return nil
}

// sipReadBuffer is the receive buffer asked for the SIP UDP socket: about
// a second of requests at a few thousand calls per second.
const sipReadBuffer = 4 << 20

// listenSIP binds SIP over UDP and TCP on one port. With port 0 (any free
// port) TCP takes the port the kernel gave UDP, and the pair is tried
// again if that port is taken for TCP: Contact names one port for both.
func listenSIP(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--sip-listen %q: %w", addr, err)
	}
	tries := 1
	if port == "0" || port == "" {
		tries = 20
	}
	for i := 0; ; i++ {
		udp, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("SIP UDP %s: %w", addr, err)
		}
		bound := net.JoinHostPort(host, strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port))
		tcp, err := net.Listen("tcp", bound)
		if err == nil {
			// One goroutine reads every SIP datagram; while it waits to
			// be scheduled behind a burst of calls, the kernel's default
			// buffer (208 kB, a few hundred messages) overflows and the
			// lost requests come back as retransmissions, more work
			// still. The kernel caps the size at net.core.rmem_max.
			_ = udp.(*net.UDPConn).SetReadBuffer(sipReadBuffer)
			return udp, tcp, nil
		}
		udp.Close()
		if i+1 >= tries {
			return nil, nil, fmt.Errorf("SIP TCP %s: %w", bound, err)
		}
	}
}

// close stops everything; safe on a partly started service.
func (s *service) close() {
	if s.node != nil {
		s.node.Close() // the other nodes stop handing this one work
	}
	if s.sip != nil {
		_ = s.sip.Close()
	}
	if s.calls != nil {
		// After the SIP server hung every call up: the last records are
		// written while the store is still open.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.calls.Close(ctx)
		cancel()
	}
	for _, h := range []*http.Server{s.http, s.prof} {
		if h != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = h.Shutdown(ctx)
			cancel()
		}
	}
	for _, c := range []io.Closer{s.udp, s.tcp} {
		if c != nil {
			_ = c.Close()
		}
	}
	// No call is left to use the caches: stop their background work.
	if s.speech != nil {
		_ = s.speech.Close()
	}
	if s.sounds != nil {
		_ = s.sounds.Close()
	}
	if s.cbs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = s.cbs.Close(ctx)
		cancel()
	}
	if s.pacer != nil {
		s.pacer.Close()
	}
	if s.fetch != nil {
		s.fetch.Close()
	}
	if s.store != nil {
		_ = s.store.Close()
	}
	if s.lag != nil {
		s.lag.Close()
	}
}

// lagInterval is how often the scheduling-lag probe reads the runtime's
// figures: a run queue that builds up is seen within a tenth of a second,
// and ten reads a second cost nothing.
const lagInterval = 100 * time.Millisecond

func (s *service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ok %d active calls\n", s.sip.Active())
	})
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	// The REST API, which serves RecordingUrl too; Twilio's paths and
	// Telnyx's TeXML ones.
	rest := api.New(api.Options{
		Accounts:          s.f.apiAccounts(),
		DefaultAccountSid: s.f.mainAccountSid(),
		RecordingsDir:     s.f.recordingsDir,
		MediaAuth:         s.f.mediaAuth,
		BaseURL:           s.router.RecordingBaseURL,
		Queues:            s.store.Queues,
		Dequeue:           s.queues.Dequeue,
		Conferences:       s.store.Conferences,
		ConferenceControl: s.confs,
		Calls:             s.calls,
		Applications:      s.router.Application,
		Logger:            s.log,
	})
	mux.Handle("/"+api.Version+"/", rest)
	mux.Handle("/v2/texml/", rest)
	return mux
}

// ttsEngine names the synthesizer in cache keys, so that switching
// engines never serves the other engine's audio.
func ttsEngine(f *serveFlags) string {
	if f.ttsURL != "" {
		return "http:" + f.ttsURL
	}
	return "espeak-ng"
}
