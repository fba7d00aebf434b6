// Package stream speaks Twilio's Media Streams protocol
// (https://www.twilio.com/docs/voice/media-streams/websocket-messages) to
// an app's WebSocket: the platform's connected, start, media, dtmf, mark
// and stop messages, and on a bidirectional stream (<Connect><Stream>)
// the app's media, mark and clear. It knows nothing of legs or verbs:
// the interpreter feeds it the call's audio and plays what Next gives.
// The same engine speaks Telnyx's spelling of the protocol
// (https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming)
// when Config.Wire is Telnyx: a variant of the messages (wire.go,
// telnyx.go), not of the connection.
//
// Back-pressure: audio for the app waits in a bounded queue per stream;
// when the app does not keep up, new frames are dropped and counted
// (Stats.Dropped), so that Media never blocks the pacer that calls it,
// nor any other call.
package stream

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/texml/texml/media"
)

// Defaults for Config fields left zero.
const (
	// DefaultBuffer is how many 20 ms frames of each track may wait for
	// a slow app: two seconds, more than a TCP stall on a healthy link
	// and little memory (180 bytes a frame).
	DefaultBuffer = 100
	// DefaultMaxPlayout bounds the app's audio waiting to be played: a
	// bot that sends a whole answer at once is served, a runaway one
	// cannot grow the call's memory without end (8 KB a second, so at
	// most about 1 MB a stream).
	DefaultMaxPlayout = 2 * time.Minute
)

// Track is one direction of a call's audio, named as Twilio names it:
// inbound is what the party says, outbound what it hears.
type Track int

// Tracks.
const (
	Inbound Track = iota
	Outbound
)

// String returns "inbound" or "outbound", the media message's track.
func (t Track) String() string {
	if t == Outbound {
		return "outbound"
	}
	return "inbound"
}

// Config describes one stream.
type Config struct {
	StreamSid  string // MZ…
	AccountSid string
	CallSid    string
	// Tracks are the tracks the start message announces.
	Tracks []Track
	// CustomParameters are the <Parameter>s, sent in start.
	CustomParameters map[string]string
	// Bidirectional accepts media, mark and clear from the app and sends
	// dtmf (<Connect><Stream>); a unidirectional stream ignores what the
	// app sends, with one Invalid event.
	Bidirectional bool
	// Wire is the message format: Twilio's (the zero value) or Telnyx's.
	Wire Wire
	// From and To are the call's parties, which Telnyx's start carries.
	From, To string
	// Codec encodes the media sent to the app; the zero Codec is PCMU,
	// the only one Twilio streams. Telnyx's start names it
	// (media_format.encoding).
	Codec media.Codec
	// PlayCodec decodes the app's media payloads; the zero Codec is
	// PCMU (Telnyx's bidirectionalCodec in rtp mode).
	PlayCodec media.Codec
	// PlayMP3 takes the app's media payloads as MP3, Telnyx's default
	// bidirectionalMode
	// (https://developers.telnyx.com/docs/voice/programmable-voice/texml-verbs/stream).
	PlayMP3 bool
	// Now is the call's clock, for media timestamps; default time.Now.
	Now func() time.Time
	// Buffer is how many frames per track may wait for the app before
	// new ones are dropped; default DefaultBuffer.
	Buffer int
	// MaxPlayout bounds the app's audio waiting to be played; audio
	// beyond it is discarded. Default DefaultMaxPlayout.
	MaxPlayout time.Duration
	// OnEvent, when set, is told about marks played, clears and invalid
	// messages, from the stream's own goroutines (never the pacer's); it
	// must not block.
	OnEvent func(Event)
	Logger  *slog.Logger
}

// EventKind tells what an Event reports.
type EventKind int

// Event kinds.
const (
	// MarkPlayed: a mark was echoed, because the audio queued before it
	// has played or a clear dropped it.
	MarkPlayed EventKind = iota
	// Cleared: a clear dropped the audio queued (Event.Dropped).
	Cleared
	// Invalid: the app sent something the protocol does not allow;
	// reported once per stream, as Twilio's warning 31951.
	Invalid
)

// Event is something that happened on a stream, for the call's trace.
type Event struct {
	Kind    EventKind
	Name    string        // MarkPlayed: the mark's name
	Dropped time.Duration // Cleared: the audio dropped
	Err     error         // Invalid: what was wrong
	At      time.Time     // when, on Config.Now's clock
}

// Stats are a stream's counters.
type Stats struct {
	Sent      int           // media frames written to the app
	Dropped   int           // media frames dropped: the app did not keep up
	Received  time.Duration // audio the app sent
	Played    time.Duration // of it, played to the party
	Discarded time.Duration // of it, dropped by clear or beyond MaxPlayout
	Marks     int           // marks echoed
}

// Errors that end a stream.
var (
	// ErrAppClosed: the app closed the WebSocket, the normal end of a
	// <Connect><Stream> (https://www.twilio.com/docs/voice/twiml/stream).
	ErrAppClosed = errors.New("stream: the app closed the WebSocket")
	// ErrClosed: Close ended the stream.
	ErrClosed = errors.New("stream: closed")
)

// outFrame is one media frame waiting for the writer.
type outFrame struct {
	track   Track
	chunk   int64
	ts      int64
	payload [media.FrameSamples]byte
}

// ctrlMsg is a message that is never dropped: a mark echo, a dtmf, the
// stop.
type ctrlMsg struct {
	kind ctrlKind
	name string // mark name, the digit, or an error's detail
	code int    // ctrlError: the error's code
	at   time.Time
}

type ctrlKind int

const (
	ctrlMark ctrlKind = iota
	ctrlDTMF
	ctrlStop
	ctrlError // Telnyx's error frame: name is the detail, code the code
)

// Stream is one media stream. Its methods are safe for concurrent use.
type Stream struct {
	cfg       Config
	wire      wire
	codec     media.Codec // Config.Codec or PCMU
	playCodec media.Codec // Config.PlayCodec or PCMU
	log       *slog.Logger
	start     time.Time
	sendq     chan outFrame

	chunks  [2]atomic.Int64
	sent    atomic.Int64
	dropped atomic.Int64

	mu       sync.Mutex
	ctrl     []ctrlMsg
	play     playout
	marks    int
	stopping bool // a stop is queued: nothing more is queued after it
	invalid  bool // an Invalid event went out

	wake     chan struct{} // a control message is queued
	conn     *websocket.Conn
	raw      *rawConn              // the TCP connection under conn
	closing  atomic.Bool           // Close is shutting the socket: read errors are ours
	writeErr atomic.Pointer[error] // the write that failed, for the reader to report

	// writeTimeout bounds one write to the app (the writeTimeout
	// constant; tests shorten it). deadline says whether the
	// connection's write deadline enforces it; only the writer uses it.
	writeTimeout time.Duration
	deadline     bool

	done      chan struct{} // closed when the stream has ended
	endOnce   sync.Once
	err       error         // why it ended, set before done is closed
	flushed   chan struct{} // closed when the writer has finished
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// New returns a stream that is not connected yet: Media queues frames
// from now on (they go out once Connect has sent start), so that a fork
// loses nothing of the audio while its socket opens.
func New(cfg Config) *Stream {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.MaxPlayout <= 0 {
		cfg.MaxPlayout = DefaultMaxPlayout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	tracks := max(len(cfg.Tracks), 1)
	s := &Stream{
		cfg:       cfg,
		wire:      wireFor(cfg.Wire),
		codec:     codecOr(cfg.Codec),
		playCodec: codecOr(cfg.PlayCodec),
		log:       cfg.Logger.With("stream_sid", cfg.StreamSid),
		start:     cfg.Now(),
		sendq:     make(chan outFrame, cfg.Buffer*tracks),
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		flushed:   make(chan struct{}),

		writeTimeout: writeTimeout,
	}
	s.play.max = int(cfg.MaxPlayout / time.Second * media.SampleRate)
	return s
}

// Sid returns the stream's StreamSid.
func (s *Stream) Sid() string { return s.cfg.StreamSid }

// Media queues one 20 ms frame of track for the app, encoded in
// Config.Codec (µ-law by default) and
// stamped with the time since the stream started. It never blocks: when
// the queue is full the frame is dropped and counted. It may be called
// from the pacer's goroutines.
func (s *Stream) Media(t Track, frame []int16) {
	select {
	case <-s.done:
		return
	default:
	}
	f := outFrame{track: t, chunk: s.chunks[t&1].Add(1), ts: s.cfg.Now().Sub(s.start).Milliseconds()}
	s.codec.Encode(f.payload[:], frame)
	select {
	case s.sendq <- f:
	default:
		s.dropped.Add(1)
	}
}

// DTMF sends the party's key press to the app, on a bidirectional
// stream only (the protocol's dtmf message).
func (s *Stream) DTMF(digit byte) {
	if !s.cfg.Bidirectional {
		return
	}
	s.mu.Lock()
	s.queue(ctrlMsg{kind: ctrlDTMF, name: string(digit), at: s.cfg.Now()})
	s.mu.Unlock()
}

// queue adds a control message for the writer; s.mu is held.
func (s *Stream) queue(m ctrlMsg) {
	if s.stopping {
		return
	}
	if m.kind == ctrlStop {
		s.stopping = true
	}
	s.ctrl = append(s.ctrl, m)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Done is closed when the stream has ended: the app closed the socket,
// it failed, or Close.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err says why the stream ended, once Done is closed: ErrAppClosed
// (wrapped with the close status), ErrClosed, or the failure.
func (s *Stream) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// end ends the stream once with err.
func (s *Stream) end(err error) {
	s.endOnce.Do(func() {
		s.err = err
		close(s.done)
	})
}

// Stats returns the stream's counters.
func (s *Stream) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Sent: int(s.sent.Load()), Dropped: int(s.dropped.Load()),
		Received: samples(s.play.received), Played: samples(s.play.played),
		Discarded: samples(s.play.discarded), Marks: s.marks,
	}
}

func samples(n int) time.Duration { return time.Duration(n) * time.Second / media.SampleRate }

// Close ends the stream: a connected stream still open sends the
// frames already queued and stop, then closes the socket
// (https://www.twilio.com/docs/voice/media-streams/websocket-messages#stop-message).
// It waits for the stream's goroutines; when ctx ends first, the TCP
// connection is cut, so give it a deadline: without one a stalled app
// can hold Close for the library's close handshake (up to 10 s). It is
// idempotent and returns nil.
func (s *Stream) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		conn, raw := s.conn, s.raw
		s.mu.Unlock()
		if conn == nil {
			s.end(ErrClosed)
			return
		}
		// The app's TCP connection is cut when ctx ends, whatever is
		// in progress: the stop, the close handshake.
		cut := context.AfterFunc(ctx, raw.close)
		defer cut()
		s.mu.Lock()
		s.queue(ctrlMsg{kind: ctrlStop})
		s.mu.Unlock()
		select {
		case <-s.flushed:
		case <-s.done:
		case <-ctx.Done():
		}
		s.closing.Store(true)
		s.end(ErrClosed)
		// The handshake waits for the app's close frame, which the
		// reader receives.
		_ = conn.Close(websocket.StatusNormalClosure, "")
		s.wg.Wait()
	})
	return nil
}
