package interpreter

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/texml/texml/verbs"
)

// Siprec status callback events. Twilio's <Siprec> page documents a
// statusCallback and the changelog "SIPREC status callbacks now
// available" (2023-07-28) its SiprecError and SiprecErrorCode; Telnyx's
// TeXML <Siprec> page documents the events and the rest of the
// parameters (SiprecEvent, SiprecSid, SiprecName, Timestamp). texml
// sends both vocabularies: SiprecEvent as Telnyx names it, SiprecStatus
// as the Siprec resource's status values (in-progress, stopped) and
// failed.
const (
	siprecStarted = "siprec-started"
	siprecStopped = "siprec-stopped"
	siprecFailed  = "siprec-failed"
)

// siprecStatus maps an event to the Siprec resource's status vocabulary
// (https://www.twilio.com/docs/voice/api/siprec: in-progress, stopped).
var siprecStatus = map[string]string{siprecStarted: "in-progress", siprecStopped: "stopped", siprecFailed: "failed"}

// sipRec is one <Start><Siprec> of a call
// (https://www.twilio.com/docs/voice/twiml/siprec): a SIPREC session the
// leg opens to a recording server, which gets the call's audio until
// <Stop><Siprec>, the end of the call, or the server's BYE.
type sipRec struct {
	c         *Call
	name      string // the name attribute; "" when none was given
	sid       string // SR…
	connector string
	cb        string // statusCallback, resolved; "" for none
	cbMethod  string
	stopLeg   func()

	mu    sync.Mutex // state, from the leg's goroutines and the call's
	state int        // sipRecStarting, sipRecRunning, sipRecOver
}

// States of a sipRec.
const (
	sipRecStarting = iota // the INVITE is out
	sipRecRunning         // the server answered: audio flows
	sipRecOver            // stopped, failed or hung up; its last callback went out
)

// startSipRecs runs <Start>'s Siprec nouns: each opens a recording
// session in the background, and the next verb runs at once (Twilio:
// "<Siprec> starts the audio stream asynchronously and immediately
// continues with the next TwiML instruction"). The default track is
// both_tracks: "By default, <Siprec> uses two forked streams: one for
// the inbound track and one for the outbound track". smu is held, as
// the REST API's StartSiprec and StopSiprec share the list.
func (c *Call) startSipRecs(ctx context.Context, doc *document, v *verbs.Start) {
	c.smu.Lock()
	defer c.smu.Unlock()
	startForks(c, v, "Siprec", "SIPREC session", &c.sipRecs, func(e *verbs.Element, at, name string) {
		r := &sipRec{c: c, name: name, sid: NewSid("SR"), connector: e.Attrs["connectorName"]}
		if cb := e.Attrs["statusCallback"]; cb != "" {
			if req := c.target(doc, "Siprec", cb, e.Attrs["statusCallbackMethod"]); req.bad != nil {
				c.fail(req.bad.Error(), 11100)
			} else {
				r.cb, r.cbMethod = req.url, req.method
			}
		}
		if r.connector == "" {
			err := errors.New("connectorName is required: it names the recording server")
			c.fail(fmt.Sprintf("%s: %v; skipped", at, err), 0)
			r.over(siprecFailed, err)
			return
		}
		var params []verbs.Param
		for _, ch := range e.Children {
			if ch.Tag == "Parameter" && ch.Attrs["name"] != "" {
				params = append(params, verbs.Param{Name: ch.Attrs["name"], Value: ch.Attrs["value"]})
			}
		}
		life := c.life
		if life == nil {
			life = ctx
		}
		_ = c.openSipRec(life, r, e.Attrs["track"], params, at)
	})
}

// openSipRec asks the leg for r's session, with smu held, and adds r to
// the call's sessions; at names the request in messages. A failure is
// reported as the TwiML path reports it (an error event and
// siprec-failed) and returned, but for a leg whose party has left
// (ErrHangup), which is only returned.
func (c *Call) openSipRec(life context.Context, r *sipRec, track string, params []verbs.Param, at string) error {
	in, out := transcriptionTracks(track)
	c.trace("siprec", map[string]any{"state": "starting", "sid": r.sid, "name": r.name, "connector": r.connector,
		"track": trackNames[trackOf(StreamSpec{Inbound: in, Outbound: out})]})
	// Appended before the leg may call back, so that a Stop finds it.
	c.sipRecs = append(c.sipRecs, r)
	stop, err := c.leg.Siprec(life, SiprecSpec{
		Connector: r.connector, Inbound: in, Outbound: out,
		Sid: r.sid, AccountSid: c.cfg.AccountSid, CallSid: c.cfg.CallSid, From: c.cfg.From, To: c.cfg.To,
		Params: params, Started: r.started, Ended: r.ended,
	})
	if err != nil {
		c.sipRecs = c.sipRecs[:len(c.sipRecs)-1]
		if errors.Is(err, ErrHangup) {
			return err
		}
		c.fail(fmt.Sprintf("%s connectorName=%q: %v", at, r.connector, err), 0)
		r.over(siprecFailed, err)
		return err
	}
	r.stopLeg = stop
	return nil
}

// endSipRecs stops every SIPREC session of the call and forgets them:
// at the end of the call and of a Dial child's whisper.
func (c *Call) endSipRecs(why string) {
	c.smu.Lock()
	defer c.smu.Unlock()
	endForks(&c.sipRecs, why)
}

// stopSipRecs runs <Stop>'s Siprec nouns, with smu held.
func (c *Call) stopSipRecs(v *verbs.Stop) {
	c.smu.Lock()
	defer c.smu.Unlock()
	stopForks(c, v, "Siprec", "SIPREC session", &c.sipRecs)
}

// started is the leg's word that the server answered.
func (r *sipRec) started() {
	r.mu.Lock()
	if r.state != sipRecStarting {
		r.mu.Unlock()
		return
	}
	r.state = sipRecRunning
	r.mu.Unlock()
	r.c.trace("siprec", map[string]any{"state": "started", "sid": r.sid})
	r.status(siprecStarted, nil)
}

// ended is the leg's word that the session ended on its own: the
// server's BYE (nil), or a failure.
func (r *sipRec) ended(err error) {
	if err != nil {
		r.c.fail(fmt.Sprintf("<Siprec> connectorName=%q: %v", r.connector, err), 0)
		r.over(siprecFailed, err)
		return
	}
	r.over(siprecStopped, nil)
}

// over ends the session's story with its last callback, once.
func (r *sipRec) over(event string, err error) {
	r.mu.Lock()
	if r.state == sipRecOver {
		r.mu.Unlock()
		return
	}
	r.state = sipRecOver
	r.mu.Unlock()
	f := map[string]any{"state": siprecStatus[event], "sid": r.sid}
	if err != nil {
		f["error"] = err.Error()
	}
	r.c.trace("siprec", f)
	r.status(event, err)
}

// end stops the session (<Stop><Siprec>, the end of the call): the leg
// sends BYE, and siprec-stopped goes out unless the session was over.
func (r *sipRec) end(why string) {
	if r.stopLeg != nil {
		r.stopLeg()
	}
	if !r.running() {
		return // failed or hung up before: its last callback went out
	}
	r.c.trace("siprec", map[string]any{"state": "stopping", "sid": r.sid, "reason": why})
	r.over(siprecStopped, nil)
}

// running reports whether the session has not ended yet.
func (r *sipRec) running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state != sipRecOver
}

// status sends a Siprec status callback, when the noun has one.
func (r *sipRec) status(event string, err error) {
	if r.cb == "" {
		return
	}
	c := r.c
	p := url.Values{
		"AccountSid": {c.cfg.AccountSid}, "CallSid": {c.cfg.CallSid},
		"SiprecSid": {r.sid}, "SiprecEvent": {event}, "SiprecStatus": {siprecStatus[event]},
		"Timestamp": {c.cfg.Clock.Now().UTC().Format(time.RFC3339)},
	}
	if r.name != "" {
		p.Set("SiprecName", r.name)
	}
	if err != nil {
		p.Set("SiprecError", err.Error())
		var se *SiprecError
		if errors.As(err, &se) {
			// The server's final SIP status: Twilio names the parameter
			// but not its codes.
			p.Set("SiprecErrorCode", strconv.Itoa(se.Code))
		}
	}
	c.post("siprec-status", r.cb, r.cbMethod, p)
}

// named implements namedFork: a session that ended (its server hung
// up) is no longer found.
func (r *sipRec) named(name string) bool { return (r.name == name || r.sid == name) && r.running() }

// stopFork implements namedFork.
func (r *sipRec) stopFork(why string) { r.end(why) }
