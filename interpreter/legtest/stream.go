package legtest

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/texml/texml/interpreter"
)

// frameTime is one packet time.
const frameTime = 20 * time.Millisecond

// streamSink keeps what a stream's Sink and Digit receive, with the time
// on the case's clock.
type streamSink struct {
	clk    interpreter.Clock
	start  time.Time
	mu     sync.Mutex
	voiced int           // inbound frames with speech in them
	frames int           // frames of any kind
	out    int           // outbound frames
	keys   string        // keys received
	keyAt  time.Duration // when the first key came
	closed bool          // stop returned: nothing may come any more
	late   int           // frames or keys after stop returned
}

func (s *streamSink) sink(t interpreter.Track, frame []int16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.late++
		return
	}
	s.frames++
	if t == interpreter.TrackOutbound {
		s.out++
		return
	}
	var e float64
	for _, v := range frame {
		e += float64(v) * float64(v)
	}
	if math.Sqrt(e/float64(len(frame))) > 300 {
		s.voiced++
	}
}

func (s *streamSink) digit(d byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.late++
		return
	}
	if s.keys == "" {
		s.keyAt = s.clk.Now().Sub(s.start)
	}
	s.keys += string(d)
}

// stopped records that stop has returned.
func (s *streamSink) stopped() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// tonePlayer gives n frames of a loud tone, then nothing, and notes when
// it gave its last.
type tonePlayer struct {
	clk   interpreter.Clock
	start time.Time
	mu    sync.Mutex
	left  int
	empty time.Duration // when Next first found nothing left
}

func (p *tonePlayer) Next(frame []int16) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.left == 0 {
		if p.empty == 0 {
			p.empty = p.clk.Now().Sub(p.start)
		}
		return false
	}
	p.left--
	for i := range frame {
		frame[i] = int16(8000 * math.Sin(2*math.Pi*float64(i)/16))
	}
	return true
}

// streamCases are media streams (<Start><Stream>, <Connect><Stream>):
// the leg moves audio both ways at the pace of packet times, passes the
// keys on, and stops at once.
var streamCases = []contractCase{
	{"a stream hears what the far end says", []Act{{At: 0, Kind: Talk, For: 300 * time.Millisecond}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			s := &streamSink{clk: c.clk, start: c.start}
			stop, err := leg.Stream(ctx, interpreter.StreamSpec{Inbound: true, Sink: s.sink})
			if err != nil {
				c.t.Fatal(err)
			}
			if err := c.clk.Sleep(ctx, 500*time.Millisecond); err != nil {
				c.t.Fatal(err)
			}
			stop()
			s.stopped()
			stop() // idempotent
			want := int(300 * time.Millisecond / frameTime)
			tol := int((c.slack+2*frameTime)/frameTime) + 1
			s.mu.Lock()
			voiced, out := s.voiced, s.out
			s.mu.Unlock()
			if voiced < want-tol || voiced > want+tol {
				c.t.Errorf("%d frames with speech, want %d (±%d): the 300 ms the far end talked", voiced, want, tol)
			}
			if out != 0 {
				c.t.Errorf("%d outbound frames on an inbound-only stream", out)
			}
			if err := c.clk.Sleep(ctx, 3*frameTime); err != nil {
				c.t.Fatal(err)
			}
			s.mu.Lock()
			late := s.late
			s.mu.Unlock()
			if late != 0 {
				c.t.Errorf("%d frames after stop returned", late)
			}
		}},
	{"a stream plays its player at the pace of packet times", nil,
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			p := &tonePlayer{clk: c.clk, start: c.start, left: 10}
			s := &streamSink{clk: c.clk, start: c.start}
			stop, err := leg.Stream(ctx, interpreter.StreamSpec{Outbound: true, Sink: s.sink, Play: p})
			if err != nil {
				c.t.Fatal(err)
			}
			if err := c.clk.Sleep(ctx, 400*time.Millisecond); err != nil {
				c.t.Fatal(err)
			}
			stop()
			p.mu.Lock()
			empty := p.empty
			p.mu.Unlock()
			// Ten frames take 200 ms; a packet time more for the read
			// that finds the player empty.
			if lo, hi := 200*time.Millisecond-c.slack, 220*time.Millisecond+c.slack; empty < lo || empty > hi {
				c.t.Errorf("the player ran out at %v, want 200-220 ms (±%v)", empty, c.slack)
			}
			// A tap's Write in progress may end after stop returned: read
			// under the sink's lock.
			s.mu.Lock()
			out := s.out
			s.mu.Unlock()
			if want := int(400 * time.Millisecond / frameTime); out < want/2 {
				c.t.Errorf("%d outbound frames in 400 ms, want about %d: one per packet time", out, want)
			}
		}},
	{"a stream that plays gets the far end's keys", []Act{{At: 200 * time.Millisecond, Kind: Press, Digits: "5"}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			s := &streamSink{clk: c.clk, start: c.start}
			stop, err := leg.Stream(ctx, interpreter.StreamSpec{Inbound: true, Sink: s.sink, Digit: s.digit, Play: &tonePlayer{clk: c.clk, start: c.start}})
			if err != nil {
				c.t.Fatal(err)
			}
			if err := c.clk.Sleep(ctx, 500*time.Millisecond); err != nil {
				c.t.Fatal(err)
			}
			stop()
			s.mu.Lock()
			defer s.mu.Unlock()
			// The key lands within a packet time of its press on a
			// virtual clock, within the slack (and an RFC 4733 event's
			// duration) on a real one.
			if s.keys != "5" || s.keyAt < 200*time.Millisecond-c.slack || s.keyAt > 200*time.Millisecond+frameTime+c.slack {
				c.t.Errorf("keys %q at %v, want 5 at 200 ms (±%v)", s.keys, s.keyAt, c.slack)
			}
		}},
	{"a hang-up during a stream ends the call", []Act{{At: 200 * time.Millisecond, Kind: HangUp}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			s := &streamSink{clk: c.clk, start: c.start}
			stop, err := leg.Stream(ctx, interpreter.StreamSpec{Inbound: true, Sink: s.sink, Digit: s.digit, Play: &tonePlayer{clk: c.clk, start: c.start}})
			if err != nil {
				c.t.Fatal(err)
			}
			c.hungUp(ctx, c.clk.Sleep(ctx, 5*time.Second))
			c.at("the hang-up", 200*time.Millisecond)
			stop()
			if _, err := leg.Stream(context.WithoutCancel(ctx), interpreter.StreamSpec{Inbound: true, Sink: s.sink}); err == nil {
				c.t.Error("Stream after the hang-up succeeded; want ErrHangup")
			}
		}},
}
