package media

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

// loopSource plays one precomputed frame forever: the benchmark measures
// the session, not a decoder.
type loopSource struct{ frame [FrameSamples]int16 }

func newLoopSource() *loopSource {
	s := &loopSource{}
	copy(s.frame[:], (&toneSource{freq: 1000, amp: 8000, total: FrameSamples}).render())
	return s
}

func (s *loopSource) Read(frame []int16) (int, error) { return copy(frame, s.frame[:]), nil }

func (s *toneSource) render() []int16 {
	out := make([]int16, s.total)
	n, _ := s.Read(out)
	return out[:n]
}

// sendingSession is a session on a manual pacer that plays forever to a
// socket nobody reads (the kernel drops what does not fit).
func sendingSession(tb testing.TB, p *Pacer, m *Metrics) *Session {
	tb.Helper()
	sinkConn := loopConn(tb)
	tb.Cleanup(func() { _ = sinkConn.Close() })
	s := newSession(tb, p, addrOf(sinkConn), func(c *SessionConfig) {
		c.Metrics = m
		c.InactivityTimeout = -1 // nothing comes back
	})
	s.Play(newLoopSource())
	return s
}

func TestSendPacketAllocs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		metrics *Metrics
	}{{"no metrics", nil}, {"metrics", NewMetrics(nil)}} {
		t.Run(tc.name, func(t *testing.T) {
			p, clk, _ := manualPacer(t)
			s := sendingSession(t, p, tc.metrics)
			allocs := testing.AllocsPerRun(200, func() {
				clk.Advance(FrameDuration)
				p.Tick()
			})
			if allocs != 0 {
				t.Errorf("allocs per packet = %v, want 0", allocs)
			}
			if s.Stats().Sent < 200 {
				t.Errorf("sent %d packets", s.Stats().Sent)
			}
		})
	}
}

// BenchmarkSendPacket measures one packet: read the source, encode,
// packetize, send.
func BenchmarkSendPacket(b *testing.B) {
	p, _, _ := manualPacer(b)
	s := sendingSession(b, p, NewMetrics(nil))
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(FrameDuration)
		s.tick(now, 0)
	}
}

// BenchmarkPacerTick1000 measures one pacer tick of 1000 playing
// sessions, run on one goroutine (a real pacer splits this over its
// shards).
func BenchmarkPacerTick1000(b *testing.B) {
	p, clk, _ := manualPacer(b)
	m := NewMetrics(nil)
	sinkConn := loopConn(b)
	b.Cleanup(func() { _ = sinkConn.Close() })
	for range 1000 {
		s := newSession(b, p, addrOf(sinkConn), func(c *SessionConfig) {
			c.Metrics = m
			c.InactivityTimeout = -1
		})
		s.Play(newLoopSource())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clk.Advance(FrameDuration)
		p.Tick()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/session")
}

// detachedSession is a session whose receive path is driven directly by
// the test (no socket, no goroutine).
func detachedSession(tb testing.TB, m *Metrics) *Session {
	tb.Helper()
	p, _, _ := manualPacer(tb)
	s := &Session{
		pacer:   p,
		metrics: m,
		log:     slog.New(slog.DiscardHandler),
		digits:  make(chan byte, 32),
		done:    make(chan struct{}),
	}
	s.peer.Store(&peer{codec: PCMU, law: muLaw, dtmfPT: testDTMFPT})
	s.rx.init(true, false)
	s.Tap(SinkFunc(func([]int16) {}))
	return s
}

// rtpPacket builds a PCMU packet in place.
func rtpPacket(buf []byte, seq uint16, ts uint32) []byte {
	buf[0], buf[1] = 0x80, 0
	buf[2], buf[3] = byte(seq>>8), byte(seq)
	buf[4], buf[5], buf[6], buf[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
	buf[8], buf[9], buf[10], buf[11] = 0, 0, 0, 7
	return buf[:rtpHeaderLen+FrameSamples]
}

func TestReceivePacketAllocs(t *testing.T) {
	s := detachedSession(t, NewMetrics(nil))
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	buf := make([]byte, 2048)
	seq := uint16(0)
	allocs := testing.AllocsPerRun(200, func() {
		s.handle(rtpPacket(buf, seq, uint32(seq)*FrameSamples), from)
		seq++
	})
	if allocs != 0 {
		t.Errorf("allocs per received packet = %v, want 0", allocs)
	}
	if st := s.Stats(); st.Received < 200 || st.Lost != 0 {
		t.Errorf("stats %+v", st)
	}
}

// BenchmarkReceivePacket measures one received packet: parse, latch
// check, reorder, decode, in-band DTMF detection, tap.
func BenchmarkReceivePacket(b *testing.B) {
	s := detachedSession(b, NewMetrics(nil))
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	buf := make([]byte, 2048)
	seq := uint16(0)
	b.ReportAllocs()
	for b.Loop() {
		s.handle(rtpPacket(buf, seq, uint32(seq)*FrameSamples), from)
		seq++
	}
}
