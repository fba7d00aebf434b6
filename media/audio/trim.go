package audio

import (
	"time"

	"github.com/texml/texml/media"
)

// trimPad is kept around the detected speech: energy detection misses the
// soft start of fricatives and the tail of a fading word, and clipping
// them sounds worse than 100 ms of room tone.
const trimPad = 100 * time.Millisecond

// TrimSilence returns p without the silence at its ends (Record
// trim-silence), as judged by a VAD with default options run over it in
// 20 ms frames, keeping 100 ms of margin at each end. A recording with no
// speech at all trims to nothing. The result shares p's samples.
func TrimSilence(p *PCM) *PCM {
	if p == nil || len(p.Samples) == 0 {
		return &PCM{}
	}
	v := NewVAD(VADOptions{})
	const fs = media.FrameSamples
	first, last := -1, -1 // sample offsets of the first and last voiced frames
	for off := 0; off < len(p.Samples); off += fs {
		frame := p.Samples[off:min(off+fs, len(p.Samples))]
		speech := v.Push(frame)
		if !speech {
			continue
		}
		if first < 0 {
			// Speech is declared StartFrames frames after its onset.
			first = max(0, off-(v.o.StartFrames-1)*fs)
		}
		if v.Voiced() {
			last = off + len(frame)
		}
	}
	if first < 0 {
		return &PCM{Samples: p.Samples[:0]}
	}
	pad := durationSamples(trimPad)
	first = max(0, first-pad)
	last = min(len(p.Samples), max(last, first)+pad)
	return &PCM{Samples: p.Samples[first:last]}
}

// TrimWriter writes a recording to a WAVWriter without the silence at its
// ends (trim-silence) while the recording is made, with the result
// TrimSilence gives on the whole (judged on the channels' mix in stereo).
// A call recording may last hours, so rather than reading it back it
// holds only the few frames before speech starts that the margin keeps,
// writes everything from there on, and at Close cuts what follows the
// last speech (WAVWriter.Truncate). Frames are expected in 20 ms steps,
// as TrimSilence judges them. A TrimWriter is not safe for concurrent
// use.
type TrimWriter struct {
	w   *WAVWriter
	ch  int
	vad *VAD
	pre []int16 // interleaved audio before speech starts, at most keep frames
	// keep is how many sample frames before the onset of speech are
	// kept: the VAD's start delay and the margin.
	keep int
	mix  [media.FrameSamples]int16
	// In sample frames from the start of the recording: seen so far,
	// the first one written (-1 until speech starts), and the end of the
	// last voiced frame.
	seen, first, last int64
}

// NewTrimWriter returns a TrimWriter writing to w, whose channel count
// its frames follow.
func NewTrimWriter(w *WAVWriter) *TrimWriter {
	v := NewVAD(VADOptions{})
	keep := (v.o.StartFrames-1)*media.FrameSamples + durationSamples(trimPad)
	return &TrimWriter{w: w, ch: w.Channels(), vad: v, keep: keep, first: -1,
		pre: make([]int16, 0, (keep+media.FrameSamples)*w.Channels())}
}

// Write takes one frame (interleaved in stereo).
func (t *TrimWriter) Write(frame []int16) error {
	n := len(frame) / t.ch
	off := t.seen
	t.seen += int64(n)
	speech := t.vad.Push(t.mono(frame[:n*t.ch]))
	if t.first >= 0 {
		if speech && t.vad.Voiced() {
			t.last = t.seen
		}
		return t.w.Write(frame)
	}
	if !speech {
		t.pre = append(t.pre, frame[:n*t.ch]...)
		if over := len(t.pre) - t.keep*t.ch; over > 0 {
			t.pre = t.pre[:copy(t.pre, t.pre[over:])]
		}
		return nil
	}
	// Speech starts: from StartFrames-1 frames before this one, less the
	// margin (TrimSilence's first).
	start := max(0, off-int64((t.vad.o.StartFrames-1)*media.FrameSamples)-int64(durationSamples(trimPad)))
	held := off - int64(len(t.pre)/t.ch) // where t.pre begins
	t.first = start
	if t.vad.Voiced() {
		t.last = t.seen
	}
	if err := t.w.Write(t.pre[(start-held)*int64(t.ch):]); err != nil {
		return err
	}
	t.pre = t.pre[:0]
	return t.w.Write(frame)
}

// mono is frame as TrimSilence's VAD hears it: the channels averaged.
func (t *TrimWriter) mono(frame []int16) []int16 {
	if t.ch == 1 {
		return frame
	}
	n := min(len(frame)/t.ch, len(t.mix))
	for i := range n {
		var sum int32
		for c := range t.ch {
			sum += int32(frame[i*t.ch+c])
		}
		t.mix[i] = int16(sum / int32(t.ch))
	}
	return t.mix[:n]
}

// Close cuts the silence after the last speech, keeping the margin, and
// closes the WAVWriter. A recording without speech is left empty.
func (t *TrimWriter) Close() error {
	if t.first >= 0 {
		end := min(t.seen, max(t.last, t.first)+int64(durationSamples(trimPad)))
		if err := t.w.Truncate(end - t.first); err != nil {
			_ = t.w.Close()
			return err
		}
	}
	return t.w.Close()
}
