package stt

import (
	"fmt"
	"strconv"
	"strings"
)

// word is one recognized word from the decoder's CTM output.
type word struct {
	text      string
	start     float64 // seconds into the conditioned audio
	dur       float64
	posterior float64 // the lattice posterior, 0..1
}

// parseOutput reads pocketsphinx_batch's -hyp line ("words (uttid
// score)") and -ctm lines ("uttid channel start duration word
// posterior"). The hypothesis is the transcript; the CTM adds timing and
// posteriors. Fillers (<sil>, [NOISE], ...) are not words.
func parseOutput(hyp, ctm string) (string, []word, error) {
	line, _, _ := strings.Cut(hyp, "\n")
	i := strings.LastIndex(line, " (")
	if i < 0 && !strings.HasPrefix(line, "(") {
		return "", nil, fmt.Errorf("pocketsphinx: unexpected hypothesis %q", line)
	}
	var text []string
	for _, w := range strings.Fields(line[:max(i, 0)]) {
		if w = baseWord(w); w != "" {
			text = append(text, w)
		}
	}
	var words []word
	for _, l := range strings.Split(ctm, "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			continue
		}
		w := baseWord(f[4])
		if w == "" {
			continue
		}
		start, err1 := strconv.ParseFloat(f[2], 64)
		dur, err2 := strconv.ParseFloat(f[3], 64)
		post, err3 := strconv.ParseFloat(f[5], 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return "", nil, fmt.Errorf("pocketsphinx: unexpected CTM line %q", l)
		}
		words = append(words, word{text: w, start: start, dur: dur, posterior: min(max(post, 0), 1)})
	}
	return strings.Join(text, " "), words, nil
}

// baseWord strips the alternate-pronunciation suffix ("service(2)") and
// returns "" for fillers, which pocketsphinx writes in <> or [].
func baseWord(w string) string {
	if strings.HasPrefix(w, "<") || strings.HasPrefix(w, "[") || strings.HasPrefix(w, "++") {
		return ""
	}
	if i := strings.IndexByte(w, '('); i > 0 {
		w = w[:i]
	}
	return w
}

// meanPosterior is free recognition's confidence: the mean of the words'
// lattice posteriors, the decoder's own estimate that each word is right.
func meanPosterior(words []word) float64 {
	if len(words) == 0 {
		return 0
	}
	var sum float64
	for _, w := range words {
		sum += w.posterior
	}
	return sum / float64(len(words))
}

// coverage is grammar recognition's confidence. A grammar decoder's
// lattice holds only the winning path, so its posteriors are always 1 and
// say nothing. What does separate an answer the caller gave from speech
// the grammar was forced to fit is how much of the speech the chosen
// phrase explains: a hint said alone spans nearly all speech frames,
// while "tell me a joke" forced onto the hint "no" leaves most of them to
// silence and noise models. So the confidence is the fraction of speech
// frames (by level, 20 ms each) that fall inside recognized words, capped
// at 0.95 because the measure cannot rule out a similar-sounding
// substitute. It is a heuristic, not a probability.
func coverage(words []word, frames []bool) float64 {
	const frameSeconds = float64(frameSamples) / 8000
	var speech, covered int
	for i, isSpeech := range frames {
		if !isSpeech {
			continue
		}
		speech++
		mid := padSeconds + (float64(i)+0.5)*frameSeconds
		for _, w := range words {
			// Word boundaries are at 10 ms resolution; allow one
			// frame of slack at either end.
			if mid >= w.start-frameSeconds && mid <= w.start+w.dur+frameSeconds {
				covered++
				break
			}
		}
	}
	if speech == 0 {
		return 0
	}
	return min(float64(covered)/float64(speech), 0.95)
}

// tailBuffer keeps the last max bytes written to it: pocketsphinx logs
// pages of INFO lines to stderr, and the errors that matter come last.
type tailBuffer struct {
	buf []byte
	max int
}

// Write keeps the tail of p.
func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

// errors returns the ERROR and FATAL lines of the tail, or the whole tail
// when there are none.
func (b *tailBuffer) errors() string {
	var lines []string
	for _, l := range strings.Split(string(b.buf), "\n") {
		if strings.HasPrefix(l, "ERROR") || strings.HasPrefix(l, "FATAL") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return strings.TrimSpace(string(b.buf))
	}
	return strings.Join(lines, "; ")
}
