package interpreter

import (
	"strings"

	"github.com/texml/texml/verbs"
)

// startRecordingSource is the RecordingSource of a <Start><Recording>,
// as Twilio reports it (neither the REST API's StartCallRecordingAPI nor
// DialVerb; https://www.twilio.com/docs/voice/twiml/recording).
const startRecordingSource = "StartCallRecordingTwiML"

// startedRecording is one <Start><Recording> of a call: the whole-call
// recording of the REST API's Record (newCallRecording's machinery),
// started by a verb and stopped by <Stop><Recording> or the call's end.
type startedRecording struct {
	name string // the name attribute; "" when none was given
	r    *dialRecording
}

// startRecordings runs <Start>'s Recording nouns
// (https://www.twilio.com/docs/voice/twiml/recording): each starts
// recording the call at once, what the party says and everything it
// hears, and the next verb runs while it goes on. The attributes are
// those of the Recordings resource: recordingStatusCallback (events
// in-progress, completed, absent; default completed), trim (default
// do-not-trim), track (inbound, outbound, both; default both) and
// channels (mono, dual; default mono).
func (c *Call) startRecordings(doc *document, v *verbs.Start) {
	startForks(c, v, "Recording", "recording", &c.recordings, func(e *verbs.Element, at, name string) {
		o := RecordOptions{
			Dual:                 e.Attrs["channels"] == "dual",
			Trim:                 e.Attrs["trim"] == "trim-silence",
			StatusCallbackMethod: e.Attrs["recordingStatusCallbackMethod"],
			StatusCallbackEvents: strings.FieldsFunc(e.Attrs["recordingStatusCallbackEvent"], func(r rune) bool { return r == ' ' || r == ',' }),
		}
		switch e.Attrs["track"] {
		case "inbound":
			o.Track = TrackInbound
		case "outbound":
			o.Track = TrackOutbound
		}
		if cb := e.Attrs["recordingStatusCallback"]; cb != "" {
			// Relative to the document, as every callback URL.
			if req := c.target(doc, "Recording", cb, ""); req.bad != nil {
				c.fail(req.bad.Error(), 11100)
			} else {
				o.StatusCallback = req.url
			}
		}
		r := c.newCallRecording(o)
		r.spec.Source = startRecordingSource
		r.status.source = startRecordingSource
		r.start()
		if r.rec == nil {
			return // reported by start
		}
		c.recordings = append(c.recordings, &startedRecording{name: name, r: r})
	})
}

// forksMedia reports whether v starts a Stream, a Recording, a
// Transcription or a Siprec: a fork of the call's audio.
func forksMedia(v *verbs.Start) bool {
	for _, n := range v.Nouns {
		if _, ok := n.(*verbs.Stream); ok {
			return true
		}
		if e, ok := n.(*verbs.Element); ok && (e.Tag == "Recording" || e.Tag == "Transcription" || e.Tag == "Siprec") {
			return true
		}
	}
	return false
}

// named implements namedFork.
func (s *startedRecording) named(name string) bool { return s.name == name || s.r.spec.Sid == name }

// stopFork implements namedFork: the recording's completed callback goes
// out.
func (s *startedRecording) stopFork(string) { s.r.stop() }
