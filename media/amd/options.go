// Package amd is an answering-machine detector: fed the first seconds of
// audio from the answered leg of an outbound call, it tells a human from
// an answering machine, a fax machine or silence, the way Twilio's
// Answering Machine Detection does
// (https://www.twilio.com/docs/voice/answering-machine-detection).
//
// It works on 8 kHz PCM in 20 ms frames and uses three cues:
//
//   - greeting timing from voice activity: a short utterance followed by
//     silence is a person ("Hello?"); one long run of speech is a
//     recorded greeting. The lengths are Twilio's SpeechThreshold and
//     SpeechEndThreshold parameters;
//   - a sustained pure tone after speech, the beep a voicemail plays
//     before recording;
//   - fax tones: the calling tone CNG (1100 Hz, 0.5 s on, 3 s off, ITU-T
//     T.30) and the answer tone CED (2100 Hz for 2.6-4 s), which is what
//     a fax machine we call plays when it picks up.
//
// The package has no notion of calls; the call path feeds it frames from
// the answered leg and acts on the Result.
package amd

import (
	"errors"
	"fmt"
	"time"
)

// Mode is Twilio's MachineDetection parameter.
type Mode int

const (
	// Enable returns as soon as the callee is identified: human,
	// machine_start, fax or unknown. Twilio recommends it for hanging up
	// on machines or connecting humans to an agent quickly.
	Enable Mode = iota
	// DetectMessageEnd, once a machine is identified, waits for the end
	// of its greeting (a beep, or silence) and returns machine_end_beep,
	// machine_end_silence or, at the timeout, machine_end_other, so that
	// a voicemail message can be left after the tone.
	DetectMessageEnd
)

// ParseMode reads Twilio's MachineDetection value ("Enable" or
// "DetectMessageEnd", case as Twilio spells it).
func ParseMode(s string) (Mode, error) {
	switch s {
	case "Enable":
		return Enable, nil
	case "DetectMessageEnd":
		return DetectMessageEnd, nil
	}
	return 0, fmt.Errorf("MachineDetection %q: want Enable or DetectMessageEnd", s)
}

// String is the mode as Twilio spells it.
func (m Mode) String() string {
	if m == DetectMessageEnd {
		return "DetectMessageEnd"
	}
	return "Enable"
}

// Defaults and allowed ranges of Twilio's tuning parameters, as Twilio's
// AMD page and its API reference give them.
const (
	// DefaultTimeout is MachineDetectionTimeout's default: after 30 s
	// without a decision the answer is unknown (3-59 s allowed).
	DefaultTimeout = 30 * time.Second
	// DefaultSpeechThreshold is MachineDetectionSpeechThreshold's
	// default: speech longer than 2400 ms is a machine, shorter a human
	// (1000-6000 ms allowed).
	DefaultSpeechThreshold = 2400 * time.Millisecond
	// DefaultSpeechEndThreshold is MachineDetectionSpeechEndThreshold's
	// default: 1200 ms of silence after speech ends that speech
	// (500-5000 ms allowed). Twilio suggests raising it for greetings
	// with long pauses under DetectMessageEnd.
	DefaultSpeechEndThreshold = 1200 * time.Millisecond
	// DefaultSilenceTimeout is MachineDetectionSilenceTimeout's default:
	// 5000 ms of initial silence gives unknown (2000-10000 ms allowed).
	DefaultSilenceTimeout = 5000 * time.Millisecond
)

// Tone detection defaults; not Twilio parameters (Twilio documents no
// beep or fax thresholds), chosen from the tones' standards and from the
// labelled set in amd_test.go.
const (
	// DefaultBeepMin is the shortest tone taken for a voicemail beep.
	// Beeps are typically 0.2-1 s; 150 ms is longer than any sung or
	// held vowel keeps one pure partial.
	DefaultBeepMin = 150 * time.Millisecond
	// DefaultBeepLowHz is the lowest beep frequency; voicemail beeps in
	// the wild sit between about 440 and 1800 Hz, and a high voice's
	// fundamental (up to about 300 Hz) must stay out.
	DefaultBeepLowHz = 400
	// DefaultBeepHighHz is the highest beep frequency, below the fax
	// answer tone (2100 Hz).
	DefaultBeepHighHz = 2000
	// DefaultTonePurity is the share of a frame's energy one 25 Hz wide
	// band must hold for the frame to count as tone. A sine between two
	// filters of the bank keeps about 0.8; voiced speech spreads its
	// energy over several harmonics and stays well below 0.6.
	DefaultTonePurity = 0.6
	// DefaultToneMinDBFS is the quietest tone frame considered, far
	// above line noise so that a hum-free silence is never a tone.
	DefaultToneMinDBFS = -45
)

// Options configure a Detector. Zero fields take the defaults above.
type Options struct {
	// Mode is Enable or DetectMessageEnd.
	Mode Mode
	// Timeout is MachineDetectionTimeout.
	Timeout time.Duration
	// SpeechThreshold is MachineDetectionSpeechThreshold.
	SpeechThreshold time.Duration
	// SpeechEndThreshold is MachineDetectionSpeechEndThreshold.
	SpeechEndThreshold time.Duration
	// SilenceTimeout is MachineDetectionSilenceTimeout.
	SilenceTimeout time.Duration

	// BeepMin is the shortest tone that is a beep [150 ms].
	BeepMin time.Duration
	// BeepLowHz is the lowest beep frequency [400 Hz].
	BeepLowHz float64
	// BeepHighHz is the highest beep frequency [2000 Hz]; the filter
	// bank reaches 2175 Hz, so higher values change nothing.
	BeepHighHz float64
	// TonePurity is the energy share that makes a frame a tone [0.6].
	TonePurity float64
	// ToneMinDBFS is the quietest tone frame considered [-45 dBFS].
	ToneMinDBFS float64
}

// ErrRange is wrapped by Validate's errors.
var ErrRange = errors.New("out of range")

// Validate checks the Twilio parameters against the ranges Twilio
// accepts, so that the REST layer can refuse what Twilio refuses. Zero
// values mean "default" and pass.
func (o Options) Validate() error {
	check := func(name string, v, lo, hi time.Duration) error {
		if v != 0 && (v < lo || v > hi) {
			return fmt.Errorf("%s %v: %w (%v-%v)", name, v, ErrRange, lo, hi)
		}
		return nil
	}
	return errors.Join(
		check("MachineDetectionTimeout", o.Timeout, 3*time.Second, 59*time.Second),
		check("MachineDetectionSpeechThreshold", o.SpeechThreshold, 1000*time.Millisecond, 6000*time.Millisecond),
		check("MachineDetectionSpeechEndThreshold", o.SpeechEndThreshold, 500*time.Millisecond, 5000*time.Millisecond),
		check("MachineDetectionSilenceTimeout", o.SilenceTimeout, 2000*time.Millisecond, 10000*time.Millisecond),
	)
}

// withDefaults fills zero fields.
func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Timeout, DefaultTimeout)
	def(&o.SpeechThreshold, DefaultSpeechThreshold)
	def(&o.SpeechEndThreshold, DefaultSpeechEndThreshold)
	def(&o.SilenceTimeout, DefaultSilenceTimeout)
	def(&o.BeepMin, DefaultBeepMin)
	if o.BeepLowHz <= 0 {
		o.BeepLowHz = DefaultBeepLowHz
	}
	if o.BeepHighHz <= 0 {
		o.BeepHighHz = DefaultBeepHighHz
	}
	if o.TonePurity <= 0 {
		o.TonePurity = DefaultTonePurity
	}
	if o.ToneMinDBFS == 0 {
		o.ToneMinDBFS = DefaultToneMinDBFS
	}
	return o
}
