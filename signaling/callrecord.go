package signaling

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media"
	"github.com/texml/texml/media/audio"
)

// RecordCall implements interpreter.Leg with a media.Recorder tapping
// this leg's session (the near side) and its peer's (the far side): an
// 8 kHz 16-bit WAV file at <dir>/<sid>.wav, mono with both sides mixed or
// stereo with this leg's party on the left, trimmed as it is written when
// spec.Trim asks for it. A side that recordingTrack leaves out is never
// tapped.
//
// With spec.Heard the far side is what this leg sends its party (the
// session's sent audio: prompts, a bridged party, a conference), so that
// the recording is the whole call as the party lived it (the REST API's
// Record); Peer then changes nothing.
func (l *Leg) RecordCall(spec interpreter.CallRecordSpec) (interpreter.CallRecording, error) {
	source := spec.Source
	if source == "" {
		source = "DialVerb"
	}
	r, err := newCallRecording(l.m.RecordingsDir, spec, source, "")
	if err != nil {
		return nil, fmt.Errorf("record call: %w", err)
	}
	if spec.Track != interpreter.TrackOutbound {
		r.rec.Attach(media.Near, l.sess)
	}
	if spec.Heard && spec.Track != interpreter.TrackInbound {
		r.rec.Attach(media.Far, sentAudio{l.sess})
	}
	return r, nil
}

// sentAudio taps what a session sends (media.Session.TapSent), as a
// media.Tapper for a Recorder's side.
type sentAudio struct{ s *media.Session }

func (a sentAudio) Tap(k media.Sink) (untap func()) { return a.s.TapSent(k) }

// newCallRecording creates the WAV file of spec in dir and a recorder
// that writes it, with no side attached yet. source and conferenceSid go
// into its RecordingInfo.
func newCallRecording(dir string, spec interpreter.CallRecordSpec, source, conferenceSid string) (*callRecording, error) {
	path := RecordingPath(dir, spec.Sid)
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := audio.NewWAVWriter(f)
	if spec.Dual {
		w = audio.NewStereoWAVWriter(f)
	}
	channels := 1
	if spec.Dual {
		channels = 2
	}
	r := &callRecording{spec: spec, path: path, f: f, w: w, info: RecordingInfo{
		Sid: spec.Sid, AccountSid: spec.AccountSid, CallSid: spec.CallSid, ConferenceSid: conferenceSid,
		Source: source, Channels: channels, StartTime: time.Now(),
	}}
	write := w.Write
	if spec.Trim {
		r.trim = audio.NewTrimWriter(w)
		write = r.trim.Write
	}
	r.rec = media.NewRecorder(media.RecorderConfig{Stereo: spec.Dual, Write: write})
	return r, nil
}

// callRecording is a RecordCall, or a mix's Record, in progress.
type callRecording struct {
	spec interpreter.CallRecordSpec
	path string
	f    *os.File
	w    *audio.WAVWriter
	trim *audio.TrimWriter // nil unless trimming
	rec  *media.Recorder
	peer *Leg // the far side now
	info RecordingInfo

	stopped bool
	out     interpreter.Recording
	err     error
}

// Peer implements interpreter.CallRecording. The peer whose early media
// was heard is often the one that answers: it stays attached, its audio
// in place.
func (r *callRecording) Peer(peer interpreter.Leg) error {
	var p *Leg
	if peer != nil {
		var ok bool
		if p, ok = peer.(*Leg); !ok {
			return fmt.Errorf("signaling: cannot record a %T with a SIP leg", peer)
		}
	}
	if p == r.peer || r.spec.Track == interpreter.TrackInbound || r.spec.Heard {
		return nil
	}
	r.peer = p
	if p == nil {
		r.rec.Attach(media.Far, nil)
		return nil
	}
	r.rec.Attach(media.Far, p.sess)
	return nil
}

// Stop implements interpreter.CallRecording: whatever was recorded is
// kept; a recording left with no audio (or a failed one) is removed.
func (r *callRecording) Stop() (interpreter.Recording, error) {
	if r.stopped {
		return r.out, r.err
	}
	r.stopped = true
	_, err := r.rec.Close()
	var cerr error
	if r.trim != nil {
		cerr = r.trim.Close()
	} else {
		cerr = r.w.Close()
	}
	if err == nil {
		err = cerr
	}
	if ferr := r.f.Close(); err == nil {
		err = ferr
	}
	r.out.Duration = r.w.Duration()
	if err != nil {
		// A half-written file would only mislead.
		os.Remove(r.path)
		r.out, r.err = interpreter.Recording{Empty: true}, fmt.Errorf("record call %s: %w", r.path, err)
		return r.out, r.err
	}
	if r.out.Duration == 0 {
		r.out.Empty = true
		os.Remove(r.path)
		return r.out, nil
	}
	r.info.DurationMS = r.out.Duration.Milliseconds()
	// The audio is usable without its sidecar: the error is not the
	// recording's, and the API then derives what it can from the WAV.
	_ = WriteRecordingInfo(filepath.Dir(r.path), r.info)
	return r.out, nil
}
