package stream

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/texml/texml/media"
)

// benchFrame is a media frame as the writer takes it from the queue.
func benchFrame() outFrame {
	f := outFrame{track: Inbound, chunk: 12345, ts: 246900}
	media.PCMU.Encode(f.payload[:], tone(1))
	return f
}

// BenchmarkSendMedia is the writer's work for one media message before
// the socket: building the message's bytes.
func BenchmarkSendMedia(b *testing.B) {
	for _, w := range []Wire{Twilio, Telnyx} {
		b.Run(w.String(), func(b *testing.B) {
			s := New(Config{StreamSid: "MZ" + strings.Repeat("1", 32), Wire: w})
			f := benchFrame()
			enc := s.wire.mediaEncoder(s.cfg.StreamSid)
			var buf []byte
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				buf = enc.append(buf[:0], int64(i), &f)
			}
		})
	}
}

// BenchmarkReceiveMedia is the reader's work for one app media message
// (20 ms of µ-law): parsing, decoding the payload, queueing the audio.
func BenchmarkReceiveMedia(b *testing.B) {
	for _, w := range []Wire{Twilio, Telnyx} {
		b.Run(w.String(), func(b *testing.B) {
			sid := "MZ" + strings.Repeat("1", 32)
			s := New(Config{StreamSid: sid, Bidirectional: true, Wire: w})
			var pl [media.FrameSamples]byte
			media.PCMU.Encode(pl[:], tone(2))
			key := "streamSid"
			if w == Telnyx {
				key = "stream_id"
			}
			data, _ := json.Marshal(map[string]any{"event": "media", key: sid,
				"media": map[string]any{"payload": base64.StdEncoding.EncodeToString(pl[:])}})
			var rd reader
			b.ReportAllocs()
			for b.Loop() {
				s.handle(&rd, data)
				// Played at once, as the pacer would take it: the queue
				// stays short and under MaxPlayout.
				s.mu.Lock()
				s.play.q, s.play.bytes = s.play.q[:0], 0
				s.mu.Unlock()
			}
			if st := s.Stats(); st.Received == 0 || st.Discarded != 0 {
				b.Fatalf("stats %+v: the messages were not queued", st)
			}
		})
	}
}

// BenchmarkLoopbackMedia writes media messages through a Stream's writer
// to an app on loopback that reads and discards them: the whole send
// path, socket included. The app's side runs in the same process, so
// its reading is counted too.
func BenchmarkLoopbackMedia(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		buf := make([]byte, 512)
		for {
			_, rd, err := c.Reader(context.Background())
			if err != nil {
				return
			}
			if _, err := discard(rd, buf); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	s := New(Config{StreamSid: "MZ" + strings.Repeat("1", 32), Tracks: []Track{Inbound}, Buffer: 1 << 12})
	if err := s.Connect(context.Background(), &Dialer{AllowAll: true}, "ws"+strings.TrimPrefix(srv.URL, "http")); err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	}()
	frame := tone(1)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Media(Inbound, frame)
		// Bursts well within the queue, so that nothing is dropped.
		if i%64 == 63 {
			for len(s.sendq) > 0 {
				runtime.Gosched()
			}
		}
	}
	if st := s.Stats(); st.Dropped != 0 {
		b.Fatalf("stats %+v: frames dropped", st)
	}
}

// discard reads r to its end into buf, over and over.
func discard(r io.Reader, buf []byte) (int, error) {
	n := 0
	for {
		k, err := r.Read(buf)
		n += k
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
	}
}
