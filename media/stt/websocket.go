package stt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/texml/texml/media"
)

// Defaults of WebSocketOptions.
const (
	// DefaultDialTimeout bounds the WebSocket handshake. Cloud endpoints
	// answer in a few hundred milliseconds; a stream that cannot start
	// within seconds is better reported than waited for.
	DefaultDialTimeout = 10 * time.Second
	// DefaultStreamQueue is how many frames Write queues (one second of
	// audio) before it drops: enough to ride out a slow TLS write or a
	// GC pause, small enough that a stalled provider costs little memory.
	DefaultStreamQueue = 50
)

// Audio encodings of the WebSocket protocol (docs/stt-ws.md, "start").
const (
	// EncodingPCM16 is 16-bit signed little-endian linear PCM: 320
	// bytes per 20 ms frame, exactly what the call carries after G.711
	// decoding.
	EncodingPCM16 = "pcm16le"
	// EncodingMulaw is G.711 µ-law, one byte per sample: half the
	// bandwidth, and what telephony-tuned models often expect.
	EncodingMulaw = "mulaw"
)

// maxServerMessage bounds one message from the provider. Transcripts
// are short JSON; a larger message is a provider error, not a reason to
// buffer without limit.
const maxServerMessage = 64 << 10

// WebSocketOptions configure a WebSocket streaming recognizer.
type WebSocketOptions struct {
	// URL is the provider's ws:// or wss:// endpoint.
	URL string
	// Headers are sent with the handshake, typically Authorization:
	// Bearer or a vendor's API-key header.
	Headers map[string]string
	// Encoding is EncodingPCM16 (default) or EncodingMulaw.
	Encoding string
	// DialTimeout bounds the handshake; default DefaultDialTimeout.
	DialTimeout time.Duration
	// Queue is how many frames a stream's Write queues before it drops;
	// default DefaultStreamQueue.
	Queue int
	// Client makes the handshake's HTTP request; nil uses
	// http.DefaultClient's transport.
	Client *http.Client
}

// WebSocket is a Streamer that talks to a cloud speech service over a
// WebSocket, in the provider-neutral protocol documented in
// docs/stt-ws.md: a JSON "start", binary audio frames, a JSON "stop";
// JSON events back. An adapter in front of a particular vendor's
// streaming API only has to speak that protocol.
type WebSocket struct {
	url      string
	headers  http.Header
	encoding string
	timeout  time.Duration
	queue    int
	client   *http.Client
}

var _ Streamer = (*WebSocket)(nil)

// NewWebSocket checks o and returns the recognizer. It does not connect:
// each Stream opens its own connection.
func NewWebSocket(o WebSocketOptions) (*WebSocket, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("stt websocket URL %q: %w", o.URL, err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" || u.Host == "" {
		return nil, fmt.Errorf("stt websocket URL %q: want ws://HOST/... or wss://HOST/...", o.URL)
	}
	switch o.Encoding {
	case "":
		o.Encoding = EncodingPCM16
	case EncodingPCM16, EncodingMulaw:
	default:
		return nil, fmt.Errorf("stt websocket encoding %q: want %q or %q", o.Encoding, EncodingPCM16, EncodingMulaw)
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.Queue <= 0 {
		o.Queue = DefaultStreamQueue
	}
	h := make(http.Header, len(o.Headers))
	for k, v := range o.Headers {
		h.Set(k, v)
	}
	return &WebSocket{url: o.URL, headers: h, encoding: o.Encoding, timeout: o.DialTimeout, queue: o.Queue, client: o.Client}, nil
}

// startMessage is the client's first message (docs/stt-ws.md).
type startMessage struct {
	Type           string   `json:"type"`
	Language       string   `json:"language"`
	Hints          []string `json:"hints"`
	SampleRate     int      `json:"sample_rate"`
	Encoding       string   `json:"encoding"`
	Channels       int      `json:"channels"`
	InterimResults bool     `json:"interim_results"`
	// EndpointingMs is StreamRequest.EndSilence; omitted when 0, so that
	// a provider that predates it, or a stream without a pause to give,
	// sees the start it always did.
	EndpointingMs int64 `json:"endpointing_ms,omitempty"`
}

// serverMessage is any message the provider sends.
type serverMessage struct {
	Type       string   `json:"type"`
	Text       string   `json:"text"`
	Confidence *float64 `json:"confidence"`
	Code       string   `json:"code"`
	Message    string   `json:"message"`
}

// Stream dials the provider, sends "start" and returns the open stream.
// A provider that cannot be reached fails here; one that refuses the
// handshake fails with an error wrapping ErrProvider.
func (w *WebSocket) Stream(ctx context.Context, r StreamRequest) (Stream, error) {
	queue := r.Queue
	if queue <= 0 {
		queue = w.queue
	}
	dctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, w.url, &websocket.DialOptions{HTTPHeader: w.headers.Clone(), HTTPClient: w.client})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, fmt.Errorf("%w: %s refused the WebSocket handshake: %s", ErrProvider, w.url, resp.Status)
		}
		return nil, fmt.Errorf("stt: dial %s: %w", w.url, err)
	}
	conn.SetReadLimit(maxServerMessage)
	lang := r.Language
	if lang == "" {
		lang = "en-US"
	}
	start, err := json.Marshal(startMessage{Type: "start", Language: lang, Hints: splitHints(r.Hints),
		SampleRate: media.SampleRate, Encoding: w.encoding, Channels: 1, InterimResults: true, EndpointingMs: endpointingMs(r.EndSilence)})
	if err != nil {
		_ = conn.CloseNow()
		return nil, fmt.Errorf("stt start message: %w", err)
	}
	if err := conn.Write(dctx, websocket.MessageText, start); err != nil {
		_ = conn.CloseNow()
		return nil, fmt.Errorf("stt: %s: sending start: %w", w.url, err)
	}
	s := &wsStream{conn: conn, url: w.url, mulaw: w.encoding == EncodingMulaw,
		frames: make(chan []byte, queue), events: make(chan Event, 16), stop: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(2)
	go s.send()
	go s.receive()
	return s, nil
}

// endpointingMs is a pause in the protocol's whole milliseconds,
// rounded up so that a pause under a millisecond is still sent rather
// than read as "none given"; 0 for none.
func endpointingMs(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// splitHints turns the Gather hints attribute into the protocol's list.
func splitHints(h string) []string {
	out := []string{}
	for _, p := range strings.Split(h, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// wsStream is one open WebSocket stream. Two goroutines own the
// connection: send writes the queued frames and "stop", receive reads
// the provider's messages. Close cancels both and waits for them.
type wsStream struct {
	conn   *websocket.Conn
	url    string
	mulaw  bool
	frames chan []byte // encoded frames, queued by Write
	events chan Event  // closed by receive
	stop   chan struct{}
	ctx    context.Context // the stream's life; canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	stopOnce, closeOnce sync.Once
	sendEnded           atomic.Bool // CloseSend or Close was called: Write ignores frames
	closing             atomic.Bool // Close was called: the end is not an error
	dropped             atomic.Int64
	mu                  sync.Mutex
	err                 error
}

var _ Stream = (*wsStream)(nil)

// Write implements Stream.
func (s *wsStream) Write(frame []int16) {
	if s.sendEnded.Load() {
		return
	}
	var b []byte
	if s.mulaw {
		b = make([]byte, len(frame))
		media.PCMU.Encode(b, frame)
	} else {
		b = make([]byte, 2*len(frame))
		for i, v := range frame {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
		}
	}
	select {
	case s.frames <- b:
	default:
		s.dropped.Add(1) // the provider is behind: the call's audio must not wait
	}
}

// Events implements Stream.
func (s *wsStream) Events() <-chan Event { return s.events }

// CloseSend implements Stream.
func (s *wsStream) CloseSend() {
	s.stopOnce.Do(func() {
		s.sendEnded.Store(true)
		close(s.stop)
	})
}

// Err implements Stream.
func (s *wsStream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Dropped implements Stream.
func (s *wsStream) Dropped() int { return int(s.dropped.Load()) }

// Close implements Stream. It drops the connection without the
// WebSocket close handshake, which may wait ten seconds on a silent
// peer (RFC 6455 section 7.1.1 lets either side just close TCP); the
// orderly end is CloseSend, after which the provider closes.
func (s *wsStream) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		s.sendEnded.Store(true)
		s.cancel()
		_ = s.conn.CloseNow()
		s.wg.Wait()
	})
	return nil
}

// fail records the first error and ends the stream.
func (s *wsStream) fail(err error) {
	s.mu.Lock()
	if s.err == nil && !s.closing.Load() {
		s.err = err
	}
	s.mu.Unlock()
	s.cancel()
}

// send writes queued frames until CloseSend, then the frames still
// queued and "stop".
func (s *wsStream) send() {
	defer s.wg.Done()
	write := func(b []byte) bool {
		if err := s.conn.Write(s.ctx, websocket.MessageBinary, b); err != nil {
			if s.ctx.Err() == nil {
				s.fail(fmt.Errorf("%w: %s: sending audio: %w", ErrStreamClosed, s.url, err))
			}
			return false
		}
		return true
	}
	for {
		select {
		case b := <-s.frames:
			if !write(b) {
				return
			}
		case <-s.stop:
			for drained := false; !drained; {
				select {
				case b := <-s.frames:
					if !write(b) {
						return
					}
				default:
					drained = true
				}
			}
			if err := s.conn.Write(s.ctx, websocket.MessageText, []byte(`{"type":"stop"}`)); err != nil && s.ctx.Err() == nil {
				s.fail(fmt.Errorf("%w: %s: sending stop: %w", ErrStreamClosed, s.url, err))
			}
			return
		case <-s.ctx.Done():
			return
		}
	}
}

// receive reads the provider's messages into Events until the stream
// ends, and says why in err.
func (s *wsStream) receive() {
	defer s.wg.Done()
	defer close(s.events)
	for {
		typ, data, err := s.conn.Read(s.ctx)
		if err != nil {
			s.ended(err)
			return
		}
		if typ != websocket.MessageText {
			s.fail(fmt.Errorf("%w: %s sent a binary message; the protocol's messages are JSON text (docs/stt-ws.md)", ErrProvider, s.url))
			return
		}
		var m serverMessage
		if err := json.Unmarshal(data, &m); err != nil {
			s.fail(fmt.Errorf("%w: %s sent a message that is not JSON: %q: %w", ErrProvider, s.url, snippet(data), err))
			return
		}
		var e Event
		switch m.Type {
		case "speech_started":
			e = Event{Kind: SpeechStarted}
		case "partial":
			e = Event{Kind: Partial, Text: m.Text}
		case "final":
			e = Event{Kind: Final, Text: m.Text}
			if m.Confidence != nil {
				e.Confidence = min(max(*m.Confidence, 0), 1)
			}
		case "error":
			s.fail(fmt.Errorf("%w: %s: %s (%s)", ErrProvider, s.url, m.Message, m.Code))
			return
		case "":
			s.fail(fmt.Errorf("%w: %s sent a message without a type: %q", ErrProvider, s.url, snippet(data)))
			return
		default:
			continue // a later version's message: ignored, so that providers can add some
		}
		select {
		case s.events <- e:
		case <-s.ctx.Done():
			return
		}
	}
}

// ended classifies the read error that ended the stream.
func (s *wsStream) ended(err error) {
	code := websocket.CloseStatus(err)
	var ce websocket.CloseError
	switch {
	case s.closing.Load():
		// Close: not an error.
	case code == websocket.StatusNormalClosure && s.sendEnded.Load():
		// The provider finished after "stop", as asked.
	case s.ctx.Err() != nil:
		s.fail(fmt.Errorf("stt stream %s: %w", s.url, context.Cause(s.ctx)))
	case errors.As(err, &ce):
		s.fail(fmt.Errorf("%w: %s closed the stream (status %d %q) before stop", ErrStreamClosed, s.url, int(ce.Code), ce.Reason))
	default:
		s.fail(fmt.Errorf("%w: %s: %w", ErrStreamClosed, s.url, err))
	}
	s.cancel()
}

// snippet is the start of a bad message, for an error.
func snippet(b []byte) string {
	const n = 120
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
