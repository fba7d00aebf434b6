package signaling

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media"
)

// Timers of an outbound call (RFC 3261 §9.1, §13.2.2.4).
const (
	// cancelWait bounds the wait for the final response to a CANCELed
	// INVITE; a UAS that never sends 487 must not hold the attempt.
	cancelWait = 64 * 500 * time.Millisecond // 64*T1
	// maxAuth is how many digest challenges one attempt answers: a second
	// one covers a stale nonce.
	maxAuth = 2
)

var _ interpreter.Dialer = (*Server)(nil)

// dest is where an outbound call goes and as whom.
type dest struct {
	uri        sip.Uri  // request URI
	to         *sip.Uri // To address; nil: the request URI's user and host
	from       sip.Uri
	user, pass string
	headers    []sip.Header
	// addr, when set, is where the INVITE and the requests of its dialog
	// go instead of the URI's host (a client behind NAT: see
	// natDestination), over transport.
	addr, transport string
}

// destination resolves a Dial target: a number through a trunk, a SIP URI
// as given (X- headers from its query part), a client through the
// registrar.
func (s *Server) destination(t interpreter.Target) (dest, error) {
	var d dest
	host := s.cfg.PublicIP.String()
	switch t.Kind {
	case interpreter.NumberTarget:
		tr, err := s.cfg.Trunks.Route(t.Addr)
		if err != nil {
			return d, fmt.Errorf("%w: %v", interpreter.ErrNoRoute, err)
		}
		d.uri, d.user, d.pass = tr.requestURI(t.Addr), tr.Username, tr.Password
		if tr.FromDomain != "" {
			host = tr.FromDomain
		}
	case interpreter.SIPTarget:
		if err := sip.ParseUri(t.Addr, &d.uri); err != nil || d.uri.Host == "" {
			return d, fmt.Errorf("%w: bad SIP URI %q", interpreter.ErrNoRoute, t.Addr)
		}
		if strings.EqualFold(d.uri.Scheme, "sips") {
			return d, fmt.Errorf("%w: sips: (TLS) is not supported yet: %s", interpreter.ErrNoRoute, t.Addr)
		}
		if d.uri.Headers != nil {
			for k, v := range d.uri.Headers.Items() {
				if !uriHeaderAllowed(k) {
					// Twilio warns (13252) and does not send it.
					s.log.Warn("<Sip> URI header not sent: only X- headers and User-to-User, Remote-Party-ID, P-Preferred-Identity, P-Called-Party-ID are", "header", k, "uri", t.Addr)
					continue
				}
				d.headers = append(d.headers, sip.NewHeader(k, v))
			}
			d.uri.Headers = nil
		}
		d.user, d.pass = t.Username, t.Password
	case interpreter.ClientTarget:
		// The contacts are the request URIs (clientDestination); this is
		// what every branch shares.
		if s.cfg.Registrar != nil {
			host = s.cfg.Registrar.realm
		}
	}
	for k, v := range t.Headers {
		d.headers = append(d.headers, sip.NewHeader(k, v))
	}
	user := strings.TrimPrefix(strings.TrimPrefix(t.From, "client:"), "sip:")
	user, _, _ = strings.Cut(user, "@")
	d.from = sip.Uri{Scheme: "sip", User: user, Host: host}
	return d, nil
}

// Dial implements interpreter.Dialer with a SIP user agent client
// (RFC 3261 §13.2): the INVITE goes out at once, and the attempt reports
// its progress until it fails, or until the answered leg ends.
func (s *Server) Dial(ctx context.Context, t interpreter.Target, progress func(interpreter.Progress)) (interpreter.Attempt, error) {
	if t.Kind == interpreter.ClientTarget {
		return s.dialClient(ctx, t, progress)
	}
	d, err := s.destination(t)
	if err != nil {
		return nil, err
	}
	a, err := s.newOutCall(d, t, progress)
	if err != nil {
		return nil, err
	}
	go a.run(ctx)
	return a, nil
}

// newOutCall prepares one outbound INVITE to d: the call is counted in
// and its RTP session open; go a.run(ctx) sends it.
func (s *Server) newOutCall(d dest, t interpreter.Target, progress func(interpreter.Progress)) (*outCall, error) {
	slot := s.admit(false)
	if slot == nil {
		return nil, errors.New("signaling: the server is draining or at MaxCalls; no new calls")
	}
	leg, err := s.newOutLeg(t.CallSid)
	if err != nil {
		slot.leave()
		return nil, err
	}
	return &outCall{s: s, slot: slot, leg: leg, dest: d, progress: progress, log: leg.log,
		cancel: make(chan struct{}), timeout: t.Timeout}, nil
}

// newOutLeg allocates the RTP session of an outbound leg; it stays on hold
// until the callee's SDP says where to send.
func (s *Server) newOutLeg(callSid string) (*Leg, error) {
	sock, err := s.cfg.Media.Ports.Open()
	if err != nil {
		return nil, fmt.Errorf("rtp port: %w", err)
	}
	base := s.log.With("direction", "outbound-dial")
	log := base.With("call_sid", callSid)
	sess, err := media.NewSession(media.SessionConfig{
		Socket: sock, Pacer: s.cfg.Media.Pacer, Codec: media.Codec{Name: "PCMU", PayloadType: 0},
		InactivityTimeout: s.cfg.Media.InactivityTimeout, InbandDTMF: s.cfg.Media.InbandDTMF,
		Metrics: s.cfg.Media.Metrics, Logger: log, Held: true,
	})
	if err != nil {
		_ = sock.Close()
		return nil, fmt.Errorf("rtp session: %w", err)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	l := &Leg{srv: s, sess: sess, m: &s.cfg.Media, log: log, baseLog: base,
		sid: binary.BigEndian.Uint64(id[:]) >> 1, info: make(chan byte, 16), answered: true}
	l.gone, l.end = context.WithCancelCause(context.Background())
	return l, nil
}

// offer is our SDP offer: PCMU, PCMA and telephone-event (RFC 4733).
func offer(public net.IP, port int, sessionID, version uint64) []byte {
	ipver := "IP4"
	if public.To4() == nil {
		ipver = "IP6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=texml %d %d IN %s %s\r\ns=texml\r\nc=IN %s %s\r\nt=0 0\r\n",
		sessionID, version, ipver, public, ipver, public)
	fmt.Fprintf(&b, "m=audio %d RTP/AVP 0 8 101\r\n", port)
	b.WriteString("a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n")
	b.WriteString("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n")
	fmt.Fprintf(&b, "a=ptime:%d\r\na=sendrecv\r\n", media.FrameDuration/time.Millisecond)
	return []byte(b.String())
}

// outCall is one outbound INVITE and, once answered, its dialog. Its
// goroutine owns the transaction; Cancel only signals it.
type outCall struct {
	s        *Server
	slot     *callSlot // counts the call in until run ends
	leg      *Leg
	dest     dest
	progress func(interpreter.Progress)
	log      *slog.Logger
	timeout  time.Duration

	cancelOnce sync.Once
	cancel     chan struct{}
	emu        sync.Mutex    // orders emit: the callee's REFER (Referred) comes from a SIP handler goroutine
	reported   bool          // under emu: the last event (Failed or Ended) went out
	early      bool          // EarlyMedia was reported
	req        *sip.Request  // the INVITE as last sent (after a challenge or a redirect)
	final      *sip.Response // the INVITE's final response, when one came
}

// Cancel implements interpreter.Attempt.
func (a *outCall) Cancel() { a.cancelOnce.Do(func() { close(a.cancel) }) }

func (a *outCall) emit(p interpreter.Progress) {
	a.emu.Lock()
	defer a.emu.Unlock()
	if a.reported {
		return
	}
	if p.CallID == "" && a.req != nil && a.req.CallID() != nil {
		p.CallID = a.req.CallID().Value()
	}
	if p.Kind == interpreter.Failed || p.Kind == interpreter.Ended {
		a.reported = true
	}
	a.progress(p)
}

func (a *outCall) newInvite() *sip.Request {
	s := a.s
	req := sip.NewRequest(sip.INVITE, a.dest.uri)
	from := &sip.FromHeader{Address: a.dest.from}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	to := sip.Uri{Scheme: "sip", User: a.dest.uri.User, Host: a.dest.uri.Host, Port: a.dest.uri.Port}
	if a.dest.to != nil {
		to = *a.dest.to.Clone()
	}
	req.AppendHeader(&sip.ToHeader{Address: to})
	req.AppendHeader(sip.HeaderClone(&s.dua.ContactHDR))
	req.AppendHeader(sip.NewHeader("User-Agent", s.cfg.UserAgent))
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	for _, h := range a.dest.headers {
		req.AppendHeader(h)
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	a.leg.mu.Lock()
	a.leg.version++
	version := a.leg.version
	a.leg.mu.Unlock()
	req.SetBody(offer(s.cfg.PublicIP, a.leg.sess.LocalAddr().Port, a.leg.sid, version))
	if tp, ok := a.dest.uri.UriParams.Get("transport"); ok {
		req.SetTransport(strings.ToUpper(tp))
	}
	if a.dest.addr != "" {
		req.SetDestination(a.dest.addr)
		req.SetTransport(a.dest.transport)
	}
	if strings.EqualFold(req.Transport(), "UDP") {
		s.mu.Lock()
		req.Laddr = s.udpAddr
		s.mu.Unlock()
	}
	return req
}

// sipInfo adds the attempt's Call-ID and its final response's X- headers
// to p (DialSipCallId, DialSipHeader_X-*).
func (a *outCall) sipInfo(p interpreter.Progress) interpreter.Progress {
	if a.req != nil && a.req.CallID() != nil {
		p.CallID = a.req.CallID().Value()
	}
	if a.final == nil {
		return p
	}
	for _, h := range a.final.Headers() {
		if name := h.Name(); len(name) > 2 && strings.EqualFold(name[:2], "X-") {
			if p.Headers == nil {
				p.Headers = map[string]string{}
			}
			p.Headers[name] = h.Value()
		}
	}
	return p
}

// run sends the INVITE and follows its responses: the UAC's own loop, so
// that any number of provisional responses is fine.
func (a *outCall) run(ctx context.Context) {
	defer a.slot.leave()
	code, reason, res, tx := a.invite(ctx)
	if res == nil {
		a.leg.close(func() {})
		a.emit(a.sipInfo(interpreter.Progress{Kind: interpreter.Failed, Code: code, Reason: reason}))
		return
	}
	a.established(res, tx)
}

// invite runs the INVITE transaction to its final response. It returns the
// 2xx and its transaction, or the failure's code and reason.
func (a *outCall) invite(ctx context.Context) (int, string, *sip.Response, sip.ClientTransaction) {
	// The transactions outlive ctx: when it ends we CANCEL, and the
	// INVITE transaction must still take the 487 and ACK it.
	txCtx := context.WithoutCancel(ctx)
	req := a.newInvite()
	a.req = req
	tx, err := a.s.client.TransactionRequest(txCtx, req)
	if err != nil {
		return 0, "INVITE: " + err.Error(), nil, nil
	}
	var canceled <-chan time.Time // set once our CANCEL went out
	var provisional bool          // a CANCEL may only follow a provisional response (§9.1)
	cancelReq := a.cancel
	ctxDone, closing := ctx.Done(), a.s.base.Done()
	auths, redirected := 0, false
	for {
		select {
		case r := <-tx.Responses():
			if !r.IsProvisional() {
				a.final = r
			}
			switch {
			case r.IsProvisional():
				if !provisional && canceled != nil {
					// Canceled before anything came back: the CANCEL
					// goes now that it can match something (§9.1).
					a.sendCancel(req, true)
				}
				provisional = true
				if r.StatusCode == 100 {
					a.emit(interpreter.Progress{Kind: interpreter.Trying, Code: 100})
				} else {
					a.provisional(r)
				}
			case r.IsSuccess():
				if canceled != nil || isClosed(a.cancel) {
					// The 2xx raced our CANCEL: take the call and end it
					// at once with ACK and BYE (RFC 3261 §9.1).
					a.ack(r, tx)
					a.byeRaced(req, r)
					tx.Terminate()
					return 487, "canceled (the answer crossed our CANCEL)", nil, nil
				}
				return 200, "", r, tx
			case (r.StatusCode == 401 || r.StatusCode == 407) && a.dest.pass != "" && auths < maxAuth && canceled == nil:
				auths++
				// The challenged transaction ACKs its 401/407 and ends on
				// its own timer; terminating it could lose that ACK.
				tx, err = a.s.client.TransactionDigestAuth(txCtx, req, r, sipgo.DigestAuth{Username: a.dest.user, Password: a.dest.pass})
				if err != nil {
					return 0, "digest auth: " + err.Error(), nil, nil
				}
				// A new transaction: the challenged one's 100 Trying is
				// no provisional response of this one, and a CANCEL must
				// wait for one of its own (RFC 3261 §9.1).
				provisional = false
			case r.IsRedirection() && !redirected && canceled == nil && r.Contact() != nil:
				// 3xx: follow the first Contact once.
				redirected = true
				a.dest.uri = *r.Contact().Address.Clone()
				a.dest.addr = "" // the new target's own host, not a NATed client's
				req = a.newInvite()
				a.req = req
				if tx, err = a.s.client.TransactionRequest(txCtx, req); err != nil {
					return 0, "redirected INVITE: " + err.Error(), nil, nil
				}
				provisional = false // a new transaction, as after a challenge (§9.1)
			default:
				// A final failure: the transaction ACKs it and keeps
				// absorbing retransmissions until Timer D.
				return r.StatusCode, r.Reason, nil, nil
			}
		case <-tx.Done():
			if canceled != nil {
				return 487, "canceled", nil, nil
			}
			err := tx.Err()
			if errors.Is(err, sip.ErrTransactionTimeout) {
				if !provisional {
					// Not even a 100 Trying before Timer B (64*T1, RFC
					// 3261 §17.1.1.2): the host is unreachable, which
					// is a failure (code 0), not a callee who let it
					// ring (408 → no-answer).
					return 0, "no response (unreachable)", nil, nil
				}
				return 408, "no response (timeout)", nil, nil
			}
			return 0, fmt.Sprintf("INVITE transaction: %v", err), nil, nil
		case <-cancelReq:
			cancelReq, ctxDone = nil, nil
			canceled = a.giveUp(req, provisional)
		case <-ctxDone:
			cancelReq, ctxDone = nil, nil
			canceled = a.giveUp(req, provisional)
		case <-closing:
			// The server is closing: it does not wait out a transaction
			// that may take Timer B to end.
			if provisional && canceled == nil {
				a.sendCancel(req, true)
			}
			tx.Terminate()
			return 487, "canceled (the server is closing)", nil, nil
		case <-canceled:
			tx.Terminate()
			return 487, "canceled (no final response to our CANCEL)", nil, nil
		}
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// giveUp is the attempt canceled (ring timeout, another fork answered,
// the caller left): CANCEL now, or once a provisional response comes.
// Until one has, the transaction may go on for Timer B (RFC 3261 §9.1,
// §17.1.1.2) and nothing will be heard on the call, so its media and RTP
// port are released at once rather than held for that time; a 2xx that
// still comes is ACKed and BYEd without them.
func (a *outCall) giveUp(req *sip.Request, provisional bool) <-chan time.Time {
	if !provisional {
		_ = a.leg.sess.Close()
	}
	return a.sendCancel(req, provisional)
}

// sendCancel sends CANCEL for req (RFC 3261 §9.1) and returns the timer
// after which the attempt stops waiting for the INVITE's final response.
// Before any provisional response a CANCEL would not match anything on
// the other side: it is sent when the first one comes (see invite), and
// an answer that comes instead is ACKed and BYEd.
func (a *outCall) sendCancel(req *sip.Request, provisional bool) <-chan time.Time {
	if provisional {
		c := sip.NewRequest(sip.CANCEL, req.Recipient)
		c.AppendHeader(sip.HeaderClone(req.Via()))
		c.AppendHeader(sip.HeaderClone(req.From()))
		c.AppendHeader(sip.HeaderClone(req.To()))
		c.AppendHeader(sip.HeaderClone(req.CallID()))
		c.AppendHeader(&sip.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sip.CANCEL})
		sip.CopyHeaders("Route", req, c)
		mf := sip.MaxForwardsHeader(70)
		c.AppendHeader(&mf)
		c.SetBody(nil) // Content-Length: 0, for TCP
		c.SetTransport(req.Transport())
		c.SetDestination(req.Destination())
		c.Laddr = req.Laddr
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), cancelWait)
			defer cancel()
			// The CANCEL keeps the INVITE's Via as it is (RFC 3261
			// §9.1): the option leaves the request unbuilt.
			asIs := func(*sipgo.Client, *sip.Request) error { return nil }
			if _, err := a.s.client.Do(ctx, c, asIs); err != nil {
				a.log.Debug("CANCEL", "err", err)
			}
		}()
	}
	return time.After(cancelWait)
}

// provisional handles 180/183: ringing, or early media when the response
// carries SDP.
func (a *outCall) provisional(r *sip.Response) {
	if len(r.Body()) > 0 && a.applySDP(r.Body()) {
		if !a.early {
			a.early = true
			a.emit(interpreter.Progress{Kind: interpreter.EarlyMedia, Code: r.StatusCode, Leg: a.leg})
		}
		return
	}
	a.emit(interpreter.Progress{Kind: interpreter.Ringing, Code: r.StatusCode})
}

// applySDP points the leg's media at the callee's SDP answer.
func (a *outCall) applySDP(body []byte) bool {
	o, err := ParseOffer(body)
	if err != nil {
		a.log.Warn("callee SDP", "err", err)
		return false
	}
	a.leg.mu.Lock()
	a.leg.offer = o
	if o.Addr != nil {
		a.leg.sess.SetRemote(o.Addr, o.Codec, o.DTMFType)
	}
	a.leg.sess.Hold(o.Hold)
	a.leg.mu.Unlock()
	return true
}

// ack acknowledges a 2xx (RFC 3261 §13.2.2.4), also each retransmission
// of it, which means our ACK was lost.
func (a *outCall) ack(r *sip.Response, tx sip.ClientTransaction) {
	d := a.dialog(a.req, r)
	ack := d.request(sip.ACK)
	if err := a.s.client.WriteRequest(ack, sipgo.ClientRequestAddVia); err != nil {
		a.log.Warn("ACK", "err", err)
	}
	tx.OnRetransmission(func(rr *sip.Response) {
		if rr.IsSuccess() {
			_ = a.s.client.WriteRequest(d.request(sip.ACK), sipgo.ClientRequestAddVia)
		}
	})
}

// byeRaced ends a call whose answer crossed our CANCEL.
func (a *outCall) byeRaced(req *sip.Request, r *sip.Response) {
	d := a.dialog(req, r)
	ctx, cancel := context.WithTimeout(context.Background(), cancelWait)
	defer cancel()
	if err := d.bye(ctx); err != nil {
		a.log.Debug("BYE after a raced answer", "err", err)
	}
}

// uriHeaderAllowed reports whether a header in a <Sip> URI goes into the
// INVITE. Twilio sends custom headers only with the x- prefix, and of the
// standard ones only User-to-User, Remote-Party-ID, P-Preferred-Identity
// and P-Called-Party-ID (https://www.twilio.com/docs/voice/twiml/sip,
// "custom SIP headers ... such as UUI"; https://www.twilio.com/docs/api/errors/13252).
// Anything else (a Via, a Contact, a made-up name) could break the INVITE
// or impersonate texml's own headers.
func uriHeaderAllowed(name string) bool {
	if len(name) > 2 && strings.EqualFold(name[:2], "x-") {
		return true
	}
	for _, ok := range []string{"User-to-User", "Remote-Party-ID", "P-Preferred-Identity", "P-Called-Party-ID"} {
		if strings.EqualFold(name, ok) {
			return true
		}
	}
	return false
}
