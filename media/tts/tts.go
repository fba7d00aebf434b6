// Package tts turns the text of a <Say> into 8 kHz mono audio for the media
// engine. Synthesizer is the seam the interpreter uses; Espeak runs the
// espeak-ng program (the default engine, a Debian package), HTTP calls a
// cloud provider through a small JSON contract (docs/tts-http.md), and
// Cache sits in front of either so that a repeated prompt is ready at once
// (the first packet of a cached prompt leaves within 20 ms).
//
// Voices and languages follow TwiML: man, woman and alice, Polly.*,
// Google.*, Telnyx.* and the other provider names resolve to an espeak-ng
// voice by language and gender (voices.go, docs/voices.md).
package tts

import "context"

// Request is one <Say> to synthesize.
type Request struct {
	// Text is the plain text to speak. It is used when SSML is empty.
	Text string
	// SSML is the inner markup of <Say> (text mixed with <break>,
	// <prosody>, <say-as> and the like), without a <speak> root; "" for
	// a plain-text Say.
	SSML string
	// Voice is the TwiML voice attribute, as written ("man",
	// "Polly.Joanna-Neural", "Google.en-GB-Standard-A", ...); "" means the
	// TwiML default, man.
	Voice string
	// Language is the TwiML language attribute (BCP-47, e.g. "en-US");
	// "" means en-US.
	Language string
}

// Synthesizer renders speech. Implementations return 8 kHz mono 16-bit
// samples (media.SampleRate) and must be safe for concurrent use, since
// every call leg synthesizes on its own goroutine.
type Synthesizer interface {
	Synthesize(ctx context.Context, r Request) ([]int16, error)
}

// Gender is the kind of voice a TwiML voice name asks for.
type Gender int

// The genders a voice name can carry. Unspecified lets the language's
// default voice speak.
const (
	Unspecified Gender = iota
	Male
	Female
)

// String returns "male", "female" or "unspecified".
func (g Gender) String() string {
	switch g {
	case Male:
		return "male"
	case Female:
		return "female"
	}
	return "unspecified"
}
