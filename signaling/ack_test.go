package signaling

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// fakeTx records when a 2xx was (re)sent; Done closes when the test says.
type fakeTx struct {
	sip.ServerTransaction
	mu   sync.Mutex
	sent []time.Time
	done chan struct{}
}

func (f *fakeTx) Respond(*sip.Response) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, time.Now())
	return nil
}

func (f *fakeTx) Done() <-chan struct{} { return f.done }

func (f *fakeTx) times() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.sent...)
}

// TestRetransmit2xxSchedule: retransmissions at T1, then intervals that
// double up to T2, until the ACK.
func TestRetransmit2xxSchedule(t *testing.T) {
	const t1, t2 = 20 * time.Millisecond, 80 * time.Millisecond
	tx := &fakeTx{done: make(chan struct{})}
	acks := make(chan *sip.Request, 1)
	ack := sip.NewRequest(sip.ACK, sip.Uri{Host: "x"})
	began := time.Now()
	go func() {
		time.Sleep(400 * time.Millisecond)
		acks <- ack
	}()
	got, err := retransmit2xx(tx, nil, acks, nil, t1, t2)
	if err != nil || got != ack {
		t.Fatalf("got %v, %v; want the ACK", got, err)
	}
	// Expected sends at 20, 60, 140, 220, 300, 380 ms: 6 of them.
	sent := tx.times()
	if len(sent) < 5 || len(sent) > 7 {
		t.Fatalf("%d retransmissions in 400 ms, want about 6: %v", len(sent), sent)
	}
	prev := began
	for i, at := range sent {
		want := min(t1<<i, t2)
		if gap := at.Sub(prev); gap < want-5*time.Millisecond || gap > want+30*time.Millisecond {
			t.Errorf("retransmission %d after %v, want %v", i+1, gap, want)
		}
		prev = at
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(tx.times()); n != len(sent) {
		t.Errorf("%d retransmissions after the ACK", n-len(sent))
	}
}

func TestRetransmit2xxEnds(t *testing.T) {
	const t1, t2 = 5 * time.Millisecond, 20 * time.Millisecond
	t.Run("transaction over", func(t *testing.T) {
		tx := &fakeTx{done: make(chan struct{})}
		time.AfterFunc(50*time.Millisecond, func() { close(tx.done) })
		if _, err := retransmit2xx(tx, nil, make(chan *sip.Request), nil, t1, t2); !errors.Is(err, errNoAck) {
			t.Errorf("err = %v, want errNoAck", err)
		}
	})
	t.Run("call over", func(t *testing.T) {
		stop := make(chan struct{})
		time.AfterFunc(50*time.Millisecond, func() { close(stop) })
		if _, err := retransmit2xx(&fakeTx{done: make(chan struct{})}, nil, make(chan *sip.Request), stop, t1, t2); !errors.Is(err, errCallOver) {
			t.Errorf("err = %v, want errCallOver", err)
		}
	})
	t.Run("newer re-INVITE", func(t *testing.T) {
		acks := make(chan *sip.Request)
		close(acks)
		if ack, err := retransmit2xx(&fakeTx{done: make(chan struct{})}, nil, acks, nil, t1, t2); ack != nil || err != nil {
			t.Errorf("got %v, %v; want nil, nil", ack, err)
		}
	})
}

// TestReinvite2xxRetransmitted: texml resends its 200 OK to a re-INVITE
// until the ACK comes (RFC 3261 §13.3.1.4), then stops.
func TestReinvite2xxRetransmitted(t *testing.T) {
	s := newTestServer(t, longSay, 2, nil)
	p := newPeer(t, s)
	c := p.newCall()
	c.answered(c.offer())
	c.invite(c.offer("a=sendonly"))
	is200 := func(m sip.Message) bool {
		r, ok := m.(*sip.Response)
		return ok && r.StatusCode == 200 && r.CSeq().MethodName == sip.INVITE && r.CSeq().SeqNo == uint32(c.cseq)
	}
	first := p.next(2*time.Second, "200 to the re-INVITE", is200).(*sip.Response)
	// T1 = 500 ms: retransmissions at 0.5 s and 1.5 s.
	again := p.next(2*time.Second, "a retransmitted 200", is200).(*sip.Response)
	if string(again.Body()) != string(first.Body()) {
		t.Errorf("the retransmission differs:\n%s\nvs\n%s", again.Body(), first.Body())
	}
	c.ack(again, "")
	p.quiet(2500*time.Millisecond, "200 after the ACK", is200)
	if s.Active() != 1 {
		t.Fatal("the call ended")
	}
	c.send(sip.BYE, "", "")
	p.response(5*time.Second, sip.BYE, 200)
}

// TestReinviteWithoutAckHangsUp: when the 200 OK to a re-INVITE is never
// ACKed, texml gives up after 64*T1 and ends the call with a BYE.
func TestReinviteWithoutAckHangsUp(t *testing.T) {
	fastTimers(t)
	s := newTestServer(t, longSay, 2, nil)
	p := newPeer(t, s)
	c := p.newCall()
	c.answered(c.offer())
	c.invite(c.offer())
	p.request(5*time.Second, sip.BYE) // Timer L is 64*10 ms
	waitFor(t, 3*time.Second, "the call ends", func() bool { return s.Active() == 0 && s.ports.InUse() == 0 })
}

// fastTimers sets sipgo's T1 to 10 ms for one test: its timers are
// process-wide, so such a test must not run in parallel.
func fastTimers(t *testing.T) {
	t1, t2, t4 := sip.T1, sip.T2, sip.T4
	sip.SetTimers(10*time.Millisecond, 40*time.Millisecond, 50*time.Millisecond)
	t.Cleanup(func() { sip.SetTimers(t1, t2, t4) })
}
