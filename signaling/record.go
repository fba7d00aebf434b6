package signaling

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media"
	"github.com/texml/texml/media/audio"
)

// RecordingPath is where the recording with this sid is stored.
func RecordingPath(dir, sid string) string { return filepath.Join(dir, sid+".wav") }

// frameSink hands received frames to the call goroutine through a buffer,
// so that the file is written there and not on the receive goroutine.
type frameSink chan [media.FrameSamples]int16

// Write implements media.Sink; a full buffer drops the frame.
func (s frameSink) Write(frame []int16) {
	var f [media.FrameSamples]int16
	copy(f[:], frame)
	select {
	case s <- f:
	default:
	}
}

// recording is the state of one Record while it runs.
type recording struct {
	w        *audio.WAVWriter
	f        *os.File
	vad      *audio.VAD
	frames   int
	voiced   int
	silentMS time.Duration
}

func (r *recording) add(frame *[media.FrameSamples]int16) error {
	if err := r.w.Write(frame[:]); err != nil {
		return err
	}
	if r.vad.Push(frame[:]) {
		r.silentMS = 0
		r.voiced++
	} else {
		r.silentMS += media.FrameDuration
	}
	r.frames++
	return nil
}

// Record implements interpreter.Leg: the caller's audio goes to
// <dir>/<sid>.wav (8 kHz mono 16-bit) until a finish key, the silence
// timeout, maxLength or a hangup; whatever was recorded is kept on every
// path. An all-silent recording is Empty and its file removed.
func (l *Leg) Record(ctx context.Context, spec interpreter.RecordSpec) (interpreter.Recording, error) {
	var out interpreter.Recording
	l.newTurn(spec.Turn)
	if spec.PlayBeep {
		if _, err := l.play(ctx, l.srv.beep.Source(), interpreter.Prompt{}); err != nil {
			return out, err
		}
	}
	path := RecordingPath(l.m.RecordingsDir, spec.Sid)
	started := time.Now()
	f, err := os.Create(path)
	if err != nil {
		return out, &interpreter.MediaError{Err: fmt.Errorf("record: %w", err)}
	}
	rec := &recording{w: audio.NewWAVWriter(f), f: f, vad: audio.NewVAD(audio.VADOptions{})}
	frames := make(frameSink, 256) // 5 s of slack for a slow disk
	// An utterance left open by an earlier turn is over: it must not go
	// on collecting the caller's audio beside the recording.
	l.stopListening()
	untap := l.sess.Tap(frames)
	reason, werr := l.recordLoop(ctx, spec, rec, frames)
	untap()
	for len(frames) > 0 && werr == nil { // nothing received is lost
		fr := <-frames
		werr = rec.add(&fr)
	}
	if cerr := rec.w.Close(); werr == nil {
		werr = cerr
	}
	f.Close()
	if werr != nil {
		// A half-written file with a bad header would only mislead.
		os.Remove(path)
		return out, &interpreter.MediaError{Err: fmt.Errorf("record %s: %w", path, werr)}
	}

	out.Digits = reason
	out.Duration = time.Duration(rec.frames) * media.FrameDuration
	if rec.voiced == 0 {
		out.Empty = true
		os.Remove(path)
	} else {
		if spec.Trim {
			out.Duration, werr = trimFile(path)
			if werr != nil {
				l.log.Warn("trim recording", "err", werr)
			}
		}
		// The audio is usable without its sidecar: a failure is logged.
		if err := WriteRecordingInfo(l.m.RecordingsDir, RecordingInfo{
			Sid: spec.Sid, AccountSid: spec.AccountSid, CallSid: spec.CallSid, Source: "RecordVerb",
			Channels: 1, StartTime: started, DurationMS: out.Duration.Milliseconds(),
		}); err != nil {
			l.log.Warn("record", "err", err)
		}
	}
	switch reason {
	case "hangup":
		out.Digits = "" // ErrHangup says it; the interpreter sets Digits=hangup
		return out, interpreter.ErrHangup
	case stopped:
		// An update, the time limit or shutdown: the file is kept, and the
		// interpreter learns why the verb ended.
		return out, l.ctxErr(ctx)
	}
	return out, nil
}

// stopped is recordLoop's reason when the call's context ended for a
// reason other than the caller hanging up.
const stopped = "\x00stopped"

// recordLoop runs until the recording ends and says why: a key, "hangup",
// or "" (silence timeout, maxLength).
func (l *Leg) recordLoop(ctx context.Context, spec interpreter.RecordSpec, rec *recording, frames frameSink) (string, error) {
	maxLen := time.NewTimer(spec.MaxLength)
	defer maxLen.Stop()
	// A peer that suppresses silence (DTX), or sends nothing at all,
	// delivers no silent frames: time without frames counts as silence too.
	idle := time.NewTicker(idleCheck)
	defer idle.Stop()
	lastFrame := time.Now()
	for {
		select {
		case fr := <-frames:
			lastFrame = time.Now()
			if err := rec.add(&fr); err != nil {
				return "", err
			}
			if spec.Timeout > 0 && rec.silentMS >= spec.Timeout {
				return "", nil
			}
		case now := <-idle.C:
			if gap := now.Sub(lastFrame); spec.Timeout > 0 && gap > idleCheck && rec.silentMS+gap >= spec.Timeout {
				return "", nil
			}
		case d := <-l.sess.DTMF():
			if strings.IndexByte(spec.FinishOnKey, d) >= 0 {
				return string(d), nil
			}
		case d := <-l.info:
			if strings.IndexByte(spec.FinishOnKey, d) >= 0 {
				return string(d), nil
			}
		case <-maxLen.C:
			return "", nil
		case <-l.sess.Done():
			return "hangup", nil
		case <-ctx.Done():
			if errors.Is(l.ctxErr(ctx), interpreter.ErrHangup) {
				return "hangup", nil
			}
			return stopped, nil
		}
	}
}

// trimFile rewrites a recording without its leading and trailing silence
// (trim="trim-silence") and returns the new duration.
func trimFile(path string) (time.Duration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pcm, err := audio.Decode(data, "audio/wav")
	if err != nil {
		return 0, err
	}
	trimmed := audio.TrimSilence(pcm)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return pcm.Duration(), err
	}
	w := audio.NewWAVWriter(f)
	for i := 0; i < len(trimmed.Samples); i += media.FrameSamples {
		if err := w.Write(trimmed.Samples[i:min(i+media.FrameSamples, len(trimmed.Samples))]); err != nil {
			f.Close()
			os.Remove(tmp)
			return pcm.Duration(), err
		}
	}
	if err := w.Close(); err != nil {
		f.Close()
		os.Remove(tmp)
		return pcm.Duration(), err
	}
	f.Close()
	return trimmed.Duration(), os.Rename(tmp, path)
}
