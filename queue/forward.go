package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/texml/texml/store"
)

// A REST dequeue (the Member resource's update) asked of a node where the
// caller does not wait goes to the caller's node over the store's bus; the
// node asked waits, a bounded time, until the store shows the caller out
// of the queue.

// DequeueKind is the kind of the bus message that carries a dequeue to
// the node where the caller waits; DeliverDequeue takes it.
const DequeueKind = "queue-dequeue"

// forwardWait bounds the wait for a forwarded dequeue to show.
const forwardWait = 3 * time.Second

// dequeueMsg is a forwarded dequeue.
type dequeueMsg struct {
	Queue, URL, Method string
}

// forward sends the dequeue of callSid to the node it waits on. ErrNotHere
// when the store has it on no live node but this one, or it stays queued.
func (s *Service) forward(ctx context.Context, queue, callSid, url, method string) error {
	members, err := s.st.Members(ctx, queue)
	if err != nil {
		return fmt.Errorf("queue %q: %w", queue, err)
	}
	node := ""
	for _, m := range members {
		if m.CallSid == callSid {
			node = m.Node
		}
	}
	if node == "" || node == s.o.Node || s.o.Remote == nil || !s.o.Remote.Alive(ctx, node) {
		return fmt.Errorf("queue %q: call %s: %w", queue, callSid, ErrNotHere)
	}
	body, _ := json.Marshal(dequeueMsg{Queue: queue, URL: url, Method: method})
	if err := s.o.Remote.Send(ctx, node, store.Message{Kind: DequeueKind, CallSid: callSid, Body: body}); err != nil {
		return fmt.Errorf("queue %q: reaching node %s: %w", queue, node, err)
	}
	wctx, cancel := context.WithTimeout(ctx, forwardWait)
	defer cancel()
	for {
		if pos, _, err := s.st.Position(wctx, queue, callSid); err == nil && pos == 0 {
			return nil
		}
		if err := s.o.Clock.Sleep(wctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("queue %q: call %s: node %s did not dequeue it within %v: %w", queue, callSid, node, forwardWait, ErrNotHere)
		}
	}
}

// DeliverDequeue carries out a dequeue another node forwarded for a
// caller waiting here; register it with cluster.Node.Handle for
// DequeueKind. It never forwards again.
func (s *Service) DeliverDequeue(m store.Message) {
	var d dequeueMsg
	if err := json.Unmarshal(m.Body, &d); err != nil {
		s.log.Warn("queue: bad dequeue message", "call_sid", m.CallSid, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), forwardWait)
	defer cancel()
	if err := s.dequeueLocal(ctx, d.Queue, m.CallSid, d.URL, d.Method); err != nil {
		s.log.Info("queue: forwarded dequeue not carried out", "queue", d.Queue, "call_sid", m.CallSid, "err", err)
	}
}
