package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// callTexml calls texml at addr as a phone would and, once it answers,
// runs act (if any); then it listens up to hold for texml to hang up, and
// hangs up itself if texml has not.
func callTexml(ctx context.Context, t *testing.T, ph *sipphone.Phone, addr string, hold time.Duration, act func(c *sipphone.Call)) *sipphone.Call {
	t.Helper()
	c := ph.Call(ctx, addr, "test", sipphone.CallOptions{})
	if act != nil && c.FinalCode() == 200 {
		act(c)
	}
	_ = c.HangupAfter(hold) // texml's BYE may cross ours
	return c
}

// TestSayAudioArrives calls texml with a Go SIP phone and checks that the
// Say is really heard: RTP arrives, decodes to audio with energy, and the
// spoken part lasts about as long as the sentence.
func TestSayAudioArrives(t *testing.T) {
	a := newApp(t, map[string]string{
		"/voice": `<Response><Say>The quick brown fox jumps over the lazy dog.</Say><Hangup/></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 20*time.Second, nil)
	if c.FinalCode() != 200 || !c.RemoteHangup() {
		t.Fatalf("answer %d, texml hung up: %v", c.FinalCode(), c.RemoteHangup())
	}
	voiced := sipphone.VoicedTime(c.Audio())
	if voiced < 1500*time.Millisecond || voiced > 6*time.Second {
		t.Errorf("voiced audio %v, want the length of a spoken sentence (1.5–6 s); %d packets", voiced, c.Packets())
	}
	if got := time.Duration(c.Packets()) * 20 * time.Millisecond; got < voiced {
		t.Errorf("%d packets (%v) for %v of audio", c.Packets(), got, voiced)
	}
}

// TestPlayToneRoundTrip plays a known WAV file and checks its tone.
func TestPlayToneRoundTrip(t *testing.T) {
	wav := filepath.Join(t.TempDir(), "tone.wav")
	writeToneWAV(t, wav, 440, 2*time.Second)
	data, err := os.ReadFile(wav)
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(t, map[string]string{"/voice": `<Response><Play>/tone.wav</Play><Hangup/></Response>`, "/tone.wav": string(data)})
	s := startServe(t, a.srv.URL+"/voice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 20*time.Second, nil)
	if v := sipphone.VoicedTime(c.Audio()); v < 1800*time.Millisecond || v > 2200*time.Millisecond {
		t.Errorf("voiced %v, want 2 s", v)
	}
	if f := sipphone.DominantFreq(c.Audio()); f < 420 || f > 460 {
		t.Errorf("dominant frequency %.0f Hz, want 440", f)
	}
}

// TestGatherRFC4733 presses keys from the Go phone during the prompt.
func TestGatherRFC4733(t *testing.T) {
	a := newApp(t, map[string]string{
		"/voice": `<Response><Gather action="/got" finishOnKey="#"><Say>Please enter your account number, then press pound.</Say></Gather></Response>`,
		"/got":   `<Response><Hangup/></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 20*time.Second, func(c *sipphone.Call) {
		// Keys once the prompt is heard, as a caller presses them: on a
		// loaded machine the synthesis may take longer than any fixed
		// delay, and keys before the Gather belong to no Gather.
		for deadline := time.Now().Add(5 * time.Second); sipphone.VoicedTime(c.Audio()) < 200*time.Millisecond && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if err := c.DTMF("407#"); err != nil {
			t.Error(err)
		}
	})
	p, ok := a.request("/got")
	if !ok || p.Get("Digits") != "407" || p.Get("FinishedOnKey") != "#" {
		t.Errorf("action %v (requested %v), want Digits=407", p, ok)
	}
	if !c.RemoteHangup() {
		t.Error("texml did not hang up after the action's <Hangup/>")
	}
}

// TestNoLeaksAfterManyCalls runs 1,000 calls, 50 at a time, and checks that
// goroutines and open file descriptors return to their baseline.
func TestNoLeaksAfterManyCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 calls")
	}
	a := newApp(t, map[string]string{"/voice": `<Response><Say>Hi.</Say><Hangup/></Response>`})
	s := startServe(t, a.srv.URL+"/voice", "--rtp-ports", "28000-29998")
	ph := sipphone.New(t)
	// Pooled keep-alive connections to the app are not leaks: drop them
	// before each count.
	idle := func() {
		s.fetch.Close()
		a.srv.CloseClientConnections()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	warm := callTexml(ctx, t, ph, s.sipAddr, 10*time.Second, nil) // fills the TTS cache, pools
	if warm.FinalCode() != 200 {
		t.Fatalf("warm-up call: %d", warm.FinalCode())
	}
	waitIdle(t, s)
	idle()
	baseG, baseFD := settle()

	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	sem := make(chan struct{}, 50)
	for range 1000 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if c := callTexml(ctx, t, ph, s.sipAddr, 10*time.Second, nil); c.FinalCode() != 200 || !c.RemoteHangup() {
				mu.Lock()
				failed++
				if failed <= 5 {
					t.Logf("call failed: answer %d, texml hung up %v, %d RTP packets", c.FinalCode(), c.RemoteHangup(), c.Packets())
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	waitIdle(t, s)
	if failed > 0 {
		t.Errorf("%d of 1000 calls failed", failed)
	}
	idle()
	checkNoLeaks(t, s, baseG, baseFD, 0)
}

// checkNoLeaks checks that goroutines and open files are back to about
// their baseline and that no RTP port is held. It waits up to wait for
// goroutines that end on a protocol timer (a SIP transaction's Timer D);
// a leak never comes back.
func checkNoLeaks(t *testing.T, s *service, baseG, baseFD int, wait time.Duration) {
	t.Helper()
	g, fd := settle()
	for deadline := time.Now().Add(wait); g > baseG+10 && time.Now().Before(deadline); {
		time.Sleep(time.Second)
		g, fd = settle()
	}
	if g > baseG+10 {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("goroutines %d, %d before:\n%s", g, baseG, summarize(string(buf[:n])))
	}
	if fd > baseFD+10 {
		t.Errorf("open files %d, %d before", fd, baseFD)
	}
	if n := s.ports.InUse(); n != 0 {
		t.Errorf("%d RTP ports still in use", n)
	}
}

// settle lets finished goroutines exit, then counts goroutines and open
// file descriptors.
func settle() (int, int) {
	var g int
	for range 50 {
		runtime.GC()
		time.Sleep(100 * time.Millisecond)
		if n := runtime.NumGoroutine(); n == g {
			break
		} else {
			g = n
		}
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	return g, len(fds)
}

// writeToneWAV writes a 16-bit 8 kHz mono WAV of a sine wave.
func writeToneWAV(t *testing.T, path string, freq float64, d time.Duration) {
	t.Helper()
	n := int(d.Seconds() * 8000)
	data := make([]byte, 44+2*n)
	copy(data, "RIFF")
	binary.LittleEndian.PutUint32(data[4:], uint32(36+2*n))
	copy(data[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(data[16:], 16)
	binary.LittleEndian.PutUint16(data[20:], 1)
	binary.LittleEndian.PutUint16(data[22:], 1)
	binary.LittleEndian.PutUint32(data[24:], 8000)
	binary.LittleEndian.PutUint32(data[28:], 16000)
	binary.LittleEndian.PutUint16(data[32:], 2)
	binary.LittleEndian.PutUint16(data[34:], 16)
	copy(data[36:], "data")
	binary.LittleEndian.PutUint32(data[40:], uint32(2*n))
	for i := range n {
		v := int16(12000 * math.Sin(2*math.Pi*freq*float64(i)/8000))
		binary.LittleEndian.PutUint16(data[44+2*i:], uint16(v))
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// summarize counts goroutines by the function at the top of their stack.
func summarize(dump string) string {
	counts := map[string]int{}
	for _, g := range strings.Split(dump, "\n\n") {
		lines := strings.Split(g, "\n")
		key := ""
		for i := 1; i < len(lines); i += 2 {
			if !strings.HasPrefix(lines[i], "runtime.") && !strings.HasPrefix(lines[i], "internal/") && !strings.HasPrefix(lines[i], "sync.") {
				key = lines[i]
				break
			}
		}
		counts[key]++
	}
	var b strings.Builder
	for k, n := range counts {
		fmt.Fprintf(&b, "%4d %s\n", n, k)
	}
	return b.String()
}
