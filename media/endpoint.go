package media

import (
	"slices"
	"sync"
)

// Endpoint is one party's media as bridges, mixers, recorders and stream
// forks see it: what the party says comes out of taps, what it hears goes
// in through one switchable output. *Session implements it; media defines
// it because media's Bridge (and later its mixer) is what consumes it.
//
// DTMF is deliberately not part of it: the digits a party presses belong
// to the call's interpreter (Session.DTMF has a single reader), and a
// Bridge between two Sessions passes telephone events through on its own
// path, below this interface.
type Endpoint interface {
	// Format returns what was negotiated with the party now; a
	// re-INVITE may change it during a call.
	Format() Format
	// SetOutput makes src what the endpoint sends from the next packet
	// time on, replacing (and interrupting) the previous output; nil
	// sends silence. clear returns the endpoint to silence, unless
	// another output has replaced src in the meantime, and may be called
	// more than once. src is read on a pacer goroutine shared with other
	// calls, so it must not block.
	SetOutput(src Source) (clear func())
	// Tap adds k to the receivers of the party's audio (20 ms frames,
	// in order, from the goroutine that receives; see Sink) until untap is
	// called. Any number of taps may be attached; untap is idempotent.
	Tap(k Sink) (untap func())
	// Done is closed when the endpoint has ended.
	Done() <-chan struct{}
}

// Format is what an endpoint negotiated: the audio codec, and the RFC
// 4733 telephone-event payload type (0 when the party did not offer it).
type Format struct {
	Codec           Codec
	DTMFPayloadType uint8
}

// Interface guard.
var _ Endpoint = (*Session)(nil)

// Format returns the session's current codec and telephone-event payload
// type.
func (s *Session) Format() Format {
	pr := s.peer.Load()
	return Format{Codec: pr.codec, DTMFPayloadType: pr.dtmfPT}
}

// payloadSink is a Sink that takes what the party sends before it is
// decoded: audio payloads in sequence order (after the jitter buffer) and
// telephone-event payloads as they arrive. A bridge relays them as they
// are. The session prefers this path when a tapped Sink has it, the way
// io.Copy prefers io.WriterTo; such a sink gets no decoded frames.
type payloadSink interface {
	Sink
	writePayload(l law, payload []byte)
	writeEvent(payload []byte, ts uint32)
}

// tap is one Tap call. Taps are compared by identity, since a Sink may be
// a func (SinkFunc) and funcs are not comparable.
type tap struct{ k Sink }

// tapSet is an immutable snapshot of a session's taps, split by path so
// receiving goroutine loops only over the receivers each step needs.
type tapSet struct {
	all []*tap
	pcm []Sink
	enc []payloadSink
}

// Tap adds k to the receivers of the audio from the peer: 20 ms frames
// in order, with silence where packets were lost. Frames are reused:
// Write must copy what it keeps. A Write already in progress may complete
// after untap returns; Write may call Tap and untap. Tapping one Sink
// twice delivers every frame to it twice. Tap(nil) does nothing.
//
// Taps are copied on write: attaching and detaching take a lock, while
// the receive path reads the current set with one atomic load per packet
// and allocates nothing.
func (s *Session) Tap(k Sink) (untap func()) {
	if k == nil {
		return func() {}
	}
	t := &tap{k: k}
	s.editTaps(func(all []*tap) []*tap { return append(all, t) })
	var once sync.Once
	return func() {
		once.Do(func() {
			s.editTaps(func(all []*tap) []*tap {
				return slices.DeleteFunc(all, func(x *tap) bool { return x == t })
			})
		})
	}
}

// editTaps publishes a new tap set made by edit from a copy of the
// current one.
func (s *Session) editTaps(edit func([]*tap) []*tap) {
	s.tapMu.Lock()
	defer s.tapMu.Unlock()
	var cur []*tap
	if ts := s.taps.Load(); ts != nil {
		cur = ts.all
	}
	next := edit(slices.Clone(cur))
	if len(next) == 0 {
		s.taps.Store(nil)
		return
	}
	ts := &tapSet{all: next}
	for _, t := range next {
		if ps, ok := t.k.(payloadSink); ok {
			ts.enc = append(ts.enc, ps)
		} else {
			ts.pcm = append(ts.pcm, t.k)
		}
	}
	s.taps.Store(ts)
}

// packetSource is a Source that writes whole packets itself, already
// encoded: a bridge relays payloads as they came and passes telephone
// events through. The session prefers this path when its output has it,
// as it prefers payloadSink on the receiving side; Read remains for
// endpoints that only take frames.
type packetSource interface {
	Source
	// readPacket writes this packet time's payload to the peer pr into
	// tx.buf after the header and describes it. It runs on the pacer
	// goroutine that owns tx.
	readPacket(pr *peer, tx *txState) (packet, packetKind)
}

// liveSource is an output whose audio is what other sessions received in
// the same packet time (a bridge's relay, a conference mix). A session
// playing one sends after its pacer shard has read the sockets, so that a
// packet heard in a packet time goes on in that packet time; sessions
// playing anything else send before the reads (see shard.tick).
type liveSource interface {
	Source
	live()
}

// packetKind is what a packetSource wrote.
type packetKind uint8

const (
	packetNone  packetKind = iota // nothing: the session sends silence
	packetAudio                   // audio in the peer's codec; the session sets the marker
	packetEvent                   // a telephone event, or an in-band tone, marker included
)
