//go:build linux && (amd64 || arm64)

package main

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestMarkRoundTrip(t *testing.T) {
	for _, tc := range []struct{ stream, count uint32 }{
		{1, 0}, {127, 0x7F}, {0x7F7F7F7F, 0xFFFFFFFF}, {1 << 31, 255}, {500, 1234567},
	} {
		p := make([]byte, 160)
		putMark(p, tc.stream, tc.count)
		for _, b := range p[4:markLen] {
			// 0x7F would come back from a µ-law decode and encode as 0xFF.
			if b < 0x40 || b > 0x4F {
				t.Errorf("%+v: mark byte %#x", tc, b)
			}
		}
		s, c, ok := readMark(p)
		if !ok || s != tc.stream || c != tc.count {
			t.Errorf("%+v: read %d %d %v", tc, s, c, ok)
		}
		p[7] = 0xFF // what µ-law would make of a 0x7F
		if _, _, ok := readMark(p); ok {
			t.Errorf("%+v: a damaged mark read as intact", tc)
		}
	}
	if _, _, ok := readMark([]byte("TXLD")); ok {
		t.Error("a short payload read as marked")
	}
}

func TestDelayHist(t *testing.T) {
	var h delayHist
	if h.quantile(0.99) != 0 {
		t.Error("empty")
	}
	for i := range 100 {
		h.add(time.Duration(40+i%10)*time.Millisecond + 300*time.Microsecond)
	}
	h.add(3 * time.Second)
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 46 * time.Millisecond}, {0.99, 50 * time.Millisecond}, {1, 3 * time.Second}} {
		if got := h.quantile(tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if h.over != 1 || h.max != 3*time.Second {
		t.Errorf("over %d max %v", h.over, h.max)
	}
}

// echoCall builds call id whose caller sent n packets 20 ms apart and
// heard them back delay later; back decides, for each packet count,
// which count it heard instead (-1: silence, texml had nothing).
func echoCall(id, n int, delay time.Duration, back func(int) int, from uint32) *call {
	c := &call{id: id}
	l := &leg{stream: uint32(id + 1)}
	l.rx.echo = newEchoRx(l.stream)
	c.leg = l
	t0 := time.Unix(1000, 0)
	for k := range n {
		l.rx.echo.sent(uint32(k), t0.Add(time.Duration(k)*ptime))
		l.count++
		p := make([]byte, 160)
		for i := range p {
			p[i] = 0xFF
		}
		if b := back(k); b >= 0 {
			putMark(p, from, uint32(b))
		}
		l.rx.packet(uint16(k), uint32(k)*160, p, time.Time{}, t0.Add(time.Duration(k)*ptime+delay), true)
	}
	return c
}

func TestEchoSummary(t *testing.T) {
	same := func(k int) int { return k }
	for _, tc := range []struct {
		name     string
		calls    []*call
		stalled  int
		check    func(s echoStats) bool
		printed  []string
		verdicts string
	}{{
		name: "clean, one stalled",
		calls: []*call{
			echoCall(0, 100, 0, func(int) int { return -1 }, 1), // stalled: silence only
			echoCall(1, 100, 45*time.Millisecond, same, 2),
			echoCall(2, 100, 55*time.Millisecond, same, 3),
		},
		stalled: 1,
		check: func(s echoStats) bool {
			return s.ok.d.legs == 2 && s.ok.echoed == 2 && s.ok.lost() == 0 && s.ok.delay.n == 200 &&
				s.stalled.d.legs == 1 && s.stalled.echoed == 0 && s.failed == 0
		},
		printed:  []string{"own packets back: 200 of 200 sent", "2 calls heard theirs, 0 heard none", "p50 46.0  p90 56.0"},
		verdicts: "MISSED:0",
	}, {
		name: "one own packet lost, one changed, one call failed",
		calls: []*call{
			echoCall(0, 50, 40*time.Millisecond, func(k int) int {
				if k == 20 {
					return 19 // 20 never came back: 19 heard twice
				}
				return k
			}, 1),
			func() *call {
				c := echoCall(1, 50, 40*time.Millisecond, same, 2)
				p := make([]byte, 160)
				putMark(p, 2, 50) // the rest is not silence
				c.leg.rx.echo.sent(50, time.Unix(1001, 0))
				c.leg.rx.packet(50, 50*160, p, time.Time{}, time.Unix(1001, 0).Add(40*time.Millisecond), true)
				return c
			}(),
			{id: 2, err: errTest},
		},
		check: func(s echoStats) bool {
			return s.ok.d.e2eMissing == 1 && s.ok.d.e2eReorder == 1 && s.ok.altered == 1 && s.failed == 1
		},
		printed:  []string{"1 never came back between the first and the last back, 1 out of order, 1 changed beyond the mark"},
		verdicts: "MISSED:2",
	}, {
		name: "crossed streams, the stalled call heard itself",
		calls: []*call{
			echoCall(0, 50, 40*time.Millisecond, same, 1),
			echoCall(1, 50, 40*time.Millisecond, same, 3), // another call's packets
		},
		stalled: 1,
		check: func(s echoStats) bool {
			return s.ok.crossed == 1 && s.ok.echoed == 0 && s.stalled.echoed == 1
		},
		printed:  []string{"1 calls heard another call's packets", "1 heard their own packets back (should be none)"},
		verdicts: "MISSED:2",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := echoSummary(tc.calls, tc.stalled)
			if !tc.check(s) {
				t.Errorf("%+v", s)
			}
			var b strings.Builder
			s.print(&b, true, tc.stalled)
			for _, want := range tc.printed {
				if !strings.Contains(b.String(), want) {
					t.Errorf("printed:\n%s\nwant %q", b.String(), want)
				}
			}
			missed := 0
			s.verdicts(&b, tc.stalled, func(ok bool) string {
				if !ok {
					missed++
					return "MISSED"
				}
				return "met"
			})
			if got := "MISSED:" + string(rune('0'+missed)); got != tc.verdicts {
				t.Errorf("%s, want %s:\n%s", got, tc.verdicts, b.String())
			}
		})
	}
}

func TestCheckEcho(t *testing.T) {
	base := options{target: "127.0.0.1:15060", calls: 10, rate: 10, hold: 5 * time.Second, shards: 2}
	for _, tc := range []struct {
		name string
		set  func(o *options)
		ok   bool
	}{
		{"echo", func(o *options) { o.echo, o.poll = true, true }, true},
		{"echo with stalled", func(o *options) { o.echo, o.poll, o.stalled = true, true, 1 }, true},
		{"echo without poll", func(o *options) { o.echo = true }, false},
		{"stalled without echo", func(o *options) { o.poll, o.stalled = true, 1 }, false},
		{"every call stalled", func(o *options) { o.echo, o.poll, o.stalled = true, true, 10 }, false},
		{"echo with callee", func(o *options) { o.echo, o.poll, o.callee = true, true, "127.0.0.1:25070" }, false},
		{"echo with conference", func(o *options) { o.echo, o.poll, o.conference = true, true, 5 }, false},
	} {
		o := base
		tc.set(&o)
		if err := o.check(); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// Delays beyond the histogram print as above it, not as the largest.
func TestEchoPrintLongDelay(t *testing.T) {
	s := echoSummary([]*call{echoCall(0, 10, 3*time.Second, func(k int) int { return k }, 1)}, 0)
	var b strings.Builder
	s.print(&b, true, 0)
	if !strings.Contains(b.String(), "p50 > 2000  p90 > 2000") || !strings.Contains(b.String(), "10 over 2 s") {
		t.Errorf("printed:\n%s", b.String())
	}
}

// The stalled calls' pause: until they are answered (or the limit),
// then the streams' grace; a cancelled run does not wait.
func TestWaitAnswered(t *testing.T) {
	var answered atomic.Int64
	answered.Store(2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, tc := range []struct {
		name  string
		n     int64
		limit time.Duration
		min   time.Duration
	}{
		{"answered", 2, time.Minute, streamGrace},
		{"one never answered", 3, 50 * time.Millisecond, streamGrace + 50*time.Millisecond},
	} {
		d, err := waitAnswered(ctx, &answered, tc.n, tc.limit)
		if err != nil || d < tc.min || d > tc.min+time.Second {
			t.Errorf("%s: waited %v, %v", tc.name, d, err)
		}
	}
	cancel()
	if _, err := waitAnswered(ctx, &answered, 3, time.Minute); err == nil {
		t.Error("a cancelled run waited")
	}
}
