package queue

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
)

// pickRemote asks the node of m for its caller; false when that node is
// gone (the member is dropped) or cannot be reached.
func (t *take) pickRemote(m store.Member) bool {
	r := t.s.o.Remote
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !r.Alive(ctx, m.Node) {
		t.s.log.Warn("queue member of a dead node dropped", "queue", t.queue, "call_sid", m.CallSid, "node", m.Node)
		return false
	}
	t.mu.Lock()
	t.remote = pending
	t.mu.Unlock()
	var answered bool
	att, err := r.Pick(context.WithoutCancel(ctx), m.Node, m.CallSid, t.agent, func(p interpreter.Progress) {
		switch p.Kind {
		case interpreter.Answered:
			answered = true
			p.CallSid = m.CallSid
			t.progress(p)
		case interpreter.Failed:
			t.mu.Lock()
			t.remote = nil
			stop := t.canceled
			t.mu.Unlock()
			if p.Code == 486 {
				// The caller is gone (cluster.Claim's refusal): the next.
				if !stop {
					go t.try() // not from inside the Dialer's callback
				}
				return
			}
			// Its node was busy or unreachable, and the caller may still
			// wait: it goes back, and this agent tries again a little
			// later rather than hammering that node.
			go t.requeue(m)
			if !stop {
				time.AfterFunc(remoteRetry, t.try)
			}
		case interpreter.Ended:
			t.mu.Lock()
			report := answered && !t.canceled && !t.done
			t.remote, t.done = nil, true
			t.mu.Unlock()
			if report {
				t.progress(interpreter.Progress{Kind: interpreter.Ended})
			}
		}
	})
	if err != nil {
		t.mu.Lock()
		t.remote = nil
		t.mu.Unlock()
		t.s.log.Warn("queue: remote pick", "queue", t.queue, "call_sid", m.CallSid, "node", m.Node, "err", err)
		t.requeue(m)
		time.AfterFunc(remoteRetry, t.try) // not at once: the same member may come back
		return true
	}
	t.mu.Lock()
	if t.remote == pending {
		t.remote = att
	}
	canceled := t.canceled
	t.mu.Unlock()
	if canceled {
		att.Cancel()
	}
	return true
}

// remoteRetry is how long an agent waits after a node could not hand
// over its caller.
const remoteRetry = time.Second

// requeue puts back a member whose node could not be asked for it, so
// that a caller still waiting there is not lost; it goes to the back,
// the only place a store push can put it.
func (t *take) requeue(m store.Member) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := t.s.st.Push(ctx, t.queue, m, 0); err != nil {
		t.s.log.Error("queue: a member could not be put back", "queue", t.queue, "call_sid", m.CallSid, "node", m.Node, "err", err)
	}
}

// pending marks a remote pick being placed.
var pending interpreter.Attempt = canceledAttempt{}

type canceledAttempt struct{}

func (canceledAttempt) Cancel() {}

// ErrGone refuses a pick of a caller that is no longer waiting here.
var ErrGone = errors.New("queue: the caller is no longer waiting")

// readyCaller is a caller's Pickup.Ready: its leg, and how to let it go.
type readyCaller struct {
	leg      interpreter.Leg
	released func(bool)
}

// AcceptRemote serves another node's pick of a caller waiting here
// (cluster.Picker): leg is the node-to-node leg from the agent's node,
// not yet answered. The caller hears the agent's url document, then leg
// is answered and bridged with the caller's own leg until either side
// hangs up. ErrGone: the caller left; the agent's node tries the next.
func (s *Service) AcceptRemote(ctx context.Context, callerSid string, agent interpreter.Agent, leg interpreter.Leg) error {
	s.mu.Lock()
	p := s.waiting[callerSid]
	if p == nil || p.left {
		s.mu.Unlock()
		return ErrGone
	}
	delete(s.waiting, callerSid)
	ready := make(chan readyCaller, 1)
	gone := make(chan struct{})
	var once sync.Once
	p.pickup = &interpreter.Pickup{
		Agent: agent,
		Ready: func(l interpreter.Leg, released func(bool)) { ready <- readyCaller{l, released} },
		Gone:  func() { once.Do(func() { close(gone) }) },
	}
	s.mu.Unlock()
	p.picked()

	var r readyCaller
	select {
	case r = <-ready:
	case <-gone:
		return ErrGone // hung up during the url document
	case <-ctx.Done():
		// The agent's node gave up (CANCEL) while the url document
		// played: the caller goes back to the queue when it is ready.
		go func() {
			select {
			case r := <-ready:
				r.released(false)
			case <-gone:
			}
		}()
		return nil
	}
	if err := leg.Answer(ctx); err != nil {
		r.released(false)
		return nil
	}
	stop, err := r.leg.Bridge(leg)
	if err != nil {
		s.log.Warn("queue: bridge with a node leg", "call_sid", callerSid, "err", err)
		r.released(false)
		hangup(ctx, leg)
		return nil
	}
	defer stop()
	select {
	case <-ctx.Done():
		r.released(true) // the agent's side ended the bridge: the caller goes on
	case <-gone:
		hangup(ctx, leg) // the caller hung up: the agent's node hears BYE
	}
	return nil
}

func hangup(ctx context.Context, leg interpreter.Leg) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = leg.Hangup(cctx)
}

// Sweep takes the members of dead nodes out of every queue, so that the
// positions the waiting callers hear count only callers who can still be
// served. (A dead node's member is never handed to an agent either way:
// Take drops it when it reaches the front.) The cluster runs it
// periodically; it returns how many members it removed.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	if s.o.Remote == nil {
		return 0, nil
	}
	qs, err := s.st.List(ctx)
	if err != nil {
		return 0, err
	}
	alive := map[string]bool{s.o.Node: true}
	removed := 0
	for _, q := range qs {
		ms, err := s.st.Members(ctx, q.Name)
		if err != nil {
			return removed, err
		}
		for _, m := range ms {
			live, ok := alive[m.Node]
			if !ok {
				live = m.Node == "" || s.o.Remote.Alive(ctx, m.Node)
				alive[m.Node] = live
			}
			if live {
				continue
			}
			if ok, err := s.st.Remove(ctx, q.Name, m.CallSid); err == nil && ok {
				removed++
				s.log.Info("queue member of a dead node removed", "queue", q.Name, "call_sid", m.CallSid, "node", m.Node)
			}
		}
	}
	return removed, nil
}
