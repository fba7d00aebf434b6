package queue

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
	"github.com/texml/texml/store/memory"
)

// fakeRemote plays the other nodes: which are alive, and how their picks
// go.
type fakeRemote struct {
	mu      sync.Mutex
	alive   map[string]bool
	pickErr error
	picks   []string
	calls   []func(interpreter.Progress)
	cancels int
	sent    int
	nodes   map[string]*Service // Send's destinations
}

func (f *fakeRemote) Alive(_ context.Context, node string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alive[node]
}

func (f *fakeRemote) Pick(_ context.Context, node, callerSid string, _ interpreter.Agent, progress func(interpreter.Progress)) (interpreter.Attempt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pickErr != nil {
		return nil, f.pickErr
	}
	f.picks = append(f.picks, node+"/"+callerSid)
	f.calls = append(f.calls, progress)
	return attemptFunc(func() {
		f.mu.Lock()
		f.cancels++
		f.mu.Unlock()
	}), nil
}

// Send hands a dequeue to the node's service in f.nodes.
func (f *fakeRemote) Send(_ context.Context, node string, m store.Message) error {
	f.mu.Lock()
	dst := f.nodes[node]
	f.sent++
	f.mu.Unlock()
	if dst == nil {
		return errors.New("no such node")
	}
	go dst.DeliverDequeue(m) // as the bus delivers: on another goroutine
	return nil
}

func (f *fakeRemote) last() func(interpreter.Progress) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[len(f.calls)-1]
}

type attemptFunc func()

func (a attemptFunc) Cancel() { a() }

func remoteService(t *testing.T, r *fakeRemote) (*Service, *store.Store) {
	t.Helper()
	st := memory.New()
	t.Cleanup(func() { st.Close() })
	return New(st.Queues, Options{Node: "here", Remote: r}), st
}

func push(t *testing.T, st *store.Store, node, sid string) {
	t.Helper()
	if _, err := st.Queues.Push(context.Background(), "q", store.Member{CallSid: sid, Node: node, Enqueued: time.Now()}, 0); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for " + what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRemoteDeadNodeDropped(t *testing.T) {
	r := &fakeRemote{alive: map[string]bool{"b": true}}
	s, st := remoteService(t, r)
	push(t, st, "dead", "CA1")
	push(t, st, "b", "CA2")
	var log progressLog
	if _, err := s.Take(context.Background(), "q", interpreter.Agent{CallSid: "CAa"}, log.add); err != nil {
		t.Fatal(err)
	}
	if len(r.picks) != 1 || r.picks[0] != "b/CA2" {
		t.Fatalf("picks %v; want the dead node's member skipped and b/CA2 asked for", r.picks)
	}
	r.last()(interpreter.Progress{Kind: interpreter.Answered})
	if k := log.kinds(); len(k) != 1 || k[0] != interpreter.Answered || log.evs[0].CallSid != "CA2" {
		t.Fatalf("progress %+v, want Answered with CA2", log.evs)
	}
	if ms, _ := st.Queues.Members(context.Background(), "q"); len(ms) != 0 {
		t.Errorf("queue still holds %v", ms)
	}
}

func TestRemoteCallerGoneTriesNext(t *testing.T) {
	r := &fakeRemote{alive: map[string]bool{"b": true}}
	s, st := remoteService(t, r)
	push(t, st, "b", "CA1")
	push(t, st, "b", "CA2")
	if _, err := s.Take(context.Background(), "q", interpreter.Agent{CallSid: "CAa"}, func(interpreter.Progress) {}); err != nil {
		t.Fatal(err)
	}
	r.last()(interpreter.Progress{Kind: interpreter.Failed, Code: 486})
	waitFor(t, "the second pick", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.picks) == 2 })
	if r.picks[1] != "b/CA2" {
		t.Fatalf("picks %v", r.picks)
	}
	if ms, _ := st.Queues.Members(context.Background(), "q"); len(ms) != 0 {
		t.Errorf("a caller its node said was gone came back: %v", ms)
	}
}

func TestRemoteUnreachableRequeues(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(r *fakeRemote)
	}{
		{"503", func(r *fakeRemote) { r.last()(interpreter.Progress{Kind: interpreter.Failed, Code: 503}) }},
		{"pick error", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeRemote{alive: map[string]bool{"b": true}}
			if tc.fail == nil {
				r.pickErr = errors.New("no route")
			}
			s, st := remoteService(t, r)
			push(t, st, "b", "CA1")
			att, err := s.Take(context.Background(), "q", interpreter.Agent{CallSid: "CAa"}, func(interpreter.Progress) {})
			if err != nil {
				t.Fatal(err)
			}
			defer att.Cancel()
			if tc.fail != nil {
				tc.fail(r)
			}
			waitFor(t, "the member back in the queue", func() bool {
				ms, _ := st.Queues.Members(context.Background(), "q")
				return len(ms) == 1 && ms[0].CallSid == "CA1"
			})
		})
	}
}

func TestRemoteCancel(t *testing.T) {
	r := &fakeRemote{alive: map[string]bool{"b": true}}
	s, st := remoteService(t, r)
	push(t, st, "b", "CA1")
	var log progressLog
	att, err := s.Take(context.Background(), "q", interpreter.Agent{CallSid: "CAa"}, log.add)
	if err != nil {
		t.Fatal(err)
	}
	r.last()(interpreter.Progress{Kind: interpreter.Answered})
	att.Cancel()
	att.Cancel()
	if r.cancels != 1 {
		t.Errorf("the node leg was canceled %d times, want once", r.cancels)
	}
	r.last()(interpreter.Progress{Kind: interpreter.Ended})
	if k := log.kinds(); len(k) != 1 {
		t.Errorf("progress after the agent's Cancel: %v", k)
	}
}

func TestSweepRemovesDeadNodesMembers(t *testing.T) {
	r := &fakeRemote{alive: map[string]bool{"b": true}}
	s, st := remoteService(t, r)
	push(t, st, "dead", "CA1")
	push(t, st, "b", "CA2")
	push(t, st, "here", "CA3")
	push(t, st, "dead", "CA4")
	n, err := s.Sweep(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v; want the dead node's 2 members removed", n, err)
	}
	ms, _ := st.Queues.Members(context.Background(), "q")
	if len(ms) != 2 || ms[0].CallSid != "CA2" || ms[1].CallSid != "CA3" {
		t.Errorf("left in the queue: %v", ms)
	}
}

// A dequeue asked of another node goes to the caller's node, which moves
// the caller; it returns once the store shows the caller out.
func TestDequeueForwarded(t *testing.T) {
	st := memory.New()
	t.Cleanup(func() { st.Close() })
	home := New(st.Queues, Options{Node: "home"})
	p, picked := enqueue(t, home, "support", "CAcaller", 0)
	r := &fakeRemote{alive: map[string]bool{"home": true}, nodes: map[string]*Service{"home": home}}
	other := New(st.Queues, Options{Node: "other", Remote: r})
	if err := other.Dequeue(context.Background(), "support", "CAcaller", "http://app/moved", "GET"); err != nil {
		t.Fatalf("forwarded dequeue: %v", err)
	}
	if u, m, ok := p.Redirected(); !ok || u != "http://app/moved" || m != "GET" || picked.Load() != 1 {
		t.Errorf("the caller: redirected %q %q %v, picked %d", u, m, ok, picked.Load())
	}
	if err := other.Dequeue(context.Background(), "support", "CAcaller", "http://app/x", ""); !errors.Is(err, ErrNotHere) {
		t.Errorf("dequeue of a caller no longer waiting: %v, want ErrNotHere", err)
	}
	if r.sent != 1 {
		t.Errorf("%d messages sent, want 1", r.sent)
	}
}
