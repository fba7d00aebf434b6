package media

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

// relayPath is one direction of a bridge with the sockets' reads taken
// out: packets are handed to the speaking session's receive path directly,
// and the hearing session sends through a real socket to a loopback port
// nobody reads (the kernel drops what does not fit). One call of packet
// is the whole per-packet cost: parse, latch checks, jitter buffer, relay
// ring, (transcode,) header, send.
type relayPath struct {
	speaker, hearer *Session
	pt              uint8
	buf             []byte
	seq             uint16
	now             time.Time
	from            netip.AddrPort
}

func newRelayPath(tb testing.TB, from, to Codec) *relayPath {
	tb.Helper()
	p, _, _ := manualPacer(tb)
	speaker := &Session{
		pacer:  p,
		log:    slog.New(slog.DiscardHandler),
		digits: make(chan byte, 32),
		done:   make(chan struct{}),
	}
	speaker.peer.Store(&peer{codec: from, law: from.law()})
	nobody := loopConn(tb)
	tb.Cleanup(func() { _ = nobody.Close() })
	hearer := newSession(tb, p, addrOf(nobody), func(c *SessionConfig) {
		c.Codec = to
		c.InactivityTimeout = -1 // nothing comes back
	})
	tb.Cleanup(Bridge(speaker, hearer))
	rp := &relayPath{
		speaker: speaker, hearer: hearer, pt: from.PayloadType,
		buf: make([]byte, 2048), now: time.Now(),
		from: netip.MustParseAddrPort("127.0.0.1:4000"),
	}
	for i := range FrameSamples {
		rp.buf[rtpHeaderLen+i] = byte(i) // not silence: every code word is relayed alike
	}
	return rp
}

// packet relays one packet.
func (rp *relayPath) packet() {
	pkt := rtpPacket(rp.buf, rp.seq, uint32(rp.seq)*FrameSamples)
	pkt[1] = rp.pt
	rp.speaker.handle(pkt, rp.from)
	rp.seq++
	rp.now = rp.now.Add(FrameDuration)
	rp.hearer.tick(rp.now, 0)
}

func TestBridgeRelayAllocs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to Codec
	}{{"same codec", PCMU, PCMU}, {"transcode", PCMU, PCMA}} {
		t.Run(tc.name, func(t *testing.T) {
			rp := newRelayPath(t, tc.from, tc.to)
			if allocs := testing.AllocsPerRun(200, rp.packet); allocs != 0 {
				t.Errorf("allocs per relayed packet = %v, want 0", allocs)
			}
			if st := rp.hearer.Stats(); st.Sent < 200 {
				t.Errorf("hearer sent %d packets", st.Sent)
			}
			// The last packet sent was relayed audio, not silence.
			want := make([]byte, FrameSamples)
			for i := range want {
				want[i] = byte(i)
			}
			transcode(want, tc.from.law(), tc.to.law())
			if got := rp.hearer.tx.buf[rtpHeaderLen:]; string(got) != string(want) {
				t.Error("the hearer's last packet is not the relayed payload")
			}
		})
	}
}

// BenchmarkBridgeRelay measures one packet through a bridge between two
// PCMU sessions: received, relayed untouched, sent.
func BenchmarkBridgeRelay(b *testing.B) {
	rp := newRelayPath(b, PCMU, PCMU)
	b.ReportAllocs()
	for b.Loop() {
		rp.packet()
	}
}

// BenchmarkBridgeTranscode is BenchmarkBridgeRelay from PCMU to PCMA.
func BenchmarkBridgeTranscode(b *testing.B) {
	rp := newRelayPath(b, PCMU, PCMA)
	b.ReportAllocs()
	for b.Loop() {
		rp.packet()
	}
}

// BenchmarkRelayCore measures what a bridge adds per packet, without the
// receive path and the socket: into the ring, out of it, (transcoded).
func BenchmarkRelayCore(b *testing.B) {
	for _, tc := range []struct {
		name string
		to   Codec
	}{{"same codec", PCMU}, {"transcode", PCMA}} {
		b.Run(tc.name, func(b *testing.B) {
			r := &relay{}
			pr := &peer{codec: tc.to, law: tc.to.law()}
			var tx txState
			payload := make([]byte, FrameSamples)
			b.ReportAllocs()
			for b.Loop() {
				r.writePayload(muLaw, payload)
				if _, kind := r.readPacket(pr, &tx); kind != packetAudio {
					b.Fatal("no audio")
				}
			}
		})
	}
}
