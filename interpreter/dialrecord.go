package interpreter

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/texml/texml/verbs"
)

// dialRecording is <Dial record> (Twilio's Dial page, "record"): one
// recording of the caller and the dialed party. record-from-ringing
// starts when the Dial starts ringing (the caller, and a callee's early
// media), record-from-answer when the callee is bridged; both end with
// the Dial. The -dual values record two channels, the caller on the
// first and the callee on the second; the others mix both into one.
// recordingTrack keeps what the caller says (inbound), what the caller
// hears (outbound) or both; trim drops the silence at both ends.
//
// The leg only captures audio (Leg.RecordCall); when to start and stop,
// whose audio is the far side, the callbacks and the action parameters
// are decided here. A nil *dialRecording (record="do-not-record") does
// nothing.
type dialRecording struct {
	c           *Call
	spec        CallRecordSpec
	fromRinging bool
	status      *recordingStatus
	rec         CallRecording // nil until started, and when starting failed
	out         Recording
	done        bool // stopped, or failed to start: nothing more happens
}

// newDialRecording prepares the recording d asks for; nil when it asks
// for none.
func (c *Call) newDialRecording(doc *document, d *verbs.Dial) *dialRecording {
	if d.Record == "" || d.Record == "do-not-record" {
		return nil
	}
	r := &dialRecording{c: c, fromRinging: strings.HasPrefix(d.Record, "record-from-ringing")}
	r.spec = CallRecordSpec{Sid: NewSid("RE"), AccountSid: c.cfg.AccountSid, CallSid: c.cfg.CallSid, Dual: strings.HasSuffix(d.Record, "-dual"), Trim: d.Trim == "trim-silence", Source: "DialVerb"}
	switch d.RecordingTrack {
	case "inbound":
		r.spec.Track = TrackInbound
	case "outbound":
		r.spec.Track = TrackOutbound
	}
	channels := 1
	if r.spec.Dual {
		channels = 2
	}
	r.status = c.newRecordingStatus(doc, d.Name(), d.RecordingStatusCallback, d.RecordingStatusCallbackMethod,
		d.RecordingStatusCallbackEvent, r.spec.Sid, "DialVerb", channels)
	return r
}

// start begins the recording unless it runs or ran already. A leg that
// cannot record is reported; the Dial goes on without a recording.
func (r *dialRecording) start() {
	if r == nil || r.rec != nil || r.done {
		return
	}
	c := r.c
	rec, err := c.leg.RecordCall(r.spec)
	if err != nil {
		if !errors.Is(err, ErrHangup) { // a caller who left is not a failure
			c.fail("recording the call ("+r.status.source+"): "+err.Error(), 0)
		}
		r.done = true
		return
	}
	r.rec = rec
	r.status.started = c.cfg.Clock.Now()
	c.trace("recording", map[string]any{"sid": r.spec.Sid, "status": "in-progress", "source": r.status.source,
		"channels": r.status.channels, "track": trackNames[r.spec.Track], "trim": r.spec.Trim})
	r.status.send("in-progress", 0)
}

var trackNames = [...]string{TrackBoth: "both", TrackInbound: "inbound", TrackOutbound: "outbound"}

// peer makes leg the far side of a running recording (nil: none).
func (r *dialRecording) peer(leg Leg) {
	if r == nil || r.rec == nil || r.done {
		return
	}
	if err := r.rec.Peer(leg); err != nil {
		r.c.warn("<Dial record>: "+err.Error(), 0)
	}
}

// stop ends a running recording and sends its completed (or absent)
// callback.
func (r *dialRecording) stop() {
	if r == nil || r.rec == nil || r.done {
		return
	}
	r.done = true
	c := r.c
	out, err := r.rec.Stop()
	if err != nil {
		c.fail("<Dial record>: "+err.Error(), 0)
		out = Recording{Empty: true}
	}
	r.out = out
	status := "completed"
	if out.Empty {
		status = "absent" // nothing was kept, nothing can be fetched
	}
	c.trace("recording", map[string]any{"sid": r.spec.Sid, "status": status, "seconds": wholeSeconds(out.Duration)})
	r.status.send(status, out.Duration)
}

// params adds the recording to the Dial's action parameters (Twilio's
// Dial page, "action": RecordingUrl, and RecordingSid and
// RecordingDuration as Record sends them) when one was kept.
func (r *dialRecording) params(p url.Values) {
	if r == nil || r.rec == nil || r.out.Empty {
		return
	}
	p.Set("RecordingUrl", r.status.recURL)
	p.Set("RecordingSid", r.spec.Sid)
	p.Set("RecordingDuration", strconv.Itoa(wholeSeconds(r.out.Duration)))
}
