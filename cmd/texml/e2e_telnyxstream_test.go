package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/texml/texml/internal/sipphone"
	"github.com/texml/texml/media"
)

// TestTelnyxStreamOnACall runs a TeXML <Start><Stream codec="PCMA"> on
// a real call: the app gets Telnyx's messages
// (https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming),
// stream_id and call_control_id, a start naming PCMA, and A-law
// payloads that carry the caller's tone.
func TestTelnyxStreamOnACall(t *testing.T) {
	const callerTone = 700.0
	var (
		mu    sync.Mutex
		msgs  []map[string]any
		alaw  []byte
		order []string
	)
	wsURL := wsApp(t, func(ctx context.Context, c *websocket.Conn) {
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			var m map[string]any
			_ = json.Unmarshal(data, &m)
			mu.Lock()
			ev, _ := m["event"].(string)
			if n := len(order); n == 0 || order[n-1] != ev {
				order = append(order, ev)
			}
			if ev == "media" {
				md, _ := m["media"].(map[string]any)
				b, _ := base64.StdEncoding.DecodeString(md["payload"].(string))
				alaw = append(alaw, b...)
			} else {
				msgs = append(msgs, m)
			}
			mu.Unlock()
		}
	})
	a := newApp(t, map[string]string{
		"/voice": `<Response><Start><Stream url="` + wsURL + `" codec="PCMA"/></Start><Say>Hello.</Say><Pause length="2"/></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice", "--dialect", "texml")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	callTexml(ctx, t, sipphone.New(t), s.sipAddr, 10*time.Second, func(c *sipphone.Call) {
		c.Tone(callerTone, 1500*time.Millisecond)
		c.Listen(2 * time.Second)
	})
	waitFor(t, 5*time.Second, "the app's stop message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) > 0 && order[len(order)-1] == "stop"
	})
	voice, _ := a.request("/voice")
	mu.Lock()
	defer mu.Unlock()
	if len(msgs) != 3 || len(order) != 4 || order[2] != "media" {
		t.Fatalf("the app got %v (%d non-media messages), want connected, start, media, stop", order, len(msgs))
	}
	connected, start, stop := msgs[0], msgs[1], msgs[2]
	sb, _ := start["start"].(map[string]any)
	mf, _ := sb["media_format"].(map[string]any)
	if connected["event"] != "connected" || connected["protocol"] != nil ||
		start["stream_id"] == nil || start["streamSid"] != nil || start["sequence_number"] != "1" ||
		sb["call_control_id"] != voice.Get("CallSid") || mf["encoding"] != "PCMA" || mf["sample_rate"] != 8000.0 {
		t.Errorf("connected %v, start %v", connected, start)
	}
	spb, _ := stop["stop"].(map[string]any)
	if stop["stream_id"] != start["stream_id"] || spb["call_control_id"] != voice.Get("CallSid") {
		t.Errorf("stop %v", stop)
	}
	pcm := make([]int16, len(alaw))
	media.PCMA.Decode(pcm, alaw)
	if !sipphone.HasTone(pcm, callerTone) {
		t.Error("the A-law payloads do not carry the caller's tone")
	}
}
