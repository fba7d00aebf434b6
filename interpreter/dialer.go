package interpreter

import (
	"context"
	"errors"
	"time"
)

// Dialer places child legs for <Dial>. signaling implements it with a SIP
// user agent client (trunks, SIP URIs, registered clients); sim implements
// it with scripted callees on the virtual clock.
type Dialer interface {
	// Dial starts calling t. progress receives the attempt's events in
	// order, from any goroutine, until and including its last one (Failed
	// or Ended); it must not block. An error means the attempt could not
	// start at all (no route, a denied number); progress is then never
	// called.
	Dial(ctx context.Context, t Target, progress func(Progress)) (Attempt, error)
}

// Attempt is one child leg being called.
type Attempt interface {
	// Cancel gives up on the attempt: CANCEL while it rings, BYE when it
	// answered (also when its 2xx raced the CANCEL). Progress then ends
	// with Failed (Code 487) or Ended. Calling it again does nothing.
	Cancel()
}

// TargetKind says what a Dial noun names.
type TargetKind int

// Target kinds.
const (
	NumberTarget TargetKind = iota // a phone number, routed through a trunk
	SIPTarget                      // a SIP URI, dialed as given
	ClientTarget                   // a registered client identity
)

// String returns the name of the Dial noun of the kind.
func (k TargetKind) String() string {
	return [...]string{"Number", "Sip", "Client"}[k]
}

// Target is one party a Dial calls.
type Target struct {
	Kind TargetKind
	// Addr is the E.164 number, the SIP URI or the client identity.
	Addr string
	// From is the caller ID presented (Dial callerId, or the caller's From).
	From string
	// Username and Password answer a digest challenge (<Sip>).
	Username, Password string
	// Headers are extra SIP headers (X-... from <Sip> URI parameters,
	// <Client> <Parameter>s).
	Headers map[string]string
	// Timeout is how long the attempt may ring.
	Timeout time.Duration
	// CallSid is the child leg's CallSid; ParentCallSid the caller's.
	CallSid, ParentCallSid string
}

// ProgressKind is what happened to an attempt.
type ProgressKind int

// Progress kinds, in the order an attempt may go through them.
const (
	Trying     ProgressKind = iota // the request went out (SIP 100)
	Ringing                        // the callee is alerted (SIP 180)
	EarlyMedia                     // the callee sends media before answering (SIP 183 with SDP); Leg is set
	Answered                       // the callee answered (SIP 2xx); Leg is set
	Failed                         // the attempt ended unanswered; Code says why
	Ended                          // the answered callee hung up (or Cancel ended it)
	// Referred: the answered callee sent a REFER (a blind transfer, RFC
	// 3515); Transfer is set. It may come any time between Answered and
	// Ended, and does not end the attempt.
	Referred
)

var progressNames = [...]string{"trying", "ringing", "early-media", "answered", "failed", "ended", "referred"}

func (k ProgressKind) String() string { return progressNames[k] }

// Progress is one event of an attempt.
type Progress struct {
	Kind ProgressKind
	// Leg is the child leg, for EarlyMedia and Answered.
	Leg Leg
	// Code is the SIP status code of Ringing (180, 183) and Failed; 0
	// when the attempt failed without a response (unreachable, no route).
	Code int
	// Reason explains a failure for logs and traces.
	Reason string
	// CallID and Headers are the SIP Call-ID of the attempt and the X-
	// headers of its final response, for a <Sip> Dial's DialSipCallId and
	// DialSipHeader_X-* (on Answered and Failed; empty when not SIP).
	CallID  string
	Headers map[string]string
	// CallSid is the answering party's CallSid when the Dialer chose
	// the party (the caller a <Dial><Queue> dequeued).
	CallSid string
	// Transfer is the REFER of a Referred event.
	Transfer *Transfer
}

// Transfer is a REFER a dialed party sent in its dialog (RFC 3515): it
// asks us to connect the caller to Target in its place (Twilio's "Inbound
// SIP REFER to Twilio", Dial referUrl). The interpreter answers it with
// Reply once, at once (the REFER's transaction waits for it), and, when
// it accepted it, reports how the new call goes with Notify.
type Transfer struct {
	// Target is the REFER's Refer-To, as the party wrote it.
	Target string
	// Headers are the REFER's X- headers and User-to-User, for the
	// referUrl request's SipHeader_* parameters.
	Headers map[string]string
	// Reply answers the REFER: 202 Accepted, or a refusal (4xx-6xx).
	Reply func(code int)
	// Notify sends the party a NOTIFY with the new call's status (RFC
	// 3515 §2.4.5: message/sipfrag): 100 at first, then a final code,
	// which ends the subscription. It must not block.
	Notify func(code int)
}

// Referable is a Leg whose party can send REFERs (a SIP leg): while the
// caller is bridged by a Dial, its REFER is a transfer of the dialed
// party (Twilio's "Inbound SIP REFER to Twilio": "as long as one leg of
// your call is a SIP connection"). OnRefer sets what takes them; nil
// declines them again.
type Referable interface {
	OnRefer(take func(*Transfer))
}

// ErrNoRoute fails a dial that no trunk or registration can carry, or that
// a deny rule forbids.
var ErrNoRoute = errors.New("no route to the dialed party")

// DialStatus maps the final SIP response of an unanswered attempt to
// DialCallStatus (Twilio's Dial page, "DialCallStatus values"): busy for
// 486 Busy Here and 600 Busy Everywhere; no-answer for 408 Request Timeout,
// 480 Temporarily Unavailable and 487 Request Terminated (the ring timeout
// canceled it); failed for everything else, including 404, 484, every 5xx
// and 6xx, and no response at all (code 0: unreachable or no route).
func DialStatus(code int) string {
	switch code {
	case 486, 600:
		return "busy"
	case 408, 480, 487:
		return "no-answer"
	}
	return "failed"
}
