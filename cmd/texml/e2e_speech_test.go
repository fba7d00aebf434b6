package main

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
	"github.com/texml/texml/media/tts"
)

// requests returns the parameters of every request to path, in order.
func (a *app) requests(path string) []url.Values {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []url.Values
	for i, p := range a.path {
		if p == path {
			out = append(out, a.got[i])
		}
	}
	return out
}

// waitRequest waits up to d for a request to path (callbacks are sent
// asynchronously, after the call may have ended).
func (a *app) waitRequest(t *testing.T, path string, d time.Duration) (url.Values, bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if p, ok := a.request(path); ok {
			return p, true
		}
		if time.Now().After(deadline) {
			return nil, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startSpeechServe starts texml with pocketsphinx recognizing speech.
func startSpeechServe(t *testing.T, voiceURL string) *service {
	t.Helper()
	needTool(t, "espeak-ng", "pocketsphinx_batch")
	// A flag given twice takes its last value: this overrides startServe's
	// --stt none.
	return startServe(t, voiceURL, "--stt", "pocketsphinx")
}

// TestSpeechGather speaks menu words (espeak-ng, µ-law, 20 ms RTP) into a
// real call after the prompt and checks that pocketsphinx, steered by the
// hints, hears them: SpeechResult and Confidence reach the action.
func TestSpeechGather(t *testing.T) {
	a := newApp(t, map[string]string{
		"/voice": `<Response><Gather input="speech" hints="sales, support, billing" action="/heard" speechTimeout="auto" timeout="6">` +
			`<Say>Which department?</Say></Gather><Say>Nothing heard.</Say><Hangup/></Response>`,
		"/heard": `<Response><Hangup/></Response>`,
	})
	s := startSpeechServe(t, a.srv.URL+"/voice")
	ph := sipphone.New(t)
	for i, word := range []string{"billing", "support"} {
		voice := speak(t, word)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c := callTexml(ctx, t, ph, s.sipAddr, time.Second, func(c *sipphone.Call) {
			c.Silence(2 * time.Second) // the prompt, about one second
			c.Talk(voice)
			c.Listen(8 * time.Second)
		})
		cancel()
		if c.FinalCode() != 200 || !c.RemoteHangup() {
			t.Fatalf("%s: answer %d, texml hung up %v", word, c.FinalCode(), c.RemoteHangup())
		}
		got := a.requests("/heard")
		if len(got) != i+1 {
			t.Fatalf("%s: %d requests to the action, want %d", word, len(got), i+1)
		}
		p := got[i]
		t.Logf("%s: heard %q, confidence %s", word, p.Get("SpeechResult"), p.Get("Confidence"))
		if r := strings.ToLower(strings.TrimSpace(p.Get("SpeechResult"))); r != word {
			t.Errorf("SpeechResult %q, want %q (params %v)", p.Get("SpeechResult"), word, p)
		}
		conf, err := strconv.ParseFloat(p.Get("Confidence"), 64)
		if err != nil || conf <= 0 || conf > 1 {
			t.Errorf("%s: Confidence %q, want a number in (0, 1]", word, p.Get("Confidence"))
		}
		if p.Get("Digits") != "" {
			t.Errorf("%s: Digits %q sent with a speech result", word, p.Get("Digits"))
		}
	}
	waitIdle(t, s)
	// The recognizer's latency and results are exported.
	m := scrape(t, s)
	if v := metricValue(m, `texml_stt_results_total{result="recognized"}`); v != 2 {
		t.Errorf("texml_stt_results_total{recognized} = %v, want 2", v)
	}
	if v := metricValue(m, "texml_stt_recognition_seconds_count"); v != 2 {
		t.Errorf("texml_stt_recognition_seconds_count = %v, want 2", v)
	}
}

// TestSpeechBargeIn talks over a long prompt: the prompt stops when the
// caller starts speaking, and the action comes long before the prompt
// would have ended.
func TestSpeechBargeIn(t *testing.T) {
	const prompt = "Thank you for calling the example company. Our menu has recently changed, so please listen " +
		"carefully to all of the following options before making your selection. For sales, say sales. " +
		"For technical support, say support. For questions about your bill, say billing."
	if d := spokenLength(speak(t, prompt)); d < 12*time.Second {
		t.Fatalf("the prompt lasts %v; the test needs one of 12 s or more", d)
	}
	a := newApp(t, map[string]string{
		"/voice": `<Response><Gather input="speech" hints="sales, support, billing" action="/heard" speechTimeout="auto">` +
			`<Say>` + prompt + `</Say></Gather><Hangup/></Response>`,
		"/heard": `<Response><Hangup/></Response>`,
	})
	s := startSpeechServe(t, a.srv.URL+"/voice")
	voice := speak(t, "sales")
	var bargeAt time.Duration
	var heardBefore int
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, time.Second, func(c *sipphone.Call) {
		// Talk once a second of the prompt has been heard: under load the
		// synthesis of a 12 s prompt may take a while to start.
		for deadline := time.Now().Add(10 * time.Second); sipphone.VoicedTime(c.Audio()) < 1500*time.Millisecond && time.Now().Before(deadline); {
			c.Silence(100 * time.Millisecond)
		}
		bargeAt, heardBefore = c.Duration(), len(c.Audio())
		c.Talk(voice)
		c.Listen(15 * time.Second)
	})
	if c.FinalCode() != 200 || !c.RemoteHangup() {
		t.Fatalf("answer %d, texml hung up %v", c.FinalCode(), c.RemoteHangup())
	}
	heard := c.Audio()
	t.Logf("talking began %v after the answer; call ended at %v; prompt heard %v before, %v after",
		bargeAt, c.Duration(), sipphone.VoicedTime(heard[:heardBefore]), sipphone.VoicedTime(heard[heardBefore:]))
	p, ok := a.request("/heard")
	if !ok {
		t.Fatal("the Gather action was never requested")
	}
	if r := strings.ToLower(p.Get("SpeechResult")); r != "sales" {
		t.Errorf("SpeechResult %q, want sales", p.Get("SpeechResult"))
	}
	// Talking began once the prompt was heard; the word, the 0.8 s end-of-speech pause and
	// recognition take about 2 s more. The prompt alone lasts 12 s or more.
	if d := c.Duration(); d > bargeAt+3*time.Second {
		t.Errorf("call ended %v after the answer (talking began at %v): the prompt was not interrupted", d, bargeAt)
	}
	// The prompt was heard before the barge-in and stopped soon after it.
	if v := sipphone.VoicedTime(heard[:heardBefore]); v < time.Second {
		t.Errorf("only %v of prompt heard before talking", v)
	}
	if v := sipphone.VoicedTime(heard[heardBefore:]); v > 300*time.Millisecond {
		t.Errorf("%v of prompt audio after the caller started talking, want it stopped within a few packets", v)
	}
}

// TestSpeechEndsWithoutPackets talks like a phone with silence
// suppression: after the word it sends no RTP at all. The pause must still
// end the utterance (by the clock, since no silent frames arrive).
func TestSpeechEndsWithoutPackets(t *testing.T) {
	a := newApp(t, map[string]string{
		"/voice": `<Response><Gather input="speech" hints="sales, support, billing" action="/heard" speechTimeout="auto" timeout="6">` +
			`<Say>Which department?</Say></Gather><Say>Nothing heard.</Say><Hangup/></Response>`,
		"/heard": `<Response><Hangup/></Response>`,
	})
	s := startSpeechServe(t, a.srv.URL+"/voice")
	voice := speak(t, "billing")
	var stopped time.Duration
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 8*time.Second, func(c *sipphone.Call) {
		c.Silence(2 * time.Second)
		c.Talk(voice)
		stopped = c.Duration()
	})
	if !c.RemoteHangup() {
		t.Fatalf("texml did not end the call within 8 s of the caller falling silent (no packets)")
	}
	p, ok := a.request("/heard")
	if !ok || strings.ToLower(p.Get("SpeechResult")) != "billing" {
		t.Errorf("action %v (requested %v), want SpeechResult=billing", p, ok)
	}
	if d := c.Duration(); d > stopped+3*time.Second {
		t.Errorf("the call ended %v after the caller stopped sending, want about 1 s", d-stopped)
	}
}

// speak synthesizes text with espeak-ng at 8 kHz, as the caller's voice.
func speak(t *testing.T, text string) []int16 {
	t.Helper()
	needTool(t, "espeak-ng")
	e, err := tts.NewEspeak(tts.EspeakOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := e.Synthesize(context.Background(), tts.Request{Text: text})
	if err != nil {
		t.Fatalf("espeak-ng %q: %v", text, err)
	}
	if len(pcm) < 1600 {
		t.Fatalf("espeak-ng %q: only %d samples", text, len(pcm))
	}
	return pcm
}

// spokenLength is the length of pcm without its silent ends (frames below
// -40 dBFS), as a listener would time it.
func spokenLength(pcm []int16) time.Duration {
	first, last := -1, -1
	for off := 0; off+160 <= len(pcm); off += 160 {
		var sum float64
		for _, v := range pcm[off : off+160] {
			f := float64(v) / 32768
			sum += f * f
		}
		if sum/160 > 1e-4 {
			if first < 0 {
				first = off
			}
			last = off + 160
		}
	}
	if first < 0 {
		return 0
	}
	return time.Duration(last-first) * time.Second / 8000
}
