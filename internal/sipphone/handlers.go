package sipphone

import (
	"context"
	"time"

	"github.com/emiago/sipgo/sip"
)

// onInvite takes a new INVITE: it becomes an Incoming, whose handler
// runs on this goroutine, which then stays until the call is over: sipgo
// ends the transaction when its handler returns.
func (p *Phone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if _, ok := req.To().Params.Get("tag"); ok {
		p.reinvite(req, tx)
		return
	}
	if !p.enter() {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil))
		return
	}
	defer p.wg.Done()
	dlg, err := p.dialogUA(req.Transport()).ReadInvite(req, tx)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	c, ok := p.newCall()
	if !ok {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
		return
	}
	in := &Incoming{p: p, req: dlg.InviteRequest, dlg: dlg, call: c, done: make(chan struct{})}
	defer close(in.done)
	c.mu.Lock()
	c.dlg = dlg
	if ct := req.Contact(); ct != nil {
		c.target = *ct.Address.Clone()
	}
	c.mu.Unlock()
	tx.OnCancel(func(*sip.Request) {
		// The transaction layer answers the CANCEL and sends 487
		// (RFC 3261 §9.2); the dialog's context ends with it.
		in.mu.Lock()
		in.canceled = true
		in.mu.Unlock()
		in.setCode(487)
	})
	p.register("uas", dlg.ID, c)
	c.watch(dlg.Context().Done())
	p.arrive(in)

	p.mu.Lock()
	handle := p.handler
	p.mu.Unlock()
	handle(in)
	if in.Code() == 0 && c.ctx.Err() == nil {
		_ = in.fail(errNoFinal)
		_ = in.respond(500, reason(500), nil)
	}
	<-c.done // the call is over: BYE, rejection, CANCEL or the phone closing
}

// arrive queues an INVITE for Next and Incoming.
func (p *Phone) arrive(in *Incoming) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.incoming = append(p.incoming, in)
	close(p.arrived)
	p.arrived = make(chan struct{})
}

// onAck confirms our 2xx; for a delayed offer the ACK carries the
// answer (RFC 3261 §13.2.1). An ACK for an unknown dialog is dropped:
// answering an ACK is forbidden.
func (p *Phone) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c := p.lookup(req)
	if c == nil {
		return
	}
	c.mu.Lock()
	dlg := c.dlg
	if c.ack == nil {
		c.ack = req
	}
	c.mu.Unlock()
	if len(req.Body()) > 0 {
		c.applyAnswer(req.Body())
	}
	if s, ok := dlg.(interface {
		ReadAck(*sip.Request, sip.ServerTransaction) error
	}); ok {
		_ = s.ReadAck(req, tx)
	}
}

// onBye ends a call on the other side's BYE.
func (p *Phone) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := p.lookup(req)
	if c == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	c.mu.Lock()
	c.bye = req
	dlg := c.dlg
	c.mu.Unlock()
	s, ok := dlg.(interface {
		ReadBye(*sip.Request, sip.ServerTransaction) error
	})
	if !ok || s.ReadBye(req, tx) != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	}
}

// onCancel answers a CANCEL that matched no INVITE transaction: the
// ones that match never get here, the transaction layer answers them
// with 200 and the INVITE with 487 (RFC 3261 §9.2).
func (p *Phone) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
}

// onRequest records other in-dialog requests (INFO, UPDATE…) and answers
// 200; OPTIONS outside a dialog gets 200 too, as a phone that is up.
func (p *Phone) onRequest(req *sip.Request, tx sip.ServerTransaction) {
	c := p.lookup(req)
	if c == nil && req.Method != sip.OPTIONS {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	if c != nil {
		c.record(req)
		if req.Method == sip.REFER && c.answerRefer(req, tx) {
			return
		}
	}
	_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
}

// reinvite answers a re-INVITE in a dialog: the new offer's address and
// direction, mirrored in our answer (RFC 3264 §8).
func (p *Phone) reinvite(req *sip.Request, tx sip.ServerTransaction) {
	c := p.lookup(req)
	if c == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	c.record(req)
	c.mu.Lock()
	ours := c.local.codecs
	c.local.version++
	c.mu.Unlock()
	body, err := c.answerOffer(req.Body(), ours)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 488, reason(488), nil))
		return
	}
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(sip.HeaderClone(&p.udpUA.ContactHDR))
	// The ACK to this 2xx is a request of its own (RFC 3261 §13.3.1.4)
	// and comes to onAck; over loopback the 2xx needs no retransmission.
	_ = tx.Respond(res)
}

// record keeps an in-dialog request for Requests.
func (c *Call) record(req *sip.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests = append(c.requests, req)
}

// hangupQuietly sends BYE for a live answered call as the phone closes,
// waiting a second at most.
func (c *Call) hangupQuietly() error {
	c.mu.Lock()
	dlg, answered := c.dlg, !c.answered.IsZero()
	c.mu.Unlock()
	if !answered || c.Ended() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return dlg.Bye(ctx)
}
