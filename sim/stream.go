package sim

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media"
	"github.com/texml/texml/media/amd"
	"github.com/texml/texml/media/stt"
	"github.com/texml/texml/media/tts"
)

// Timing of the simulated caller on a bidirectional stream.
const (
	// StreamTurnGap is the silence before each untimed input: the caller
	// lets the app speak first, and waits this long after the app's
	// audio stops.
	StreamTurnGap = time.Second
	// StreamSilence is how long a "silence" input keeps the caller quiet.
	StreamSilence = 5 * time.Second
)

// Stream implements interpreter.Leg. The media stream's app is a real
// program at the far end of a real socket, so while a stream is open
// the simulation keeps pace with the wall clock: one 20 ms frame each
// way per 20 ms of virtual and of real time. A stream party does that:
// it sends what the simulated caller makes heard (its greeting; on a
// bidirectional stream also its scripted inputs, rendered as audio and
// DTMF events) and takes the app's audio to play, accounting it in
// virtual time. What the caller hears from prompts is not rendered: an
// outbound track is silence.
func (l *Leg) Stream(ctx context.Context, spec interpreter.StreamSpec) (func(), error) {
	if l.gone.Load() {
		return nil, interpreter.ErrHangup
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &simStream{l: l, spec: spec, started: l.Now(), done: make(chan struct{})}
	l.clk.Go(func() {
		defer close(s.done)
		s.run(sctx)
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-s.done
			s.flushPlay()
		})
	}, nil
}

// simStream is one stream party.
type simStream struct {
	l       *Leg
	spec    interpreter.StreamSpec
	started time.Time
	done    chan struct{}

	n     int          // frames sent so far
	talk  []talkSample // what the caller says, in order
	keys  []timedKey   // keys still to press
	next  time.Duration
	quiet bool // the script has nothing more for this stream

	playing time.Duration // the app's audio heard in the current run
	sound   []int16       // that audio, for Options.Recognizer

	// asking is set while a person is asked for the next input
	// (Options.Ask), whose reply comes on answer.
	asking bool
	answer chan answer
	// heard is when the app's audio was last heard, in the stream's
	// time: a polite caller lets the app finish before it speaks.
	heard    time.Duration
	playFrom time.Duration // when that run began
}

// talkSample is audio the caller makes heard from frame at on.
type talkSample struct {
	at  int // sample offset since the stream started
	pcm []int16
}

type timedKey struct {
	at  time.Duration
	key byte
}

// run sends a frame each 20 ms until ctx ends or the caller hangs up.
func (s *simStream) run(ctx context.Context) {
	l := s.l
	wall := time.Now()
	frame := make([]int16, media.FrameSamples)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		s.n++
		// Virtual time may not run ahead of the app's real time.
		if d := time.Until(wall.Add(time.Duration(s.n) * media.FrameDuration)); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		if err := l.advance(ctx, media.FrameDuration); err != nil {
			return
		}
		at := time.Duration(s.n) * media.FrameDuration
		if s.spec.Play != nil && !s.script(ctx, at) {
			return // the caller hung up
		}
		if s.spec.Inbound {
			s.caller(frame)
			s.spec.Sink(interpreter.TrackInbound, frame)
		}
		if s.spec.Outbound {
			clear(frame)
			s.spec.Sink(interpreter.TrackOutbound, frame)
		}
		if s.spec.Play != nil {
			s.play(frame)
		}
	}
}

// caller renders what the caller makes heard in the frame ending now:
// its greeting (counted from its answer) and what it says on the stream.
func (s *simStream) caller(frame []int16) {
	l := s.l
	off := int(l.Now().Sub(l.answeredAt)*media.SampleRate/time.Second) - media.FrameSamples
	l.o.Greeting.Fill(frame, max(off, 0))
	pos := (s.n - 1) * media.FrameSamples
	for len(s.talk) > 0 && s.talk[0].at+len(s.talk[0].pcm) <= pos {
		s.talk = s.talk[1:]
	}
	for _, t := range s.talk {
		for i := range frame {
			if j := pos + i - t.at; j >= 0 && j < len(t.pcm) {
				frame[i] = t.pcm[j]
			}
		}
	}
}

// script plays the caller's scripted inputs into a bidirectional stream:
// timed ones at their time, untimed ones one after another with
// StreamTurnGap before each. It reports false once the caller hung up.
func (s *simStream) script(ctx context.Context, at time.Duration) bool {
	if !s.take(ctx, at) {
		return false
	}
	for len(s.keys) > 0 && s.keys[0].at <= at {
		if s.spec.Digit != nil {
			s.spec.Digit(s.keys[0].key)
		}
		s.keys = s.keys[1:]
	}
	return true
}

// take starts the caller's next input when it is due.
func (s *simStream) take(ctx context.Context, at time.Duration) bool {
	l := s.l
	if s.quiet || at < s.next {
		return true
	}
	if len(l.inputs) == 0 && l.o.Ask != nil {
		// Interactive: a person answers while the stream goes on.
		if !s.ask(ctx, at) {
			return false
		}
		if len(l.inputs) == 0 {
			return true
		}
	}
	if len(l.inputs) == 0 {
		s.quiet = true // the caller stays on the line, silent
		return true
	}
	in := l.inputs[0]
	if in.Timed && l.elapsed() < in.At {
		return true
	}
	if !in.Timed && at < max(s.next, s.heard)+StreamTurnGap {
		return true
	}
	l.inputs = l.inputs[1:]
	l.trace("input", map[string]any{"type": actionName(in.Action), "value": in.String(), "stream": true})
	var talk []int16
	switch in.Action {
	case Hangup:
		l.hangUp("")
		return false
	case DTMF:
		for i := range len(in.Keys) {
			s.keys = append(s.keys, timedKey{at: at + time.Duration(i)*KeyGap, key: in.Keys[i]})
		}
		s.next = at + time.Duration(len(in.Keys))*KeyGap
		return true
	case Speak:
		talk = s.speech(ctx, in.Text)
		if !in.Timed {
			// Timed speech is the transcriptions' already (Transcribe).
			l.sayOnStream(in.Text)
		}
	case Talk:
		d := time.Duration(in.Seconds * float64(time.Second))
		talk = amd.Party{{Kind: amd.Voice, For: d}}.Samples(d)
		if !in.Timed {
			l.talkOnStream(d)
		}
		if in.Key == "hangup" {
			// Hang up once the talk is over: a timed hangup at its end.
			rest := in
			rest.Action, rest.Timed, rest.At = Hangup, true, l.elapsed()+d
			l.inputs = append([]Input{rest}, l.inputs...)
		} else if in.Key != "" {
			s.keys = append(s.keys, timedKey{at: at + d, key: in.Key[0]})
		}
	case Silence:
		s.next = at + StreamSilence
		return true
	}
	s.talk = append(s.talk, talkSample{at: s.n * media.FrameSamples, pcm: talk})
	s.next = at + time.Duration(len(talk))*time.Second/media.SampleRate
	return true
}

// ask puts the question to the person at the terminal once the app has
// had its turn, on a goroutine of its own, so that the stream's frames
// keep their pace while the person types; an answer becomes the next
// input. It reports false once the person ended the call (end of input).
func (s *simStream) ask(ctx context.Context, at time.Duration) bool {
	select {
	case a := <-s.answer:
		s.asking = false
		if a.err != nil {
			s.l.hangUp("end of input")
			return false
		}
		v := strings.TrimSpace(a.text)
		if v == "" {
			v = "silence"
		} else if !strings.Contains(v, ":") && v != "silence" && v != "hangup" {
			v = "dtmf:" + v
		}
		in, err := ParseInput(v)
		if err != nil {
			s.l.trace("warning", map[string]any{"message": err.Error()})
			return true
		}
		in.Timed = false
		s.l.inputs = append(s.l.inputs, in)
		s.next = at - StreamTurnGap // its turn is now
		return true
	default:
	}
	if s.asking || at < max(s.next, s.heard)+StreamTurnGap {
		return true
	}
	s.asking = true
	if s.answer == nil {
		s.answer = make(chan answer, 1)
	}
	go func() {
		text, err := s.l.o.Ask(ctx, "Caller (speech:TEXT, keys, silence, hangup)")
		s.answer <- answer{text, err}
	}()
	return true
}

// answer is a person's reply to ask.
type answer struct {
	text string
	err  error
}

// speech renders text as the caller's voice: the leg's synthesizer when
// it has one (espeak-ng for `texml call`), else speech-like noise as long
// as the text takes to say.
func (s *simStream) speech(ctx context.Context, text string) []int16 {
	if syn := s.l.o.Synth; syn != nil {
		if pcm, err := syn.Synthesize(ctx, tts.Request{Text: text}); err == nil && len(pcm) > 0 {
			return pcm
		}
	}
	d := time.Duration(max(utf8.RuneCountInString(text), 5)) * SpeechPerChar
	return amd.Party{{Kind: amd.Voice, For: d}}.Samples(d)
}

// play takes the app's next 20 ms and traces each run of its audio once
// it ends: how long the caller heard the app speak, and from when.
func (s *simStream) play(frame []int16) {
	at := s.l.elapsed()
	if s.spec.Play.Next(frame) {
		s.heard = time.Duration(s.n) * media.FrameDuration
		if s.playing == 0 {
			s.playFrom = at - media.FrameDuration
		}
		s.playing += media.FrameDuration
		if s.l.o.Recognizer != nil && len(s.sound) < maxHeardSamples {
			s.sound = append(s.sound, frame...)
		}
		return
	}
	s.flushPlay()
}

// maxHeardSamples bounds the app's audio kept for recognition: 30 s.
const maxHeardSamples = 30 * media.SampleRate

// flushPlay traces the app's audio heard since the last trace, with
// what the recognizer (Options.Recognizer) makes of it when it is
// speech.
func (s *simStream) flushPlay() {
	if s.playing == 0 {
		return
	}
	f := map[string]any{"state": "audio", "ms": s.playing.Milliseconds(), "from_ms": s.playFrom.Milliseconds()}
	if s.spec.Who != "" {
		f["who"] = s.spec.Who
	}
	if rec := s.l.o.Recognizer; rec != nil && voiced(s.sound) {
		ctx, cancel := context.WithTimeout(context.Background(), recognizeTimeout)
		res, err := rec.Recognize(ctx, stt.Request{Samples: s.sound})
		cancel()
		if err == nil && res.Text != "" {
			f["text"] = res.Text
		}
	}
	s.sound = s.sound[:0]
	s.l.o.Tracer.Trace(interpreter.Event{Name: "stream", T: s.playFrom + s.playing, Fields: f})
	s.playing = 0
}

// recognizeTimeout bounds the recognition of one run of the app's audio.
const recognizeTimeout = 10 * time.Second

// voiced reports whether pcm holds sound worth recognizing, not only
// silence (a ConversationRelay agent's simulated voice) or noise.
func voiced(pcm []int16) bool {
	loud := 0
	for _, v := range pcm {
		if v > 1000 || v < -1000 {
			loud++
		}
	}
	return loud > media.SampleRate/10 // 100 ms of it
}
