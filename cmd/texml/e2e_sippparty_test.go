package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
	"github.com/texml/texml/media"
)

// ulawToneWAV writes d of a tone at freq as an 8 kHz µ-law WAV (format 7),
// what SIPp's rtp_stream sends as PCMU.
func ulawToneWAV(t *testing.T, freq float64, d time.Duration) string {
	t.Helper()
	pcm := sipphone.ToneSamples(freq, d)
	data := make([]byte, len(pcm))
	media.PCMU.Encode(data, pcm)
	var h [44]byte
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+len(data)))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 7) // µ-law
	binary.LittleEndian.PutUint16(h[22:], 1)
	binary.LittleEndian.PutUint32(h[24:], 8000)
	binary.LittleEndian.PutUint32(h[28:], 8000)
	binary.LittleEndian.PutUint16(h[32:], 1)
	binary.LittleEndian.PutUint16(h[34:], 8)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(len(data)))
	p := filepath.Join(t.TempDir(), "tone.wav")
	if err := os.WriteFile(p, append(h[:], data...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// talkingScenario is fixtures/sipp/talk_tone.xml streaming the WAV at
// path: SIPp reads rtp_stream's file when it loads the scenario, before
// any keyword is replaced, so the path goes into a copy of the file.
func talkingScenario(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "sipp", "talk_tone.xml"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "talk_tone.xml")
	if err := os.WriteFile(out, bytes.ReplaceAll(b, []byte("[tone]"), []byte(path)), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSIPpInQueueAndRoom: a caller no one here wrote (SIPp, streaming a
// tone with rtp_stream) waits in a queue and is taken by an agent on the
// Go phone, who hears its tone; and SIPp joins a conference with the Go
// phone, who hears it there too.
func TestSIPpInQueueAndRoom(t *testing.T) {
	for _, tc := range []struct {
		name       string
		sippDoc    string
		phoneDoc   string
		phoneAfter time.Duration
	}{
		{"queue", `<Response><Enqueue>support</Enqueue><Pause length="10"/></Response>`, `<Response><Dial><Queue>support</Queue></Dial></Response>`, 1500 * time.Millisecond},
		{"conference", `<Response><Dial><Conference beep="false">room</Conference></Dial></Response>`, `<Response><Dial><Conference beep="false">room</Conference></Dial></Response>`, 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				w.Header().Set("Content-Type", "text/xml")
				if strings.Contains(r.PostForm.Get("From"), "+15557650001") { // SIPp's From (talk_tone.xml)
					_, _ = io.WriteString(w, tc.sippDoc)
					return
				}
				_, _ = io.WriteString(w, tc.phoneDoc)
			}))
			t.Cleanup(app.Close)
			s := startServe(t, app.URL+"/voice")
			scenario := talkingScenario(t, ulawToneWAV(t, 1000, 2*time.Second))
			done := make(chan error, 1)
			go func() {
				out, err := sipp(t, s, scenario, "sipp")
				if err != nil {
					t.Logf("SIPp: %s", out)
				}
				done <- err
			}()
			time.Sleep(tc.phoneAfter)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := sipphone.New(t).Call(ctx, s.sipAddr, "phone", sipphone.CallOptions{})
			if c.FinalCode() != 200 {
				t.Fatalf("the Go phone got %d", c.FinalCode())
			}
			c.Listen(4 * time.Second)
			_ = c.Hangup()
			if err := <-done; err != nil {
				t.Errorf("SIPp: %v", err)
			}
			if !sipphone.HasTone(c.Audio(), 1000) {
				t.Errorf("the Go phone did not hear SIPp's 1000 Hz tone (dominant %.0f Hz, voiced %v)", sipphone.DominantFreq(c.Audio()), sipphone.VoicedTime(c.Audio()))
			}
		})
	}
}

// TestBaresipInConference: baresip (a softphone no one here wrote) calls
// into a conference where a Go phone waits; each hears the other's tone.
func TestBaresipInConference(t *testing.T) {
	needTool(t, "baresip")
	a := newApp(t, map[string]string{
		"/voice": `<Response><Dial><Conference beep="false">room</Conference></Dial></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice", clientsConfig(t)...)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	c := sipphone.New(t).Call(ctx, s.sipAddr, "room", sipphone.CallOptions{})
	if c.FinalCode() != 200 {
		t.Fatalf("the Go phone got %d", c.FinalCode())
	}
	snd := startBaresip(t, s.sipAddr, "/usr/lib/baresip/modules", "sip:room@"+s.sipAddr)
	c.Listen(2 * time.Second)
	c.Talk(sipphone.ToneSamples(880, 1500*time.Millisecond))
	c.Listen(time.Second)
	_ = c.Hangup()
	if got := toneFrames(c.Audio(), 660); got < 40 {
		t.Errorf("the Go phone heard baresip's 660 Hz in %d frames, want at least 40", got)
	}
	var heard []int16
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if heard = readDump(t, snd, "-dec.wav"); toneFrames(heard, 880) >= 40 {
			break
		}
	}
	if got := toneFrames(heard, 880); got < 40 {
		t.Errorf("baresip heard the Go phone's 880 Hz in %d frames, want at least 40 of the 75 sent", got)
	}
}
