package media

import (
	"slices"
	"testing"
)

// jitterLog records the jitter buffer's output. The tests use the
// sequence number as timestamp, so the output shows the order.
type jitterLog struct {
	out        []uint32 // timestamps delivered
	lost, late int
}

func (l *jitterLog) deliver(ts uint32, _ []byte) { l.out = append(l.out, ts) }
func (l *jitterLog) packetLost()                 { l.lost++ }
func (l *jitterLog) packetLate()                 { l.late++ }

func TestJitter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		seqs       []int // arrival order
		events     []int // sequence numbers that are telephone events
		want       []int
		lost, late int
		held       bool // a packet had to wait: the payload store was needed
	}{
		{name: "in order", seqs: []int{1, 2, 3, 4}, want: []int{1, 2, 3, 4}},
		{name: "swapped", seqs: []int{1, 3, 2, 4}, want: []int{1, 2, 3, 4}, held: true},
		{name: "lost", seqs: []int{1, 3, 4, 5, 6}, want: []int{1, 3, 4, 5, 6}, lost: 1, held: true},
		{name: "late", seqs: []int{1, 3, 4, 5, 2}, want: []int{1, 3, 4, 5}, lost: 1, late: 1, held: true},
		{name: "duplicate", seqs: []int{1, 1, 2, 2}, want: []int{1, 2}, late: 2},
		{name: "duplicate held", seqs: []int{1, 3, 3, 2}, want: []int{1, 2, 3}, late: 1, held: true},
		{name: "reversed within depth", seqs: []int{1, 4, 3, 2}, want: []int{1, 2, 3, 4}, held: true},
		{name: "wrap", seqs: []int{65534, 65535, 0, 1}, want: []int{65534, 65535, 0, 1}},
		{name: "reorder across wrap", seqs: []int{65535, 1, 0, 2}, want: []int{65535, 0, 1, 2}, held: true},
		{name: "gap", seqs: []int{1, 11, 12, 13, 14}, want: []int{1, 11, 12, 13, 14}, lost: 9, held: true},
		{name: "restart", seqs: []int{1, 2, 30000, 30001}, want: []int{1, 2, 30000, 30001}},
		{name: "events", seqs: []int{1, 2, 3, 4}, events: []int{2, 3}, want: []int{1, 4}},
		{name: "event fills a hole", seqs: []int{1, 3, 2, 4}, events: []int{2}, want: []int{1, 3, 4}, held: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var j jitter
			var log jitterLog
			for _, s := range tc.seqs {
				audio := !slices.Contains(tc.events, s)
				var payload []byte
				if audio {
					payload = []byte{byte(s)}
				}
				j.push(uint16(s), uint32(s), payload, audio, &log)
			}
			var want []uint32
			for _, s := range tc.want {
				want = append(want, uint32(s))
			}
			if !slices.Equal(log.out, want) || log.lost != tc.lost || log.late != tc.late {
				t.Errorf("delivered %v lost %d late %d; want %v lost %d late %d",
					log.out, log.lost, log.late, want, tc.lost, tc.late)
			}
			if held := j.data != nil; held != tc.held {
				t.Errorf("payload store allocated: %v, want %v", held, tc.held)
			}
		})
	}
}
