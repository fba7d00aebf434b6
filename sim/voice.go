package sim

import (
	"context"
	"time"
	"unicode/utf8"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media"
)

// Voice is a ConversationRelay agent's voice on a simulated call
// (interpreter.Voice): nobody listens to its audio, only to how long it
// takes, so speech lasts SpeechPerChar a character, as a <Say> does, and
// a sound PlayDuration, as a <Play> does. Both are silence.
type Voice struct {
	// PlayDuration is a sound's length; nil: the package's PlayDuration.
	PlayDuration func(url string) time.Duration
	// leg, when set (a World's call), traces what the voice is asked to
	// say ("tts": text, voice, language), as the leg's <Say> does: the
	// voice and language the agent's words get are seen where they are
	// used, not only where the session chose them.
	leg *Leg
}

// Speak implements interpreter.Voice.
func (v Voice) Speak(_ context.Context, s interpreter.Speech) ([]int16, error) {
	if v.leg != nil {
		v.leg.trace("tts", map[string]any{"text": s.Text, "voice": s.Voice, "language": s.Language})
	}
	return silence(time.Duration(max(utf8.RuneCountInString(s.Text), 5)) * SpeechPerChar), nil
}

// Sound implements interpreter.Voice.
func (v Voice) Sound(_ context.Context, url string) ([]int16, error) {
	d := PlayDuration
	if v.PlayDuration != nil {
		d = v.PlayDuration(url)
	}
	return silence(d), nil
}

func silence(d time.Duration) []int16 {
	return make([]int16, int(d*media.SampleRate/time.Second))
}
