package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
	"github.com/texml/texml/media/stt/stttest"
)

// TestCloudSTT: with --stt-url, a real call's speech goes to a WebSocket
// provider speaking docs/stt-ws.md (the fake of media/stt/stttest), and
// pocketsphinx is not needed. <Start><Transcription> streams the call to
// it and reports its final as transcription-content; <Gather
// input="speech"> streams to it too, with its speechTimeout as the
// start's endpointing_ms, and takes SpeechResult from it.
func TestCloudSTT(t *testing.T) {
	provider := stttest.NewServer(stttest.Script{Transcripts: []string{"Billing, please."}, Confidence: 0.93})
	defer provider.Close()
	a := newApp(t, map[string]string{
		"/voice": `<Response><Start><Transcription track="inbound_track" hints="sales, billing" statusCallbackUrl="/tr"/></Start>` +
			`<Gather input="speech" action="/heard" timeout="5" speechTimeout="1"/><Say>Nothing heard.</Say><Hangup/></Response>`,
		"/heard": `<Response><Pause length="1"/><Hangup/></Response>`,
		"/tr":    ``,
	})
	s := startServe(t, a.srv.URL+"/voice", "--stt-url", provider.URL, "--stt-token", "sekret", "--stt-header", "X-Api-Key: k1")
	voice := speak(t, "billing")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 10*time.Second, func(c *sipphone.Call) {
		c.Silence(time.Second)
		c.Talk(voice)
		c.Listen(6 * time.Second)
	})
	if c.FinalCode() != 200 || !c.RemoteHangup() {
		t.Fatalf("answer %d, texml hung up %v", c.FinalCode(), c.RemoteHangup())
	}
	p, ok := a.waitRequest(t, "/heard", 5*time.Second)
	if !ok {
		t.Fatal("the Gather action was never requested")
	}
	if p.Get("SpeechResult") != "Billing, please." || p.Get("Confidence") != "0.93" {
		t.Errorf("Gather action %v, want the provider's transcript and confidence", p)
	}
	var heard []string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && len(heard) == 0 {
		for _, p := range a.requests("/tr") {
			if p.Get("TranscriptionEvent") != "transcription-content" {
				continue
			}
			var data struct {
				Transcript string  `json:"transcript"`
				Confidence float64 `json:"confidence"`
			}
			if err := json.Unmarshal([]byte(p.Get("TranscriptionData")), &data); err != nil {
				t.Fatalf("TranscriptionData %q: %v", p.Get("TranscriptionData"), err)
			}
			heard = append(heard, data.Transcript)
			if data.Confidence != 0.93 {
				t.Errorf("transcription-content %v", p)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Join(heard, "|") != "Billing, please." {
		t.Errorf("transcripts %q, want the provider's one final", heard)
	}
	starts := provider.Starts()
	if len(starts) != 2 {
		t.Fatalf("%d streams, want the transcription's and the Gather's", len(starts))
	}
	var pauses []string // the starts' endpointing_ms, "-" when absent
	for _, st := range starts {
		if st.Authorization != "Bearer sekret" || st.SampleRate != 8000 {
			t.Errorf("start %+v", st)
		}
		pauses = append(pauses, st.Endpointing())
	}
	// The transcription has no pause to give; the Gather's speechTimeout="1" is 1000.
	if slices.Sort(pauses); strings.Join(pauses, " ") != "- 1000" {
		t.Errorf("endpointing_ms %q, want the Gather's 1000 and none for the transcription", pauses)
	}
	waitIdle(t, s)
}
