package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// TestCloudTTS: with --tts-url, <Say> goes to an HTTP provider speaking
// the shape in docs/tts-http.md, and espeak-ng is not needed at all.
func TestCloudTTS(t *testing.T) {
	wav := filepath.Join(t.TempDir(), "speech.wav")
	writeToneWAV(t, wav, 600, time.Second)
	audio, err := os.ReadFile(wav)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got map[string]any
	var auth string
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got, auth = body, r.Header.Get("Authorization")
		mu.Unlock()
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(audio)
	}))
	defer provider.Close()
	a := newApp(t, map[string]string{"/voice": `<Response><Say voice="Polly.Amy" language="en-GB">Hello from the cloud.</Say><Hangup/></Response>`})

	t.Setenv("PATH", t.TempDir()) // no espeak-ng, no pocketsphinx
	s := mustStart(t, "with --tts-url, startup must not need espeak-ng",
		serveArgs(t, a.srv.URL+"/voice", "--tts-url", provider.URL, "--tts-token", "sekret"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 20*time.Second, nil)
	if v := sipphone.VoicedTime(c.Audio()); v < 800*time.Millisecond || v > 1300*time.Millisecond {
		t.Errorf("heard %v of audio, want the provider's 1 s", v)
	}
	if f := sipphone.DominantFreq(c.Audio()); f < 570 || f > 630 {
		t.Errorf("dominant frequency %.0f Hz, want the provider's 600", f)
	}
	mu.Lock()
	defer mu.Unlock()
	if got["text"] != "Hello from the cloud." || got["voice"] != "Polly.Amy" || got["language"] != "en-GB" || auth != "Bearer sekret" {
		t.Errorf("provider got %v with Authorization %q", got, auth)
	}
}
