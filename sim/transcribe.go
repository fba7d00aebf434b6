package sim

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/texml/texml/interpreter"
)

// Transcribe implements interpreter.Leg. A simulated call has no audio,
// so what is transcribed is the script, in virtual time: on the inbound
// track, the caller's timed speech:TEXT@MS inputs when their talk ends
// (SpeechPerChar per character after MS), and untimed speech a Gather
// takes when the caller has said it; on the outbound track, each Say's
// text when it has been spoken to the end. Confidence is
// SpeechConfident. Speaking hears the onset of timed speech and of
// timed talk (audio:SECONDS, which has no words), Sustained the moment
// SustainAfter into one at least that long, Partial the words
// said so far as each one ends, and Ended the end of each: the spec's
// EndSilence after the last word (or sound), at once without one, and
// the final transcript comes then.
func (l *Leg) Transcribe(ctx context.Context, spec interpreter.TranscribeSpec) (func(), error) {
	if l.gone.Load() {
		return nil, interpreter.ErrHangup
	}
	t := &simTranscriber{spec: spec}
	// The trace says what recognizer the leg was given and in which
	// language: a call's events show a transcription start and, when a
	// ConversationRelay app switches language, the restart in the new one.
	l.trace("transcribe", map[string]any{"inbound": spec.Inbound, "outbound": spec.Outbound, "language": spec.Language})
	l.tmu.Lock()
	l.transcribers = append(l.transcribers, t)
	l.tmu.Unlock()
	var cancels []func() bool
	if spec.Inbound {
		now := l.elapsed()
		for _, in := range l.inputs {
			if in.Action == Talk && in.Timed && in.At >= now {
				// Sound without words (audio:SECONDS): an onset and an
				// end, no text.
				cancels = append(cancels, t.talk(l, in.At-now, time.Duration(in.Seconds*float64(time.Second)))...)
				continue
			}
			if in.Action != Speak || !in.Timed {
				continue
			}
			end := in.At + time.Duration(utf8.RuneCountInString(in.Text))*SpeechPerChar
			if end < now {
				continue // said before the transcription started
			}
			cancels = append(cancels, t.schedule(l, in.At-now, in.Text)...)
		}
	}
	var once sync.Once
	done := make(chan struct{})
	stop := func() {
		once.Do(func() {
			close(done)
			for _, c := range cancels {
				c()
			}
			t.stop()
			l.tmu.Lock()
			defer l.tmu.Unlock()
			for i, x := range l.transcribers {
				if x == t {
					l.transcribers = append(l.transcribers[:i], l.transcribers[i+1:]...)
					break
				}
			}
		})
	}
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-done:
		}
	}()
	return stop, nil
}

// schedule delivers, on the virtual clock, the transcription events of
// text that the caller starts to say after d (which may be negative:
// said already): the onset, a partial at the end of each word, the
// final result once all is said.
func (t *simTranscriber) schedule(l *Leg, d time.Duration, text string) []func() bool {
	var cancels []func() bool
	at := func(after time.Duration, f func()) {
		if after >= 0 {
			cancels = append(cancels, l.clk.AfterFunc(after, f))
		}
	}
	at(d, func() { t.speaking(interpreter.TrackInbound) })
	at(t.sustainAt(d, time.Duration(utf8.RuneCountInString(text))*SpeechPerChar), func() { t.sustained(interpreter.TrackInbound) })
	if t.spec.Partial != nil {
		words := strings.Fields(text)
		for i := 1; i < len(words); i++ {
			said := strings.Join(words[:i], " ")
			at(d+time.Duration(utf8.RuneCountInString(said))*SpeechPerChar, func() { t.partial(interpreter.TrackInbound, said) })
		}
	}
	at(d+time.Duration(utf8.RuneCountInString(text))*SpeechPerChar+t.spec.EndSilence, func() {
		t.ended(interpreter.TrackInbound)
		t.deliver(interpreter.TrackInbound, text)
	})
	return cancels
}

// talk delivers, on the virtual clock, the events of sound without words
// that the caller starts to make after d and makes for length: its onset,
// and its end once EndSilence has passed.
func (t *simTranscriber) talk(l *Leg, d, length time.Duration) []func() bool {
	var cancels []func() bool
	if d >= 0 {
		cancels = append(cancels, l.clk.AfterFunc(d, func() { t.speaking(interpreter.TrackInbound) }))
	}
	if at := t.sustainAt(d, length); at >= 0 {
		cancels = append(cancels, l.clk.AfterFunc(at, func() { t.sustained(interpreter.TrackInbound) }))
	}
	if end := d + length + t.spec.EndSilence; end >= 0 {
		cancels = append(cancels, l.clk.AfterFunc(end, func() { t.ended(interpreter.TrackInbound) }))
	}
	return cancels
}

// sustainAt is when, after the schedule's start, an utterance starting
// at d and voiced for length is told sustained: SustainAfter into it,
// when it is that long; -1 when it is not, when the spec does not ask,
// or when that moment has passed (the onset was not told either).
func (t *simTranscriber) sustainAt(d, length time.Duration) time.Duration {
	if t.spec.Sustained == nil || t.spec.SustainAfter <= 0 || length < t.spec.SustainAfter || d < 0 {
		return -1
	}
	return d + t.spec.SustainAfter
}

// sayOnStream tells the running transcriptions that the caller starts to say
// text, untimed (on a stream): the events follow as for timed speech.
func (l *Leg) sayOnStream(text string) {
	l.eachTranscriber(func(t *simTranscriber) { t.schedule(l, 0, text) })
}

// talkOnStream tells the running transcriptions that the caller starts
// to make sound without words for length, untimed (on a stream): an
// onset and an end.
func (l *Leg) talkOnStream(length time.Duration) {
	l.eachTranscriber(func(t *simTranscriber) { t.talk(l, 0, length) })
}

// transcribed hands text said on track to the running transcriptions.
func (l *Leg) transcribed(track interpreter.Track, text string) {
	l.eachTranscriber(func(t *simTranscriber) { t.deliver(track, text) })
}

// eachTranscriber calls f for each running transcription, outside tmu
// (f may take a transcription's own lock and call its spec).
func (l *Leg) eachTranscriber(f func(*simTranscriber)) {
	l.tmu.Lock()
	ts := append([]*simTranscriber(nil), l.transcribers...)
	l.tmu.Unlock()
	for _, t := range ts {
		f(t)
	}
}

// simTranscriber is one running Transcribe.
type simTranscriber struct {
	spec    interpreter.TranscribeSpec
	mu      sync.Mutex // held while Result runs, so that stop waits for it
	stopped bool
}

// deliver gives one final transcript of track, if the spec listens to it.
func (t *simTranscriber) deliver(track interpreter.Track, text string) {
	t.tell(track, func() {
		t.spec.Result(interpreter.Transcript{Track: track, Text: text, Confidence: SpeechConfident})
	})
}

// speaking tells the onset of speech on track.
func (t *simTranscriber) speaking(track interpreter.Track) {
	if t.spec.Speaking != nil {
		t.tell(track, func() { t.spec.Speaking(track) })
	}
}

// sustained tells that an utterance on track has gone on SustainAfter.
func (t *simTranscriber) sustained(track interpreter.Track) {
	t.tell(track, func() { t.spec.Sustained(track) })
}

// ended tells the end of an utterance on track.
func (t *simTranscriber) ended(track interpreter.Track) {
	if t.spec.Ended != nil {
		t.tell(track, func() { t.spec.Ended(track) })
	}
}

// partial gives an interim transcript of track.
func (t *simTranscriber) partial(track interpreter.Track, text string) {
	if t.spec.Partial != nil {
		t.tell(track, func() {
			t.spec.Partial(interpreter.Transcript{Track: track, Text: text, Confidence: SpeechConfident})
		})
	}
}

// tell runs f, one of the spec's callbacks, when the spec listens to
// track and the transcription has not stopped; mu is held meanwhile, so
// that stop waits for it.
func (t *simTranscriber) tell(track interpreter.Track, f func()) {
	if track == interpreter.TrackInbound && !t.spec.Inbound || track == interpreter.TrackOutbound && !t.spec.Outbound {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		f()
	}
}

func (t *simTranscriber) stop() {
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
}
