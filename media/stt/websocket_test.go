package stt_test

import (
	"context"
	"errors"
	"math"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/media"
	"github.com/texml/texml/media/stt"
	"github.com/texml/texml/media/stt/stttest"
)

// noLeaks fails the test if goroutines it started outlive it: the count
// must settle back to where it was (the project does not use goleak).
// Call it first, so that its cleanup runs after the others.
func noLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("%d goroutines, %d before the test:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// tone is d of a loud 440 Hz sine, in frames.
func tone(d time.Duration) [][]int16 {
	n := int(d / media.FrameDuration)
	out := make([][]int16, n)
	for f := range out {
		out[f] = make([]int16, media.FrameSamples)
		for i := range out[f] {
			k := f*media.FrameSamples + i
			out[f][i] = int16(8000 * math.Sin(2*math.Pi*440*float64(k)/media.SampleRate))
		}
	}
	return out
}

// silence is d of quiet, in frames.
func silence(d time.Duration) [][]int16 {
	out := make([][]int16, int(d/media.FrameDuration))
	for i := range out {
		out[i] = make([]int16, media.FrameSamples)
	}
	return out
}

func newWS(t *testing.T, o stt.WebSocketOptions) *stt.WebSocket {
	t.Helper()
	ws, err := stt.NewWebSocket(o)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// collect reads a stream's events until they end.
func collect(t *testing.T, s stt.Stream) []stt.Event {
	t.Helper()
	var got []stt.Event
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e, ok := <-s.Events():
			if !ok {
				return got
			}
			got = append(got, e)
		case <-timeout:
			t.Fatalf("events did not end; so far %+v", got)
		}
	}
}

// TestWebSocketStream runs whole streams against the fake provider over
// loopback: two utterances of tone, each told as speech_started,
// partials and a final, in both encodings; then stop ends the stream
// without error.
func TestWebSocketStream(t *testing.T) {
	for _, tc := range []struct {
		name, encoding string
		language       string
		wantLanguage   string
	}{
		{name: "pcm16le", encoding: "", wantLanguage: "en-US"},
		{name: "mulaw", encoding: stt.EncodingMulaw, language: "fr-FR", wantLanguage: "fr-FR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			srv := stttest.NewServer(stttest.Script{Transcripts: []string{"hello big world", "goodbye"}, Confidence: 0.875})
			t.Cleanup(srv.Close)
			ws := newWS(t, stt.WebSocketOptions{URL: srv.URL, Encoding: tc.encoding,
				Headers: map[string]string{"Authorization": "Bearer sekret"}})
			s, err := ws.Stream(context.Background(), stt.StreamRequest{Language: tc.language, Hints: "hello, goodbye ,,"})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var frames [][]int16
			frames = append(frames, silence(200*time.Millisecond)...)
			frames = append(frames, tone(600*time.Millisecond)...) // 30 loud frames: 3 words
			frames = append(frames, silence(600*time.Millisecond)...)
			frames = append(frames, tone(300*time.Millisecond)...) // ended by stop
			for _, f := range frames {
				s.Write(f)
				time.Sleep(time.Millisecond) // well inside the queue, so that nothing is dropped
			}
			s.CloseSend()
			s.Write(frames[0]) // ignored after CloseSend
			got := collect(t, s)
			if err := s.Err(); err != nil {
				t.Fatalf("Err after a clean stop: %v", err)
			}
			want := []stt.Event{{Kind: stt.SpeechStarted}, {Kind: stt.Partial, Text: "hello"}, {Kind: stt.Partial, Text: "hello big"},
				{Kind: stt.Partial, Text: "hello big world"}, {Kind: stt.Final, Text: "hello big world", Confidence: 0.875},
				{Kind: stt.SpeechStarted}, {Kind: stt.Partial, Text: "goodbye"}, {Kind: stt.Final, Text: "goodbye", Confidence: 0.875}}
			if len(got) != len(want) {
				t.Fatalf("events %+v\nwant %+v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("event %d: %+v (%s), want %+v", i, got[i], got[i].Kind, want[i])
				}
			}
			if n := srv.Frames(); n != len(frames) || s.Dropped() != 0 {
				t.Errorf("server got %d frames of %d, %d dropped", n, len(frames), s.Dropped())
			}
			st := srv.Starts()
			if len(st) != 1 {
				t.Fatalf("starts %+v", st)
			}
			wantEnc := tc.encoding
			if wantEnc == "" {
				wantEnc = stt.EncodingPCM16
			}
			if g := st[0]; g.Language != tc.wantLanguage || strings.Join(g.Hints, "|") != "hello|goodbye" || g.SampleRate != 8000 ||
				g.Encoding != wantEnc || g.Channels != 1 || !g.InterimResults || g.Authorization != "Bearer sekret" {
				t.Errorf("start %+v", g)
			}
			if srv.Stops() != 1 {
				t.Errorf("%d stops", srv.Stops())
			}
		})
	}
}

// TestWebSocketEndpointing checks that StreamRequest.EndSilence reaches
// the provider as the start's endpointing_ms (whole milliseconds, absent
// for 0), and that the fake provider ends an utterance by it: two bursts
// of tone apart by a pause shorter than endpointing_ms are one utterance,
// by a longer pause two.
func TestWebSocketEndpointing(t *testing.T) {
	for _, tc := range []struct {
		name       string
		endSilence time.Duration
		pause      time.Duration
		wantMs     int // 0: endpointing_ms absent
		wantFinals []string
	}{
		{name: "none: the provider's own 500 ms", pause: 800 * time.Millisecond, wantFinals: []string{"one two", "three"}},
		{name: "1.5 s, a shorter pause", endSilence: 1500 * time.Millisecond, pause: 800 * time.Millisecond,
			wantMs: 1500, wantFinals: []string{"one two"}},
		{name: "1 s, a longer pause", endSilence: time.Second, pause: 1200 * time.Millisecond,
			wantMs: 1000, wantFinals: []string{"one two", "three"}},
		{name: "a fraction of a millisecond rounds up", endSilence: 1200 * time.Microsecond, pause: 800 * time.Millisecond,
			wantMs: 2, wantFinals: []string{"one two", "three"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			srv := stttest.NewServer(stttest.Script{Transcripts: []string{"one two", "three"}, Confidence: 0.5})
			t.Cleanup(srv.Close)
			var frames [][]int16
			frames = append(frames, tone(600*time.Millisecond)...)
			frames = append(frames, silence(tc.pause)...)
			frames = append(frames, tone(600*time.Millisecond)...) // ended by stop if by nothing else
			// A queue for all the frames: written at once, none is dropped.
			s, err := newWS(t, stt.WebSocketOptions{URL: srv.URL}).Stream(context.Background(),
				stt.StreamRequest{EndSilence: tc.endSilence, Queue: len(frames) + 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, f := range frames {
				s.Write(f)
			}
			s.CloseSend()
			var finals []string
			for _, e := range collect(t, s) {
				if e.Kind == stt.Final {
					finals = append(finals, e.Text)
				}
			}
			if err := s.Err(); err != nil || s.Dropped() != 0 {
				t.Fatalf("Err %v, %d dropped", err, s.Dropped())
			}
			st := srv.Starts()
			if len(st) != 1 {
				t.Fatalf("starts %+v", st)
			}
			if got, want := st[0].Endpointing(), stttest.EndpointingText(tc.wantMs); got != want {
				t.Errorf("endpointing_ms %s, want %s (- is none sent)", got, want)
			}
			if strings.Join(finals, "|") != strings.Join(tc.wantFinals, "|") {
				t.Errorf("finals %q, want %q", finals, tc.wantFinals)
			}
		})
	}
}

// TestWebSocketFaults checks that each way a provider can fail is told
// clearly, with the sentinel callers test for.
func TestWebSocketFaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fault     stttest.Fault
		down      bool  // no server listening
		openErr   error // from Stream; nil: Stream succeeds and Err fails
		err       error // from Err
		errSubstr string
	}{
		{name: "unreachable", down: true, errSubstr: "dial"},
		{name: "handshake refused", fault: stttest.Refuse, openErr: stt.ErrProvider, errSubstr: "401"},
		{name: "error message", fault: stttest.ErrorAfterStart, err: stt.ErrProvider, errSubstr: "no model for en-US (unsupported_language)"},
		{name: "not JSON", fault: stttest.NotJSON, err: stt.ErrProvider, errSubstr: "not JSON"},
		{name: "binary", fault: stttest.Binary, err: stt.ErrProvider, errSubstr: "binary"},
		{name: "server closes", fault: stttest.GoAway, err: stt.ErrStreamClosed, errSubstr: `status 1001 "session limit"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			url := ""
			if tc.down {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				url = "ws://" + ln.Addr().String() + "/stt"
				ln.Close()
			} else {
				srv := stttest.NewServer(stttest.Script{Fault: tc.fault})
				t.Cleanup(srv.Close)
				url = srv.URL
			}
			ws := newWS(t, stt.WebSocketOptions{URL: url})
			s, err := ws.Stream(context.Background(), stt.StreamRequest{})
			if tc.down || tc.openErr != nil {
				if err == nil {
					s.Close()
					t.Fatal("Stream succeeded")
				}
				if tc.openErr != nil && !errors.Is(err, tc.openErr) || tc.down && errors.Is(err, stt.ErrProvider) || !strings.Contains(err.Error(), tc.errSubstr) {
					t.Fatalf("Stream: %v, want %v containing %q", err, tc.openErr, tc.errSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := collect(t, s); len(got) != 0 {
				t.Errorf("events %+v", got)
			}
			if err := s.Err(); !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.errSubstr) {
				t.Fatalf("Err: %v, want %v containing %q", err, tc.err, tc.errSubstr)
			}
		})
	}
}

// TestWebSocketSlowProvider checks that Write never blocks on a provider
// that stopped reading: frames past the queue and the socket buffers are
// dropped and counted, and Close still returns at once.
func TestWebSocketSlowProvider(t *testing.T) {
	noLeaks(t)
	srv := stttest.NewServer(stttest.Script{Fault: stttest.Stall})
	t.Cleanup(srv.Close)
	s, err := newWS(t, stt.WebSocketOptions{URL: srv.URL, Queue: 4}).Stream(context.Background(), stt.StreamRequest{})
	if err != nil {
		t.Fatal(err)
	}
	frame := tone(media.FrameDuration)[0]
	began := time.Now()
	const n = 40000 // 12.8 MB: more than loopback's socket buffers hold
	for range n {
		s.Write(frame)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("%d Writes took %v", n, d)
	}
	if s.Dropped() == 0 {
		t.Error("nothing dropped")
	}
	began = time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	if err := s.Err(); err != nil {
		t.Errorf("Err after Close: %v", err)
	}
	t.Logf("%d of %d frames dropped", s.Dropped(), n)
}

// TestWebSocketEnds checks the ends that are not the provider's doing:
// Close mid-utterance is not an error; the context ending is.
func TestWebSocketEnds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cancel  bool
		wantErr error
	}{
		{name: "Close", wantErr: nil},
		{name: "context canceled", cancel: true, wantErr: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			srv := stttest.NewServer(stttest.Script{Transcripts: []string{"hi"}})
			t.Cleanup(srv.Close)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := newWS(t, stt.WebSocketOptions{URL: srv.URL}).Stream(ctx, stt.StreamRequest{})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range tone(100 * time.Millisecond) {
				s.Write(f)
			}
			if e := <-s.Events(); e.Kind != stt.SpeechStarted {
				t.Fatalf("first event %+v", e)
			}
			if tc.cancel {
				cancel()
				collect(t, s)
			} else if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			collect(t, s)
			if err := s.Err(); !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("Err %v, want %v", err, tc.wantErr)
			}
			s.Close() // idempotent
		})
	}
}

// TestNewWebSocket checks the options that are refused up front.
func TestNewWebSocket(t *testing.T) {
	for _, tc := range []struct {
		o  stt.WebSocketOptions
		ok bool
	}{
		{o: stt.WebSocketOptions{URL: "ws://127.0.0.1:9/stt"}, ok: true},
		{o: stt.WebSocketOptions{URL: "wss://stt.example.com/v1", Encoding: "mulaw"}, ok: true},
		{o: stt.WebSocketOptions{URL: "https://stt.example.com/v1"}},
		{o: stt.WebSocketOptions{URL: "ws:///nohost"}},
		{o: stt.WebSocketOptions{URL: "ws://h/", Encoding: "opus"}},
	} {
		_, err := stt.NewWebSocket(tc.o)
		if (err == nil) != tc.ok {
			t.Errorf("NewWebSocket(%+v): %v", tc.o, err)
		}
	}
}

// TestBatch checks the Recognizer over a stream: a recorded utterance
// sent at once gives the provider's final, and a failing provider an
// error.
func TestBatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		script  stttest.Script
		audio   [][]int16
		want    stt.Result
		wantErr error
	}{
		{name: "speech", script: stttest.Script{Transcripts: []string{"Yes, please."}, Confidence: 0.75},
			audio: append(tone(3*time.Second), silence(time.Second)...), want: stt.Result{Text: "Yes, please.", Confidence: 0.75}},
		{name: "ended by stop", script: stttest.Script{Transcripts: []string{"no"}, Confidence: 0.5},
			audio: tone(time.Second), want: stt.Result{Text: "no", Confidence: 0.5}},
		{name: "two finals", script: stttest.Script{Transcripts: []string{"one", "two"}, Confidence: 0.5},
			audio: append(append(tone(time.Second), silence(time.Second)...), tone(time.Second)...), want: stt.Result{Text: "one two", Confidence: 0.5}},
		{name: "silence", script: stttest.Script{Transcripts: []string{"unheard"}}, audio: silence(time.Second)},
		{name: "provider error", script: stttest.Script{Fault: stttest.ErrorAfterStart}, audio: tone(time.Second), wantErr: stt.ErrProvider},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			srv := stttest.NewServer(tc.script)
			t.Cleanup(srv.Close)
			var samples []int16
			for _, f := range tc.audio {
				samples = append(samples, f...)
			}
			got, err := stt.Batch{Streamer: newWS(t, stt.WebSocketOptions{URL: srv.URL})}.Recognize(context.Background(), stt.Request{Samples: samples})
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("Recognize: %v, want %v", err, tc.wantErr)
			}
			if got.Text != tc.want.Text || got.Confidence != tc.want.Confidence {
				t.Errorf("Recognize: %+v, want %+v", got, tc.want)
			}
			if tc.wantErr == nil && srv.Frames() != len(tc.audio) {
				t.Errorf("server got %d frames of %d", srv.Frames(), len(tc.audio))
			}
		})
	}
}

// BenchmarkWebSocketWrite measures what Write costs the media pacer per
// frame: encoding and a non-blocking queue send (frames beyond the
// queue are dropped, as on a slow provider).
func BenchmarkWebSocketWrite(b *testing.B) {
	for _, enc := range []string{stt.EncodingPCM16, stt.EncodingMulaw} {
		b.Run(enc, func(b *testing.B) {
			srv := stttest.NewServer(stttest.Script{})
			defer srv.Close()
			ws, err := stt.NewWebSocket(stt.WebSocketOptions{URL: srv.URL, Encoding: enc})
			if err != nil {
				b.Fatal(err)
			}
			s, err := ws.Stream(context.Background(), stt.StreamRequest{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			frame := tone(media.FrameDuration)[0]
			b.ReportAllocs()
			for b.Loop() {
				s.Write(frame)
			}
		})
	}
}

// BenchmarkBatch measures a Gather recognition through the fake
// provider over loopback: dial, start, 2 s of audio, stop, final.
func BenchmarkBatch(b *testing.B) {
	srv := stttest.NewServer(stttest.Script{Transcripts: []string{"yes"}})
	defer srv.Close()
	ws, err := stt.NewWebSocket(stt.WebSocketOptions{URL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	var samples []int16
	for _, f := range append(tone(1500*time.Millisecond), silence(500*time.Millisecond)...) {
		samples = append(samples, f...)
	}
	for b.Loop() {
		if r, err := (stt.Batch{Streamer: ws}).Recognize(context.Background(), stt.Request{Samples: samples}); err != nil || r.Text != "yes" {
			b.Fatal(r, err)
		}
	}
}
