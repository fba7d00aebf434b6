package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

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
	res := newPhone(t).call(ctx, s.sipAddr, "test", 20*time.Second, nil)
	if res.code != 200 || !res.byServer {
		t.Fatalf("answer %d, texml hung up: %v", res.code, res.byServer)
	}
	if res.voiced < 1500*time.Millisecond || res.voiced > 6*time.Second {
		t.Errorf("voiced audio %v, want the length of a spoken sentence (1.5–6 s); %d packets", res.voiced, res.rtp)
	}
	if got := time.Duration(res.rtp) * 20 * time.Millisecond; got < res.voiced {
		t.Errorf("%d packets (%v) for %v of audio", res.rtp, got, res.voiced)
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
	res := newPhone(t).call(ctx, s.sipAddr, "test", 20*time.Second, nil)
	if res.voiced < 1800*time.Millisecond || res.voiced > 2200*time.Millisecond {
		t.Errorf("voiced %v, want 2 s", res.voiced)
	}
	if f := dominantFreq(res.samples); f < 420 || f > 460 {
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
	res := newPhone(t).call(ctx, s.sipAddr, "test", 20*time.Second, func(conn *net.UDPConn, remote *net.UDPAddr) {
		time.Sleep(500 * time.Millisecond)
		sendDTMF(t, conn, remote, "407#")
	})
	p, ok := a.request("/got")
	if !ok || p.Get("Digits") != "407" || p.Get("FinishedOnKey") != "#" {
		t.Errorf("action %v (requested %v), want Digits=407", p, ok)
	}
	if !res.byServer {
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
	ph := newPhone(t)
	// Pooled keep-alive connections to the app are not leaks: drop them
	// before each count.
	idle := func() {
		s.fetch.Close()
		a.srv.CloseClientConnections()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	warm := ph.call(ctx, s.sipAddr, "test", 10*time.Second, nil) // fills the TTS cache, pools
	if warm.code != 200 {
		t.Fatalf("warm-up call: %d", warm.code)
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
			if r := ph.call(ctx, s.sipAddr, "test", 10*time.Second, nil); r.code != 200 || !r.byServer {
				mu.Lock()
				failed++
				if failed <= 5 {
					t.Logf("call failed: answer %d, texml hung up %v, %d RTP packets", r.code, r.byServer, r.rtp)
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
	g, fd := settle()
	if g > baseG+10 {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("goroutines %d after the calls, %d before:\n%s", g, baseG, summarize(string(buf[:n])))
	}
	if fd > baseFD+10 {
		t.Errorf("open files %d after the calls, %d before", fd, baseFD)
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

// dominantFreq estimates the main frequency of the voiced part by counting
// zero crossings.
func dominantFreq(s []float64) float64 {
	var crossings, voiced int
	for i := 0; i+160 <= len(s); i += 160 {
		var sum float64
		for _, v := range s[i : i+160] {
			sum += v * v
		}
		if math.Sqrt(sum/160) < 0.01 {
			continue
		}
		voiced += 160
		for j := i + 1; j < i+160; j++ {
			if (s[j-1] < 0) != (s[j] < 0) {
				crossings++
			}
		}
	}
	if voiced == 0 {
		return 0
	}
	return float64(crossings) / 2 / (float64(voiced) / 8000)
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
