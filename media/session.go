package media

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Errors reported by sessions and their playbacks.
var (
	// ErrInterrupted is reported by Play when another Play or StopPlay
	// replaced the playback before its source ended.
	ErrInterrupted = errors.New("media: playback interrupted")
	// ErrClosed is reported when the session was closed (or ended on
	// its own) while a playback or DTMF send was in progress.
	ErrClosed = errors.New("media: session closed")
	// ErrInactive is the session's error after no RTP arrived for the
	// inactivity timeout.
	ErrInactive = errors.New("media: RTP inactivity timeout")
	// ErrCodec is returned for a codec other than PCMU or PCMA.
	ErrCodec = errors.New("media: unsupported codec")
)

// DefaultInactivityTimeout is used when SessionConfig.InactivityTimeout
// is zero.
const DefaultInactivityTimeout = 60 * time.Second

// SessionConfig describes one RTP session. Conn or Socket, Pacer and
// Codec are required; the rest is optional.
type SessionConfig struct {
	// Conn is the session's socket (from Ports.Listen). The session owns
	// it from now on and closes it in Close.
	Conn *net.UDPConn
	// Socket, instead of Conn, is a socket from Ports.Open, which a
	// running pacer reads and writes outside Go's netpoller (see Socket);
	// it needs a pacer that is not Manual. The session owns it likewise.
	Socket *Socket
	// Pacer sends the session's packets.
	Pacer *Pacer
	// Remote is the address from the peer's SDP. The session re-latches
	// to the real source of the first valid packet (symmetric RTP), so
	// a NATed peer is reached where it really is. Nil: send nothing
	// until the first packet arrives.
	Remote *net.UDPAddr
	// Codec is the negotiated G.711 codec.
	Codec Codec
	// DTMFPayloadType is the telephone-event payload type (RFC 4733), or
	// 0 when the peer did not offer it; SendDTMF then sends tones in-band.
	DTMFPayloadType uint8
	// InactivityTimeout ends the session when no RTP arrives for this
	// long (not counted while on hold). Default 60 s; negative disables.
	InactivityTimeout time.Duration
	// InbandDTMF enables Goertzel detection of DTMF tones in the received
	// audio. It turns itself off once the peer sends RFC 4733 events, so
	// a key press is not reported twice.
	InbandDTMF bool
	// Metrics, if set, receives the session's packet counters.
	Metrics *Metrics
	// Logger, if set, gets the session's rare events (latching, SSRC
	// changes, inactivity). Nothing is logged per packet.
	Logger *slog.Logger
	// Held starts the session on hold (see Hold), e.g. until the call
	// is answered, so that not even one packet leaves before.
	Held bool
	// Rand, if set, replaces math/rand/v2 for the initial SSRC, sequence
	// number and timestamp (random per RFC 3550 section 5.1).
	Rand func() uint32
}

// Stats are a session's packet counters.
type Stats struct {
	Sent       uint64 // packets sent (audio, silence and DTMF)
	Received   uint64 // valid packets accepted from the peer
	Lost       uint64 // sequence numbers never received in time
	Late       uint64 // packets that arrived after their slot was played out, or twice
	Dropped    uint64 // wrong source, wrong SSRC, unexpected payload type, garbage
	SendErrors uint64 // packets the socket refused
	// Drained counts the frames a bridge relaying to this session
	// dropped because its ring was full (80 ms behind), and a conference
	// mixer dropped to keep the delay bounded.
	Drained uint64
	// CaughtUp counts the frames a bridge relaying to this session sent
	// early, a second packet in one packet time, to work off a backlog
	// that lasted (see relayCatchUpTicks).
	CaughtUp uint64
}

// Session is one RTP session of a call leg. Sending is driven by the
// Pacer (one packet every 20 ms from the current output: a prompt, a
// bridge peer, or silence). Receiving (reordering, decoding, handing
// frames to the taps) runs on the pacer too, which reads each session's
// socket at each tick (see Pacer); with a manual pacer, or where the
// platform lacks recvmmsg, it runs on a goroutine of the session's own.
// All methods are safe for concurrent use.
type Session struct {
	conn     *net.UDPConn // nil with a bare Socket
	sock     *Socket      // nil with a Conn
	local    *net.UDPAddr
	ctl      func(f func(fd uintptr)) error // runs f with the socket's descriptor, open meanwhile
	family   int                            // the socket's address family (AF_INET, AF_INET6)
	pacer    *Pacer
	log      *slog.Logger
	metrics  *Metrics
	timeout  time.Duration
	shard    *shard // set by the pacer
	shardIdx int    // guarded by shard.mu
	polled   bool   // the pacer reads the socket (no receive goroutine)
	// rxMu is held while the pacer reads and handles the session's
	// packets, so that Close can wait for a read in progress.
	rxMu sync.Mutex

	peer    atomic.Pointer[peer]
	play    atomic.Pointer[playback]
	held    atomic.Bool
	quiet   atomic.Bool // the peer sends nothing on purpose (see Quiet)
	dtmfReq atomic.Pointer[dtmfJob]
	dtmfSem chan struct{}          // one SendDTMF at a time
	taps    atomic.Pointer[tapSet] // nil: no taps
	sentTap atomic.Pointer[[]*tap] // taps of what is sent (TapSent); nil: none
	tapMu   sync.Mutex             // serializes tap edits, not readers
	digits  chan byte

	ended atomic.Bool
	err   atomic.Pointer[error]
	done  chan struct{}
	wg    sync.WaitGroup

	// Counters, written by the pacer (sent, sendErrors) and by whoever
	// receives (the rest); alive also counts comfort noise and
	// drives the inactivity timeout.
	sent, sendErrors              atomic.Uint64
	received, lost, late, dropped atomic.Uint64
	alive                         atomic.Uint64

	tx txState // owned by the pacer
	rx rxState // owned by whoever receives: the pacer goroutine (under rxMu), or the receive goroutine
}

// peer is what the session knows about the other side. It is replaced
// as a whole (SetRemote, latching) and read with one atomic load.
type peer struct {
	sdp    netip.AddrPort // address from the SDP
	addr   netip.AddrPort // where packets go: sdp, or the latched source
	raw    rawAddr        // addr as sendto takes it, encoded once
	codec  Codec
	law    law
	dtmfPT uint8
	gen    uint64 // bumped by SetRemote: the receiver re-latches
}

// NewSession starts a session: it receives at once (on its pacer, or on a
// receive goroutine of its own) and the pacer starts sending silence at
// once, unless cfg.Held. On error the Conn is
// left to the caller.
func NewSession(cfg SessionConfig) (*Session, error) {
	switch {
	case cfg.Conn == nil && cfg.Socket == nil:
		return nil, errors.New("media: session needs a Conn or a Socket")
	case cfg.Conn != nil && cfg.Socket != nil:
		return nil, errors.New("media: session takes a Conn or a Socket, not both")
	case cfg.Pacer == nil:
		return nil, errors.New("media: session needs a Pacer")
	case !cfg.Codec.Supported():
		return nil, fmt.Errorf("media: codec %q: %w", cfg.Codec.Name, ErrCodec)
	}
	if cfg.InactivityTimeout == 0 {
		cfg.InactivityTimeout = DefaultInactivityTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Uint32
	}
	s := &Session{
		conn:    cfg.Conn,
		sock:    cfg.Socket,
		pacer:   cfg.Pacer,
		log:     cfg.Logger,
		metrics: cfg.Metrics,
		timeout: cfg.InactivityTimeout,
		polled:  cfg.Pacer.polls(),
		dtmfSem: make(chan struct{}, 1),
		digits:  make(chan byte, 32),
		done:    make(chan struct{}),
	}
	if s.sock != nil && s.sock.conn != nil {
		s.conn = s.sock.conn // a Socket around a *net.UDPConn
	}
	switch {
	case s.conn != nil:
		raw, err := s.conn.SyscallConn()
		if err != nil {
			return nil, fmt.Errorf("media: session socket: %w", err)
		}
		s.ctl, s.local = raw.Control, s.conn.LocalAddr().(*net.UDPAddr)
	case !s.polled:
		return nil, errors.New("media: a bare Socket needs a pacer that reads its sessions' sockets (not Manual)")
	default:
		s.ctl, s.local = s.sock.control, s.sock.LocalAddr()
	}
	s.family = s.sockFamily()
	addr := udpAddrPort(cfg.Remote)
	s.peer.Store(&peer{sdp: addr, addr: addr, raw: makeRawAddr(addr, s.family),
		codec: cfg.Codec, law: cfg.Codec.law(), dtmfPT: cfg.DTMFPayloadType})
	s.held.Store(cfg.Held)
	s.tx.init(cfg.Rand, s.sendFunc(), cfg.Metrics)
	s.rx.init(cfg.InbandDTMF, !s.polled)
	if !s.pacer.register(s) {
		return nil, fmt.Errorf("media: pacer: %w", ErrClosed)
	}
	if !s.polled {
		s.wg.Add(1)
		go s.recvLoop()
	}
	return s, nil
}

// LocalAddr returns the address the session receives on.
func (s *Session) LocalAddr() *net.UDPAddr { return s.local }

// RemoteAddr returns where packets are sent: the SDP address until the
// first valid packet arrives, then that packet's source. Nil if unknown.
func (s *Session) RemoteAddr() *net.UDPAddr {
	a := s.peer.Load().addr
	if !a.IsValid() {
		return nil
	}
	return net.UDPAddrFromAddrPort(a)
}

// SetRemote applies a new SDP from the peer (a re-INVITE): address, codec
// and telephone-event payload type. The session re-latches to the source
// of the next valid packet. If the address did not change, packets keep
// going to the latched source meanwhile. An unsupported codec is ignored
// (the previous one stays) and logged.
func (s *Session) SetRemote(addr *net.UDPAddr, c Codec, dtmfPT uint8) {
	for {
		old := s.peer.Load()
		np := *old
		np.gen++
		np.dtmfPT = dtmfPT
		if c.Supported() {
			np.codec, np.law = c, c.law()
		} else {
			s.log.Warn("rtp: ignoring unsupported codec", "codec", c.Name)
		}
		if a := udpAddrPort(addr); a.IsValid() && a != old.sdp {
			np.sdp, np.addr, np.raw = a, a, makeRawAddr(a, s.family)
		}
		if s.peer.CompareAndSwap(old, &np) {
			return
		}
	}
}

// DTMF returns the digits received, one per key press, from RFC 4733
// events or (if enabled) in-band tones. The channel is never closed: select
// on Done as well. Digits are dropped if nobody reads and 32 are queued.
func (s *Session) DTMF() <-chan byte { return s.digits }

// Hold pauses (on) or resumes the media: while held nothing is sent, the
// playback does not advance, and the inactivity timer is stopped. The RTP
// timestamp keeps advancing with real time.
func (s *Session) Hold(on bool) { s.held.Store(on) }

// Quiet tells the session that the peer sends no RTP on purpose (on) or
// sends again (off): it offered a=recvonly, so we send but expect
// nothing back, and the inactivity timer is stopped as on hold.
func (s *Session) Quiet(on bool) { s.quiet.Store(on) }

// Done is closed when the session has ended: Close, or the inactivity
// timeout.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended: ErrClosed after Close, ErrInactive
// after an inactivity timeout, nil while it runs.
func (s *Session) Err() error {
	if e := s.err.Load(); e != nil {
		return *e
	}
	return nil
}

// Close ends the session: the pacer stops sending, the socket is closed
// (returning its port), a playback in progress reports ErrClosed. Close
// waits until no packet of the session is being received (no tap's Write
// runs once it returns), so it must not be called from a Sink's Write. It
// is idempotent and returns nil.
func (s *Session) Close() error {
	s.end(ErrClosed)
	s.wg.Wait()     // the receive goroutine, if the session has one
	s.rxMu.Lock()   // or the pacer's read in progress
	s.rxMu.Unlock() //nolint:staticcheck // an empty critical section: a barrier
	return nil
}

// Stats returns the session's packet counters.
func (s *Session) Stats() Stats {
	return Stats{
		Sent:       s.sent.Load(),
		Received:   s.received.Load(),
		Lost:       s.lost.Load(),
		Late:       s.late.Load(),
		Dropped:    s.dropped.Load(),
		SendErrors: s.sendErrors.Load(),
		Drained:    s.tx.drained.Load(),
		CaughtUp:   s.tx.caughtUp.Load(),
	}
}

// end stops the session once, from any goroutine (Close, the pacer on
// inactivity, the receiver on a dead socket). It does not wait.
func (s *Session) end(err error) {
	if !s.ended.CompareAndSwap(false, true) {
		return
	}
	s.err.Store(&err)
	s.pacer.unregister(s)
	if s.sock != nil {
		_ = s.sock.Close()
	} else if cerr := s.conn.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		s.log.Debug("rtp: closing socket", "err", cerr)
	}
	close(s.done)
	if p := s.play.Swap(nil); p != nil {
		p.finish(ErrClosed)
	}
	if err != ErrClosed {
		s.log.Info("rtp: session ended", "err", err)
	}
}

// udpAddrPort converts addr for comparison with received source
// addresses, which come without the IPv4-in-IPv6 mapping.
func udpAddrPort(addr *net.UDPAddr) netip.AddrPort {
	if addr == nil {
		return netip.AddrPort{}
	}
	a := addr.AddrPort()
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
