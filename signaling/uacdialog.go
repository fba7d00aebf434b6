package signaling

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/interpreter"
)

// uacDialog is a dialog we created with an INVITE (RFC 3261 §12.1.2): it
// builds the requests we send in it (ACK, BYE) with its route set and
// remote target, and ends when either side sends BYE.
type uacDialog struct {
	c      *sipgo.Client
	invite *sip.Request
	resp   *sip.Response
	target sip.Uri   // the callee's Contact
	routes []sip.Uri // the 2xx's Record-Route, reversed
	cseq   atomic.Uint32
	// id is the dialog ID as our server sees the callee's requests in
	// it (DialogIDFromRequestUAS): Call-ID, our tag, their tag.
	id string
	// addr, when set, is where requests go whatever the target says
	// (the INVITE's; a client behind NAT puts an address it cannot be
	// reached at in its 2xx's Contact as in its REGISTER's).
	addr, transport string
	// user and pass are the credentials our INVITE answered a challenge
	// with (the trunk's or the <Sip> noun's): a request of ours in the
	// dialog that is challenged too is sent again with them.
	user, pass string

	ctx context.Context
	end context.CancelFunc
}

func newUACDialog(c *sipgo.Client, invite *sip.Request, r *sip.Response) *uacDialog {
	d := &uacDialog{c: c, invite: invite, resp: r, target: invite.Recipient}
	if ct := r.Contact(); ct != nil {
		d.target = *ct.Address.Clone()
	}
	rr := r.GetHeaders("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		if h, ok := rr[i].(*sip.RecordRouteHeader); ok {
			d.routes = append(d.routes, *h.Address.Clone())
		}
	}
	d.cseq.Store(invite.CSeq().SeqNo)
	ourTag, _ := invite.From().Params.Get("tag")
	theirTag, _ := r.To().Params.Get("tag")
	d.id = sip.DialogIDMake(invite.CallID().Value(), ourTag, theirTag)
	d.ctx, d.end = context.WithCancel(context.Background())
	return d
}

// request builds an in-dialog request. An ACK reuses the INVITE's CSeq
// number; every other request takes the next one.
func (d *uacDialog) request(m sip.RequestMethod) *sip.Request {
	req := sip.NewRequest(m, *d.target.Clone())
	req.AppendHeader(sip.HeaderClone(d.invite.From()))
	req.AppendHeader(sip.HeaderClone(d.resp.To()))
	req.AppendHeader(sip.HeaderClone(d.invite.CallID()))
	seq := d.invite.CSeq().SeqNo
	if m != sip.ACK {
		seq = d.cseq.Add(1)
	}
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: m})
	for _, r := range d.routes {
		req.AppendHeader(&sip.RouteHeader{Address: r})
	}
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	if ct := d.invite.Contact(); ct != nil {
		req.AppendHeader(sip.HeaderClone(ct))
	}
	// Content-Length: 0, which a stream transport needs to find where
	// the request ends (RFC 3261 §20.14); sipgo adds it only to
	// requests it builds itself.
	req.SetBody(nil)
	req.SetTransport(d.invite.Transport())
	if d.addr != "" && len(d.routes) == 0 {
		req.SetDestination(d.addr)
		req.SetTransport(d.transport)
	}
	req.Laddr = d.invite.Laddr
	return req
}

// dialog is the dialog of the INVITE req answered by r.
func (a *outCall) dialog(req *sip.Request, r *sip.Response) *uacDialog {
	d := newUACDialog(a.s.client, req, r)
	d.addr, d.transport = a.dest.addr, a.dest.transport
	d.user, d.pass = a.dest.user, a.dest.pass
	return d
}

// bye ends the dialog from our side and waits for the callee's answer.
func (d *uacDialog) bye(ctx context.Context) error {
	if d.ctx.Err() != nil {
		return nil
	}
	d.end()
	req := d.request(sip.BYE)
	res, err := d.c.Do(ctx, req, sipgo.ClientRequestAddVia)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) && d.pass != "" {
		// Challenged as our INVITE was (RFC 3261 §22.2): once more with
		// the same credentials, or a trunk that challenges every request
		// keeps the call up (and billed). sipgo gives the retry the next
		// CSeq; the dialog's counter moves past it.
		d.cseq.Add(1)
		res, err = d.c.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: d.user, Password: d.pass})
	}
	if err != nil {
		return fmt.Errorf("BYE: %w", err)
	}
	if res.StatusCode >= 300 && res.StatusCode != 481 {
		return fmt.Errorf("BYE: %d %s", res.StatusCode, res.Reason)
	}
	return nil
}

// established takes the answered call: ACK, media towards the callee's
// SDP, the dialog in the server's table (the callee's BYE finds it there),
// Answered; then it waits for the end of the dialog and reports Ended.
func (a *outCall) established(r *sip.Response, tx sip.ClientTransaction) {
	s, leg := a.s, a.leg
	d := a.dialog(a.req, r)
	leg.out = d
	// The callee's BYE ends the dialog: the leg is gone for its waits.
	stopGone := context.AfterFunc(d.ctx, func() { leg.end(interpreter.ErrHangup) })
	defer stopGone()
	a.ack(r, tx)
	if len(r.Body()) == 0 || !a.applySDP(r.Body()) {
		// A 2xx without a usable answer cannot carry media: end it.
		a.log.Warn("callee answered without a usable SDP answer")
		ctx, cancel := context.WithTimeout(context.Background(), cancelWait)
		_ = d.bye(ctx)
		cancel()
		leg.close(func() {})
		a.emit(interpreter.Progress{Kind: interpreter.Failed, Code: 488, Reason: "no usable SDP in the answer"})
		return
	}
	// The callee's REFER (a blind transfer) goes to the Dial as
	// progress, which only the interpreter can act on (referUrl).
	leg.setReferred(func(t *interpreter.Transfer) { a.emit(interpreter.Progress{Kind: interpreter.Referred, Transfer: t}) })
	s.mu.Lock()
	s.calls[d.id] = leg
	s.mu.Unlock()
	a.emit(a.sipInfo(interpreter.Progress{Kind: interpreter.Answered, Code: r.StatusCode, Leg: leg}))

	select {
	case <-d.ctx.Done(): // their BYE (onBye), or ours (Hangup)
	case <-leg.sess.Done(): // RTP inactivity: the callee is gone
	case <-a.cancel: // the interpreter is done with this leg
	case <-s.base.Done(): // the server is closing
	}
	tx.Terminate()
	// Our BYE when the dialog is still up goes in the background; the
	// media is freed now, and the dialog stays findable until the BYE is
	// over, so that a BYE crossing ours gets 200.
	leg.close(func() {
		s.mu.Lock()
		delete(s.calls, d.id)
		s.mu.Unlock()
	})
	// As for an inbound call (server.go): the leg's RTP counters, for
	// the operator and the load scripts' accounting.
	leg.log.Info("dialed leg finished", "rtp", leg.sess.Stats())
	a.emit(interpreter.Progress{Kind: interpreter.Ended})
}
