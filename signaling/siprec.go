package signaling

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/interpreter"
)

// maxUDPRequest is the largest request sent over UDP when the path MTU
// is unknown (RFC 3261 §18.1.1).
const maxUDPRequest = 1300

// errSiprecStopped ends a recording session's INVITE when the
// interpreter stopped it (or the call ended) before the server answered.
var errSiprecStopped = errors.New("siprec: stopped before the server answered")

// SiprecConnector is a session recording server (RFC 7866) that
// <Start><Siprec connectorName> and the REST Siprec resource name, as
// Twilio's SIPREC connectors are configured in its console
// (https://www.twilio.com/docs/voice/twiml/siprec).
type SiprecConnector struct {
	// URI is the server's sip: URI: sip:[user@]host[:port][;transport=tcp].
	URI string
	// Username and Password answer the server's digest challenge (a 401
	// or 407 to the INVITE, RFC 3261 §22.2), once; without them a
	// challenge ends the session as a refusal.
	Username, Password string
}

// srsURI resolves a connectorName: a connector of Config.SiprecConnectors,
// or a sip: URI written in the document (texml's extension: Twilio's
// connectors are configured in its console, texml's in its config file).
// It returns the connector's credentials too.
func (s *Server) srsURI(connector string) (sip.Uri, SiprecConnector, error) {
	var u sip.Uri
	c, ok := s.cfg.SiprecConnectors[connector]
	if !ok && strings.HasPrefix(strings.ToLower(connector), "sip:") {
		c, ok = SiprecConnector{URI: connector}, true
	}
	if !ok {
		return u, c, fmt.Errorf("%w %q: name it under siprec_connectors in the --config file, or give a sip: URI", interpreter.ErrUnknownConnector, connector)
	}
	if err := sip.ParseUri(c.URI, &u); err != nil || u.Host == "" {
		return u, c, fmt.Errorf("%w %q: bad SIP URI %q", interpreter.ErrUnknownConnector, connector, c.URI)
	}
	if strings.EqualFold(u.Scheme, "sips") {
		return u, c, fmt.Errorf("%w %q: sips: (TLS) is not supported yet", interpreter.ErrUnknownConnector, connector)
	}
	if u.UriParams != nil {
		// Twilio's connectors choose an egress with ;edge=dublin
		// (https://www.twilio.com/docs/voice/api/siprec); texml has
		// none, and the parameter is not the server's to see.
		u.UriParams.Remove("edge")
	}
	return u, c, nil
}

// srsSession is one SIPREC recording session (RFC 7866) from a leg, the
// session recording client, to a recording server: its INVITE, its RTP
// streams (one media.Session per track, fed from the leg's taps through
// media.Bridge), and its dialog. Its goroutine (run) owns it.
type srsSession struct {
	srv     *Server
	leg     *Leg
	spec    interpreter.SiprecSpec
	auth    SiprecConnector // the credentials for a digest challenge
	log     *slog.Logger
	streams []*srsStream
	req     *sip.Request

	stopOnce sync.Once
	stop     chan struct{} // closed by halt
	done     chan struct{} // closed when run is over
}

// Siprec implements interpreter.Leg: the INVITE to the recording server
// is built here, on the call's goroutine, from the call's dialog (Call-ID,
// From and To for the metadata), and sent by the session's goroutine.
// Each track gets an RTP port of its own, released when the session
// ends.
func (l *Leg) Siprec(ctx context.Context, spec interpreter.SiprecSpec) (func(), error) {
	if l.over() {
		return nil, interpreter.ErrHangup // the far end left: nothing to fork
	}
	uri, conn, err := l.srv.srsURI(spec.Connector)
	if err != nil {
		return nil, err
	}
	r := &srsSession{srv: l.srv, leg: l, spec: spec, auth: conn, log: l.log.With("siprec_sid", spec.Sid, "srs", uri.String()),
		stop: make(chan struct{}), done: make(chan struct{})}
	if spec.Inbound {
		r.streams = append(r.streams, &srsStream{label: "1", id: metaID()})
	}
	if spec.Outbound {
		r.streams = append(r.streams, &srsStream{label: "2", id: metaID()})
	}
	for _, st := range r.streams {
		if st.sess, err = l.srsMedia(r.log); err != nil {
			r.closeMedia()
			return nil, err
		}
	}
	r.req = r.invite(uri)
	l.srv.wg.Add(1)
	go r.run(ctx)
	return r.halt, nil
}

// halt stops the session and waits until it is over: CANCEL or BYE
// sent (not yet answered), ports released, no callback to come.
func (r *srsSession) halt() {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
}

// stopped reports whether halt was called.
func (r *srsSession) stopped() bool { return isClosed(r.stop) }

// invite builds the recording session's INVITE (RFC 7866): Require:
// siprec, a Contact with the +sip.src feature tag that marks us as the
// session recording client, and the multipart body of SDP offer and
// metadata.
func (r *srsSession) invite(uri sip.Uri) *sip.Request {
	s, l := r.srv, r.leg
	callID, from, to := l.parties()
	var id [8]byte
	_, _ = rand.Read(id[:])
	sdp := siprecOffer(s.cfg.PublicIP, r.streams, binary.BigEndian.Uint64(id[:])>>1)
	caller := recParty{id: metaID(), aor: from.Address.String(), name: from.DisplayName}
	callee := recParty{id: metaID(), aor: to.Address.String(), name: to.DisplayName}
	for _, st := range r.streams {
		if st.label == "1" { // what the caller says: the caller sends it, the callee hears it
			caller.send, callee.recv = st, st
		} else {
			callee.send, caller.recv = st, st
		}
	}
	meta := siprecMetadata(callID, r.spec.CallSid, r.spec.AccountSid, r.spec.Sid, caller, callee, r.streams, r.spec.Params, time.Now())
	body, ctype := multipartBody(sdp, meta)

	req := sip.NewRequest(sip.INVITE, uri)
	fh := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "texml", Host: s.cfg.PublicIP.String()}}
	fh.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(fh)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: uri.User, Host: uri.Host, Port: uri.Port}})
	ct := sip.HeaderClone(&s.dua.ContactHDR).(*sip.ContactHeader)
	ct.Params = sip.NewParams()
	ct.Params.Add("+sip.src", "") // RFC 7866: the SRC's Contact carries +sip.src
	req.AppendHeader(ct)
	req.AppendHeader(sip.NewHeader("Require", "siprec"))
	req.AppendHeader(sip.NewHeader("Accept", "application/sdp, "+metadataType))
	req.AppendHeader(sip.NewHeader("User-Agent", s.cfg.UserAgent))
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.AppendHeader(sip.NewHeader("Content-Type", ctype))
	req.SetBody(body)
	if tp, ok := uri.UriParams.Get("transport"); ok {
		req.SetTransport(strings.ToUpper(tp))
	}
	if strings.EqualFold(req.Transport(), "UDP") && len(req.String()) > maxUDPRequest {
		// RFC 3261 §18.1.1: a request larger than 1300 bytes (path MTU
		// unknown) MUST go over a congestion-controlled transport. The
		// metadata makes every SIPREC INVITE that large: TCP, and a
		// Contact that asks for TCP back.
		req.SetTransport("TCP")
		ct.Address.UriParams = sip.NewParams()
		ct.Address.UriParams.Add("transport", "tcp")
	}
	if strings.EqualFold(req.Transport(), "UDP") {
		s.mu.Lock()
		req.Laddr = s.udpAddr
		s.mu.Unlock()
	}
	return req
}

// parties are the recorded call's SIP Call-ID, From and To, from the
// INVITE that made its dialog.
func (l *Leg) parties() (string, *sip.FromHeader, *sip.ToHeader) {
	var inv *sip.Request
	switch {
	case l.dlg != nil:
		inv = l.dlg.InviteRequest
	case l.out != nil:
		inv = l.out.invite
	}
	if inv == nil || inv.From() == nil || inv.To() == nil || inv.CallID() == nil {
		return "", &sip.FromHeader{}, &sip.ToHeader{}
	}
	return inv.CallID().Value(), inv.From(), inv.To()
}

// run sends the INVITE, starts the media when the server answers, and
// waits for the end: halt, the call's end, the server's BYE.
func (r *srsSession) run(ctx context.Context) {
	defer r.srv.wg.Done()
	defer close(r.done)
	defer r.closeMedia()
	res, tx, err := r.transact(ctx)
	if err != nil {
		if !errors.Is(err, errSiprecStopped) {
			r.log.Warn("siprec: the recording server did not take the session", "err", err)
			r.ended(err)
		}
		return
	}
	defer tx.Terminate()
	d := newUACDialog(r.srv.client, r.req, res)
	// Findable before the ACK goes: a BYE right behind it must match.
	r.srv.srs.Store(d.id, d)
	byeLater := false
	defer func() {
		if !byeLater {
			r.srv.srs.Delete(d.id)
		}
	}()
	r.ack(d, tx)
	bridges, err := r.connect(res)
	if err != nil {
		r.log.Warn("siprec: unusable answer", "err", err)
		r.bye(ctx, d)
		r.ended(err)
		return
	}
	defer func() {
		for _, stop := range bridges {
			stop()
		}
	}()
	r.log.Info("siprec: recording session started", "streams", len(bridges))
	if r.spec.Started != nil {
		r.spec.Started()
	}
	select {
	case <-d.ctx.Done(): // the server's BYE
		if !r.stopped() {
			r.log.Info("siprec: the recording server ended the session")
			r.ended(nil)
		}
		return
	case <-r.stop:
	case <-ctx.Done():
	case <-r.srv.base.Done():
	}
	// Our BYE goes in the background: halt must not wait up to 64*T1
	// for a server that does not answer it. The media stops now; the
	// dialog stays findable until the BYE is over, so that a BYE
	// crossing ours gets its 200.
	byeLater = true
	r.srv.wg.Add(1)
	go func() {
		defer r.srv.wg.Done()
		defer r.srv.srs.Delete(d.id)
		r.bye(ctx, d)
	}()
	r.log.Info("siprec: recording session stopped")
}

// ended reports the session's end to the interpreter, unless halt came
// first: nothing is reported after halt returns.
func (r *srsSession) ended(err error) {
	if r.stopped() || r.spec.Ended == nil {
		return
	}
	r.spec.Ended(err)
}

// bye ends the dialog from our side, within cancelWait.
func (r *srsSession) bye(ctx context.Context, d *uacDialog) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelWait)
	defer cancel()
	if err := d.bye(bctx); err != nil {
		r.log.Debug("siprec: BYE", "err", err)
	}
}

// ack acknowledges the 2xx, and each retransmission of it (RFC 3261
// §13.2.2.4).
func (r *srsSession) ack(d *uacDialog, tx sip.ClientTransaction) {
	c := r.srv.client
	if err := c.WriteRequest(d.request(sip.ACK), sipgo.ClientRequestAddVia); err != nil {
		r.log.Warn("siprec: ACK", "err", err)
	}
	tx.OnRetransmission(func(rr *sip.Response) {
		if rr.IsSuccess() {
			_ = c.WriteRequest(d.request(sip.ACK), sipgo.ClientRequestAddVia)
		}
	})
}

// transact runs the INVITE transaction to its final response. A halt or
// the call's end before it CANCELs the INVITE (RFC 3261 §9.1), once a
// provisional response says the server has it. A 401 or 407 is answered
// once with the connector's digest credentials (RFC 3261 §22.2, §22.3):
// the INVITE again, CSeq one up, with Authorization or
// Proxy-Authorization, as a dialed trunk's challenge is (outCall.invite).
func (r *srsSession) transact(ctx context.Context) (*sip.Response, sip.ClientTransaction, error) {
	c := r.srv.client
	// The transaction outlives ctx: a CANCEL still needs its 487.
	txCtx := context.WithoutCancel(ctx)
	tx, err := c.TransactionRequest(txCtx, r.req)
	if err != nil {
		return nil, nil, fmt.Errorf("siprec INVITE: %w", err)
	}
	provisional, authed := false, false
	// giveUp handles halt or the call's end before the final response.
	giveUp := func() {
		if !provisional {
			// Nothing to CANCEL yet (§9.1), and a <Stop> must not wait
			// for a server that may never answer: give up on the
			// INVITE. A late 2xx goes unacknowledged, and the server
			// drops the session when its own timer ends.
			tx.Terminate()
			return
		}
		r.cancel()
		r.srv.wg.Add(1)
		go r.drain(ctx, tx)
	}
	for {
		select {
		case res := <-tx.Responses():
			switch {
			case res.IsProvisional():
				provisional = true
			case res.IsSuccess():
				return res, tx, nil
			case (res.StatusCode == 401 || res.StatusCode == 407) && r.auth.Password != "" && !authed:
				authed, provisional = true, false
				r.log.Debug("siprec: the recording server asks for credentials", "code", res.StatusCode)
				// The challenged transaction ACKs its 401/407 and ends on
				// its own timer; r.req is the new INVITE (its Via and
				// CSeq are what a CANCEL or the ACK of a 2xx copy).
				tx, err = c.TransactionDigestAuth(txCtx, r.req, res, sipgo.DigestAuth{Username: r.auth.Username, Password: r.auth.Password})
				if err != nil {
					return nil, nil, fmt.Errorf("siprec INVITE: digest auth: %w", err)
				}
			default:
				return nil, nil, &interpreter.SiprecError{Code: res.StatusCode, Reason: res.Reason}
			}
		case <-tx.Done():
			if errors.Is(tx.Err(), sip.ErrTransactionTimeout) {
				return nil, nil, &interpreter.SiprecError{Code: 408, Reason: "Request Timeout (no response)"}
			}
			return nil, nil, fmt.Errorf("siprec INVITE: %w", tx.Err())
		case <-r.stop:
			giveUp()
			return nil, nil, errSiprecStopped
		case <-ctx.Done():
			giveUp()
			return nil, nil, errSiprecStopped
		}
	}
}

// drain follows a CANCELed INVITE to its end in the background, so that
// halt need not wait for it: the transaction ACKs the 487 itself, and a
// 2xx that crossed the CANCEL is taken and ended with ACK and BYE (RFC
// 3261 §9.1). A server that answers nothing is given up after 64*T1.
func (r *srsSession) drain(ctx context.Context, tx sip.ClientTransaction) {
	defer r.srv.wg.Done()
	timeout := time.NewTimer(cancelWait)
	defer timeout.Stop()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			if res.IsSuccess() {
				d := newUACDialog(r.srv.client, r.req, res)
				r.ack(d, tx)
				r.bye(ctx, d)
				tx.Terminate()
			}
			return
		case <-tx.Done():
			return
		case <-timeout.C:
			tx.Terminate()
			return
		}
	}
}

// cancel sends CANCEL for the INVITE (RFC 3261 §9.1): its Via, From, To,
// Call-ID and CSeq number, to where the INVITE went.
func (r *srsSession) cancel() {
	req := r.req
	c := sip.NewRequest(sip.CANCEL, req.Recipient)
	c.AppendHeader(sip.HeaderClone(req.Via()))
	c.AppendHeader(sip.HeaderClone(req.From()))
	c.AppendHeader(sip.HeaderClone(req.To()))
	c.AppendHeader(sip.HeaderClone(req.CallID()))
	c.AppendHeader(&sip.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sip.CANCEL})
	mf := sip.MaxForwardsHeader(70)
	c.AppendHeader(&mf)
	c.SetBody(nil)
	c.SetTransport(req.Transport())
	c.SetDestination(req.Destination())
	c.Laddr = req.Laddr
	r.srv.wg.Add(1)
	go func() {
		defer r.srv.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), cancelWait)
		defer cancel()
		asIs := func(*sipgo.Client, *sip.Request) error { return nil }
		if _, err := r.srv.client.Do(ctx, c, asIs); err != nil {
			r.log.Debug("siprec: CANCEL", "err", err)
		}
	}()
}

// siprecBye takes a recording server's BYE (RFC 3261 §15.1.2), and
// reports whether the request was one.
func (s *Server) siprecBye(req *sip.Request, tx sip.ServerTransaction) bool {
	id, err := sip.DialogIDFromRequestUAS(req)
	if err != nil {
		return false
	}
	v, ok := s.srs.Load(id)
	if !ok {
		return false
	}
	v.(*uacDialog).end()
	respond(tx, req, 200, "OK")
	return true
}
