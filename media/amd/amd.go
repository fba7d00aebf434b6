package amd

import (
	"time"

	"github.com/texml/texml/media/audio"
)

// AnsweredBy is Twilio's AnsweredBy value.
type AnsweredBy string

// The AnsweredBy values Twilio documents. Enable gives human,
// machine_start, fax or unknown; DetectMessageEnd replaces machine_start
// with one of the machine_end_* values.
const (
	// Human: a short utterance (under SpeechThreshold) ended by
	// SpeechEndThreshold of silence.
	Human AnsweredBy = "human"
	// MachineStart (Enable only): speech ran past SpeechThreshold, or a
	// beep was heard.
	MachineStart AnsweredBy = "machine_start"
	// MachineEndBeep (DetectMessageEnd): the greeting ended with a beep;
	// reported when the beep ends.
	MachineEndBeep AnsweredBy = "machine_end_beep"
	// MachineEndSilence (DetectMessageEnd): the greeting was followed by
	// SpeechEndThreshold of silence.
	MachineEndSilence AnsweredBy = "machine_end_silence"
	// MachineEndOther (DetectMessageEnd): a machine was identified but
	// its greeting had not ended by Timeout. Twilio's page does not say
	// when it sends this value; giving it here rather than unknown keeps
	// what is already known.
	MachineEndOther AnsweredBy = "machine_end_other"
	// Fax: a fax tone (CNG or CED) before anyone spoke.
	Fax AnsweredBy = "fax"
	// Unknown: SilenceTimeout of initial silence, or Timeout without a
	// decision (Twilio's two cases for unknown).
	Unknown AnsweredBy = "unknown"
)

// IsMachine reports whether a is one of the machine_* values.
func (a AnsweredBy) IsMachine() bool {
	switch a {
	case MachineStart, MachineEndBeep, MachineEndSilence, MachineEndOther:
		return true
	}
	return false
}

// Result is a detection: Twilio's AnsweredBy and, as
// MachineDetectionDuration, the audio time from answer to the decision.
type Result struct {
	AnsweredBy AnsweredBy
	Duration   time.Duration
}

// Fax and speech constants that are not parameters.
const (
	cngHz       = 1100 // T.30 calling tone
	cedHz       = 2100 // T.30 / V.25 answer tone
	faxTolHz    = 50   // T.30 allows ±38 Hz; one filter more
	cngMinOn    = 350 * time.Millisecond
	cngMaxOn    = 800 * time.Millisecond // 0.5 s ± 15 %, with frame slack
	cedMinOn    = 500 * time.Millisecond // of a 2.6-4 s tone: decide early
	beepDecide  = time.Second            // a tone this long is a beep already
	spokeMin    = 100 * time.Millisecond // speech that rules out "fax first"
	realSpeechD = 10.0                   // dB over the final noise floor
)

// Detector decides who answered from successive frames of audio. Create
// one per call with New; it is not safe for concurrent use.
type Detector struct {
	o   Options
	vad *audio.VAD
	pow [bankSize]float64
	run toneRun

	// Thresholds in samples.
	timeout, speechThr, speechEnd, silenceTO, beepMin int

	elapsed   int // samples seen
	active    bool
	actStart  int        // sample where the current speech activity began
	lastVoice int        // sample after its last voiced frame
	actTop    [3]float64 // the activity's three loudest frames, dBFS, loudest first
	machine   bool       // machine identified, waiting for the end (DetectMessageEnd)

	done   bool
	result Result
}

// New returns a Detector with o's zero fields defaulted. Its voice
// activity comes from audio.VAD with default options: the floor tracker
// follows line noise, so "speech" means speech above the background.
func New(o Options) *Detector {
	o = o.withDefaults()
	samples := func(d time.Duration) int { return int(d * sampleRate / time.Second) }
	return &Detector{
		o:         o,
		vad:       audio.NewVAD(audio.VADOptions{}),
		timeout:   samples(o.Timeout),
		speechThr: samples(o.SpeechThreshold),
		speechEnd: samples(o.SpeechEndThreshold),
		silenceTO: samples(o.SilenceTimeout),
		beepMin:   samples(o.BeepMin),
	}
}

// Push takes the next frame of 8 kHz mono PCM, normally 20 ms (160
// samples), and reports the result once there is one. After that it
// keeps returning the same result. Push does not allocate.
func (d *Detector) Push(frame []int16) (Result, bool) {
	if d.done {
		return d.result, true
	}
	n := len(frame)
	if n == 0 {
		return Result{}, false
	}
	d.elapsed += n
	speech := d.vad.Push(frame)
	level := d.vad.Level()

	tone, beepy := false, false
	bin := 0
	if level >= d.o.ToneMinDBFS {
		var p float64
		bin, p = frameTone(frame, meanSquare(frame), &d.pow)
		tone = p >= d.o.TonePurity
		// A high voice holding a vowel can be as pure as a tone for a
		// few frames, mostly at its fundamental (up to about 300 Hz).
		// Only tone frames where a beep or fax tone could be are kept
		// out of the speech.
		f := bankFreq(bin)
		beepy = tone && (f >= d.o.BeepLowHz && f <= d.o.BeepHighHz || near(f, cedHz))
	}
	ended := d.run.push(tone, bin, n)
	if a, ok := d.classifyTone(&ended, false); ok {
		return d.finish(a)
	}
	if a, ok := d.classifyTone(&d.run, true); ok {
		return d.finish(a)
	}

	// Voice activity: the VAD's speech state, less hangover frames and
	// tone frames, so that a beep never counts as greeting speech.
	if speech && d.vad.Voiced() && !beepy {
		if !d.active {
			d.active, d.actStart = true, d.elapsed-n
			d.actTop = [3]float64{-200, -200, -200}
		}
		d.lastVoice = d.elapsed
		d.addLevel(level)
	}
	if d.active {
		real := d.real()
		// Twilio: speech longer than SpeechThreshold is a machine.
		if real && !d.machine && d.lastVoice-d.actStart >= d.speechThr {
			if d.o.Mode == Enable {
				return d.finish(MachineStart)
			}
			d.machine = true
		}
		// Twilio: SpeechEndThreshold of silence ends the speech; a short
		// utterance that ended is a human, the end of a machine's
		// greeting is machine_end_silence.
		if d.elapsed-d.lastVoice >= d.speechEnd {
			d.active = false
			switch {
			case d.machine:
				return d.finish(MachineEndSilence)
			case real:
				return d.finish(Human)
			}
		}
	}
	// Twilio: SilenceTimeout of initial silence gives unknown.
	if !d.active && !d.machine && d.elapsed >= d.silenceTO {
		return d.finish(Unknown)
	}
	if d.elapsed >= d.timeout {
		if d.machine {
			return d.finish(MachineEndOther)
		}
		return d.finish(Unknown)
	}
	return Result{}, false
}

// classifyTone looks at a tone run, either ended or still going, and
// decides fax or beep when it is one.
func (d *Detector) classifyTone(r *toneRun, ongoing bool) (AnsweredBy, bool) {
	if r.samples == 0 {
		return "", false
	}
	f := r.freq()
	dur := time.Duration(r.samples) * time.Second / sampleRate
	// Fax tones count only before anyone spoke: a fax machine says
	// nothing, and a 1100 Hz beep after a greeting is a beep.
	spoke := d.machine || (d.active && d.real() &&
		d.lastVoice-d.actStart >= int(spokeMin*sampleRate/time.Second))
	if !spoke {
		if !ongoing && near(f, cngHz) && dur >= cngMinOn && dur <= cngMaxOn {
			return Fax, true
		}
		if near(f, cedHz) && dur >= cedMinOn {
			return Fax, true
		}
	}
	if f < d.o.BeepLowHz || f > d.o.BeepHighHz || r.samples < d.beepMin {
		return "", false
	}
	if ongoing && dur < beepDecide {
		// Decide at the beep's end, so that a message left on
		// machine_end_beep is recorded after the tone, not over it.
		return "", false
	}
	if d.o.Mode == Enable {
		return MachineStart, true
	}
	return MachineEndBeep, true
}

// addLevel keeps the three loudest frame levels of the activity.
func (d *Detector) addLevel(l float64) {
	switch {
	case l > d.actTop[0]:
		d.actTop = [3]float64{l, d.actTop[0], d.actTop[1]}
	case l > d.actTop[1]:
		d.actTop[1], d.actTop[2] = l, d.actTop[1]
	case l > d.actTop[2]:
		d.actTop[2] = l
	}
}

// real reports whether the current activity is speech rather than
// background. The VAD's floor starts as a guess, so a background that is
// loud from the start counts as speech until the floor learns it; such
// an activity never rises clearly above the floor it leaves behind. The
// third-loudest frame is the measure because one or two frames where a
// tone starts or stops can be loud without being tonal enough to be
// excluded.
func (d *Detector) real() bool {
	return d.actTop[2] >= d.vad.NoiseFloor()+realSpeechD
}

// finish records and returns the decision.
func (d *Detector) finish(a AnsweredBy) (Result, bool) {
	d.done = true
	d.result = Result{AnsweredBy: a, Duration: time.Duration(d.elapsed) * time.Second / sampleRate}
	return d.result, true
}

// near reports whether f is within the fax tolerance of want.
func near(f, want float64) bool { return f >= want-faxTolHz && f <= want+faxTolHz }

// meanSquare is the frame's mean square in sample units.
func meanSquare(x []int16) float64 {
	var s float64
	for _, v := range x {
		f := float64(v)
		s += f * f
	}
	return s / float64(len(x))
}
