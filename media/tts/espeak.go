package tts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/texml/texml/media/audio"
)

// ErrNotInstalled is wrapped by NewEspeak's error when the espeak-ng
// program cannot be found, so that startup can say which package to
// install.
var ErrNotInstalled = errors.New("espeak-ng not found")

// Defaults for EspeakOptions.
const (
	DefaultEspeakBinary = "espeak-ng"
	// DefaultSpeed is a little slower than espeak-ng's own 175 wpm: at
	// telephone bandwidth a slower synthetic voice is easier to follow.
	DefaultSpeed = 160
)

// maxEspeakOutput bounds what one synthesis may write (bytes of WAV).
// TwiML limits <Say> to about 4096 characters, a few minutes of speech,
// about 10 MB at espeak-ng's 22050 Hz; the bound stops a runaway process
// from exhausting memory without cutting any real prompt.
const maxEspeakOutput = 64 << 20

// waitDelay bounds how long Wait waits for espeak-ng's output pipes after
// the process ends or is killed, so a cancelled call never hangs.
const waitDelay = time.Second

// EspeakOptions configure an Espeak; zero values take the defaults.
type EspeakOptions struct {
	// Binary is the program to run, a name looked up in PATH or a path;
	// default "espeak-ng".
	Binary string
	// Speed is the speaking rate in words per minute; default 160.
	Speed int
	// Logger receives voice fallback warnings; nil discards them.
	Logger *slog.Logger
}

// Espeak synthesizes speech by running espeak-ng once per request. The
// process is cheap to start (tens of milliseconds) and has no state to
// share, so one process per prompt keeps cancellation simple: cancelling
// the context kills exactly that prompt's process. Put a Cache in front
// of it for prompts that repeat.
type Espeak struct {
	bin   string
	speed int
	log   *slog.Logger
}

var _ Synthesizer = (*Espeak)(nil)

// NewEspeak finds the espeak-ng program and returns a synthesizer that
// runs it. The error wraps ErrNotInstalled and names the Debian package
// when the program is missing.
func NewEspeak(o EspeakOptions) (*Espeak, error) {
	if o.Binary == "" {
		o.Binary = DefaultEspeakBinary
	}
	if o.Speed == 0 {
		o.Speed = DefaultSpeed
	}
	if o.Speed < 80 || o.Speed > 450 {
		// espeak-ng's documented range for -s.
		return nil, fmt.Errorf("espeak-ng speed %d wpm: outside 80-450", o.Speed)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	path, err := exec.LookPath(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("%w: install the Debian package \"espeak-ng\" (%w)", ErrNotInstalled, err)
	}
	return &Espeak{bin: path, speed: o.Speed, log: o.Logger}, nil
}

// Resolve maps a TwiML voice and language to the espeak-ng voice that
// speaks them, with warnings for names it had to substitute; see the
// package function Resolve.
func (e *Espeak) Resolve(voice, language string) (Voice, []string) {
	return Resolve(voice, language)
}

// Synthesize speaks r and returns 8 kHz mono samples. SSML goes through
// espeak-ng's markup mode (-m) inside a <speak> root; plain text is read
// as text, so a literal "<" in it is spoken, not parsed. An empty request
// gives no samples and runs nothing.
func (e *Espeak) Synthesize(ctx context.Context, r Request) ([]int16, error) {
	input, markup := r.Text, false
	if strings.TrimSpace(r.SSML) != "" {
		input, markup = "<speak>"+r.SSML+"</speak>", true
	}
	if strings.TrimSpace(input) == "" {
		return nil, nil
	}
	v, warnings := e.Resolve(r.Voice, r.Language)
	for _, w := range warnings {
		e.log.Warn("tts voice fallback", "voice", r.Voice, "language", r.Language, "espeak_voice", v.Espeak, "warning", w)
	}
	wav, err := e.run(ctx, v.Espeak, input, markup)
	if err != nil {
		return nil, err
	}
	pcm, err := audio.Decode(wav, "audio/wav")
	if err != nil {
		return nil, fmt.Errorf("espeak-ng output: %w", err)
	}
	return pcm.Samples, nil
}

// run executes espeak-ng and returns the WAV it wrote to stdout. The
// text goes in on stdin (--stdin reads it whole) rather than as an
// argument, so no text is ever taken for an option and the length is not
// limited by the argument list.
func (e *Espeak) run(ctx context.Context, voice, input string, markup bool) ([]byte, error) {
	args := []string{"-v", voice, "-s", strconv.Itoa(e.speed), "-b", "1", "--stdout", "--stdin"}
	if markup {
		args = append(args, "-m")
	}
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Stdin = strings.NewReader(input)
	stdout := &limitedBuffer{max: maxEspeakOutput}
	stderr := &limitedBuffer{max: 4096, truncate: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Wait reaps the process on every path (exit, kill by context), so
	// none is left a zombie; WaitDelay stops Wait from waiting forever on
	// pipes a stuck child holds open.
	cmd.WaitDelay = waitDelay
	err := cmd.Run()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("espeak-ng: %w", ctxErr)
	}
	if stdout.overflow {
		return nil, fmt.Errorf("espeak-ng -v %s: output larger than %d bytes", voice, maxEspeakOutput)
	}
	if err != nil {
		return nil, fmt.Errorf("espeak-ng -v %s: %w: %s", voice, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// limitedBuffer collects a subprocess's output up to max bytes. Past
// that it either keeps the head quietly (truncate, for stderr in error
// messages) or fails the write so the process stops early.
type limitedBuffer struct {
	bytes.Buffer
	max      int
	truncate bool
	overflow bool
}

// errOutputTooLarge fails a write past a limitedBuffer's bound.
var errOutputTooLarge = errors.New("output too large")

// Write appends p, up to the limit.
func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := b.max - b.Len()
	if len(p) <= room {
		return b.Buffer.Write(p)
	}
	b.overflow = true
	b.Buffer.Write(p[:max(room, 0)])
	if b.truncate {
		return len(p), nil
	}
	return 0, errOutputTooLarge
}
