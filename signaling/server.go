package signaling

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media/audio"
	"github.com/texml/texml/stream"
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
	PublicIP net.IP // written into SDP and Contact
	// SIPPort is our SIP port, for Contact. 0 means the port of the first
	// socket served (ServeUDP or ServeTCP), for a listen address of ":0":
	// Contact never carries port 0, which a peer would read as 5060.
	SIPPort   int
	UserAgent string

	// MaxCalls refuses INVITEs beyond this many calls in progress with
	// 503 and Retry-After; 0 means no limit but the RTP port range.
	MaxCalls int
	// MaxSetup refuses INVITEs, likewise, while this many calls are in
	// setup: admitted, but without our 200 OK, 183 or final response yet
	// (admission.go). 0 means no limit.
	MaxSetup int
	// Overloaded, when set, refuses new INVITEs likewise while it
	// returns true: the process has more work than CPU (texml serve
	// asks its scheduling-lag probe, --max-lag). It is called once per
	// INVITE and must be cheap.
	Overloaded func() bool

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
	// Queues, when set, is every call's queue service (Enqueue, Dial
	// Queue).
	Queues interpreter.Queues
	// Conferences, when set, runs every call's <Dial><Conference>; its
	// mixer is the Server itself (NewMix).
	Conferences interpreter.Conferences
	// Streams, when set, opens every call's <Stream> WebSockets (signed
	// with the auth token); nil takes the interpreter's default.
	Streams *stream.Dialer
	// SiprecConnectors name the recording servers of <Start><Siprec
	// connectorName>: name → the session recording server (RFC 7866)
	// and the digest credentials it may ask for. A connectorName that is
	// itself a sip: URI needs no entry (and has no credentials).
	SiprecConnectors map[string]SiprecConnector
	// Nodes, when set, is asked first about every new INVITE: another
	// texml node reaching a call of this one (package cluster) is served
	// by it, not routed to an app.
	Nodes NodeClaimer
	// OnStatus, when set, follows the status of every call (package
	// calls keeps the REST API's call records with it).
	OnStatus func(interpreter.StatusChange)
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
	wg       sync.WaitGroup // one per call in progress, and per BYE still out
	gate     gate           // requests' handlers, until Close shuts it
	mu       sync.Mutex
	calls    map[string]*Leg // by dialog ID, until our BYE is over
	srs      sync.Map        // SIPREC dialogs (*uacDialog) by dialog ID, while their session runs
	live     int             // calls admitted, inbound and outbound, not yet over (mu)
	setup    int             // inbound calls admitted and still in setup (mu; admission.go)
	base     context.Context // parent of every call; canceled by Close
	stop     context.CancelFunc
	beep     *audio.PCM            // the Record beep, made once for every call
	geo      *interpreter.GeoCache // From/To geography, shared by every call
	udpAddr  sip.Addr              // our UDP listener, the local address of our UDP requests
	portOnce sync.Once             // fills in SIPPort from the first socket served
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
		beep: audio.Tone([]float64{1000}, 500*time.Millisecond, 0.3), geo: interpreter.NewGeoCache(0)}
	s.base, s.stop = context.WithCancel(context.Background())
	s.dua = sipgo.DialogUA{Client: client, ContactHDR: sip.ContactHeader{
		Address: sip.Uri{Scheme: "sip", User: "texml", Host: cfg.PublicIP.String(), Port: cfg.SIPPort}}}
	srv.OnInvite(s.gate.guard(s.onInvite))
	srv.OnAck(s.gate.guard(s.onAck))
	srv.OnBye(s.gate.guard(s.onBye))
	srv.OnOptions(s.gate.guard(s.onOptions))
	srv.OnInfo(s.gate.guard(s.onInfo))
	srv.OnCancel(s.gate.guard(s.onCancel))
	srv.OnNotify(s.gate.guard(s.onNotify))
	srv.OnRefer(s.gate.guard(s.onRefer))
	srv.OnNoRoute(s.gate.guard(s.onNoRoute))
	if cfg.Registrar != nil {
		srv.OnRegister(s.gate.guard(s.onRegister))
	}
	return s, nil
}

// ServeUDP serves SIP over UDP on conn until conn is closed (by its owner;
// ServeUDP closes it too once the read loop has ended). Our own
// requests over UDP leave from conn too, so that the callee's responses
// and in-dialog requests come back to the port in our Via and Contact.
func (s *Server) ServeUDP(conn net.PacketConn) error {
	s.boundPort(conn.LocalAddr())
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		s.mu.Lock()
		s.udpAddr = sip.Addr{IP: a.IP, Port: a.Port, Hostname: a.IP.String()}
		s.mu.Unlock()
	}
	// sipgo leaves a listener's socket to its owner (ours stays open
	// until the caller closes it, which ends the read loop), so the
	// writer ends here, with the loop.
	out := newUDPOut(conn, s.cfg.Metrics.sipDrop, s.log, nil)
	defer out.Close()
	return s.srv.ServeUDP(out)
}

// ServeTCP serves SIP over TCP on l until the server closes.
func (s *Server) ServeTCP(l net.Listener) error {
	s.boundPort(l.Addr())
	return s.srv.ServeTCP(l)
}

// boundPort sets the Contact port from the first socket served when the
// configuration left it 0. The Once orders the write before any request
// is read, on this socket or the other one.
func (s *Server) boundPort(a net.Addr) {
	s.portOnce.Do(func() {
		if s.dua.ContactHDR.Address.Port != 0 {
			return
		}
		var port int
		switch a := a.(type) {
		case *net.UDPAddr:
			port = a.Port
		case *net.TCPAddr:
			port = a.Port
		}
		s.cfg.SIPPort = port
		s.dua.ContactHDR.Address.Port = port
	})
}

// Active is the number of calls in progress (INVITEs being handled).
// A call whose media is closed and only our BYE is still out no longer
// counts.
func (s *Server) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
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
	s.gate.shut()
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
	// Overload is refused here, before any media or dialog state exists:
	// a 503 with Retry-After lets the caller's proxy go elsewhere, where
	// a call failing half-way would not.
	slot := s.admit(true)
	if slot == nil {
		s.unavailable(tx, req)
		return
	}
	defer slot.leave()
	var offer *Offer // nil: a delayed offer, ours goes in the 200 OK
	if len(bytes.TrimSpace(req.Body())) > 0 {
		var err error
		if offer, err = ParseOffer(req.Body()); err != nil {
			code := s.badOffer(tx, req, err)
			s.cfg.Metrics.rejected(strconv.Itoa(code))
			return
		}
	}
	var node func(context.Context, interpreter.Leg)
	if s.cfg.Nodes != nil {
		if run, status, ok := s.cfg.Nodes.Claim(xHeaderValues(req)); ok {
			if status != 0 {
				s.cfg.Metrics.rejected(strconv.Itoa(status))
				respond(tx, req, status, map[int]string{403: "Forbidden", 404: "Not Found"}[status])
				return
			}
			node = run
		}
	}
	var cfg interpreter.Config
	if node == nil {
		// A client's call is authenticated first: before the RTP port
		// below, so that a challenge holds none (clientcall.go).
		client, ok := s.authenticateClient(req, tx)
		if !ok {
			return
		}
		var err error
		if cfg, err = s.cfg.Router.Route(req); err != nil {
			s.cfg.Metrics.rejected("404")
			respond(tx, req, 404, "Not Found")
			return
		}
		clientCaller(&cfg, client)
		codecParams(&cfg, offer)
	}
	sock, err := s.cfg.Media.Ports.Open()
	if err != nil {
		s.log.Debug("INVITE refused", "err", err)
		s.unavailable(tx, req)
		return
	}
	dlg, err := s.dua.ReadInvite(req, tx)
	if err != nil {
		_ = sock.Close()
		s.cfg.Metrics.rejected("400")
		respond(tx, req, 400, "Bad Request")
		return
	}
	defer dlg.Close()
	_ = dlg.Respond(100, "Trying", nil)

	if cfg.CallSid == "" {
		cfg.CallSid = interpreter.NewSid("CA")
	}
	leg, err := s.newLeg(dlg, tx, sock, offer, cfg.CallSid, slot)
	if err != nil {
		// Only a closing server gets here: its pacer is closed.
		s.log.Error("media setup failed", "err", err)
		s.cfg.Metrics.rejected("503")
		_ = dlg.Respond(503, "Service Unavailable", nil)
		return
	}
	s.mu.Lock()
	s.calls[dlg.ID] = leg
	s.mu.Unlock()
	defer leg.close(func() {
		s.mu.Lock()
		delete(s.calls, dlg.ID)
		s.mu.Unlock()
	})
	_ = dlg.Respond(180, "Ringing", nil)
	if node != nil {
		s.nodeRun(dlg, leg, node)
		return
	}
	s.run(dlg, leg, cfg)
}

// xHeaderValues are a request's X- headers by name.
func xHeaderValues(req *sip.Request) map[string]string {
	h := map[string]string{}
	for _, x := range req.Headers() {
		if name := x.Name(); len(name) > 2 && strings.EqualFold(name[:2], "x-") {
			h[name] = x.Value()
		}
	}
	return h
}

// NodeClaimer takes node-to-node INVITEs (cluster.Node implements it).
type NodeClaimer interface {
	// Claim looks at an INVITE's X- headers: ok false means it is not
	// a node's; status, when not 0, refuses it; run serves the leg
	// until it ends (and answers, rejects or hangs it up itself).
	Claim(headers map[string]string) (run func(ctx context.Context, leg interpreter.Leg), status int, ok bool)
}

// nodeRun serves a node-to-node leg on the handler goroutine.
func (s *Server) nodeRun(dlg *sipgo.DialogServerSession, leg *Leg, run func(context.Context, interpreter.Leg)) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stopDialog := context.AfterFunc(dlg.Context(), func() { cancel(interpreter.ErrHangup) })
	defer stopDialog()
	stopServer := context.AfterFunc(s.base, func() { cancel(nil) })
	defer stopServer()
	stopGone := context.AfterFunc(leg.gone, func() { cancel(interpreter.ErrHangup) })
	defer stopGone()
	run(ctx, leg)
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
	stopGone := context.AfterFunc(leg.gone, func() { cancel(interpreter.ErrHangup) })
	defer stopGone()

	s.configure(&cfg, leg.baseLog) // the interpreter adds call_sid itself
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
// current SDP (RFC 3264 §8), or, when it has none, with an offer whose
// answer comes in the ACK (RFC 3261 §14.2).
func (s *Server) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	leg := s.lookup(req)
	if leg == nil || leg.gone.Err() != nil {
		// Unknown, or ending: its media is closed and our BYE may be out.
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	var body []byte
	delayed := len(bytes.TrimSpace(req.Body())) == 0
	if delayed {
		body = leg.reoffer()
	} else {
		offer, err := ParseOffer(req.Body())
		if err != nil {
			s.badOffer(tx, req, err)
			return
		}
		body = leg.update(offer)
	}
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(sip.HeaderClone(&s.dua.ContactHDR))
	cseq := req.CSeq().SeqNo
	acks := leg.expectAck(cseq)
	if err := tx.Respond(res); err != nil {
		leg.forgetAck(cseq)
		return
	}
	// The handler stays until the ACK: sipgo ends the transaction when it
	// returns, and only the transaction can retransmit our 2xx.
	ack, err := retransmit2xx(tx, res, acks, leg.gone.Done(), sip.T1, sip.T2)
	if err != nil {
		leg.forgetAck(cseq)
		if errors.Is(err, errNoAck) {
			leg.log.Warn("re-INVITE: no ACK for our 200 OK; hanging up", "cseq", cseq)
			leg.end(err)
		}
		return
	}
	if delayed && ack != nil {
		// A bad answer leaves the session as it was: the call goes on.
		if err := leg.takeAnswer(ack.Body()); err != nil {
			leg.log.Warn("re-INVITE: the ACK brought no usable answer to our offer", "err", err)
		}
	}
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	// An ACK for an unknown dialog is dropped: answering it is forbidden
	// (RFC 3261 §17.2.1), and sipgo's default handler would send 405. So
	// is a late ACK of our error response (a 487 whose transaction is
	// over): it does not confirm the dialog. The callee's side of an
	// outbound leg sends no ACK to us.
	leg := s.lookup(req)
	if leg == nil || leg.dlg == nil || leg.refusedInvite() || leg.takeAck(req) {
		return
	}
	// The ACK of a 200 OK that carried our offer carries the answer: taken
	// before ReadAck lets Answer go on.
	if leg.awaitsAnswer() && req.CSeq() != nil && req.CSeq().SeqNo == leg.dlg.InviteRequest.CSeq().SeqNo {
		if err := leg.takeAnswer(req.Body()); err != nil {
			leg.log.Warn("the ACK brought no usable answer to our offer", "err", err)
		}
	}
	_ = leg.dlg.ReadAck(req, tx)
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if s.siprecBye(req, tx) {
		return
	}
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
	// A BYE on the early dialog (after our 180, before our answer) still
	// leaves the INVITE to be answered: 487 (RFC 3261 §15.1.2).
	leg.terminateInvite()
	if err := leg.dlg.ReadBye(req, tx); err != nil {
		leg.log.Warn("BYE", "err", err)
	}
}

// allowed are the methods we handle, for Allow in OPTIONS and 405 answers.
const allowed = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY, REFER"

// onCancel answers a CANCEL that matches no INVITE transaction (RFC 3261
// §9.2): sipgo's transaction layer answers one that matches itself, with
// 200 and then 487 for the INVITE, and ends the dialog's context.
func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	respond(tx, req, 481, "Call/Transaction Does Not Exist")
}

// onNoRoute answers a method we do not handle: 405 with Allow (RFC 3261
// §8.2.1).
func (s *Server) onNoRoute(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	_ = tx.Respond(res)
}

// onRegister answers a REGISTER on the handler's goroutine: the
// registrar does no I/O, and sipgo ends a server transaction when its
// handler returns, so the response must go out before that.
func (s *Server) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(s.cfg.Registrar.Register(req))
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowed))
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
