package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media/audio"
)

// Router finds the app for an inbound call: the interpreter configuration
// (voice URL, method, fallback, status callback, From/To, SIP parameters).
// An error rejects the call with 404.
type Router interface {
	Route(req *sip.Request) (interpreter.Config, error)
}

// Config is what a Server needs; every field but the optional ones must
// be set.
type Config struct {
	PublicIP  net.IP // written into SDP and Contact
	SIPPort   int    // our SIP port, for Contact
	UserAgent string

	Router    Router
	Trunks    *Trunks    // outbound routes for <Dial><Number>; nil: none
	Registrar *Registrar // REGISTERs, and the contacts of <Dial><Client>; nil: REGISTER gets 405, no client can be dialed
	Fetcher   interpreter.Fetcher
	Callbacks *interpreter.Dispatcher // optional
	Media     MediaConfig

	Logger  *slog.Logger // optional
	Metrics *Metrics     // optional

	// Handler, when set, runs each answered-or-not inbound call instead
	// of the interpreter: the Leg contract tests drive a real SIP leg
	// through it. ctx ends with cause interpreter.ErrHangup when the
	// caller hangs up.
	Handler func(ctx context.Context, leg interpreter.Leg, cfg interpreter.Config) interpreter.Result
}

// Server answers inbound calls. One Server serves all of a process's
// calls; each call's INVITE handler goroutine owns that call (sipgo ends
// the INVITE transaction when the handler returns, so it blocks for the
// whole call).
type Server struct {
	cfg    Config
	log    *slog.Logger
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	dua    sipgo.DialogUA

	draining atomic.Bool
	wg       sync.WaitGroup // one per call in progress
	mu       sync.Mutex
	calls    map[string]*Leg // by dialog ID
	base     context.Context // parent of every call; canceled by Close
	stop     context.CancelFunc
	version  sessionVersion
	beep     *audio.PCM // the Record beep, made once for every call
	udpAddr  sip.Addr   // our UDP listener, the local address of our UDP requests
}

// New creates a server; call ServeUDP/ServeTCP to accept requests.
func New(cfg Config) (*Server, error) {
	if cfg.Router == nil || cfg.Fetcher == nil || cfg.PublicIP == nil {
		return nil, errors.New("signaling: Router, Fetcher and PublicIP are required")
	}
	if err := cfg.Media.check(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "texml"
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(cfg.UserAgent))
	if err != nil {
		return nil, fmt.Errorf("signaling: user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(cfg.Logger))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("signaling: server: %w", err)
	}
	client, err := sipgo.NewClient(ua)
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("signaling: client: %w", err)
	}
	if err := cfg.Trunks.Validate(); err != nil {
		return nil, fmt.Errorf("signaling: trunks: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, ua: ua, srv: srv, client: client, calls: map[string]*Leg{},
		beep: audio.Tone([]float64{1000}, 500*time.Millisecond, 0.3)}
	s.base, s.stop = context.WithCancel(context.Background())
	s.dua = sipgo.DialogUA{Client: client, ContactHDR: sip.ContactHeader{
		Address: sip.Uri{Scheme: "sip", User: "texml", Host: cfg.PublicIP.String(), Port: cfg.SIPPort}}}
	srv.OnInvite(s.onInvite)
	srv.OnAck(s.onAck)
	srv.OnBye(s.onBye)
	srv.OnOptions(s.onOptions)
	srv.OnInfo(s.onInfo)
	if cfg.Registrar != nil {
		srv.OnRegister(s.onRegister)
	}
	return s, nil
}

// ServeUDP serves SIP over UDP on conn until the server closes. Our own
// requests over UDP leave from conn too, so that the callee's responses
// and in-dialog requests come back to the port in our Via and Contact.
func (s *Server) ServeUDP(conn net.PacketConn) error {
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		s.mu.Lock()
		s.udpAddr = sip.Addr{IP: a.IP, Port: a.Port, Hostname: a.IP.String()}
		s.mu.Unlock()
	}
	return s.srv.ServeUDP(conn)
}

// ServeTCP serves SIP over TCP on l until the server closes.
func (s *Server) ServeTCP(l net.Listener) error { return s.srv.ServeTCP(l) }

// Active is the number of calls in progress.
func (s *Server) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// admit counts a new call in, unless the server is draining; the check
// and the count are one step so that Drain cannot miss a call starting.
func (s *Server) admit() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.wg.Add(1)
	return true
}

// setDraining refuses calls from now on (see admit).
func (s *Server) setDraining() {
	s.mu.Lock()
	s.draining.Store(true)
	s.mu.Unlock()
}

// Drain stops accepting calls (new INVITEs get 503) and waits for the
// active ones to end, or for ctx; then it hangs up whatever is left.
func (s *Server) Drain(ctx context.Context) error {
	s.setDraining()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.stop() // hang up the calls still running
		<-done
		return ctx.Err()
	}
}

// Close hangs up every call, waits for them to end and closes the sockets.
func (s *Server) Close() error {
	s.setDraining()
	s.stop()
	s.wg.Wait()
	return s.ua.Close()
}

func (s *Server) lookup(req *sip.Request) *Leg {
	id, err := sip.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

func respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
}

// onInvite answers a new call, or a re-INVITE within a call.
func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s.onReinvite(req, tx)
		return
	}
	if !s.admit() {
		respond(tx, req, 503, "Service Unavailable")
		return
	}
	defer s.wg.Done()
	offer, err := ParseOffer(req.Body())
	switch {
	case errors.Is(err, ErrNoCodec):
		s.cfg.Metrics.rejected("488")
		respond(tx, req, 488, "Not Acceptable Here")
		return
	case err != nil:
		s.cfg.Metrics.rejected("400")
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request: "+err.Error(), nil))
		return
	}
	cfg, err := s.cfg.Router.Route(req)
	if err != nil {
		s.cfg.Metrics.rejected("404")
		respond(tx, req, 404, "Not Found")
		return
	}
	dlg, err := s.dua.ReadInvite(req, tx)
	if err != nil {
		s.cfg.Metrics.rejected("400")
		respond(tx, req, 400, "Bad Request")
		return
	}
	defer dlg.Close()
	_ = dlg.Respond(100, "Trying", nil)

	if cfg.CallSid == "" {
		cfg.CallSid = interpreter.NewSid("CA")
	}
	leg, err := s.newLeg(dlg, tx, offer, cfg.CallSid)
	if err != nil {
		s.log.Error("media setup failed", "err", err)
		s.cfg.Metrics.rejected("503")
		_ = dlg.Respond(503, "Service Unavailable", nil)
		return
	}
	s.mu.Lock()
	s.calls[dlg.ID] = leg
	s.mu.Unlock()
	defer func() {
		// Our BYE goes out first, so that a BYE or re-INVITE crossing it
		// still finds the call instead of getting 481.
		leg.close()
		s.mu.Lock()
		delete(s.calls, dlg.ID)
		s.mu.Unlock()
	}()
	_ = dlg.Respond(180, "Ringing", nil)
	s.run(dlg, leg, cfg)
}

// run executes the app for one call on the handler goroutine.
func (s *Server) run(dlg *sipgo.DialogServerSession, leg *Leg, cfg interpreter.Config) {
	// The call ends when the dialog does (the caller's BYE or CANCEL: the
	// cause ErrHangup tells the interpreter so, even mid-fetch) or when the
	// server closes (our hangup).
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stopDialog := context.AfterFunc(dlg.Context(), func() { cancel(interpreter.ErrHangup) })
	defer stopDialog()
	stopServer := context.AfterFunc(s.base, func() { cancel(nil) })
	defer stopServer()

	cfg.Logger = leg.baseLog // the interpreter adds call_sid itself
	cfg.Dialer = s
	if s.cfg.Metrics != nil {
		cfg.Observe = s.cfg.Metrics.verb
	}
	s.cfg.Metrics.started()
	began := time.Now()
	var res interpreter.Result
	if s.cfg.Handler != nil {
		res = s.cfg.Handler(ctx, leg, cfg)
	} else {
		res = interpreter.New(leg, s.cfg.Fetcher, s.cfg.Callbacks, cfg).Run(ctx)
	}
	s.cfg.Metrics.ended(res.Status, time.Since(began))
	leg.log.Info("call finished", "status", res.Status, "reason", res.Reason, "rtp", leg.sess.Stats())
}

// onReinvite answers a re-INVITE (hold, unhold, a new address) with our
// current SDP (RFC 3264 §8).
func (s *Server) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	leg := s.lookup(req)
	if leg == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	offer, err := ParseOffer(req.Body())
	if errors.Is(err, ErrNoCodec) {
		respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	if err != nil {
		respond(tx, req, 400, "Bad Request")
		return
	}
	body := leg.update(offer, s.version.next())
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(sip.HeaderClone(&s.dua.ContactHDR))
	_ = tx.Respond(res)
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	// An ACK for an unknown dialog is dropped: answering it is forbidden
	// (RFC 3261 §17.2.1), and sipgo's default handler would send 405.
	if leg := s.lookup(req); leg != nil && leg.dlg != nil {
		_ = leg.dlg.ReadAck(req, tx)
	}
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	leg := s.lookup(req)
	if leg == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if leg.out != nil {
		// The callee of an outbound leg hangs up.
		leg.out.end()
		respond(tx, req, 200, "OK")
		return
	}
	if err := leg.dlg.ReadBye(req, tx); err != nil {
		leg.log.Warn("BYE", "err", err)
	}
}

// onRegister answers a REGISTER on its own goroutine: the registrar
// does no I/O, so the response goes out before the handler returns and
// sipgo ends the transaction (pitfall 1 of the style guide).
func (s *Server) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(s.cfg.Registrar.Register(req))
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO"))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp, application/dtmf-relay, application/dtmf"))
	_ = tx.Respond(res)
}

// onInfo takes DTMF sent as SIP INFO: application/dtmf-relay
// ("Signal=5\r\nDuration=160") or application/dtmf ("5").
func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	leg := s.lookup(req)
	if leg == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.ToLower(strings.TrimSpace(h.Value()))
	}
	digit, ok := infoDigit(ct, string(req.Body()))
	if !ok {
		respond(tx, req, 415, "Unsupported Media Type")
		return
	}
	respond(tx, req, 200, "OK")
	leg.digit(digit)
}

func infoDigit(contentType, body string) (byte, bool) {
	contentType, _, _ = strings.Cut(contentType, ";")
	var sig string
	switch strings.TrimSpace(contentType) {
	case "application/dtmf-relay":
		for _, line := range strings.Split(body, "\n") {
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
				sig = strings.TrimSpace(v)
			}
		}
	case "application/dtmf":
		sig = strings.TrimSpace(body)
	default:
		return 0, false
	}
	switch {
	case len(sig) == 1 && strings.Contains("0123456789*#ABCDabcd", sig):
		return strings.ToUpper(sig)[0], true
	case sig == "10":
		return '*', true
	case sig == "11":
		return '#', true
	}
	return 0, false
}
