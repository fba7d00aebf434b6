package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/texml/texml/internal/sipphone"
	"github.com/texml/texml/media"
	"github.com/texml/texml/media/stt"
)

// wsMsg is a Media Streams message as an app reads it.
type wsMsg struct {
	Event          string `json:"event"`
	SequenceNumber string `json:"sequenceNumber"`
	StreamSid      string `json:"streamSid"`
	Start          struct {
		CallSid          string            `json:"callSid"`
		Tracks           []string          `json:"tracks"`
		CustomParameters map[string]string `json:"customParameters"`
		MediaFormat      struct {
			Encoding   string `json:"encoding"`
			SampleRate int    `json:"sampleRate"`
		} `json:"mediaFormat"`
	} `json:"start"`
	Media struct {
		Track     string `json:"track"`
		Timestamp string `json:"timestamp"`
		Payload   string `json:"payload"`
	} `json:"media"`
	Mark struct {
		Name string `json:"name"`
	} `json:"mark"`
}

// pcm decodes a media message's µ-law payload.
func (m *wsMsg) pcm() []int16 {
	b, _ := base64.StdEncoding.DecodeString(m.Media.Payload)
	out := make([]int16, len(b))
	media.PCMU.Decode(out, b)
	return out
}

// wsApp serves one Media Streams app on loopback: run gets each
// connection; the test reads what it recorded once the call is over.
func wsApp(t *testing.T, run func(ctx context.Context, c *websocket.Conn)) string {
	t.Helper()
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		wg.Add(1)
		defer wg.Done()
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		run(r.Context(), c)
	}))
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func readMsg(ctx context.Context, c *websocket.Conn) (*wsMsg, error) {
	_, data, err := c.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m wsMsg
	return &m, json.Unmarshal(data, &m)
}

func sendJSON(ctx context.Context, c *websocket.Conn, v any) error {
	b, _ := json.Marshal(v)
	return c.Write(ctx, websocket.MessageText, b)
}

// appTone is d of a 1 kHz tone as an app sends it: base64 µ-law.
func appTone(d time.Duration) string {
	pcm := sipphone.ToneSamples(1000, d)
	b := make([]byte, len(pcm))
	media.PCMU.Encode(b, pcm)
	return base64.StdEncoding.EncodeToString(b)
}

// TestConnectStreamEcho runs a voice-bot-shaped app on a real call: the
// app speaks first (a tone and a mark that comes back once it has
// played), then echoes the caller, whose phone hears its own tone come
// back; then it queues three seconds, marks and clears them (the mark
// comes back at once, the caller hears none of it), and hangs up the
// stream, which runs the Connect's action.
func TestConnectStreamEcho(t *testing.T) {
	type result struct {
		start      wsMsg
		greetMark  time.Duration // from sending the greeting to its mark's echo
		clearMark  time.Duration // from the clear to the mark's echo
		echoed     int
		inboundPCM []int16
		order      []string
	}
	var (
		mu  sync.Mutex
		res result
	)
	url := wsApp(t, func(ctx context.Context, c *websocket.Conn) {
		mu.Lock()
		defer mu.Unlock()
		var sid string
		var greeted, cleared time.Time
		echo := false
		for {
			m, err := readMsg(ctx, c)
			if err != nil {
				return
			}
			if n := len(res.order); n == 0 || res.order[n-1] != m.Event {
				res.order = append(res.order, m.Event)
			}
			switch m.Event {
			case "start":
				res.start, sid = *m, m.StreamSid
				greeted = time.Now()
				_ = sendJSON(ctx, c, map[string]any{"event": "media", "streamSid": sid, "media": map[string]any{"payload": appTone(500 * time.Millisecond)}})
				_ = sendJSON(ctx, c, map[string]any{"event": "mark", "streamSid": sid, "mark": map[string]any{"name": "greeting"}})
			case "mark":
				switch m.Mark.Name {
				case "greeting":
					res.greetMark, echo = time.Since(greeted), true
				case "cut":
					res.clearMark = time.Since(cleared)
					time.Sleep(300 * time.Millisecond) // the caller hears the silence after the clear
					_ = c.Close(websocket.StatusNormalClosure, "bye")
					return
				}
			case "media":
				res.inboundPCM = append(res.inboundPCM, m.pcm()...)
				ts, _ := strconv.Atoi(m.Media.Timestamp)
				switch {
				case echo && ts < 2600:
					res.echoed++
					_ = sendJSON(ctx, c, map[string]any{"event": "media", "streamSid": sid, "media": map[string]any{"payload": m.Media.Payload}})
				case echo:
					echo = false
					_ = sendJSON(ctx, c, map[string]any{"event": "media", "streamSid": sid, "media": map[string]any{"payload": appTone(3 * time.Second)}})
					_ = sendJSON(ctx, c, map[string]any{"event": "mark", "streamSid": sid, "mark": map[string]any{"name": "cut"}})
					cleared = time.Now()
					_ = sendJSON(ctx, c, map[string]any{"event": "clear", "streamSid": sid})
				}
			}
		}
	})
	a := newApp(t, map[string]string{
		"/voice": `<Response><Connect action="/after"><Stream url="` + url + `"><Parameter name="bot" value="echo"/></Stream></Connect><Say>unreachable</Say></Response>`,
		"/after": `<Response><Hangup/></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 10*time.Second, func(c *sipphone.Call) {
		c.Silence(700 * time.Millisecond) // the greeting plays
		c.Tone(440, time.Second)          // echoed back by the app
		c.Listen(8 * time.Second)
	})
	if c.FinalCode() != 200 || !c.RemoteHangup() {
		t.Fatalf("answer %d, texml hung up: %v", c.FinalCode(), c.RemoteHangup())
	}
	mu.Lock()
	defer mu.Unlock()
	if p, ok := a.request("/after"); !ok || p.Get("CallStatus") != "in-progress" {
		t.Errorf("Connect action: %v (requested: %v), want CallStatus=in-progress", p, ok)
	}
	voice, _ := a.request("/voice")
	st := res.start
	if st.Start.CallSid != voice.Get("CallSid") || st.Start.CustomParameters["bot"] != "echo" ||
		strings.Join(st.Start.Tracks, ",") != "inbound" || st.Start.MediaFormat.Encoding != "audio/x-mulaw" ||
		st.Start.MediaFormat.SampleRate != 8000 || !strings.HasPrefix(st.StreamSid, "MZ") || st.SequenceNumber != "1" {
		t.Errorf("start message %+v", st)
	}
	if got := strings.Join(res.order, ","); !strings.HasPrefix(got, "connected,start,media") {
		t.Errorf("messages %s, want connected, start, media…", got)
	}
	t.Logf("greeting mark after %v, cleared mark after %v, %d frames echoed, phone heard %v of sound",
		res.greetMark, res.clearMark, res.echoed, sipphone.VoicedTime(c.Audio()))
	// The greeting's mark comes back once its 500 ms have played.
	if res.greetMark < 450*time.Millisecond || res.greetMark > 900*time.Millisecond {
		t.Errorf("the greeting's mark came back after %v, want once its 500 ms played", res.greetMark)
	}
	if res.clearMark > 200*time.Millisecond {
		t.Errorf("the mark behind cleared audio came back after %v, want at once", res.clearMark)
	}
	if !sipphone.HasTone(res.inboundPCM, 440) {
		t.Error("the app did not hear the caller's 440 Hz tone")
	}
	heard := c.Audio()
	if !sipphone.HasTone(heard, 1000) || !sipphone.HasTone(heard, 440) {
		t.Errorf("the phone heard 1 kHz: %v, its own 440 Hz echoed: %v; want both", sipphone.HasTone(heard, 1000), sipphone.HasTone(heard, 440))
	}
	// 0.5 s of greeting and 1 s of echo; the 3 s that were cleared must
	// not be heard (a packet or two may leave before the clear lands).
	if v := sipphone.VoicedTime(heard); v < 1200*time.Millisecond || v > 1900*time.Millisecond {
		t.Errorf("the phone heard %v of sound, want about 1.5 s (greeting and echo, not the cleared 3 s)", v)
	}
}

// TestStartStreamFork forks both tracks of a real call while the call
// goes on, and stops the fork by name: the app hears the caller's tone on
// the inbound track and the Say on the outbound one, then stop; the
// status callback gets stream-started and stream-stopped.
func TestStartStreamFork(t *testing.T) {
	var (
		mu       sync.Mutex
		in, out  []int16
		events   []string
		stopSeen time.Time
		lastMed  time.Time
	)
	url := wsApp(t, func(ctx context.Context, c *websocket.Conn) {
		for {
			m, err := readMsg(ctx, c)
			if err != nil {
				return
			}
			mu.Lock()
			if n := len(events); n == 0 || events[n-1] != m.Event {
				events = append(events, m.Event)
			}
			switch m.Event {
			case "media":
				lastMed = time.Now()
				if m.Media.Track == "inbound" {
					in = append(in, m.pcm()...)
				} else {
					out = append(out, m.pcm()...)
				}
			case "stop":
				stopSeen = time.Now()
			}
			mu.Unlock()
		}
	})
	a := newApp(t, map[string]string{
		"/voice": `<Response><Start><Stream name="fork" url="` + url + `" track="both_tracks" statusCallback="/streams"/></Start>` +
			`<Say>One two three four five.</Say><Stop><Stream name="fork"/></Stop><Pause length="1"/><Hangup/></Response>`,
		"/streams": `<Response/>`,
	})
	s := startServe(t, a.srv.URL+"/voice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 10*time.Second, func(c *sipphone.Call) {
		c.Tone(440, 1500*time.Millisecond)
		c.Listen(8 * time.Second)
	})
	if c.FinalCode() != 200 || !c.RemoteHangup() {
		t.Fatalf("answer %d, texml hung up: %v", c.FinalCode(), c.RemoteHangup())
	}
	waitUntil(t, func() bool { return len(a.requests("/streams")) == 2 })
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(events, ","); got != "connected,start,media,stop" {
		t.Errorf("messages %s, want connected,start,media,stop", got)
	}
	if !sipphone.HasTone(in, 440) {
		t.Error("the inbound track lacks the caller's 440 Hz tone")
	}
	if v := sipphone.VoicedTime(out); v < 500*time.Millisecond {
		t.Errorf("the outbound track has %v of sound, want the Say", v)
	}
	if lastMed.After(stopSeen) {
		t.Error("media after stop")
	}
	cbs := a.requests("/streams")
	if len(cbs) != 2 || cbs[0].Get("StreamEvent") != "stream-started" || cbs[1].Get("StreamEvent") != "stream-stopped" ||
		cbs[0].Get("StreamName") != "fork" || cbs[0].Get("StreamSid") != cbs[1].Get("StreamSid") {
		t.Errorf("stream status callbacks %v", cbs)
	}
}

// waitUntil polls cond for a few seconds: callbacks are asynchronous.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCallStream runs a <Connect><Stream> app in `texml call`: the
// simulated caller's speech reaches the app as audio, the app's answer
// and its mark appear in the transcript, and the app's close moves the
// call on.
func TestCallStream(t *testing.T) {
	var (
		mu     sync.Mutex
		voiced time.Duration
	)
	needTool(t, "espeak-ng", "pocketsphinx_batch")
	var inbound, heard []int16
	url := wsApp(t, func(ctx context.Context, c *websocket.Conn) {
		var sid string
		answered := false
		for {
			m, err := readMsg(ctx, c)
			if err != nil {
				return
			}
			switch m.Event {
			case "start":
				sid = m.StreamSid
			case "media":
				inbound = append(inbound, m.pcm()...)
				if ts, _ := strconv.Atoi(m.Media.Timestamp); ts >= 1600 && !answered {
					answered = true
					mu.Lock()
					voiced = sipphone.VoicedTime(inbound)
					heard = append([]int16(nil), inbound...)
					mu.Unlock()
					_ = sendJSON(ctx, c, map[string]any{"event": "media", "streamSid": sid, "media": map[string]any{"payload": appTone(300 * time.Millisecond)}})
					_ = sendJSON(ctx, c, map[string]any{"event": "mark", "streamSid": sid, "mark": map[string]any{"name": "answer"}})
				}
			case "mark":
				_ = c.Close(websocket.StatusNormalClosure, "done")
				return
			}
		}
	})
	a := newApp(t, map[string]string{
		"/voice": `<Response><Connect><Stream url="` + url + `"/></Connect><Say>Goodbye</Say></Response>`,
	})
	code, out, stderr := texml(t, "call", a.srv.URL+"/voice", "--input", "speech:hello there@100")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"bidirectional, inbound track", "caller: speech:hello there@100", "the app spoke for 300 ms", "mark answer played", "stopped (app-closed)", `"Goodbye"`} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if voiced < 300*time.Millisecond {
		t.Errorf("the app heard %v of the caller's speech, want the spoken words", voiced)
	}
	// The words are espeak-ng's speech, not noise as long as them: a
	// recognizer told the phrases a caller might say picks them out.
	sphinx, err := stt.NewSphinx(stt.SphinxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := sphinx.Recognize(context.Background(), stt.Request{Samples: heard, Hints: "hello there, good morning, billing, support"})
	if err != nil || r.Text != "hello there" {
		t.Errorf("the app's audio was recognized as %q (%v), want the caller's words, hello there", r.Text, err)
	}
}

// TestCallStreamHeard: in `texml call`, what a voice agent says on a
// bidirectional stream is recognized (pocketsphinx) and its words are in
// the transcript.
func TestCallStreamHeard(t *testing.T) {
	needTool(t, "espeak-ng", "pocketsphinx_batch")
	pcm := speak(t, "good morning")
	b := make([]byte, len(pcm))
	media.PCMU.Encode(b, pcm)
	payload := base64.StdEncoding.EncodeToString(b)
	url := wsApp(t, func(ctx context.Context, c *websocket.Conn) {
		for {
			m, err := readMsg(ctx, c)
			if err != nil {
				return
			}
			switch m.Event {
			case "start":
				_ = sendJSON(ctx, c, map[string]any{"event": "media", "streamSid": m.StreamSid, "media": map[string]any{"payload": payload}})
				_ = sendJSON(ctx, c, map[string]any{"event": "mark", "streamSid": m.StreamSid, "mark": map[string]any{"name": "said"}})
			case "mark":
				_ = c.Close(websocket.StatusNormalClosure, "done")
				return
			}
		}
	})
	a := newApp(t, map[string]string{"/voice": `<Response><Connect><Stream url="` + url + `"/></Connect></Response>`})
	code, out, stderr := texml(t, "call", a.srv.URL+"/voice")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, `the app spoke for`) || !strings.Contains(out, `morning`) {
		t.Errorf("transcript lacks the app's recognized words:\n%s", out)
	}
}
