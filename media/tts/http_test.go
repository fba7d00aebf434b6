package tts

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// provider is a local server speaking docs/tts-http.md: it checks the
// request and answers with a fixed body and Content-Type.
func provider(t *testing.T, contentType string, body []byte, check func(httpRequest, http.Header)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		var req httpRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if check != nil {
			check(req, r.Header)
		}
		w.Header().Set("Content-Type", contentType)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// tone16 is n samples of a square wave at the given byte order.
func tone16(n int, order binary.ByteOrder) ([]int16, []byte) {
	s := make([]int16, n)
	b := make([]byte, 2*n)
	for i := range s {
		s[i] = 8000
		if (i/10)%2 == 1 {
			s[i] = -8000
		}
		order.PutUint16(b[2*i:], uint16(s[i]))
	}
	return s, b
}

func wavFile(rate int, pcm []byte) []byte {
	h := make([]byte, 44)
	copy(h, "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+len(pcm)))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1)
	binary.LittleEndian.PutUint16(h[22:], 1)
	binary.LittleEndian.PutUint32(h[24:], uint32(rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(rate*2))
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(len(pcm)))
	return append(h, pcm...)
}

func TestHTTPRequestShape(t *testing.T) {
	want, le := tone16(800, binary.LittleEndian)
	var got httpRequest
	var auth string
	srv := provider(t, "audio/pcm;rate=8000", le, func(r httpRequest, h http.Header) {
		got, auth = r, h.Get("Authorization")
	})
	h := NewHTTP(HTTPOptions{URL: srv.URL, Headers: map[string]string{"Authorization": "Bearer k"}})
	s, err := h.Synthesize(t.Context(), Request{Text: "hi", SSML: "<break/>hi", Voice: "Polly.Amy", Language: "en-GB"})
	if err != nil {
		t.Fatal(err)
	}
	wantReq := httpRequest{Text: "hi", SSML: "<break/>hi", Voice: "Polly.Amy", Language: "en-GB", SampleRate: 8000, Format: "pcm_s16le"}
	if got != wantReq {
		t.Errorf("provider got %+v, want %+v", got, wantReq)
	}
	if auth != "Bearer k" {
		t.Errorf("Authorization %q", auth)
	}
	if len(s) != len(want) || s[5] != want[5] || s[15] != want[15] {
		t.Errorf("8 kHz PCM not passed through: %d samples", len(s))
	}
}

func TestHTTPFormats(t *testing.T) {
	_, le16k := tone16(1600, binary.LittleEndian)
	_, be := tone16(800, binary.BigEndian)
	_, le := tone16(800, binary.LittleEndian)
	ulaw := make([]byte, 800)
	for i := range ulaw {
		ulaw[i] = 0x80 // µ-law +max
	}
	tests := []struct {
		name, contentType string
		body              []byte
		samples           int
	}{
		{"wav 16 kHz", "audio/wav", wavFile(16000, le16k), 800},
		{"wav 8 kHz", "audio/x-wav", wavFile(8000, le), 800},
		{"L16 big-endian", "audio/L16; rate=8000; channels=1", be, 800},
		{"L16 16 kHz", "audio/L16;rate=16000", append(be, be...), 800},
		{"pcm default rate", "application/octet-stream", le, 800},
		{"mu-law", "audio/basic", ulaw, 800},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := provider(t, tt.contentType, tt.body, nil)
			s, err := NewHTTP(HTTPOptions{URL: srv.URL}).Synthesize(t.Context(), Request{Text: "x"})
			if err != nil {
				t.Fatal(err)
			}
			if len(s) < tt.samples-2 || len(s) > tt.samples+2 {
				t.Errorf("%d samples, want %d", len(s), tt.samples)
			}
			if rms(s) < 1000 {
				t.Errorf("RMS %.0f: audio lost", rms(s))
			}
			if tt.contentType == "audio/L16; rate=8000; channels=1" && s[0] != 8000 {
				t.Errorf("L16 read with the wrong byte order: %d", s[0])
			}
		})
	}
}

func TestHTTPErrors(t *testing.T) {
	t.Run("status", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "voice not available", http.StatusUnprocessableEntity)
		}))
		defer srv.Close()
		_, err := NewHTTP(HTTPOptions{URL: srv.URL}).Synthesize(t.Context(), Request{Text: "x"})
		if !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), "voice not available") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("not audio", func(t *testing.T) {
		srv := provider(t, "text/html", []byte("<html>oops</html>"), nil)
		_, err := NewHTTP(HTTPOptions{URL: srv.URL}).Synthesize(t.Context(), Request{Text: "x"})
		if !errors.Is(err, ErrProvider) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("bad rate", func(t *testing.T) {
		srv := provider(t, "audio/L16;rate=abc", []byte{0, 0}, nil)
		if _, err := NewHTTP(HTTPOptions{URL: srv.URL}).Synthesize(t.Context(), Request{Text: "x"}); err == nil {
			t.Error("bad rate accepted")
		}
	})
	t.Run("stereo", func(t *testing.T) {
		srv := provider(t, "audio/L16;rate=8000;channels=2", []byte{0, 0, 0, 0}, nil)
		if _, err := NewHTTP(HTTPOptions{URL: srv.URL}).Synthesize(t.Context(), Request{Text: "x"}); err == nil {
			t.Error("stereo L16 accepted")
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}))
		defer srv.Close()
		start := time.Now()
		_, err := NewHTTP(HTTPOptions{URL: srv.URL, Timeout: 50 * time.Millisecond}).Synthesize(t.Context(), Request{Text: "x"})
		if err == nil || time.Since(start) > 2*time.Second {
			t.Errorf("err = %v after %v", err, time.Since(start))
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		if _, err := NewHTTP(HTTPOptions{URL: "http://127.0.0.1:1/"}).Synthesize(t.Context(), Request{Text: "x"}); err == nil {
			t.Error("no error")
		}
	})
}

func TestHTTPBehindCache(t *testing.T) {
	var calls int
	_, le := tone16(800, binary.LittleEndian)
	srv := provider(t, "audio/pcm", le, func(httpRequest, http.Header) { calls++ })
	c := NewCache(NewHTTP(HTTPOptions{URL: srv.URL}), srv.URL, CacheOptions{})
	defer c.Close()
	for range 3 {
		if _, err := c.Synthesize(t.Context(), Request{Text: "cached"}); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 {
		t.Errorf("provider called %d times", calls)
	}
}
