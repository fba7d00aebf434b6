package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// httpGet fetches url and returns the status and body.
func httpGet(t *testing.T, url string) (int, []byte, http.Header) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res.StatusCode, body, res.Header
}

// scrape returns the service's /metrics page.
func scrape(t *testing.T, s *service) string {
	t.Helper()
	code, body, _ := httpGet(t, "http://"+s.httpLn.Addr().String()+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	return string(body)
}

// metricValue finds one series ("name" or `name{label="v"}`) in a
// Prometheus text page; NaN when absent.
func metricValue(page, series string) float64 {
	for _, line := range strings.Split(page, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return math.NaN()
}

// TestHealthAndMetrics checks /healthz and that /metrics has every family
// we export, with values that follow a real call: active calls,
// calls by status, verb durations, fetch latency, TTS latency and cache
// hits, RTP packets.
func TestHealthAndMetrics(t *testing.T) {
	a := toneApp(t, time.Second)
	a.docs["/voice"] = `<Response><Say>Hello.</Say><Play>/tone.wav</Play><Hangup/></Response>`
	s := startServe(t, a.srv.URL+"/voice")
	base := "http://" + s.httpLn.Addr().String()
	if code, body, _ := httpGet(t, base+"/healthz"); code != 200 || !strings.HasPrefix(string(body), "ok 0 active") {
		t.Errorf("/healthz: %d %q", code, body)
	}
	ph := sipphone.New(t)
	for call := 1; call <= 2; call++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c := callTexml(ctx, t, ph, s.sipAddr, 10*time.Second, func(c *sipphone.Call) {
			c.Silence(300 * time.Millisecond)
			if code, body, _ := httpGet(t, base+"/healthz"); code != 200 || !strings.HasPrefix(string(body), "ok 1 active") {
				t.Errorf("/healthz during a call: %d %q", code, body)
			}
			if v := metricValue(scrape(t, s), "texml_calls_active"); v != 1 {
				t.Errorf("texml_calls_active = %v during a call", v)
			}
		})
		cancel()
		if c.FinalCode() != 200 || !c.RemoteHangup() {
			t.Fatalf("call %d: answer %d, texml hung up %v", call, c.FinalCode(), c.RemoteHangup())
		}
		waitIdle(t, s)
	}
	m := scrape(t, s)
	want := map[string]func(float64) bool{
		"texml_calls_active":                                  func(v float64) bool { return v == 0 },
		`texml_calls_total{status="completed"}`:               func(v float64) bool { return v == 2 },
		"texml_call_duration_seconds_count":                   func(v float64) bool { return v == 2 },
		`texml_verb_duration_seconds_count{verb="Say"}`:       func(v float64) bool { return v == 2 },
		`texml_verb_duration_seconds_count{verb="Play"}`:      func(v float64) bool { return v == 2 },
		`texml_verb_duration_seconds_count{verb="Hangup"}`:    func(v float64) bool { return v == 2 },
		`texml_verb_duration_seconds_sum{verb="Play"}`:        func(v float64) bool { return v >= 1.9 && v < 3 },
		`texml_fetch_duration_seconds_count{kind="document"}`: func(v float64) bool { return v == 2 },
		`texml_fetch_duration_seconds_count{kind="audio"}`:    func(v float64) bool { return v >= 1 },
		"texml_tts_synthesis_seconds_count":                   func(v float64) bool { return v == 1 }, // the second call's Say is cached
		`texml_cache_hits_total{cache="tts"}`:                 func(v float64) bool { return v == 1 },
		`texml_cache_misses_total{cache="tts"}`:               func(v float64) bool { return v == 1 },
		`texml_cache_misses_total{cache="audio"}`:             func(v float64) bool { return v >= 1 },
		`texml_cache_hits_total{cache="audio"}`:               func(v float64) bool { return v >= 0 },
		"texml_rtp_packets_sent_total":                        func(v float64) bool { return v >= 100 },
		"texml_rtp_packets_received_total":                    func(v float64) bool { return v >= 20 },
		"texml_rtp_packets_lost_total":                        func(v float64) bool { return v == 0 },
		"texml_rtp_packets_late_total":                        func(v float64) bool { return v == 0 },
		"texml_rtp_packets_dropped_total":                     func(v float64) bool { return v == 0 },
		"texml_rtp_send_gap_seconds_count":                    func(v float64) bool { return v >= 100 },
		"texml_stt_recognition_seconds_count":                 func(v float64) bool { return v == 0 },
	}
	for series, ok := range want {
		if v := metricValue(m, series); math.IsNaN(v) || !ok(v) {
			t.Errorf("%s = %v", series, v)
		}
	}
}

// TestDrain sends SIGTERM to a running `texml serve` during a call: new
// INVITEs get 503 and /healthz 503, the active call plays to its end, and
// then the service exits.
func TestDrain(t *testing.T) {
	needTool(t, "espeak-ng")
	a := toneApp(t, 2*time.Second)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := append(serveArgs(t, a.srv.URL+"/voice"), "--http-listen", httpAddr, "--drain-timeout", "20s")
	sipAddr := args[1]
	sigs := make(chan os.Signal, 1)
	exited := make(chan int, 1)
	go func() { exited <- runServe(context.Background(), args, io.Discard, io.Discard, sigs) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if res, err := http.Get("http://" + httpAddr + "/healthz"); err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("texml serve did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var exitedEarly bool
	c := callTexml(ctx, t, sipphone.New(t), sipAddr, 10*time.Second, func(*sipphone.Call) {
		time.Sleep(300 * time.Millisecond)
		sigs <- syscall.SIGTERM
		time.Sleep(100 * time.Millisecond)
		if code := inviteRaw(t, sipAddr, plainOffer(40000)); code != 503 {
			t.Errorf("INVITE while draining: %d, want 503", code)
		}
		if code, body, _ := httpGet(t, "http://"+httpAddr+"/healthz"); code != 503 {
			t.Errorf("/healthz while draining: %d %q, want 503", code, body)
		}
		select {
		case <-exited:
			exitedEarly = true
		default:
		}
	})
	if exitedEarly {
		t.Fatal("texml serve exited with a call still active")
	}
	if v := sipphone.VoicedTime(c.Audio()); c.FinalCode() != 200 || !c.RemoteHangup() || v < 1900*time.Millisecond {
		t.Errorf("the active call: answer %d, texml hung up %v, %v of the 2 s tone heard", c.FinalCode(), c.RemoteHangup(), v)
	}
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("texml serve exited %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("texml serve did not exit after its last call")
	}
}

// TestAppUnreachable: with no fallback, a voice URL that refuses
// connections makes texml say "An application error has occurred." and
// hang up.
func TestAppUnreachable(t *testing.T) {
	s := startServe(t, "http://127.0.0.1:1/x")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 15*time.Second, nil)
	if c.FinalCode() != 200 || !c.RemoteHangup() {
		t.Fatalf("answer %d, texml hung up %v", c.FinalCode(), c.RemoteHangup())
	}
	if v := sipphone.VoicedTime(c.Audio()); v < 1500*time.Millisecond || v > 5*time.Second {
		t.Errorf("heard %v of speech, want the error message (about 2 s)", v)
	}
	waitIdle(t, s)
	if v := metricValue(scrape(t, s), `texml_fetch_errors_total{code="11205",kind="document"}`); v != 1 {
		t.Errorf(`texml_fetch_errors_total{code="11205",kind="document"} = %v, want 1`, v)
	}
}

// TestFallback: the voice URL is unreachable and the fallback URL works:
// the fallback's document runs, told what failed.
func TestFallback(t *testing.T) {
	a := toneApp(t, time.Second)
	a.docs["/fallback"] = a.docs["/voice"]
	s := startServe(t, "http://127.0.0.1:1/x", "--fallback-url", a.srv.URL+"/fallback")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 15*time.Second, nil)
	if c.FinalCode() != 200 || !c.RemoteHangup() {
		t.Fatalf("answer %d, texml hung up %v", c.FinalCode(), c.RemoteHangup())
	}
	p, ok := a.request("/fallback")
	if !ok || p.Get("ErrorCode") != "11205" || p.Get("ErrorUrl") != "http://127.0.0.1:1/x" {
		t.Errorf("fallback request %v (made: %v), want ErrorCode=11205 and ErrorUrl", p, ok)
	}
	// The fallback's tone, not the error message.
	if f, v := sipphone.DominantFreq(c.Audio()), sipphone.VoicedTime(c.Audio()); math.Abs(f-440) > 20 || v < 900*time.Millisecond || v > 1100*time.Millisecond {
		t.Errorf("heard %v at %.0f Hz, want the fallback's 1 s 440 Hz tone", v, f)
	}
}

// TestPlayNotAudio: a Play whose URL returns a web page is error 11200,
// logged, and the call goes on to the next verb.
func TestPlayNotAudio(t *testing.T) {
	a := toneApp(t, time.Second)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html><body>Not a sound</body></html>")
	}))
	defer page.Close()
	a.docs["/voice"] = `<Response><Play>` + page.URL + `/greeting.mp3</Play><Play>/tone.wav</Play><Hangup/></Response>`
	s, logs := startServeLogged(t, a.srv.URL+"/voice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 15*time.Second, nil)
	if c.FinalCode() != 200 || !c.RemoteHangup() {
		t.Fatalf("answer %d, texml hung up %v", c.FinalCode(), c.RemoteHangup())
	}
	if f, v := sipphone.DominantFreq(c.Audio()), sipphone.VoicedTime(c.Audio()); math.Abs(f-440) > 20 || v < 900*time.Millisecond {
		t.Errorf("heard %v at %.0f Hz, want the next verb's 1 s 440 Hz tone", v, f)
	}
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "code=11200") && strings.Contains(line, "greeting.mp3") {
			found = true
		}
	}
	if !found {
		t.Errorf("no 11200 error logged for the page; log:\n%s", logs)
	}
}

// TestMissingTools: a missing espeak-ng or pocketsphinx stops startup with
// an error naming the Debian package; --stt none needs no pocketsphinx.
func TestMissingTools(t *testing.T) {
	needTool(t, "espeak-ng")
	espeak, _ := exec.LookPath("espeak-ng")
	onlyEspeak := t.TempDir()
	if err := os.Symlink(espeak, filepath.Join(onlyEspeak, "espeak-ng")); err != nil {
		t.Fatal(err)
	}
	a := newApp(t, map[string]string{"/voice": `<Response><Say>Speech without recognition.</Say><Hangup/></Response>`})
	args := serveArgs(t, a.srv.URL+"/voice")
	log := slog.New(slog.DiscardHandler)

	t.Setenv("PATH", t.TempDir())
	_, err := buildService(args, log)
	if err == nil || !strings.Contains(err.Error(), `Debian package "espeak-ng"`) {
		t.Errorf("without espeak-ng: %v, want an error naming the package", err)
	}

	t.Setenv("PATH", onlyEspeak)
	_, err = buildService(append(args, "--stt", "pocketsphinx"), log)
	if err == nil || !strings.Contains(err.Error(), `"pocketsphinx"`) || !strings.Contains(err.Error(), `"pocketsphinx-en-us"`) {
		t.Errorf("without pocketsphinx: %v, want an error naming the packages", err)
	}

	s := mustStart(t, "--stt none without pocketsphinx", args, log)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 15*time.Second, nil)
	if v := sipphone.VoicedTime(c.Audio()); c.FinalCode() != 200 || !c.RemoteHangup() || v < time.Second {
		t.Errorf("call with --stt none: answer %d, texml hung up %v, %v of speech", c.FinalCode(), c.RemoteHangup(), v)
	}
}
