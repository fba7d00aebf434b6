package stt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Defaults for SphinxOptions, where Debian's packages install.
const (
	DefaultSphinxBinary = "pocketsphinx_batch"
	DefaultModelDir     = "/usr/share/pocketsphinx/model/en-us"
)

// waitDelay bounds how long Wait waits for the decoder's pipes after it
// ends or is killed, so that a cancelled Gather never hangs.
const waitDelay = time.Second

// SphinxOptions configure a Sphinx; zero values take the defaults.
type SphinxOptions struct {
	// Binary is pocketsphinx_batch, a name looked up in PATH or a path.
	Binary string
	// ModelDir holds the en-US model as pocketsphinx-en-us installs it:
	// the acoustic model directory en-us/, en-us.lm.bin and
	// cmudict-en-us.dict.
	ModelDir string
	// MaxConcurrent bounds the decoders running at once; further
	// requests wait their turn (or their context). Default: the number
	// of CPUs, since each decoder is CPU-bound.
	MaxConcurrent int
}

// Sphinx recognizes speech with CMU PocketSphinx (Debian's 5prealpha),
// running pocketsphinx_batch once per utterance on a temporary directory
// that is removed afterwards.
//
// pocketsphinx_batch rather than pocketsphinx_continuous: batch decoding
// normalizes the cepstrum over the whole utterance (the model's
// feat.params asks for -cmn batch), while the continuous tool's live
// normalization starts from a fixed prior and, on one short utterance,
// recognized fewer hint words (90 against 94 of 96 in the measurement
// described in condition.go).
//
// With hints the decoder searches a JSGF grammar of the hint phrases with
// a dictionary of just their words (about 25 ms a request); without, it
// decodes freely with the en-US trigram model and full dictionary (about
// 600 ms, most of it loading the model). See condition.go for how 8 kHz
// telephone audio is prepared for the 16 kHz model.
type Sphinx struct {
	bin      string
	hmm      string
	lm       string
	dictPath string
	dict     dictionary
	sem      chan struct{}
}

var _ Recognizer = (*Sphinx)(nil)

// NewSphinx checks that pocketsphinx and its en-US model are installed,
// loads the pronouncing dictionary (to check hint words against it) and
// returns a Recognizer. The error wraps ErrNotInstalled and names the
// Debian packages when anything is missing.
func NewSphinx(o SphinxOptions) (*Sphinx, error) {
	if o.Binary == "" {
		o.Binary = DefaultSphinxBinary
	}
	if o.ModelDir == "" {
		o.ModelDir = DefaultModelDir
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = runtime.NumCPU()
	}
	bin, err := exec.LookPath(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("%w: install the Debian packages \"pocketsphinx\" and \"pocketsphinx-en-us\" (%w)", ErrNotInstalled, err)
	}
	s := &Sphinx{
		bin:      bin,
		hmm:      filepath.Join(o.ModelDir, "en-us"),
		lm:       filepath.Join(o.ModelDir, "en-us.lm.bin"),
		dictPath: filepath.Join(o.ModelDir, "cmudict-en-us.dict"),
		sem:      make(chan struct{}, o.MaxConcurrent),
	}
	for _, p := range []string{filepath.Join(s.hmm, "mdef"), s.lm, s.dictPath} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%w: en-US model incomplete: install the Debian package \"pocketsphinx-en-us\" (%w)", ErrNotInstalled, err)
		}
	}
	if s.dict, err = loadDictionary(s.dictPath); err != nil {
		return nil, fmt.Errorf("%w: install the Debian package \"pocketsphinx-en-us\" (%w)", ErrNotInstalled, err)
	}
	return s, nil
}

// Recognize decodes one utterance. An utterance without speech gives an
// empty Result without running the decoder. With hints, Text is one of
// the hint phrases (lowercased, digits spelled out); hints none of whose
// words are in the dictionary fall back to free recognition, with a
// warning.
func (s *Sphinx) Recognize(ctx context.Context, r Request) (Result, error) {
	if err := checkLanguage(r.Language); err != nil {
		return Result{}, err
	}
	frames := speechFrames(r.Samples)
	if !hasSpeech(frames) {
		return Result{}, nil
	}
	var g grammar
	if strings.TrimSpace(r.Hints) != "" {
		g = parseHints(r.Hints, s.dict)
		if len(g.phrases) == 0 {
			g.warnings = append(g.warnings, "no usable hints: recognizing freely")
		}
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		return Result{}, fmt.Errorf("pocketsphinx: %w", ctx.Err())
	}
	text, words, err := s.decode(ctx, condition(r.Samples, frames), g)
	if err != nil {
		return Result{Warnings: g.warnings}, err
	}
	res := Result{Text: text, Warnings: g.warnings}
	if res.Text != "" {
		if len(g.phrases) > 0 {
			res.Confidence = coverage(words, frames)
		} else {
			res.Confidence = meanPosterior(words)
		}
	}
	return res, nil
}

// checkLanguage accepts English (the en-US model also serves other
// English locales, less accurately) and rejects the rest: Debian packages
// no other PocketSphinx model.
func checkLanguage(lang string) error {
	l := strings.ToLower(strings.TrimSpace(lang))
	if l == "" || l == "en" || strings.HasPrefix(l, "en-") || strings.HasPrefix(l, "en_") {
		return nil
	}
	return fmt.Errorf("%w %q: only the en-US pocketsphinx model (Debian package \"pocketsphinx-en-us\") is installed, and Debian ships no %s model", ErrLanguage, lang, lang)
}

// decode runs pocketsphinx_batch on one conditioned 16 kHz utterance and
// returns the transcript and the words with their timing and posteriors.
func (s *Sphinx) decode(ctx context.Context, pcm []int16, g grammar) (string, []word, error) {
	dir, err := os.MkdirTemp("", "texml-stt-")
	if err != nil {
		return "", nil, fmt.Errorf("pocketsphinx: %w", err)
	}
	defer os.RemoveAll(dir)

	raw := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(v))
	}
	files := map[string]string{"utt.raw": string(raw), "ctl": "utt\n"}
	args := []string{
		"-hmm", s.hmm,
		"-adcin", "yes", "-adchdr", "0", "-samprate", "16000",
		"-cepdir", dir, "-cepext", ".raw", "-ctl", filepath.Join(dir, "ctl"),
		"-hyp", filepath.Join(dir, "hyp"), "-ctm", filepath.Join(dir, "ctm"),
	}
	if len(g.phrases) > 0 {
		files["hints.gram"] = g.jsgf()
		files["hints.dict"] = g.dict(s.dict)
		args = append(args, "-jsgf", filepath.Join(dir, "hints.gram"), "-dict", filepath.Join(dir, "hints.dict"))
	} else {
		args = append(args, "-lm", s.lm, "-dict", s.dictPath)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return "", nil, fmt.Errorf("pocketsphinx: %w", err)
		}
	}

	cmd := exec.CommandContext(ctx, s.bin, args...)
	stderr := &tailBuffer{max: 2048}
	cmd.Stderr = stderr
	// Wait reaps the process however it ends, so no zombie is left.
	cmd.WaitDelay = waitDelay
	err = cmd.Run()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return "", nil, fmt.Errorf("pocketsphinx: %w", ctxErr)
	}
	if err != nil {
		return "", nil, fmt.Errorf("pocketsphinx: %w: %s", err, stderr.errors())
	}
	hyp, err := os.ReadFile(filepath.Join(dir, "hyp"))
	if err != nil {
		return "", nil, fmt.Errorf("pocketsphinx: no result: %w: %s", err, stderr.errors())
	}
	ctm, err := os.ReadFile(filepath.Join(dir, "ctm"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", nil, fmt.Errorf("pocketsphinx: %w", err)
	}
	return parseOutput(string(hyp), string(ctm))
}
