package stt

import (
	"math"
	"math/rand/v2"

	"github.com/texml/texml/media"
	"github.com/texml/texml/media/audio"
)

// Audio conditioning. The only acoustic model Debian ships
// (pocketsphinx-en-us) is trained on 16 kHz wideband speech and its
// feature extraction (feat.params) spans 130-6800 Hz, while a call carries
// 8 kHz telephone audio with nothing above 4 kHz. Fed as it is, upsampled
// telephone audio leaves the filterbank channels above 4 kHz at the
// digital floor. Measured on espeak-ng speech (six voices, two speeds, the
// eight-phrase menu of accuracy_test.go) through an 8 kHz path, the
// grammar decoder recognized 51 of 96 utterances as they were and 94 of
// 96 after these three steps; TestSphinxAccuracy, through µ-law, gets 64
// of 64.
//
//  1. Level normalization: the active speech is scaled to a fixed RMS,
//     so the noise floor added next has the same relation to the speech
//     whatever the caller's line level.
//  2. A floor of white noise 20 dB below the speech: the model has only
//     seen real recordings, never exact digital silence or an empty
//     upper band, and a noise floor fills both.
//  3. Silence padding around the utterance, because the decoder models
//     an utterance as silence, speech, silence.
const (
	// targetRMS is the level speech is normalized to (about -21 dBFS).
	targetRMS = 3000
	// noiseRMS is the added noise floor, at 16 kHz.
	noiseRMS = 300
	// maxGain bounds the normalization so that a faint utterance is
	// lifted but line noise is never blown up into "speech".
	maxGain = 30
	// padSeconds of silence (plus the noise floor) go around the speech.
	padSeconds = 0.3
	// decodeRate is the acoustic model's sample rate.
	decodeRate = 16000
)

// Speech detection. An utterance without speech is answered with an empty
// result without running the decoder, since a grammar decoder forced to
// pick among the hints would otherwise "hear" one of them in the noise.
const (
	// frameSamples is 20 ms at 8 kHz, the media engine's frame.
	frameSamples = media.FrameSamples
	// speechRMS is the frame level counted as speech: about -40 dBFS,
	// far above line noise and µ-law idle patterns, below any voice.
	speechRMS = 300
	// minSpeechFrames of speech (60 ms) make an utterance; shorter
	// bursts are clicks.
	minSpeechFrames = 3
)

// speechFrames reports, for each 20 ms frame of s, whether it is speech by
// level.
func speechFrames(s []int16) []bool {
	n := len(s) / frameSamples
	out := make([]bool, n)
	for i := range n {
		out[i] = frameRMS(s[i*frameSamples:(i+1)*frameSamples]) >= speechRMS
	}
	return out
}

// hasSpeech reports whether enough of the frames are speech.
func hasSpeech(frames []bool) bool {
	n := 0
	for _, f := range frames {
		if f {
			n++
		}
	}
	return n >= minSpeechFrames
}

func frameRMS(f []int16) float64 {
	var sum float64
	for _, v := range f {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(f)))
}

// condition turns an 8 kHz utterance into the 16 kHz signal the decoder
// reads: normalized, padded, upsampled and given a noise floor. The noise
// generator is seeded with a constant so that recognition is repeatable.
func condition(s []int16, frames []bool) []int16 {
	var power float64
	var n int
	for i, speech := range frames {
		if !speech {
			continue
		}
		for _, v := range s[i*frameSamples : (i+1)*frameSamples] {
			power += float64(v) * float64(v)
		}
		n += frameSamples
	}
	gain := 1.0
	if n > 0 {
		gain = min(targetRMS/math.Sqrt(power/float64(n)), maxGain)
	}
	pad := int(padSeconds * media.SampleRate)
	x := make([]int16, len(s)+2*pad)
	for i, v := range s {
		x[pad+i] = clamp(float64(v) * gain)
	}
	y := audio.Resample(x, media.SampleRate, decodeRate)
	rng := rand.New(rand.NewPCG(1, 2))
	for i, v := range y {
		y[i] = clamp(float64(v) + noiseRMS*rng.NormFloat64())
	}
	return y
}

func clamp(v float64) int16 {
	switch {
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < math.MinInt16:
		return math.MinInt16
	}
	return int16(math.Round(v))
}
