package media

import (
	"fmt"
	"testing"
)

// BenchmarkMixerTick is one packet time of a conference, without the
// sessions around it: every member's frame into its input ring (the
// receive side) and every member's mix read out (the pacer side, the
// first read computing the mix). talking is how many members send sound;
// the others send nothing, as a muted phone or one with silence
// suppression does. ns/member is the cost per member per packet time.
func BenchmarkMixerTick(b *testing.B) {
	for _, n := range []int{2, 10, 50, 250} {
		for _, talking := range []int{1, n} {
			b.Run(fmt.Sprintf("members=%d/talking=%d", n, talking), func(b *testing.B) {
				r := newMixRig(b, make([]MemberOptions, n)...)
				sinks := make([]Sink, n)
				outs := make([]Source, n)
				for i := range n {
					sinks[i] = r.sink(i)
					_, outs[i] = r.eps[i].state()
				}
				in := toneFrames(440, 3000, 1)[0]
				frame := make([]int16, FrameSamples)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					for _, k := range sinks[:talking] {
						k.Write(in)
					}
					for _, o := range outs {
						_, _ = o.Read(frame)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/member")
			})
		}
	}
}
