package interpreter

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/texml/texml/verbs"
)

// ReferTimeout bounds the wait for the final NOTIFY of a <Refer>: the
// referee reports the transfer target's answer (RFC 3515 §2.4.4), which
// may ring for a while first. Twilio documents no figure; SignalWire's
// mirror of the verb ends "on time out while waiting for NOTIFY". A
// minute covers a target that rings for the usual 30 to 60 s.
const ReferTimeout = 60 * time.Second

// ReferTarget is where a REFER sends the leg's party (RFC 3515 §2.1,
// Refer-To).
type ReferTarget struct {
	// URI is the <Sip> URI as written, sip: or sips:. Its query part
	// ("?X-Ticket=42&User-to-User=...") is kept: headers embedded in
	// the Refer-To URI are the ones the referee puts in its INVITE to
	// the target (RFC 3261 §19.1.1, RFC 3515 §2.1), which is how a
	// transfer carries context to the target.
	URI string
	// Headers are more headers to embed in the Refer-To URI (<Sip>
	// <Headers><Header name value/>).
	Headers map[string]string
	// Timeout is how long to wait, after the REFER is accepted, for a
	// NOTIFY reporting a final status.
	Timeout time.Duration
}

// ReferResult is what came back from the party a REFER was sent to.
type ReferResult struct {
	// Code is the final response to the REFER: 202 Accepted when the
	// party took it; 0 when none came.
	Code int
	// Notify is the status code of the last NOTIFY's message/sipfrag
	// body (RFC 3515 §2.4.5): the transfer target's response to the
	// referee's INVITE (100, 180, 200, 486...); 0 when no NOTIFY came.
	Notify int
}

// ReferStatus maps a REFER's outcome to ReferCallStatus (Twilio's Refer
// page, "action"; the values are those of CallStatus): "" when no NOTIFY
// came, since the parameter is only reported then (SignalWire's mirror of
// the page: "This parameter will not be reported if no SIP NOTIFY events
// are received"); in-progress while the last NOTIFY is provisional (the
// wait for a final one timed out); completed for a 2xx; and for a
// failure, the DialCallStatus of the same code but 487 Request
// Terminated, which says the referee gave up ringing: canceled.
func ReferStatus(r ReferResult) string {
	switch {
	case r.Notify == 0:
		return ""
	case r.Notify < 200:
		return "in-progress"
	case r.Notify < 300:
		return "completed"
	case r.Notify == 487:
		return "canceled"
	}
	return DialStatus(r.Notify)
}

// referTarget builds the leg's ReferTarget from <Refer><Sip>.
func referTarget(s *verbs.Sip) ReferTarget {
	return ReferTarget{URI: strings.TrimSpace(s.URI), Headers: headers(s.Headers), Timeout: ReferTimeout}
}

// refer runs <Refer>: the leg sends the REFER on the caller's dialog and
// follows its NOTIFYs; the interpreter reports the outcome to the action
// (ReferCallStatus, ReferSipResponseCode, NotifySipResponseCode) and
// decides what comes next. A completed transfer replaces our leg with
// the referee's new call (Twilio's Refer page: the SIP device "initiate[s]
// a new call to the external system and replace[s] the Twilio leg with
// that new call"), so the call ends: the action is still requested, but
// its document is not run. Otherwise the action's document runs, or,
// without an action, the next verb (Twilio's Refer page, "action").
func (c *Call) refer(ctx context.Context, doc *document, v *verbs.Refer) (step, error) {
	if v.Target == nil {
		return step{}, nil // reported by the parser; nothing to refer to
	}
	// The REFER goes in the call's dialog, which needs to be confirmed
	// (RFC 3261 §12: no in-dialog request on an early dialog from the
	// UAS), so an unanswered call is answered first.
	if err := c.ensureAnswered(ctx); err != nil {
		return step{}, err
	}
	t := referTarget(v.Target)
	res, err := c.leg.Refer(ctx, t)
	if errors.Is(err, ErrUnsupported) {
		c.fail(fmt.Sprintf("<Refer>: %v", err), 0)
		return step{}, nil
	}
	hungUp := errors.Is(err, ErrHangup)
	if err != nil && !hungUp {
		return step{}, fmt.Errorf("refer: %w", err)
	}
	status := ReferStatus(res)
	c.trace("refer", map[string]any{"target": t.URI, "outcome": referOutcome(res, status), "refer_code": res.Code, "notify_code": res.Notify})
	c.log.Info("refer", "target", t.URI, "refer_code", res.Code, "notify_code", res.Notify, "status", status)
	p := url.Values{}
	if res.Code != 0 {
		p.Set("ReferSipResponseCode", strconv.Itoa(res.Code))
	}
	if status != "" {
		p.Set("ReferCallStatus", status)
		p.Set("NotifySipResponseCode", strconv.Itoa(res.Notify))
	}
	if status == "completed" && !hungUp {
		// The caller now talks to the target; our leg is done.
		if v.Action != "" {
			req := c.target(doc, v.Name(), v.Action, v.Method)
			req.params = p
			c.postIgnored(ctx, req)
		}
		r := c.hangup(ctx, "refer")
		return step{end: &r}, nil
	}
	return c.finish(ctx, doc, v, v.Action, v.Method, Outcome{Params: p, CallerHungUp: hungUp})
}

// referOutcome names a REFER's outcome for the trace: ReferCallStatus,
// or, when no NOTIFY came, what happened to the REFER itself.
func referOutcome(r ReferResult, status string) string {
	switch {
	case status != "":
		return status
	case r.Code == 0:
		return "no-response"
	case r.Code >= 300:
		return "rejected"
	}
	return "no-notify"
}
