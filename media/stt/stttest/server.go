// Package stttest is a fake cloud speech provider for tests: a local
// WebSocket server that speaks the streaming protocol of docs/stt-ws.md
// and "recognizes" by energy. Each stretch of loud audio is an
// utterance: it answers speech_started at its first loud frame, a
// partial with one more word of the scripted transcript every ten loud
// frames, and the final after half a second of quiet, or the start's
// endpointing_ms of it (or at "stop"). Counting frames, not time, keeps
// it deterministic however fast the client sends.
package stttest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/texml/texml/media"
)

// Fault makes the server misbehave in one way, for error tests.
type Fault int

// The faults.
const (
	// NoFault follows the protocol.
	NoFault Fault = iota
	// Refuse answers the handshake with 401, as a bad token gets.
	Refuse
	// ErrorAfterStart answers "start" with an error message and closes.
	ErrorAfterStart
	// NotJSON answers "start" with a text message that is not JSON.
	NotJSON
	// Binary answers "start" with a binary message.
	Binary
	// GoAway closes the connection (1001 going away) after "start", as a
	// provider does at its session limit.
	GoAway
	// Stall reads "start" and then nothing, so that the client's queue
	// fills.
	Stall
)

// Script is what the server answers.
type Script struct {
	// Transcripts are the finals of the utterances, in order; once they
	// run out, the last one repeats.
	Transcripts []string
	// Confidence goes with each final.
	Confidence float64
	// Fault, when set, replaces the protocol with a failure.
	Fault Fault
}

// Start is a start message as the server received it, with the
// handshake's Authorization header.
type Start struct {
	Type           string   `json:"type"`
	Language       string   `json:"language"`
	Hints          []string `json:"hints"`
	SampleRate     int      `json:"sample_rate"`
	Encoding       string   `json:"encoding"`
	Channels       int      `json:"channels"`
	InterimResults bool     `json:"interim_results"`
	// EndpointingMs is nil when the start had no endpointing_ms, so that
	// a test can tell "not sent" from a value.
	EndpointingMs *int   `json:"endpointing_ms"`
	Authorization string `json:"-"`
}

// Endpointing is the start's endpointing_ms as text, "-" when it had
// none, for a test to compare with EndpointingText of what it expects.
func (s Start) Endpointing() string {
	if s.EndpointingMs == nil {
		return "-"
	}
	return strconv.Itoa(*s.EndpointingMs)
}

// EndpointingText is how Endpointing writes ms; 0 is "none sent".
func EndpointingText(ms int) string {
	if ms == 0 {
		return "-"
	}
	return strconv.Itoa(ms)
}

// Server is a running fake provider.
type Server struct {
	// URL is its ws:// address.
	URL string

	script Script
	http   *httptest.Server
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the connections' handlers

	mu     sync.Mutex
	starts []Start
	frames int // audio frames received, all connections
	stops  int
	next   int // index of the next utterance's transcript
	active int // connections open now
}

// NewServer starts a fake provider on a loopback port. Close stops it.
func NewServer(s Script) *Server {
	srv := &Server{script: s}
	srv.ctx, srv.cancel = context.WithCancel(context.Background())
	srv.http = httptest.NewServer(http.HandlerFunc(srv.serve))
	srv.URL = "ws" + strings.TrimPrefix(srv.http.URL, "http")
	return srv
}

// Close stops the server and waits for its connections' goroutines:
// httptest.Server.Close does not wait for hijacked connections.
func (s *Server) Close() {
	s.cancel()
	s.http.Close()
	s.wg.Wait()
}

// Starts returns the start messages received so far.
func (s *Server) Starts() []Start {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Start(nil), s.starts...)
}

// Frames returns how many audio frames were received.
func (s *Server) Frames() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames
}

// Active returns how many connections are open: a client that closes
// its streams leaves none.
func (s *Server) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// Stops returns how many stop messages were received.
func (s *Server) Stops() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stops
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.script.Fault == Refuse {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	s.mu.Lock()
	s.active++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.active--
		s.mu.Unlock()
	}()
	ctx := s.ctx
	typ, data, err := c.Read(ctx)
	var st Start
	if err != nil || typ != websocket.MessageText || json.Unmarshal(data, &st) != nil || st.Type != "start" {
		_ = send(ctx, c, map[string]any{"type": "error", "code": "bad_start", "message": "the first message must be start"})
		_ = c.Close(websocket.StatusPolicyViolation, "no start")
		return
	}
	st.Authorization = r.Header.Get("Authorization")
	s.mu.Lock()
	s.starts = append(s.starts, st)
	s.mu.Unlock()
	switch s.script.Fault {
	case ErrorAfterStart:
		_ = send(ctx, c, map[string]any{"type": "error", "code": "unsupported_language", "message": "no model for " + st.Language})
		_ = c.Close(websocket.StatusNormalClosure, "")
		return
	case NotJSON:
		_ = c.Write(ctx, websocket.MessageText, []byte("hello"))
	case Binary:
		_ = c.Write(ctx, websocket.MessageBinary, []byte{1, 2, 3})
	case GoAway:
		_ = c.Close(websocket.StatusGoingAway, "session limit")
		return
	case Stall:
		<-ctx.Done()
		return
	}
	s.recognize(ctx, c, st.Encoding == "mulaw", quietFrames(st.EndpointingMs))
}

// Energy endpointing of the fake: a frame is loud above this RMS, and
// quietAfter quiet frames end an utterance unless the start asks for
// another pause.
const (
	loudRMS    = 500
	quietAfter = 25 // 500 ms
	wordEvery  = 10 // loud frames per word of the partials
)

// quietFrames is how many quiet frames end an utterance: endpointing_ms
// rounded up to whole frames, as a provider that honours it would wait
// at least that long; quietAfter without it (or with a value a real
// provider would refuse or ignore).
func quietFrames(endpointingMs *int) int {
	if endpointingMs == nil || *endpointingMs <= 0 {
		return quietAfter
	}
	frame := int(media.FrameDuration / time.Millisecond)
	return (*endpointingMs + frame - 1) / frame
}

// recognize runs the protocol after "start"; endAfter quiet frames end
// an utterance.
func (s *Server) recognize(ctx context.Context, c *websocket.Conn, mulaw bool, endAfter int) {
	var speaking bool
	var loud, quiet int
	var words []string
	said := 0 // words in the last partial
	final := func() error {
		speaking, loud, quiet, said = false, 0, 0, 0
		return send(ctx, c, map[string]any{"type": "final", "text": strings.Join(words, " "), "confidence": s.script.Confidence})
	}
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		if typ == websocket.MessageText {
			var m struct{ Type string }
			if json.Unmarshal(data, &m) == nil && m.Type == "stop" {
				s.mu.Lock()
				s.stops++
				s.mu.Unlock()
				if speaking && final() != nil {
					return
				}
				_ = c.Close(websocket.StatusNormalClosure, "")
				return
			}
			continue
		}
		s.mu.Lock()
		s.frames++
		s.mu.Unlock()
		if rms(data, mulaw) < loudRMS {
			if speaking {
				if quiet++; quiet >= endAfter && final() != nil {
					return
				}
			}
			continue
		}
		quiet = 0
		if !speaking {
			speaking = true
			words = strings.Fields(s.transcript())
			if send(ctx, c, map[string]any{"type": "speech_started"}) != nil {
				return
			}
		}
		if loud++; loud%wordEvery == 0 && said < len(words) {
			said++
			if send(ctx, c, map[string]any{"type": "partial", "text": strings.Join(words[:said], " ")}) != nil {
				return
			}
		}
	}
}

// transcript takes the next utterance's final text.
func (s *Server) transcript() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.script.Transcripts) == 0 {
		return ""
	}
	t := s.script.Transcripts[min(s.next, len(s.script.Transcripts)-1)]
	s.next++
	return t
}

func send(ctx context.Context, c *websocket.Conn, m map[string]any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return c.Write(ctx, websocket.MessageText, b)
}

// rms is a frame's loudness.
func rms(b []byte, mulaw bool) float64 {
	var pcm []int16
	if mulaw {
		pcm = make([]int16, len(b))
		media.PCMU.Decode(pcm, b)
	} else {
		pcm = make([]int16, len(b)/2)
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
		}
	}
	if len(pcm) == 0 {
		return 0
	}
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(pcm)))
}
