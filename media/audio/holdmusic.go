package audio

import (
	"math"
	"sync"
)

// HoldMusicURL names the hold music texml makes itself; Cache.Get returns
// it without any fetch. It is interpreter.HoldMusic, repeated here because
// audio does not import the interpreter.
const HoldMusicURL = "builtin:hold-music"

var holdOnce struct {
	sync.Once
	pcm *PCM
}

// HoldMusic returns texml's own hold music: a slow arpeggio over four
// chords (I–vi–IV–V in C major), each note a soft sine with its second
// harmonic and a bell-like decay, 8 s long, so that it loops seamlessly.
// It is synthesized here from first principles, so it carries no licence
// but the project's and needs no network, unlike Twilio's default
// classical playlist. It is computed once and shared.
func HoldMusic() *PCM {
	holdOnce.Do(func() { holdOnce.pcm = synthHold() })
	return holdOnce.pcm
}

func synthHold() *PCM {
	const (
		rate     = 8000
		noteLen  = 250 * rate / 1000 // 250 ms per note
		ring     = 3 * noteLen       // each note rings on under the next ones
		notesBar = 8
	)
	// MIDI note numbers of each chord's arpeggio: root, third, fifth,
	// octave, up and back down.
	chords := [][4]int{{60, 64, 67, 72}, {57, 60, 64, 69}, {53, 57, 60, 65}, {55, 59, 62, 67}}
	total := len(chords) * notesBar * noteLen
	mix := make([]float64, total)
	pattern := []int{0, 1, 2, 3, 2, 1, 2, 1}
	n := 0
	for _, ch := range chords {
		for _, idx := range pattern {
			f := 440 * math.Pow(2, float64(ch[idx]-69)/12)
			start := n * noteLen
			for i := 0; i < ring; i++ {
				t := float64(i) / rate
				env := math.Exp(-3*t) * math.Min(1, float64(i)/40) // soft attack, bell decay
				v := env * (math.Sin(2*math.Pi*f*t) + 0.25*math.Sin(4*math.Pi*f*t))
				mix[(start+i)%total] += v // the tail wraps: the loop joins without a click
			}
			n++
		}
	}
	peak := 0.0
	for _, v := range mix {
		peak = math.Max(peak, math.Abs(v))
	}
	out := make([]int16, total)
	for i, v := range mix {
		out[i] = int16(v / peak * 8000) // about -12 dBFS: background level
	}
	return &PCM{Samples: out}
}
