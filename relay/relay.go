// Package relay speaks ConversationRelay's WebSocket protocol
// (https://www.twilio.com/docs/voice/conversationrelay/websocket-messages)
// to an app: the platform's setup, prompt, dtmf, interrupt, error and
// info (debug) messages, and the app's text, play, sendDigits, language
// and end. It
// knows nothing of legs, speech engines or verbs: the interpreter turns
// the caller's speech into Prompt calls and the app's Messages into
// speech. Telnyx's ConversationRelay speaks the same messages
// (https://developers.telnyx.com/api-reference/websockets/conversationrelay-websocket-channel).
package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/texml/texml/stream"
)

// Twilio's error codes for a session
// (https://www.twilio.com/docs/api/errors/64102,
// https://www.twilio.com/docs/api/errors/64105,
// https://www.twilio.com/docs/api/errors/64107).
const (
	CodeConnect = 64102 // the url could not be connected to
	CodeEnded   = 64105 // the app closed the socket during the call
	CodeInvalid = 64107 // the app sent a message the protocol lacks
)

// ErrClosed is the end of a session closed by the platform.
var ErrClosed = errors.New("relay: closed")

// ErrAppClosed is the end of a session whose app closed the socket.
var ErrAppClosed = errors.New("relay: the app closed the WebSocket")

// Error is a session's failure with Twilio's code.
type Error struct {
	Code int
	Err  error
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("relay: %v", e.Err) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Limits of a session.
const (
	// readLimit bounds one message from the app: a text token or an
	// end's handoffData are small; 1 MB is generous.
	readLimit = 1 << 20
	// writeTimeout is how long one message may take to reach a stalled
	// app before the session fails.
	writeTimeout = 10 * time.Second
	// maxQueued bounds the platform's messages waiting for a slow app:
	// prompts and dtmf are few a second, so a full queue means the app
	// is gone, and the session fails rather than grow.
	maxQueued = 1024
	// inbox is how many of the app's messages wait for the interpreter;
	// beyond it the reader waits, which pushes back on the app's socket.
	inbox = 64
)

// Config describes one session: what its setup message says.
type Config struct {
	SessionID     string // VX…
	AccountSid    string
	CallSid       string
	ParentCallSid string
	From, To      string
	ForwardedFrom string
	CallerName    string
	Direction     string // "inbound", "outbound-api", ...
	CallType      string // "PSTN", "SIP", "CLIENT"
	CallStatus    string // e.g. "in-progress"
	// CustomParameters are the <Parameter>s.
	CustomParameters map[string]string
	// Telnyx adds the call's control ids to setup, as Telnyx's
	// ConversationRelay does (its callSid is the call control id).
	Telnyx bool
	Logger *slog.Logger
}

// Session is one ConversationRelay WebSocket. Its send methods never
// block; Messages delivers the app's messages in order.
type Session struct {
	cfg  Config
	log  *slog.Logger
	sock *stream.Socket
	msgs chan Message

	mu     sync.Mutex
	queue  []any // the platform's messages waiting for the writer
	wake   chan struct{}
	closed bool

	done     chan struct{}
	endOnce  sync.Once
	err      error
	closing  atomic.Bool
	invalid  atomic.Int64
	wg       sync.WaitGroup
	closeOne sync.Once
}

// New returns a session, not yet connected.
func New(cfg Config) *Session {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Session{cfg: cfg, log: log, msgs: make(chan Message, inbox), wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// Connect opens the app's WebSocket at u and sends setup. Its error is
// an *Error with code CodeConnect when the app cannot be reached; the
// session has then ended.
func (s *Session) Connect(ctx context.Context, d *stream.Dialer, u string) error {
	sock, err := d.Open(ctx, u)
	if err != nil {
		err = &Error{Code: CodeConnect, Err: err}
		s.end(err)
		return err
	}
	sock.Conn.SetReadLimit(readLimit)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = sock.Conn.CloseNow()
		return &Error{Code: CodeConnect, Err: ErrClosed}
	}
	s.sock = sock
	s.queue = append([]any{s.setup()}, s.queue...)
	s.mu.Unlock()
	s.signal()
	s.wg.Add(2)
	go s.writeLoop()
	go s.readLoop()
	return nil
}

// setup is the first message.
func (s *Session) setup() setupMsg {
	c := &s.cfg
	params := c.CustomParameters
	if params == nil {
		params = map[string]string{}
	}
	m := setupMsg{
		Type: "setup", SessionID: c.SessionID, AccountSid: c.AccountSid, ParentCallSid: c.ParentCallSid,
		CallSid: c.CallSid, From: c.From, To: c.To, ForwardedFrom: c.ForwardedFrom, CallType: c.CallType,
		CallerName: c.CallerName, Direction: c.Direction, CallStatus: c.CallStatus, CustomParameters: params,
	}
	if c.Telnyx {
		m.CallControlID, m.CallSessionID, m.CallLegID = c.CallSid, c.SessionID, c.CallSid
	}
	return m
}

// Messages delivers the app's valid messages in order; it is closed
// when the session ends.
func (s *Session) Messages() <-chan Message { return s.msgs }

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is why the session ended: nil while it runs, ErrClosed after
// Close, an *Error otherwise (CodeEnded when the app closed the socket).
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Invalid counts the app's messages that were not understood (each
// answered with an error message).
func (s *Session) Invalid() int { return int(s.invalid.Load()) }

// Prompt sends what the caller said: a final transcript (last), or with
// partialPrompts an interim one.
func (s *Session) Prompt(text, lang string, last bool) {
	s.send(promptMsg{Type: "prompt", VoicePrompt: text, Lang: lang, Last: last})
}

// DTMF sends a key the caller pressed.
func (s *Session) DTMF(digit byte) { s.send(dtmfMsg{Type: "dtmf", Digit: string(digit)}) }

// Interrupt tells the app that the caller cut the agent off: what of
// its utterance was spoken, and for how long.
func (s *Session) Interrupt(spoken string, d time.Duration) {
	s.send(interruptMsg{Type: "interrupt", UtteranceUntilInterrupt: spoken, DurationUntilInterruptMs: d.Milliseconds()})
}

// The names of info messages and the <ConversationRelay debug> options
// that turn them on. Twilio's message reference does not list info
// (https://www.twilio.com/docs/voice/conversationrelay/websocket-messages);
// the attribute is named on the noun's page
// (https://www.twilio.com/docs/voice/twiml/connect/conversationrelay) and
// these shapes are what apps written against live calls parse:
// {"type":"info","name":"agentSpeaking","value":"on","ts":1752091234567}.
const (
	InfoAgentSpeaking  = "agentSpeaking"    // speaker-events: "on" / "off"
	InfoClientSpeaking = "clientSpeaking"   // speaker-events: "on" / "off"
	InfoTokensPlayed   = "tokensPlayed"     // tokens-played: the text just heard
	InfoRoundTrip      = "roundTripDelayMs" // debugging: milliseconds, as a string
)

// Info sends an info message: name, its value, and, unless ts is zero,
// when it happened (epoch milliseconds, as the speaker events carry it).
func (s *Session) Info(name, value string, ts time.Time) {
	m := infoMsg{Type: "info", Name: name, Value: value}
	if !ts.IsZero() {
		m.TS = ts.UnixMilli()
	}
	s.send(m)
}

// RoundTrip measures the socket's round trip to the app: a WebSocket
// ping and the app's pong (RFC 6455 section 5.5.2), timed on the wall
// clock, as it is the network's time. The debugging option reports it
// (InfoRoundTrip).
func (s *Session) RoundTrip(ctx context.Context) (time.Duration, error) {
	s.mu.Lock()
	sock := s.sock
	s.mu.Unlock()
	if sock == nil {
		return 0, ErrClosed
	}
	start := time.Now()
	if err := sock.Conn.Ping(ctx); err != nil {
		return 0, fmt.Errorf("relay: ping: %w", err)
	}
	return time.Since(start), nil
}

// Error sends an error message.
func (s *Session) Error(description string) {
	s.send(errorMsg{Type: "error", Description: description})
}

// send queues one message for the writer.
func (s *Session) send(m any) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if len(s.queue) >= maxQueued {
		s.mu.Unlock()
		s.fail(&Error{Code: CodeEnded, Err: errors.New("the app does not read its messages")})
		return
	}
	s.queue = append(s.queue, m)
	s.mu.Unlock()
	s.signal()
}

func (s *Session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// flushed is queued by Close: the writer closes it when every message
// before it has been written.
type flushed chan struct{}

// writeLoop is the socket's only writer.
func (s *Session) writeLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		}
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, m := range batch {
			if ack, ok := m.(flushed); ok {
				close(ack)
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
			err := wsjson.Write(ctx, s.sock.Conn, m)
			cancel()
			if err != nil {
				if !s.closing.Load() {
					s.fail(&Error{Code: CodeEnded, Err: fmt.Errorf("write: %w", err)})
				}
				return
			}
		}
	}
}

// readLoop reads the app's messages until the socket closes.
func (s *Session) readLoop() {
	defer s.wg.Done()
	defer close(s.msgs)
	for {
		typ, data, err := s.sock.Conn.Read(context.Background())
		if err != nil {
			switch {
			case s.closing.Load():
			case websocket.CloseStatus(err) != -1:
				s.end(&Error{Code: CodeEnded, Err: fmt.Errorf("%w (status %d)", ErrAppClosed, websocket.CloseStatus(err))})
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
				s.end(&Error{Code: CodeEnded, Err: fmt.Errorf("%w without a close frame", ErrAppClosed)})
			default:
				s.end(&Error{Code: CodeEnded, Err: fmt.Errorf("read: %w", err)})
			}
			return
		}
		if typ != websocket.MessageText {
			s.reject(errors.New("a binary message; the protocol sends JSON text"))
			continue
		}
		m, err := Parse(data)
		if err != nil {
			s.reject(err)
			continue
		}
		select {
		case s.msgs <- m:
		case <-s.done:
			return
		}
	}
}

// reject answers a message the protocol lacks with an error message,
// as Twilio validates every message (error 64107).
func (s *Session) reject(err error) {
	s.invalid.Add(1)
	s.log.Warn("relay: invalid message from the app", "code", CodeInvalid, "err", err)
	s.Error(fmt.Sprintf("Invalid message received (%d): %s", CodeInvalid, strings.TrimSpace(err.Error())))
}

// fail ends the session with err and cuts the socket.
func (s *Session) fail(err error) {
	s.end(err)
	s.mu.Lock()
	sock := s.sock
	s.mu.Unlock()
	if sock != nil {
		_ = sock.Conn.CloseNow()
	}
}

func (s *Session) end(err error) {
	s.endOnce.Do(func() {
		s.err = err
		close(s.done)
	})
}

// Close ends the session from the platform's side: the messages queued
// so far go out, then the close handshake. When ctx ends first the TCP
// connection is cut. It waits for the session's goroutines and is
// idempotent.
func (s *Session) Close(ctx context.Context) error {
	s.closeOne.Do(func() {
		s.mu.Lock()
		s.closed = true
		sock := s.sock
		s.mu.Unlock()
		if sock == nil {
			s.end(ErrClosed)
			return
		}
		cut := context.AfterFunc(ctx, sock.Cut)
		defer cut()
		// Let the writer flush what is queued (the last prompt, an
		// error) before the close frame.
		ack := make(chan struct{})
		s.mu.Lock()
		s.queue = append(s.queue, flushed(ack))
		s.mu.Unlock()
		s.signal()
		select {
		case <-ack:
		case <-s.done:
		case <-ctx.Done():
		}
		s.closing.Store(true)
		s.end(ErrClosed)
		_ = sock.Conn.Close(websocket.StatusNormalClosure, "")
		s.wg.Wait()
	})
	return nil
}
