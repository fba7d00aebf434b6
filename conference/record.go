package conference

import (
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/texml/texml/interpreter"
)

// A room's recording follows the Conference noun's record attribute
// (https://www.twilio.com/docs/voice/twiml/conference#attributes-record):
// with "record-from-start" it records the mix everyone hears, one
// channel, from the moment the conference starts (two participants, one
// with startConferenceOnEnter) to the moment it ends; trim="trim-silence",
// the Conference default, drops the silence at both ends. The room uses
// the record, trim and recordingStatusCallback of the participant that
// created it, as Twilio applies the first participant's conference
// settings. Its callbacks carry RecordingSource=DialConference and the
// ConferenceSid, not a CallSid: the recording is the room's, not a
// call's (the Conference page's recordingStatusCallback parameters).

// recording is a room's recording. Its fields are guarded by the room's
// lock.
type recording struct {
	spec    *interpreter.RoomRecording // nil: the room is not recorded
	rec     interpreter.MixRecording   // nil until started, and when starting failed
	started time.Time                  // RecordingStartTime
	done    bool
}

// startRecording starts the room's recording, if its creator asked for
// one, as the conference starts. A mix that cannot record is logged: the
// conference goes on without a recording. r.mu is held.
func (r *room) startRecording() {
	rc := &r.rec
	if rc.spec == nil || rc.rec != nil || rc.done {
		return
	}
	rec, err := r.mix.Record(interpreter.MixRecordSpec{Sid: rc.spec.Sid, Trim: rc.spec.Trim, AccountSid: r.s.o.AccountSid, ConferenceSid: r.sid})
	if err != nil {
		r.s.log.Warn("conference record", "room", r.name, "recording_sid", rc.spec.Sid, "err", err)
		rc.done = true
		return
	}
	rc.rec, rc.started = rec, r.s.o.Clock.Now()
	r.recordingEvent("in-progress", 0)
}

// stopRecording ends a running recording as the conference ends and
// sends its completed callback, or absent when nothing was kept (a room
// of silence, trimmed to nothing). r.mu is held.
func (r *room) stopRecording() {
	rc := &r.rec
	if rc.rec == nil || rc.done {
		return
	}
	rc.done = true
	out, err := rc.rec.Stop()
	if err != nil {
		r.s.log.Warn("conference record", "room", r.name, "recording_sid", rc.spec.Sid, "err", err)
		out = interpreter.Recording{Empty: true}
	}
	status := "completed"
	if out.Empty {
		status = "absent"
	}
	r.recordingEvent(status, out.Duration)
}

// recordingEvent posts one recordingStatusCallback event (in-progress,
// completed, absent) if the creator asked for it; completed is the
// default event. ErrorCode is always 0: a recording that fails is
// reported as absent, and in the log. r.mu is held.
func (r *room) recordingEvent(status string, dur time.Duration) {
	spec := r.rec.spec
	cb := spec.StatusCallback
	if cb.URL == "" || cb.Post == nil {
		return
	}
	events := cb.Events
	if len(events) == 0 {
		events = []string{"completed"} // recordingStatusCallbackEvent's default
	}
	if !slices.Contains(events, status) {
		return
	}
	p := url.Values{
		"AccountSid":         {r.s.o.AccountSid},
		"ConferenceSid":      {r.sid},
		"RecordingSid":       {spec.Sid},
		"RecordingUrl":       {spec.URL},
		"RecordingStatus":    {status},
		"RecordingChannels":  {"1"},
		"RecordingSource":    {"DialConference"},
		"RecordingStartTime": {r.rec.started.UTC().Format(time.RFC1123Z)},
		"ErrorCode":          {"0"},
	}
	if status == "completed" {
		p.Set("RecordingDuration", strconv.Itoa(int(dur.Round(time.Second)/time.Second)))
	}
	cb.Post(cb.URL, cb.Method, p)
}
