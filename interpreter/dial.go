package interpreter

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/texml/texml/verbs"
)

// dialResult is how a Dial ended, before it becomes action parameters.
type dialResult struct {
	status   string // DialCallStatus
	fork     *fork  // the answered fork, or the last one to fail
	bridged  bool
	duration time.Duration
	hungUp   bool // the caller hung up during the Dial
	// transfer is the REFER of the bridged party that ended the bridge
	// (referUrl): the caller goes on with the referUrl document.
	transfer *pendingTransfer
	// released is set when the caller's own REFER handed the bridged
	// party on: it ends once the caller has heard how that went (release)
	// or the call's context ends.
	released context.Context
	release  context.CancelFunc
}

// dialState is one running Dial.
type dialState struct {
	doc   *document // the Dial's, for referUrl
	d     *verbs.Dial
	box   inbox
	forks []*fork
	// early stops the bridge that lets the caller hear a callee's early
	// media; ring stops the local ringback. At most one runs at a time.
	early, ring func()
	earlyFork   *fork
	ended       int            // forks ended so far
	rec         *dialRecording // record; nil for do-not-record
}

// dial runs <Dial> (https://www.twilio.com/docs/voice/twiml/dial) over
// the Dialer: Number, Sip and Client nouns ring in parallel (or one after
// another with sequential), the first to answer (and to pass its whisper)
// is bridged with the caller and the others are canceled; the action gets
// DialCallStatus and friends. record makes one recording of the call
// (dialrecord.go). A Dial to a Conference or a Queue goes to the leg
// (HandOff) until those move here too.
func (c *Call) dial(ctx context.Context, doc *document, d *verbs.Dial) (step, error) {
	if dialsRoom(d) {
		switch n := supported(d.Nouns)[0].(type) {
		case *verbs.Queue:
			return c.dialQueue(ctx, doc, d, n)
		case *verbs.Conference:
			if c.cfg.Conferences != nil {
				return c.dialConference(ctx, doc, d, n)
			}
		}
		return c.dialRoom(ctx, doc, d)
	}
	s := &dialState{doc: doc, d: d, rec: c.newDialRecording(doc, d)}
	for _, n := range supported(d.Nouns) {
		if f := c.newFork(doc, d, n); f != nil {
			s.forks = append(s.forks, f)
		}
	}
	if !d.AnswerOnBridge {
		if err := c.ensureAnswered(ctx); err != nil {
			return step{}, err
		}
	}
	res, err := c.runDial(ctx, s)
	s.rec.stop() // the recording ends with the Dial, however it ended
	if err != nil {
		return step{}, err
	}
	if res.released != nil {
		return c.transferred(ctx, res)
	}
	// A transfer in progress learns how this Dial went (bridge already
	// told it of an answer).
	c.endTransfer(transferCode(res))
	if res.transfer != nil && !res.hungUp {
		// The party's REFER replaces the Dial's action: the caller runs
		// what referUrl returns, a <Dial> to the transfer target
		// (Twilio's "Inbound SIP REFER to Twilio").
		c.transfer = res.transfer
		c.trace("dialed", map[string]any{"outcome": "transferred", "seconds": wholeSeconds(res.duration), "bridged": res.bridged})
		return step{next: c.referRequest(doc, d, res.transfer.t)}, nil
	}
	if res.transfer != nil {
		// The caller left meanwhile: there is nobody to transfer.
		c.transfer = res.transfer
		c.endTransfer(487)
	}
	p := url.Values{"DialCallStatus": {res.status}, "DialBridged": {strconv.FormatBool(res.bridged)}}
	s.rec.params(p)
	if f := res.fork; f != nil {
		p.Set("DialCallSid", f.call.cfg.CallSid)
		if f.target.Kind == SIPTarget {
			// <Sip>'s own parameters (Twilio's Sip page, "Dial action
			// parameters").
			if f.code != 0 {
				p.Set("DialSipResponseCode", strconv.Itoa(f.code))
			}
			if f.callID != "" {
				p.Set("DialSipCallId", f.callID)
			}
			for k, v := range f.headers {
				p.Set("DialSipHeader_"+k, v)
			}
		}
	}
	if res.bridged {
		p.Set("DialCallDuration", strconv.Itoa(wholeSeconds(res.duration)))
	}
	c.trace("dialed", map[string]any{"outcome": res.status, "seconds": wholeSeconds(res.duration), "bridged": res.bridged})
	return c.finish(ctx, doc, d, d.Action, d.Method, Outcome{Params: p, CallerHungUp: res.hungUp})
}

// dialRoom hands a Dial to a Conference or Queue to the leg.
func (c *Call) dialRoom(ctx context.Context, doc *document, d *verbs.Dial) (step, error) {
	w := *d
	w.Nouns = supported(d.Nouns)
	if _, ok := c.leg.(HandOff); !ok {
		c.fail(fmt.Sprintf("<Dial><%s>: %v yet", w.Nouns[0].Name(), ErrUnsupported), 0)
		return step{}, nil
	}
	return c.handOff(ctx, doc, d, d.Action, d.Method, true, func(ctx context.Context, h HandOff) (Outcome, error) { return h.DialRoom(ctx, &w) })
}

// runDial rings the forks, in parallel or one by one, and bridges the
// first that answers.
func (c *Call) runDial(ctx context.Context, s *dialState) (dialResult, error) {
	if len(s.forks) == 0 {
		// Every noun was unsupported (reported by gaps) or unusable: the
		// dial fails at once, as a dial to an unreachable party does.
		return dialResult{status: "failed"}, nil
	}
	targets := make([]string, len(s.forks))
	for i, f := range s.forks {
		targets[i] = f.name
	}
	timeout := secs(c.cfg.Dialect.RingTimeout(s.d.Timeout))
	c.trace("dial", map[string]any{"targets": targets, "timeout": int(timeout.Seconds()), "sequential": s.d.Sequential})
	if c.answered.IsZero() {
		// answerOnBridge: the caller stays unanswered but hears ringback
		// or the callee's early media (SIP 183).
		if err := c.leg.EarlyMedia(ctx); err != nil {
			return dialResult{}, err
		}
	}
	s.ring = c.leg.Ringback(s.d.RingTone)
	defer s.stopSounds()
	if s.rec != nil && s.rec.fromRinging {
		s.rec.start()
	}

	batch := len(s.forks)
	if s.d.Sequential {
		batch = 1
	}
	var last *fork
	for i := 0; i < len(s.forks); i += batch {
		group := s.forks[i:min(i+batch, len(s.forks))]
		for _, f := range group {
			c.startFork(ctx, s, f, timeout)
		}
		won, err := c.ring(ctx, s, group, c.cfg.Clock.Now().Add(timeout))
		if err != nil {
			c.cancelForks(group, nil, "canceled")
			if errors.Is(err, ErrHangup) {
				return dialResult{status: "canceled", fork: lastOf(group), hungUp: true}, nil
			}
			return dialResult{}, err
		}
		if won != nil {
			return c.bridge(ctx, s, won)
		}
		last = lastDone(group)
	}
	return dialResult{status: last.status, fork: last}, nil
}

// ring waits until a fork of group answers (and passes its whisper), all
// have failed, or the ring timeout passes. The winner is returned.
func (c *Call) ring(ctx context.Context, s *dialState, group []*fork, deadline time.Time) (*fork, error) {
	for pending(group) > 0 {
		ev, ok, err := c.next(ctx, &s.box, deadline)
		if err != nil {
			return nil, err
		}
		if !ok {
			c.cancelForks(group, nil, "no-answer") // ring timeout
			return nil, nil
		}
		f := ev.f
		if f.done {
			continue // a canceled fork's last words
		}
		if ev.hangup {
			f.hangUpFork()
			if s.early != nil && s.earlyFork == f {
				c.stopEarly(s)
			}
			continue
		}
		if ev.p.CallID != "" {
			f.callID = ev.p.CallID
		}
		if ev.p.Headers != nil {
			f.headers = ev.p.Headers
		}
		f.heard = true
		switch ev.p.Kind {
		case Trying:
		case Ringing:
			f.ringing(ev.p.Code)
		case EarlyMedia:
			f.ringing(ev.p.Code)
			c.earlyMedia(s, f, ev.p.Leg)
		case Answered:
			if c.answer(ctx, s, f, ev.p.Leg) {
				c.cancelForks(group, f, "canceled")
				return f, nil
			}
		case Failed, Ended:
			f.end(DialStatus(ev.p.Code), ev.p.Code, ev.p.Reason)
		case Referred:
			declineTransfer(ev.p) // not bridged yet: nothing to hand on
		}
		if s.early != nil && f.done && s.earlyFork == f {
			c.stopEarly(s)
		}
	}
	return nil, nil
}
