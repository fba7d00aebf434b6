package signaling

import (
	"context"
	"sync"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media"
	"github.com/texml/texml/media/audio"
	"github.com/texml/texml/media/stt"
)

// Endpointing constants for speech input.
const (
	// autoEndSilence is the pause that ends speech with speechTimeout="auto".
	autoEndSilence = 800 * time.Millisecond
	// preRoll keeps the audio just before the detector fired, so that the
	// recognizer hears the first sound of the first word.
	preRoll = 15 // frames (300 ms)
	// idleCheck is how often a silent peer (no packets) is looked for:
	// a pause is timed to within this.
	idleCheck = 100 * time.Millisecond
)

// utterance captures one spoken answer from the session's receive
// goroutine: voice activity detection marks its start and end, and the
// samples in between (plus pre-roll) go to the recognizer. Write never
// blocks.
type utterance struct {
	turn     int
	endAfter int // silent frames that end speech
	maxFrame int // frames of speech at most
	// endIdle is endAfter as a duration: a peer that suppresses silence
	// (DTX) sends no packets at all once the caller stops talking, so no
	// silent frame ever arrives and the pause is timed by the clock.
	endIdle time.Duration

	started chan struct{} // closed when speech starts
	ended   chan struct{} // closed when speech ends
	// sustained, when sustainAt > 0, is closed once speech has had
	// sustainAt voiced frames (TranscribeSpec.SustainAfter); nil
	// otherwise. Voiced means above the detector's threshold, not
	// carried by its hangover, so a short sound never counts as long.
	sustained chan struct{}
	sustainAt int
	// cloud, when the leg has a streaming recognizer, also gets the
	// frames (gather_stream.go). Set before the utterance is tapped.
	cloud *cloudListen

	mu      sync.Mutex
	vad     *audio.VAD
	ring    [][media.FrameSamples]int16 // pre-roll, before speech starts
	samples []int16
	state   int // 0 waiting, 1 speaking, 2 ended
	silent  int
	frames  int
	voiced  int       // frames of speech above the detector's threshold
	last    time.Time // when the last frame arrived
}

func newUtterance(spec interpreter.InputSpec) *utterance {
	end := spec.SpeechTimeout
	if spec.SpeechAuto || end <= 0 {
		end = autoEndSilence
	}
	maxT := spec.MaxSpeechTime
	if maxT <= 0 {
		maxT = 60 * time.Second
	}
	return &utterance{
		turn: spec.Turn, endAfter: int(end / media.FrameDuration), maxFrame: int(maxT / media.FrameDuration), endIdle: end,
		started: make(chan struct{}), ended: make(chan struct{}),
		vad: audio.NewVAD(audio.VADOptions{}),
	}
}

// Write implements media.Sink.
func (u *utterance) Write(frame []int16) {
	if u.cloud != nil {
		u.cloud.write(frame)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.last = time.Now()
	voiced := u.vad.Push(frame)
	switch u.state {
	case 0:
		var f [media.FrameSamples]int16
		copy(f[:], frame)
		u.ring = append(u.ring, f)
		if len(u.ring) > preRoll {
			u.ring = u.ring[1:]
		}
		if voiced {
			for _, r := range u.ring {
				u.samples = append(u.samples, r[:]...)
			}
			u.ring = nil
			u.state = 1
			close(u.started)
			u.countVoiced()
		}
	case 1:
		u.samples = append(u.samples, frame...)
		u.frames++
		if voiced {
			u.silent = 0
		} else {
			u.silent++
		}
		if u.vad.Voiced() {
			u.countVoiced()
		}
		if u.silent >= u.endAfter || u.frames >= u.maxFrame {
			u.state = 2
			close(u.ended)
		}
	}
}

// countVoiced counts a voiced frame of speech and closes sustained when
// it is the sustainAt-th. mu is held.
func (u *utterance) countVoiced() {
	if u.voiced++; u.sustainAt > 0 && u.voiced == u.sustainAt {
		close(u.sustained)
	}
}

// endIfIdle ends speech in progress when no frame has arrived for the
// end-of-speech pause, and reports whether it did.
func (u *utterance) endIfIdle(now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.state != 1 || now.Sub(u.last) < u.endIdle {
		return false
	}
	u.state = 2
	close(u.ended)
	return true
}

// speaking reports whether speech has started and not yet ended.
func (u *utterance) speaking() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.state == 1
}

// audio returns what was captured.
func (u *utterance) audio() []int16 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]int16(nil), u.samples...)
}

// listen returns the open utterance of this turn, or starts one and
// attaches it to the session.
func (l *Leg) listen(spec interpreter.InputSpec) *utterance {
	if l.utt != nil && l.utt.turn == spec.Turn {
		return l.utt
	}
	l.stopListening() // an utterance of an earlier turn hears no more
	l.utt = newUtterance(spec)
	if l.m.Streamer != nil && spec.Speech {
		l.utt.cloud = l.listenCloud(spec)
	}
	l.uttOff = l.sess.Tap(l.utt)
	return l.utt
}

// stopListening detaches the utterance, if any, and ends its provider
// stream.
func (l *Leg) stopListening() {
	if u := l.detachUtterance(); u != nil && u.cloud != nil {
		u.cloud.close()
	}
}

// detachUtterance untaps the utterance, if any, and returns it.
func (l *Leg) detachUtterance() *utterance {
	u := l.utt
	if u != nil {
		l.uttOff()
		l.utt, l.uttOff = nil, nil
	}
	return u
}

// WaitInput implements interpreter.Leg: the first of a DTMF key, the end
// of an utterance (recognized), or the timeout when nothing started.
func (l *Leg) WaitInput(ctx context.Context, spec interpreter.InputSpec) (*interpreter.Input, error) {
	l.newTurn(spec.Turn)
	var rtpDigits, infoDigits <-chan byte
	if spec.DTMF {
		rtpDigits, infoDigits = l.sess.DTMF(), l.info
	}
	var started, ended, heard <-chan struct{}
	var u *utterance
	if spec.Speech && l.hearsSpeech() {
		u = l.listen(spec)
		started, ended, heard = u.started, u.ended, u.cloudHeard()
	} else if spec.Speech {
		l.log.Warn("speech input requested but no recognizer is configured; listening for DTMF only")
	}
	timer := time.NewTimer(spec.Timeout)
	defer timer.Stop()
	// While the caller talks, idle ticks to check that the peer still
	// sends packets.
	var idle <-chan time.Time
	var idleTicker *time.Ticker
	defer func() {
		if idleTicker != nil {
			idleTicker.Stop()
		}
	}()
	for {
		select {
		case d := <-rtpDigits:
			l.stopListening()
			return &interpreter.Input{Kind: interpreter.Digit, Digit: d}, nil
		case d := <-infoDigits:
			l.stopListening()
			return &interpreter.Input{Kind: interpreter.Digit, Digit: d}, nil
		case <-started:
			timer.Stop() // the caller is talking: the no-input timeout no longer applies
			started = nil
			idleTicker = time.NewTicker(idleCheck)
			idle = idleTicker.C
		case now := <-idle:
			u.endIfIdle(now) // closes ended, which the next turn of the loop takes
		case <-ended:
			return l.recognize(ctx, spec)
		case <-heard: // the provider found the end first
			return l.recognize(ctx, spec)
		case <-timer.C:
			l.stopListening()
			return &interpreter.Input{Kind: interpreter.Timeout}, nil
		case <-l.sess.Done():
			return nil, interpreter.ErrHangup
		case <-ctx.Done():
			l.stopListening()
			return nil, l.ctxErr(ctx)
		}
	}
}

// recognize turns the finished utterance into text.
func (l *Leg) recognize(ctx context.Context, spec interpreter.InputSpec) (*interpreter.Input, error) {
	samples := l.utt.audio()
	if u := l.detachUtterance(); u.cloud != nil {
		return l.recognizeCloud(ctx, spec, u.cloud, samples)
	}
	res, err := l.m.Recognizer.Recognize(ctx, stt.Request{Samples: samples, Language: spec.Language, Hints: spec.Hints})
	if err != nil {
		if ctx.Err() != nil {
			return nil, l.ctxErr(ctx)
		}
		l.log.Warn("speech recognition failed", "err", err)
		return &interpreter.Input{Kind: interpreter.SpeechResult}, nil // an empty result: no input
	}
	return &interpreter.Input{Kind: interpreter.SpeechResult, Text: res.Text, Confidence: res.Confidence}, nil
}
