package media

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
)

// gathered returns the counters' values and the histograms' sample
// counts in reg, by name.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				out[mf.GetName()] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[mf.GetName()] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// The counters and the send-gap histogram add up the sessions' own
// counts, whether a running pacer's shards tally them or a manual pacer's
// sessions report each packet.
func TestMetricsAddUp(t *testing.T) {
	for _, manual := range []bool{false, true} {
		name := "running pacer"
		if manual {
			name = "manual pacer"
		}
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			var p *Pacer
			var tick func(int)
			if manual {
				p, _, tick = manualPacer(t)
			} else {
				p = NewPacer(PacerOptions{})
				t.Cleanup(p.Close)
				tick = func(n int) { time.Sleep(time.Duration(n) * FrameDuration) }
			}
			peer := newCapture(t)
			s := newSession(t, p, peer.addr(), func(c *SessionConfig) { c.Metrics = m })
			for seq := range uint16(5) {
				if seq == 3 {
					continue // lost
				}
				sendRTP(t, peer.conn, s.LocalAddr(), rtp.Header{SequenceNumber: seq, Timestamp: uint32(seq) * FrameSamples, SSRC: 5}, silenceULaw())
			}
			sendRTP(t, peer.conn, s.LocalAddr(), rtp.Header{PayloadType: 99, SequenceNumber: 7, SSRC: 5}, []byte{1}) // dropped
			for seq := uint16(5); seq < 9; seq++ {
				sendRTP(t, peer.conn, s.LocalAddr(), rtp.Header{SequenceNumber: seq, Timestamp: uint32(seq) * FrameSamples, SSRC: 5}, silenceULaw())
			}
			eventually(t, 2*time.Second, "the packets", func() bool {
				tick(1)
				st := s.Stats()
				return st.Received == 8 && st.Dropped == 1 && st.Lost == 1 && st.Sent >= 5
			})
			_ = s.Close()
			tick(2) // a running shard adds its tally after the tick
			st := s.Stats()
			got := gathered(t, reg)
			for name, want := range map[string]uint64{
				"texml_rtp_packets_sent_total":     st.Sent,
				"texml_rtp_packets_received_total": st.Received,
				"texml_rtp_packets_lost_total":     st.Lost,
				"texml_rtp_packets_dropped_total":  st.Dropped,
				"texml_rtp_send_gap_seconds":       st.Sent - 1, // a gap per packet after the first
			} {
				if got[name] != float64(want) {
					t.Errorf("%s = %v, the session counted %d", name, got[name], want)
				}
			}
		})
	}
}
