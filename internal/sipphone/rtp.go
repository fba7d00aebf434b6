package sipphone

import (
	"context"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// events are the RFC 4733 §3.2 DTMF event codes 0–15, in order.
const events = "0123456789*#ABCD"

// sender is the sending side of a call's RTP stream: sequence numbers,
// timestamps and SSRC run on across talking and key presses, as in a real
// phone's stream.
type sender struct {
	conn *net.UDPConn

	// talking is held for a whole utterance or key press, across its
	// writes: two talkers must not interleave one stream's sequence
	// numbers and timestamps. Nothing else waits on it.
	talking sync.Mutex
	seq     uint16
	ts      uint32
	ssrc    uint32
}

func newSender(conn *net.UDPConn) *sender {
	return &sender{conn: conn, seq: uint16(rand.Uint32()), ts: rand.Uint32(), ssrc: rand.Uint32()}
}

// send writes one packet. Errors are dropped: the call may be over, and a
// lost packet is what a phone would see too.
func (s *sender) send(to *net.UDPAddr, pt uint8, marker bool, ts uint32, payload []byte) {
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: s.seq, Timestamp: ts, SSRC: s.ssrc, Marker: marker}, Payload: payload}
	s.seq++
	if b, err := pkt.Marshal(); err == nil {
		_, _ = s.conn.WriteToUDP(b, to)
	}
}

// audio sends samples as 20 ms packets of codec, one every 20 ms on an
// absolute schedule (no drift), until they run out or ctx ends.
func (s *sender) audio(ctx context.Context, to *net.UDPAddr, codec Codec, samples []int16) {
	s.talking.Lock()
	defer s.talking.Unlock()
	next := time.Now()
	payload := make([]byte, frame)
	for off := 0; off < len(samples) && ctx.Err() == nil; off += frame {
		for i := range payload {
			v := int16(0)
			if off+i < len(samples) {
				v = samples[off+i]
			}
			payload[i] = codec.encode(v)
		}
		s.send(to, codec.PayloadType(), off == 0, s.ts, payload)
		s.ts += frame
		next = next.Add(20 * time.Millisecond)
		sleep(ctx, time.Until(next))
	}
}

// dtmf sends each digit as an RFC 4733 event with payload type pt: 5
// packets of tone, then 3 end packets (the retransmissions of §2.5.1.4),
// 20 ms apart, and 100 ms between digits. Characters that are not events
// are skipped.
func (s *sender) dtmf(ctx context.Context, to *net.UDPAddr, pt uint8, digits string) {
	s.talking.Lock()
	defer s.talking.Unlock()
	for _, d := range strings.ToUpper(digits) {
		ev := strings.IndexRune(events, d)
		if ev < 0 || ctx.Err() != nil {
			continue
		}
		for i := range 8 {
			dur := uint16((min(i, 5) + 1) * frame)
			payload := []byte{byte(ev), 10, byte(dur >> 8), byte(dur)}
			if i >= 5 {
				payload[1] |= 0x80 // E: the end of the event
			}
			s.send(to, pt, i == 0, s.ts, payload)
			sleep(ctx, 20*time.Millisecond)
		}
		s.ts += 1600
		sleep(ctx, 100*time.Millisecond)
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// voicedLevel is the sample magnitude above which a packet carries
// sound: well above G.711's idle noise, well below speech and tones.
const voicedLevel = 500

// receiver records what arrives on a call's RTP socket: G.711 audio
// (PCMU and PCMA by their static payload types, decoded here) and
// RFC 4733 events.
type receiver struct {
	dtmfPT atomic.Int32 // our telephone-event payload type; -1 for none

	mu      sync.Mutex
	samples []int16
	packets int
	digits  []byte
	seen    map[uint32]bool // RTP timestamps of the events recorded
	// voiced are the arrival times of the audio packets that carried
	// sound (not silence), for latency measurements.
	voiced []time.Time
}

func newReceiver() *receiver {
	r := &receiver{seen: map[uint32]bool{}}
	r.dtmfPT.Store(-1)
	return r
}

// run reads conn until it is closed.
func (r *receiver) run(conn *net.UDPConn) {
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		r.packet(&pkt)
	}
}

func (r *receiver) packet(pkt *rtp.Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if int32(pkt.PayloadType) == r.dtmfPT.Load() {
		// One event is many packets with one timestamp (RFC 4733 §2.5).
		if len(pkt.Payload) >= 4 && int(pkt.Payload[0]) < len(events) && !r.seen[pkt.Timestamp] {
			r.seen[pkt.Timestamp] = true
			r.digits = append(r.digits, events[pkt.Payload[0]])
		}
		return
	}
	if _, ok := codecOf(pkt.PayloadType); !ok {
		return
	}
	r.packets++
	loud := false
	for _, b := range pkt.Payload {
		v := decode(pkt.PayloadType, b)
		r.samples = append(r.samples, v)
		loud = loud || v > voicedLevel || v < -voicedLevel
	}
	if loud {
		r.voiced = append(r.voiced, time.Now())
	}
}
