package sim

import (
	"context"
	"time"

	"github.com/texml/texml/interpreter"
)

// referNotify is the final NOTIFY status a scripted party reports for each
// transfer outcome: the answer the transfer target gave the party's
// INVITE (RFC 3515 §2.4.5).
var referNotify = map[string]int{
	"completed": 200, "answered": 200, "busy": 486, "no-answer": 480,
	"canceled": 487, "failed": 503,
}

// Refer implements interpreter.Leg: the party (the caller's phone, or a
// callee's) acts out the next --dial-outcome as a SIP phone would.
//
//	completed[:SECONDS]  202, then after SECONDS NOTIFY 200 (the target answered)
//	busy, no-answer, canceled, failed
//	                     202, then NOTIFY 486, 480, 487 or 503
//	in-progress          202 and NOTIFY 180, then nothing until the wait times out
//	rejected[:CODE]      the REFER is refused with CODE (default 603 Decline)
//	hangup[:SECONDS]     202, then the party hangs up after SECONDS
//
// Without an outcome left, the transfer completes, with a warning.
func (l *Leg) Refer(ctx context.Context, t interpreter.ReferTarget) (interpreter.ReferResult, error) {
	var res interpreter.ReferResult
	o := l.nextOutcome("Refer", Outcome{Status: "completed"})
	if o.Status == "rejected" {
		res.Code = 603
		if o.Seconds >= 300 && o.Seconds < 700 {
			res.Code = o.Seconds
		}
		return res, nil
	}
	res.Code = 202
	// The referee's first NOTIFY (RFC 3515 §2.4.4) says it is trying.
	res.Notify = 100
	switch o.Status {
	case "hangup":
		if err := l.advance(ctx, time.Duration(o.Seconds)*time.Second); err != nil {
			return res, err
		}
		l.hangUp("hangup during refer")
		return res, interpreter.ErrHangup
	case "in-progress":
		res.Notify = 180
		return res, l.advance(ctx, t.Timeout)
	}
	if err := l.advance(ctx, time.Duration(o.Seconds)*time.Second); err != nil {
		return res, err
	}
	res.Notify = referNotify[o.Status]
	if res.Notify == 0 {
		res.Notify = 500
	}
	return res, nil
}
