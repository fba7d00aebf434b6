package signaling

import (
	"context"
	"sync"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media"
)

// over reports whether the far end has left (its media ended, the leg was
// given up, or its dialog is over), so that a fork (a stream, a
// transcription, a SIPREC session) is not started on a call without one.
func (l *Leg) over() bool {
	select {
	case <-l.sess.Done():
		return true
	default:
	}
	return l.gone.Err() != nil || (l.dlg != nil || l.out != nil) && l.dialogCtx().Err() != nil
}

// Stream implements interpreter.Leg with the session's taps: what the
// caller says (Tap) and what we send it (TapSent) go to the stream's
// sink from the goroutines that receive and send the call's packets;
// s.Play becomes the session's output; and, on a stream that plays, a
// goroutine of the stream's passes the caller's keys on until stop.
func (l *Leg) Stream(ctx context.Context, s interpreter.StreamSpec) (func(), error) {
	if l.over() {
		return nil, interpreter.ErrHangup // the far end left: nothing to fork
	}
	var undo []func()
	if s.Inbound {
		undo = append(undo, l.sess.Tap(media.SinkFunc(func(f []int16) { s.Sink(interpreter.TrackInbound, f) })))
	}
	if s.Outbound {
		undo = append(undo, l.sess.TapSent(media.SinkFunc(func(f []int16) { s.Sink(interpreter.TrackOutbound, f) })))
	}
	if s.Play != nil {
		// A playback started before (a prompt) is replaced, as any new
		// output replaces the old.
		undo = append(undo, l.sess.SetOutput(player{s.Play}))
	}
	if s.Digit != nil {
		dctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			l.forwardDigits(dctx, s.Digit)
		}()
		undo = append(undo, func() { cancel(); <-done })
	}
	return stopTaps(undo, nil, nil), nil
}

// forwardDigits hands the caller's keys, RFC 4733 or SIP INFO, to digit
// until ctx ends or the call does.
func (l *Leg) forwardDigits(ctx context.Context, digit func(byte)) {
	for {
		select {
		case d := <-l.sess.DTMF():
			digit(d)
		case d := <-l.info:
			digit(d)
		case <-l.sess.Done():
			return
		case <-ctx.Done():
			return
		}
	}
}

// player adapts an interpreter.Player to the session's output: it never
// ends, and plays silence while the app has nothing queued.
type player struct{ p interpreter.Player }

// Read implements media.Source.
func (p player) Read(frame []int16) (int, error) {
	if !p.p.Next(frame) {
		clear(frame)
	}
	return len(frame), nil
}

// stopTaps is the stop of a primitive that tapped the session: it
// removes the taps (undo), then cancels the primitive's goroutines and
// waits for them (cancel and wg, either nil when there are none), once
// however often it is called.
func stopTaps(undo []func(), cancel context.CancelFunc, wg *sync.WaitGroup) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			for _, f := range undo {
				f()
			}
			if cancel != nil {
				cancel()
			}
			if wg != nil {
				wg.Wait()
			}
		})
	}
}
