package interpreter

import (
	"context"
	"errors"
	"net/url"

	"github.com/texml/texml/verbs"
)

// pendingTransfer is an accepted REFER from a dialed party (the
// transferor): the caller runs the referUrl document, and the party hears
// how its Dial goes before it is let go.
type pendingTransfer struct {
	t *Transfer
	f *fork // the transferor's fork: its leg stays up until the final NOTIFY
	// release, when the transferor is the caller instead (a REFER of
	// the caller's, takeTransfer), is called with the final NOTIFY: the
	// caller's call waits for it before it hangs up.
	release context.CancelFunc
}

// takeTransfer answers a REFER from the bridged party f (Twilio's
// "Inbound SIP REFER to Twilio"): without a referUrl it is refused with
// error 13802 ("Dial: No referUrl attribute specified") and the bridge
// goes on; with one it is accepted (202, then NOTIFY 100 Trying, RFC 3515
// §2.4.4) and the bridge ends so that the caller can be transferred.
//
// who is the party that sent it: the bridged fork's name, or "caller"
// for the caller's own REFER, which hands the dialed party on instead
// (it needs Config.Detach, where the dialed party runs the document).
func (c *Call) takeTransfer(s *dialState, who string, t *Transfer) bool {
	if dialsRoom(s.d) {
		// The dequeued caller of a <Dial><Queue> is not a dialed party
		// that may hand the agent on.
		t.Reply(603)
		return false
	}
	if s.d.ReferURL == "" {
		c.fail("<Dial>: "+who+" sent a REFER, but the Dial has no referUrl; it is declined", 13802)
		t.Reply(603)
		return false
	}
	if who == "caller" && c.cfg.Detach == nil {
		c.warn("<Dial>: the caller sent a REFER, but this line cannot hand the dialed party on; it is declined", 0)
		t.Reply(603)
		return false
	}
	t.Reply(202)
	t.Notify(100)
	ev := map[string]any{"party": who, "target": t.Target}
	if who == "caller" {
		ev = map[string]any{"by": who, "target": t.Target} // not a party's line
	}
	c.trace("transfer", ev)
	c.log.Info("transfer requested", "party", who, "target", t.Target)
	return true
}

// declineTransfer refuses a REFER nobody can act on: from a fork that is
// no longer bridged, or that came while it rang or heard its whisper.
func declineTransfer(p Progress) {
	if p.Kind == Referred && p.Transfer != nil {
		p.Transfer.Reply(603)
	}
}

// referRequest is the request for a Dial's referUrl: the call's
// parameters, with ReferTransferTarget (the REFER's Refer-To) and the
// REFER's headers as SipHeader_<name> (Twilio's "Inbound SIP REFER to
// Twilio" and "SIP and TwiML Interaction" pages).
func (c *Call) referRequest(doc *document, d *verbs.Dial, t *Transfer) *request {
	req := c.target(doc, "Dial", d.ReferURL, d.ReferMethod)
	p := url.Values{"ReferTransferTarget": {t.Target}}
	for k, v := range t.Headers {
		p.Set("SipHeader_"+k, v)
	}
	req.params = p
	return req
}

// endTransfer tells the transferor how the transfer went, in its final
// NOTIFY, and lets it go (BYE, unless it left already): a transferor
// normally ends its own call once it has heard (RFC 5589 §6), but one
// that does not must not stay up for the rest of the call.
func (c *Call) endTransfer(code int) {
	pt := c.transfer
	if pt == nil {
		return
	}
	c.transfer = nil
	pt.t.Notify(code)
	ev := map[string]any{"transferor": "caller", "code": code}
	if pt.f != nil {
		pt.f.att.Cancel()
		ev = map[string]any{"party": pt.f.name, "code": code}
	}
	if pt.release != nil {
		pt.release()
	}
	c.trace("transferred", ev)
}

// transferCode is the SIP status that tells a transferor how the Dial
// the transfer led to ended: 200 when bridged, else the failed party's
// code, or the code of its DialCallStatus.
func transferCode(res dialResult) int {
	if res.bridged {
		return 200
	}
	if res.fork != nil && res.fork.code >= 300 {
		return res.fork.code
	}
	switch res.status {
	case "busy":
		return 486
	case "no-answer":
		return 480
	case "canceled":
		return 487
	}
	return 503
}

// transferred ends the call of a caller whose REFER handed the dialed
// party on (Twilio's "Inbound SIP REFER to Twilio" from the caller's
// side): the processing of the call went to the referUrl document, which
// the dialed party runs, so the Dial's action is not requested; the
// caller stays until it has heard how the transfer went (its final
// NOTIFY), or hangs up first, and is then let go.
func (c *Call) transferred(ctx context.Context, res dialResult) (step, error) {
	defer res.release()
	c.trace("dialed", map[string]any{"outcome": "transferred", "seconds": wholeSeconds(res.duration), "bridged": res.bridged})
	// The wait is on the call's clock, so that a virtual clock moves on
	// for the transferred party meanwhile.
	for res.released.Err() == nil {
		_ = c.cfg.Clock.Sleep(res.released, secs(maxSeconds))
	}
	if ctx.Err() != nil {
		if !errors.Is(context.Cause(ctx), ErrHangup) {
			return step{}, context.Cause(ctx)
		}
		c.hungUp = true
		r := c.callerHangup()
		return step{end: &r}, nil
	}
	r := c.hangup(ctx, "transferred")
	return step{end: &r}, nil
}
