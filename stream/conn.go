package stream

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/media/audio"
)

// Twilio's error codes for a stream that cannot start
// (https://www.twilio.com/docs/api/errors/31920,
// https://www.twilio.com/docs/api/errors/31901).
const (
	CodeHandshake = 31920 // the URL did not upgrade to a WebSocket
	CodeTimeout   = 31901 // no answer to the connection request
)

// DialError is a stream that could not connect, with Twilio's code.
type DialError struct {
	Code int
	Err  error
}

// Error implements error.
func (e *DialError) Error() string { return fmt.Sprintf("stream: connect: %v", e.Err) }

// Unwrap returns the cause.
func (e *DialError) Unwrap() error { return e.Err }

// DefaultHandshakeTimeout bounds the connection and the WebSocket
// upgrade when Dialer.HandshakeTimeout is zero.
const DefaultHandshakeTimeout = 10 * time.Second

// readLimit is the largest message accepted from the app: a media
// message may carry many seconds of audio at once (a bot's whole answer;
// 30 s is 320 KB of base64).
const readLimit = 4 << 20

// sendBuffer is the kernel's send buffer of a stream's socket: a few
// seconds of a stream's messages (about 20 KB a second each way), ample
// for any link's bandwidth-delay product at that rate.
const sendBuffer = 64 << 10

// writeTimeout is how long one message may take to reach a stalled app
// before the stream fails: the queue drops frames meanwhile, so this
// only ends streams whose app is gone. The connection's write deadline
// enforces it, give or take a refresh of the deadline (pushDeadline).
const writeTimeout = 10 * time.Second

// Dialer opens streams' WebSockets. The zero value is ready: TLS
// certificates are checked against the system roots, and the addresses
// a URL may reach follow fetcher.DenyAddress, as documents' URLs do.
type Dialer struct {
	// AuthToken, when set, signs the upgrade request with
	// X-Twilio-Signature over the stream URL (no parameters), which is
	// how a Twilio app checks that the connection comes from its
	// platform (https://www.twilio.com/docs/usage/webhooks/webhooks-security).
	AuthToken string
	// TLS configures wss connections; nil checks certificates against
	// the system roots.
	TLS *tls.Config
	// Deny decides which addresses may be connected to; nil is
	// fetcher.DenyAddress. AllowAll turns the policy off.
	Deny     func(netip.Addr) error
	AllowAll bool
	// HandshakeTimeout bounds the connection and the upgrade; default
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	once   sync.Once
	client *http.Client
}

// httpClient builds the dialer's client once: HTTP/1.1 only, since the
// upgrade needs it (RFC 6455 §4.1).
func (d *Dialer) httpClient() *http.Client {
	d.once.Do(func() {
		nd := &net.Dialer{KeepAlive: 30 * time.Second}
		if !d.AllowAll {
			deny := d.Deny
			if deny == nil {
				deny = fetcher.DenyAddress
			}
			nd.Control = func(_, address string, _ syscall.RawConn) error {
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return fmt.Errorf("%w: %q", fetcher.ErrDeniedAddress, address)
				}
				return deny(ap.Addr())
			}
		}
		var tc *tls.Config
		if d.TLS != nil {
			tc = d.TLS.Clone()
		}
		d.client = &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := nd.DialContext(ctx, network, addr)
				if tc, ok := c.(*net.TCPConn); ok && err == nil {
					// A fixed send buffer: an app that stops reading
					// meets the stream's bounded queue within seconds,
					// rather than after the kernel's autotuned buffer
					// (4 MB on Linux) has filled, and holds no more than
					// this of kernel memory.
					_ = tc.SetWriteBuffer(sendBuffer)
				}
				if h, ok := ctx.Value(rawKey{}).(*rawConn); ok && err == nil {
					h.set(c)
				}
				return c, err
			},
			TLSClientConfig: tc,
		}}
	})
	return d.client
}

// CheckURL says whether u can be a stream's URL: absolute ws:// or wss://.
func CheckURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return err
	}
	if p.Scheme != "ws" && p.Scheme != "wss" || p.Host == "" {
		return fmt.Errorf("want an absolute ws:// or wss:// URL, not %q", u)
	}
	return nil
}

// Connect opens the WebSocket at u and starts the stream: connected,
// then start, then the frames queued so far. It returns a *DialError
// when the app cannot be reached; the stream has then ended. Connect is
// called once, before Close.
func (s *Stream) Connect(ctx context.Context, d *Dialer, u string) error {
	if d == nil {
		d = &Dialer{}
	}
	err := s.dial(ctx, d, u)
	if err != nil {
		s.end(err)
		return err
	}
	s.wg.Add(2)
	go s.writeLoop()
	go s.readLoop()
	return nil
}

func (s *Stream) dial(ctx context.Context, d *Dialer, u string) error {
	sock, err := d.Open(ctx, u)
	if err != nil {
		return err
	}
	conn, raw := sock.Conn, sock.raw
	conn.SetReadLimit(readLimit)
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done: // closed meanwhile
		_ = conn.CloseNow()
		return &DialError{Code: CodeHandshake, Err: ErrClosed}
	default:
	}
	s.conn, s.raw = conn, raw
	return nil
}

// Socket is an app's WebSocket opened by a Dialer, for a protocol of
// its own (ConversationRelay's): the connection, and the means to cut
// its TCP connection when a close handshake must not wait.
type Socket struct {
	Conn *websocket.Conn
	raw  *rawConn
}

// Cut closes the TCP connection under the socket at once.
func (s *Socket) Cut() { s.raw.close() }

// Open connects to the WebSocket at u (ws:// or wss://) under the
// dialer's policy: address rules, certificate checks, the handshake
// timeout and, with AuthToken, X-Twilio-Signature. Its error is a
// *DialError with the Media Streams code (31920 or 31901).
func (d *Dialer) Open(ctx context.Context, u string) (*Socket, error) {
	if d == nil {
		d = &Dialer{}
	}
	if err := CheckURL(u); err != nil {
		return nil, &DialError{Code: CodeHandshake, Err: err}
	}
	timeout := d.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	h := http.Header{}
	if d.AuthToken != "" {
		h.Set("X-Twilio-Signature", fetcher.Signature(d.AuthToken, u, nil))
	}
	raw := &rawConn{}
	dctx = context.WithValue(dctx, rawKey{}, raw)
	conn, resp, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: d.httpClient(), HTTPHeader: h})
	if err != nil {
		code := CodeHandshake
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			code = CodeTimeout
		}
		if resp != nil {
			err = fmt.Errorf("%s answered %s: %w", u, resp.Status, err)
		}
		return nil, &DialError{Code: code, Err: err}
	}
	return &Socket{Conn: conn, raw: raw}, nil
}

// rawConn holds the TCP connection under a stream's WebSocket, so that
// Close can cut it when its deadline passes: coder/websocket's close
// handshake waits up to 10 s for a stalled app, and CloseNow cannot cut
// a handshake in progress short.
type rawConn struct {
	mu sync.Mutex
	c  net.Conn
}

// rawKey carries a dial's rawConn to the transport's DialContext.
type rawKey struct{}

func (r *rawConn) set(c net.Conn) {
	r.mu.Lock()
	r.c = c
	r.mu.Unlock()
}

// close cuts the connection, if there is one.
func (r *rawConn) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c != nil {
		_ = r.c.Close()
	}
}

// setWriteDeadline sets the connection's write deadline (the zero time
// clears it); false when there is no connection to bound.
func (r *rawConn) setWriteDeadline(t time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.c != nil && r.c.SetWriteDeadline(t) == nil
}

// write sends one message encoded by encoding/json: the rare ones.
func (s *Stream) write(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("stream: encode %T: %w", v, err)
	}
	return s.send(data)
}

// send writes one message, bounded by the connection's write deadline
// (writeLoop keeps it ahead) or, when the connection cannot take one,
// by a timeout of its own.
func (s *Stream) send(data []byte) error {
	if s.deadline {
		// A context without a Done channel: the library then arms no
		// AfterFunc for the write, and there is no timer per message.
		return s.conn.Write(context.Background(), websocket.MessageText, data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.writeTimeout)
	defer cancel()
	return s.conn.Write(ctx, websocket.MessageText, data)
}

// deadlineRefresh is how often the writer, when idle, moves the write
// deadline ahead; the deadline is writeTimeout past the next refresh.
func (s *Stream) deadlineRefresh() time.Duration {
	return min(time.Second, s.writeTimeout/2)
}

// pushDeadline moves the write deadline to writeTimeout past the next
// refresh. Only the writer calls it, between writes: a write that stalls
// holds the refreshes back, and fails between writeTimeout and
// writeTimeout plus a refresh after it began. The reader's pongs meet a
// deadline at least writeTimeout ahead meanwhile.
func (s *Stream) pushDeadline() bool {
	return s.raw.setWriteDeadline(time.Now().Add(s.writeTimeout + s.deadlineRefresh()))
}

// writeLoop is the only writer of the socket: the messages go out in
// order, each with the next sequenceNumber, from 1 on start.
func (s *Stream) writeLoop() {
	defer s.wg.Done()
	defer close(s.flushed)
	seq := int64(0)
	next := func() int64 { seq++; return seq }
	fail := func(err error) {
		if s.closing.Load() {
			return
		}
		// The reader ends the stream: a write fails too when the app
		// closed the socket, and the reader then has its close frame.
		s.log.Debug("stream write", "err", err)
		s.writeErr.Store(&err)
		_ = s.conn.CloseNow()
	}
	// The write deadline bounds every write in place of a timer per
	// message; it is cleared when the writer is done, so that the close
	// handshake keeps the library's own bounds.
	if s.deadline = s.raw != nil && s.pushDeadline(); s.deadline {
		defer s.raw.setWriteDeadline(time.Time{})
	}
	refresh := time.NewTicker(s.deadlineRefresh())
	defer refresh.Stop()
	tracks := make([]string, len(s.cfg.Tracks))
	for i, t := range s.cfg.Tracks {
		tracks[i] = t.String()
	}
	params := s.cfg.CustomParameters
	if params == nil {
		params = map[string]string{}
	}
	if err := s.write(s.wire.connected()); err != nil {
		fail(err)
		return
	}
	if err := s.write(s.wire.start(&s.cfg, next(), tracks, params)); err != nil {
		fail(err)
		return
	}
	enc := s.wire.mediaEncoder(s.cfg.StreamSid)
	var buf []byte // the media message, reused: this is its only writer
	sendMedia := func(f *outFrame) error {
		s.sent.Add(1)
		buf = enc.append(buf[:0], next(), f)
		return s.send(buf)
	}
	for {
		select {
		case <-s.done:
			return
		case <-refresh.C:
			if s.deadline {
				s.pushDeadline()
			}
		case f := <-s.sendq:
			if err := sendMedia(&f); err != nil {
				fail(err)
				return
			}
		case <-s.wake:
			s.mu.Lock()
			batch := s.ctrl
			s.ctrl = nil
			s.mu.Unlock()
			for _, m := range batch {
				var err error
				switch m.kind {
				case ctrlMark:
					err = s.write(s.wire.mark(&s.cfg, next(), m.name))
					s.emit(Event{Kind: MarkPlayed, Name: m.name, At: m.at})
				case ctrlDTMF:
					err = s.write(s.wire.dtmf(&s.cfg, next(), m.name))
				case ctrlError:
					if e := s.wire.errorFrame(&s.cfg, next(), m.code, errorTitle(m.code), m.name); e != nil {
						err = s.write(e)
					}
				case ctrlStop:
					// The frames already queued go first: stop is the
					// last message of a stream.
					for drained := false; !drained && err == nil; {
						select {
						case f := <-s.sendq:
							err = sendMedia(&f)
						default:
							drained = true
						}
					}
					if err == nil {
						err = s.write(s.wire.stop(&s.cfg, next()))
					}
					if err != nil {
						fail(err)
					}
					return
				}
				if err != nil {
					fail(err)
					return
				}
			}
		}
	}
}

func (s *Stream) emit(e Event) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(e)
	}
}

// readLoop reads the app's messages until the socket closes.
func (s *Stream) readLoop() {
	defer s.wg.Done()
	var rd reader
	for {
		typ, err := s.read(&rd)
		if err != nil {
			werr := s.writeErr.Load()
			switch {
			case s.closing.Load():
			case websocket.CloseStatus(err) != -1:
				s.end(fmt.Errorf("%w (status %d)", ErrAppClosed, websocket.CloseStatus(err)))
			case werr != nil:
				s.log.Warn("stream write", "err", *werr)
				s.end(fmt.Errorf("stream: write: %w", *werr))
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
				// The app went away without a close frame: still its end.
				s.end(fmt.Errorf("%w without a close frame", ErrAppClosed))
			default:
				s.end(fmt.Errorf("stream: read: %w", err))
			}
			// Ending the stream stops the writer; the socket closes
			// once both goroutines are done (Close).
			return
		}
		if typ != websocket.MessageText {
			s.invalidMsg(telnyxMalformedFrame, errors.New("a binary message; the protocol sends JSON text"))
			continue
		}
		s.handle(&rd, rd.buf.Bytes())
		rd.release()
	}
}

// read reads the next message into rd.buf, whose memory is reused from
// one message to the next (conn.Read allocates each).
func (s *Stream) read(rd *reader) (websocket.MessageType, error) {
	typ, r, err := s.conn.Reader(context.Background())
	if err != nil {
		return 0, err
	}
	rd.buf.Reset()
	if _, err := rd.buf.ReadFrom(r); err != nil {
		return 0, err
	}
	return typ, nil
}

// handle applies one message from the app. data is rd's: nothing of it
// is kept (the payload is decoded into the reader's slab).
func (s *Stream) handle(rd *reader, data []byte) {
	m, err := rd.parse(data, s.cfg.StreamSid)
	if err != nil {
		s.invalidMsg(telnyxMalformedFrame, fmt.Errorf("not JSON: %w", err))
		return
	}
	if !s.cfg.Bidirectional {
		s.invalidMsg(telnyxMalformedFrame, fmt.Errorf("a %q message on a unidirectional stream (<Start><Stream>), which takes none", m.Event))
		return
	}
	if id := s.wire.streamID(m); id != "" && id != s.cfg.StreamSid {
		s.invalidMsg(telnyxMalformedFrame, fmt.Errorf("stream id %q is not this stream's", id))
		return
	}
	switch m.Event {
	case "media":
		if m.Media == nil || len(m.Media.Payload.b) == 0 {
			s.invalidMsg(telnyxInvalidMedia, errors.New("a media message without a payload"))
			return
		}
		b := m.Media.Payload.b
		if s.cfg.PlayMP3 {
			var err error
			if b, err = s.fromMP3(b); err != nil {
				s.invalidMsg(telnyxInvalidMedia, err)
				return
			}
		}
		s.addAudio(b)
	case "mark":
		if m.Mark == nil || m.Mark.Name == "" {
			s.invalidMsg(telnyxMalformedFrame, errors.New("a mark message without a name"))
			return
		}
		s.addMark(m.Mark.Name)
	case "clear":
		n, marks := s.clearAudio()
		s.emit(Event{Kind: Cleared, Dropped: samples(n), At: s.cfg.Now()})
		s.echoMarks(marks)
	default:
		s.invalidMsg(telnyxMalformedFrame, fmt.Errorf("unknown event %q; the app may send media, mark and clear", m.Event))
	}
}

// fromMP3 decodes one MP3 media payload (Telnyx's bidirectionalMode
// mp3: each message a whole file, played in order) to the play codec.
func (s *Stream) fromMP3(b []byte) ([]byte, error) {
	pcm, err := audio.Decode(b, "audio/mpeg")
	if err != nil {
		return nil, fmt.Errorf("a media payload that is not MP3: %w", err)
	}
	out := make([]byte, len(pcm.Samples))
	s.playCodec.Encode(out, pcm.Samples)
	return out, nil
}

// maxErrorFrames bounds the error frames waiting for the writer, so that
// a flood of bad messages cannot grow the control queue.
const maxErrorFrames = 16

// invalidMsg reports the first message the protocol does not allow, as
// Twilio's warning 31951 does once per stream
// (https://www.twilio.com/docs/api/errors/31951); the message is ignored.
// On Telnyx's wire each one is also answered with an error frame of the
// given code
// (https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming).
func (s *Stream) invalidMsg(code int, err error) {
	s.mu.Lock()
	first := !s.invalid
	s.invalid = true
	if s.cfg.Wire == Telnyx && len(s.ctrl) < maxErrorFrames {
		s.queue(ctrlMsg{kind: ctrlError, code: code, name: err.Error(), at: s.cfg.Now()})
	}
	s.mu.Unlock()
	if first {
		s.emit(Event{Kind: Invalid, Err: err, At: s.cfg.Now()})
	}
}

// errorTitle is the title of Telnyx's error code.
func errorTitle(code int) string {
	if code == telnyxInvalidMedia {
		return "invalid_media"
	}
	return "malformed_frame"
}
