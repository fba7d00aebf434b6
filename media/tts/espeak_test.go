package tts

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/internal/proctest"
)

func TestEspeakHelloWorld(t *testing.T) {
	e := needEspeak(t)
	start := time.Now()
	s, err := e.Synthesize(t.Context(), Request{Text: "Hello world"})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	d := duration(s)
	t.Logf("Hello world: %v of audio, RMS %.0f, synthesized in %v", d, rms(s), took)
	if d < 500*time.Millisecond || d > 3*time.Second {
		t.Errorf("duration %v, want 0.5-3 s", d)
	}
	// Silence is 0; espeak-ng speech at full amplitude is in the
	// thousands. 300 (about -40 dBFS) is far above any silence or noise.
	if r := rms(s); r < 300 {
		t.Errorf("RMS %.0f: speech expected", r)
	}

	// The output is at 8 kHz: its length is espeak-ng's own 22050 Hz
	// output converted by the rate ratio.
	raw, err := exec.Command(DefaultEspeakBinary, "-v", "en-us", "-s", "160", "-b", "1", "--stdout", "Hello world").Output()
	if err != nil {
		t.Fatal(err)
	}
	native := (len(raw) - 44) / 2
	want := float64(native) * 8000 / 22050
	if diff := float64(len(s)) - want; diff < -2 || diff > 2 {
		t.Errorf("%d samples, want %.0f (%d at 22050 Hz resampled to 8000 Hz)", len(s), want, native)
	}
}

func TestEspeakSSMLBreak(t *testing.T) {
	e := needEspeak(t)
	plain, err := e.Synthesize(t.Context(), Request{SSML: "Hello world"})
	if err != nil {
		t.Fatal(err)
	}
	paused, err := e.Synthesize(t.Context(), Request{SSML: `Hello <break time="1s"/> world`})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("without break %v, with 1 s break %v", duration(plain), duration(paused))
	if got := duration(paused) - duration(plain); got < 700*time.Millisecond {
		t.Errorf("break added %v, want about 1 s", got)
	}
}

func TestEspeakPlainTextIsNotMarkup(t *testing.T) {
	e := needEspeak(t)
	// Without SSML, "<" is text: the words around it are still spoken.
	s, err := e.Synthesize(t.Context(), Request{Text: "one < two"})
	if err != nil {
		t.Fatal(err)
	}
	if d := duration(s); d < 500*time.Millisecond {
		t.Errorf("duration %v: text around < was lost", d)
	}
}

func TestEspeakEmpty(t *testing.T) {
	e := needEspeak(t)
	s, err := e.Synthesize(t.Context(), Request{Text: "  "})
	if err != nil || len(s) != 0 {
		t.Errorf("got %d samples, %v; want none, nil", len(s), err)
	}
}

func TestEspeakEveryTableVoice(t *testing.T) {
	e := needEspeak(t)
	seen := map[string]bool{}
	for _, l := range languages {
		for _, v := range []string{l.espeak, l.espeak + femaleVariant} {
			if seen[v] {
				continue
			}
			seen[v] = true
			s, err := e.run(t.Context(), v, "1 2 3", false)
			if err != nil {
				t.Errorf("voice %s: %v", v, err)
				continue
			}
			if len(s) < 1000 {
				t.Errorf("voice %s: %d bytes of WAV", v, len(s))
			}
		}
	}
}

func TestEspeakVoicesExist(t *testing.T) {
	needEspeak(t)
	out, err := exec.Command(DefaultEspeakBinary, "--voices").Output()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 1 {
			have[f[1]] = true
		}
	}
	for key, l := range languages {
		if !have[l.espeak] {
			t.Errorf("language %s (%s): espeak-ng has no voice %q", key, l.tag, l.espeak)
		}
	}
}

func TestEspeakCancelKillsProcess(t *testing.T) {
	e := needEspeak(t)
	long := strings.Repeat("This sentence is long enough to keep espeak busy for a while. ", 400)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := e.Synthesize(ctx, Request{Text: long})
		errc <- err
	}()
	// Wait until espeak-ng is running, then cancel.
	deadline := time.Now().Add(5 * time.Second)
	for len(proctest.Children()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(proctest.Children()) == 0 {
		t.Fatal("espeak-ng never started")
	}
	start := time.Now()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		t.Logf("returned %v after cancel", time.Since(start))
	case <-time.After(2 * time.Second):
		t.Fatal("Synthesize did not return within 2 s of cancel")
	}
	if kids := proctest.Children(); len(kids) != 0 {
		t.Errorf("child processes left after cancel: %v", kids)
	}
}

func TestNewEspeakMissingBinary(t *testing.T) {
	_, err := NewEspeak(EspeakOptions{Binary: "espeak-ng-that-does-not-exist"})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
	if !strings.HasPrefix(err.Error(), `espeak-ng not found: install the Debian package "espeak-ng"`) {
		t.Errorf("error %q does not name the package", err)
	}
}

func TestNewEspeakBadSpeed(t *testing.T) {
	if _, err := NewEspeak(EspeakOptions{Speed: 5}); err == nil {
		t.Error("speed 5 accepted")
	}
}
