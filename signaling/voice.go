package signaling

import (
	"context"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media/tts"
)

// voice is a ConversationRelay agent's voice on this server's calls
// (interpreter.Voice): the engines of <Say> and <Play>, with their
// caches, so that a greeting said on every call is rendered once.
type voice struct{ m *MediaConfig }

// Speak implements interpreter.Voice.
func (v voice) Speak(ctx context.Context, s interpreter.Speech) ([]int16, error) {
	return v.m.Synth.Synthesize(ctx, tts.Request{Text: s.Text, SSML: s.SSML, Voice: s.Voice, Language: s.Language})
}

// Sound implements interpreter.Voice.
func (v voice) Sound(ctx context.Context, url string) ([]int16, error) {
	pcm, err := v.m.Audio.Get(ctx, url)
	if err != nil {
		return nil, err
	}
	return pcm.Samples, nil
}
