package signaling

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media/stt"
)

// Gather input="speech" with a streaming recognizer: the utterance's
// frames also go to a provider stream while the caller talks, so that
// the provider's partials reach partialResultCallback and its final is
// ready when the utterance ends. The utterance ends at whichever comes
// first, the provider's final (its endpointing: by a numeric
// speechTimeout, which it is sent, or its own for "auto",
// https://www.twilio.com/docs/voice/twiml/gather#speechtimeout)
// or the local end of speech (a pause of speechTimeout, or the peer
// going quiet). After a local end the provider is told stop and its
// last final is the result. A stream that fails falls back to the
// batch Recognizer on the captured audio.

// Bounds of the streaming side of a Gather.
const (
	// cloudPending is how many frames (2 s) are kept while the stream
	// opens: a listening turn opens it when the prompt starts, and a
	// caller may answer before the provider's handshake is done.
	cloudPending = 100
	// cloudFinishTimeout bounds the wait for the provider's last final
	// after stop: it has all the audio by then and only has to flush.
	cloudFinishTimeout = 5 * time.Second
)

// cloudListen is the provider's side of one utterance.
type cloudListen struct {
	heard  chan struct{} // closed when the provider's final has words: the utterance ended
	done   chan struct{} // closed when the outcome is known: heard, or the stream failed
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	stream   stt.Stream // nil until open
	pending  [][]int16  // frames before the stream is open
	res      stt.Result
	err      error
	finished bool // done is closed
	ending   bool // result was called: the utterance is over, stop is due
}

// listenCloud opens a stream for spec's utterance on a goroutine of its
// own, so that the prompt starts without waiting for the provider.
func (l *Leg) listenCloud(spec interpreter.InputSpec) *cloudListen {
	ctx, cancel := context.WithCancel(l.gone)
	c := &cloudListen{heard: make(chan struct{}), done: make(chan struct{}), cancel: cancel}
	req := stt.StreamRequest{Language: spec.Language, Hints: spec.Hints, Queue: stt.DefaultStreamQueue + cloudPending}
	if !spec.SpeechAuto && spec.SpeechTimeout > 0 {
		// The provider is told the app's pause, so that its final does
		// not end the answer at a shorter one of its own; "auto" is the
		// provider's own endpointing, so it is told nothing.
		req.EndSilence = spec.SpeechTimeout
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		s, err := l.m.Streamer.Stream(ctx, req)
		if err != nil {
			c.finish(stt.Result{}, fmt.Errorf("speech recognition stream: %w", err))
			return
		}
		c.mu.Lock()
		for _, f := range c.pending {
			s.Write(f)
		}
		c.pending, c.stream = nil, s
		if c.ending {
			s.CloseSend() // the utterance ended while the stream opened
		}
		c.mu.Unlock()
		c.relay(ctx, s, spec.OnPartial)
	}()
	return c
}

// write takes a frame of the utterance, on the media goroutine.
func (c *cloudListen) write(frame []int16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.stream != nil:
		c.stream.Write(frame)
	case len(c.pending) < cloudPending:
		c.pending = append(c.pending, append([]int16(nil), frame...))
	}
}

// relay reads the provider's events: partials go to onPartial, and the
// first final with words is the result.
func (c *cloudListen) relay(ctx context.Context, s stt.Stream, onPartial func(interpreter.Partial)) {
	for {
		select {
		case e, ok := <-s.Events():
			if !ok {
				c.mu.Lock()
				asked := c.ending
				c.mu.Unlock()
				err := s.Err()
				switch {
				case err == nil && asked:
					// Stopped, and nothing but noise was heard: an
					// empty result, not a failure to retry.
				case err == nil:
					err = errors.New("the provider ended the stream before stop")
				}
				c.finish(stt.Result{}, err)
				return
			}
			switch {
			case e.Kind == stt.Partial && e.Text != "" && onPartial != nil:
				onPartial(interpreter.Partial{Unstable: e.Text})
			case e.Kind == stt.Final && e.Text != "":
				c.finish(stt.Result{Text: e.Text, Confidence: e.Confidence}, nil)
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// finish records the outcome once and tells result, and WaitInput
// when the provider heard words. A failed stream does not end the
// utterance: local endpointing does, and the batch Recognizer steps in.
func (c *cloudListen) finish(r stt.Result, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return
	}
	c.res, c.err, c.finished = r, err, true
	if err == nil {
		close(c.heard)
	}
	close(c.done)
}

// result is the provider's transcript of an utterance that ended: at
// once after its final, else after stop and its last final.
func (c *cloudListen) result(ctx context.Context) (stt.Result, error) {
	c.mu.Lock()
	c.ending = true
	if c.stream != nil {
		c.stream.CloseSend()
	}
	c.mu.Unlock()
	t := time.NewTimer(cloudFinishTimeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		return stt.Result{}, fmt.Errorf("speech recognition stream: no final within %v of stop", cloudFinishTimeout)
	case <-ctx.Done():
		return stt.Result{}, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.res, c.err
}

// close ends the stream and waits for its goroutine. It is idempotent.
func (c *cloudListen) close() {
	c.cancel()
	c.wg.Wait()
	c.mu.Lock()
	s := c.stream
	c.stream = nil
	c.mu.Unlock()
	if s != nil {
		_ = s.Close()
	}
}

// recognizeCloud is recognize for an utterance with a provider stream:
// the provider's result, or the batch Recognizer's on the captured
// audio when the stream failed.
func (l *Leg) recognizeCloud(ctx context.Context, spec interpreter.InputSpec, c *cloudListen, samples []int16) (*interpreter.Input, error) {
	res, err := c.result(ctx)
	c.close()
	if err != nil && ctx.Err() != nil {
		return nil, l.ctxErr(ctx)
	}
	if err != nil {
		l.log.Warn("speech recognition stream failed; recognizing the utterance in one piece", "err", err)
		if l.m.Recognizer == nil {
			return &interpreter.Input{Kind: interpreter.SpeechResult}, nil // an empty result: no input
		}
		if res, err = l.m.Recognizer.Recognize(ctx, stt.Request{Samples: samples, Language: spec.Language, Hints: spec.Hints}); err != nil {
			if ctx.Err() != nil {
				return nil, l.ctxErr(ctx)
			}
			l.log.Warn("speech recognition failed", "err", err)
			return &interpreter.Input{Kind: interpreter.SpeechResult}, nil
		}
	}
	return &interpreter.Input{Kind: interpreter.SpeechResult, Text: res.Text, Confidence: res.Confidence}, nil
}

// cloudHeard is the channel WaitInput selects on for the provider's
// end of the utterance; nil (never ready) without a stream.
func (u *utterance) cloudHeard() <-chan struct{} {
	if u.cloud == nil {
		return nil
	}
	return u.cloud.heard
}

// hearsSpeech reports whether the leg can recognize speech input: with
// a batch recognizer, a streaming one, or both.
func (l *Leg) hearsSpeech() bool {
	return l.m.Recognizer != nil || l.m.Streamer != nil
}
