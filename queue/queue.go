// Package queue implements interpreter.Queues over the shared store: the
// order of waiting calls and their positions live in store.Queues (memory
// or Redis), while the hand-off of a caller to an agent happens on the
// node whose leg the caller is.
//
// An agent's Take pops the front member atomically in the store, so two
// agents never get the same caller, and then offers the pop to the
// caller's waiting Enqueue. A caller leaving (Leave, hangup) and an agent
// taking it race in one place, under the service's lock: whichever comes
// second sees the first, so a caller who left is never bridged and a
// picked caller never thinks it left.
//
// A store that loses its state while callers wait (a Redis that restarts
// without persistence) would leave them waiting for ever: no agent could
// pop them again. So an agent's Take that finds the queue empty, or
// unknown, first puts back the callers that wait on this node and that
// the store no longer holds, in the order they came. Callers waiting on
// other nodes are theirs to put back, at their own agents' next Take.
//
// Everything runs on the goroutines of the calls involved, never on one
// of the service's own: that keeps simulated calls on one virtual clock
// exact, and needs no shutdown.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
)

// Options configure a Service.
type Options struct {
	// Node is this process's id in the store; members carry it.
	Node string
	// Clock gives the times of waits (AvgQueueTime); default the system
	// clock.
	Clock interpreter.Clock
	// Remote, when set, reaches a caller waiting on another node: it
	// reports whether that node is alive, and places the node-to-node
	// leg (package cluster). Without it, only this node's callers are
	// handed out.
	Remote Remote
	Logger *slog.Logger
}

// Remote is how a queue reaches callers of other nodes.
type Remote interface {
	// Alive reports whether node is alive; a popped member of a dead
	// node is dropped, never handed to an agent.
	Alive(ctx context.Context, node string) bool
	// Pick asks node for its waiting caller callerSid on behalf of
	// agent: progress reports Answered with the leg bridged to the
	// caller, Failed when the caller is gone, Ended when it hangs up.
	Pick(ctx context.Context, node, callerSid string, agent interpreter.Agent, progress func(interpreter.Progress)) (interpreter.Attempt, error)
	// Send carries a message to node over the store's bus (a REST
	// dequeue of a caller waiting there: forward.go).
	Send(ctx context.Context, node string, m store.Message) error
}

// Service is the queues of one node.
type Service struct {
	st  store.Queues
	o   Options
	log *slog.Logger

	mu       sync.Mutex
	waiting  map[string]*place  // CallSid → a caller waiting on this node
	watchers map[string][]*take // queue → agents waiting for a caller
	// popping counts the agents of each queue between their Pop and
	// its offer: the caller they popped is in the store no more, and
	// not yet picked, and restore must not take it for lost.
	popping map[string]int
	// unremoved are the callers of each queue who left while the store
	// could not take them out: the next Take takes them out, so that
	// they do not linger in its size.
	unremoved map[string][]string
}

var _ interpreter.Queues = (*Service)(nil)

// New returns the queues of a node over st.
func New(st store.Queues, o Options) *Service {
	if o.Clock == nil {
		o.Clock = interpreter.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{st: st, o: o, log: o.Logger, waiting: map[string]*place{}, watchers: map[string][]*take{}, popping: map[string]int{}, unremoved: map[string][]string{}}
}

// place is a caller waiting on this node.
type place struct {
	s      *Service
	queue  string
	sid    string
	leg    interpreter.Leg
	picked func()
	// enqueued is when the caller joined the queue; a caller put back
	// by restore keeps it.
	enqueued time.Time

	// Guarded by s.mu.
	pushed   bool // the Enqueue's Push succeeded
	left     bool
	pickup   *interpreter.Pickup
	redirect *[2]string // the REST API's dequeue: URL and method
}

// Enqueue implements interpreter.Queues.
func (s *Service) Enqueue(ctx context.Context, queue string, w interpreter.Waiter, picked func()) (interpreter.Place, error) {
	p := &place{s: s, queue: queue, sid: w.CallSid, leg: w.Leg, picked: picked, enqueued: w.Enqueued}
	s.mu.Lock()
	if _, dup := s.waiting[w.CallSid]; dup {
		s.mu.Unlock()
		return nil, fmt.Errorf("queue %q: call %s is queued already", queue, w.CallSid)
	}
	// Visible before the push: an agent popping it at once must find it.
	s.waiting[w.CallSid] = p
	s.mu.Unlock()
	_, err := s.st.Push(ctx, queue, store.Member{CallSid: w.CallSid, Node: s.o.Node, Enqueued: w.Enqueued}, w.Max)
	if err != nil {
		s.mu.Lock()
		delete(s.waiting, w.CallSid)
		s.mu.Unlock()
		if errors.Is(err, store.ErrQueueFull) {
			return nil, fmt.Errorf("queue %q: %w", queue, interpreter.ErrQueueFull)
		}
		return nil, fmt.Errorf("queue %q: %w", queue, err)
	}
	s.mu.Lock()
	p.pushed = true
	s.mu.Unlock()
	s.wakeAgents(queue)
	return p, nil
}

// wakeAgents lets the agents waiting on queue try to take a caller.
func (s *Service) wakeAgents(queue string) {
	s.mu.Lock()
	ws := s.watchers[queue]
	delete(s.watchers, queue)
	s.mu.Unlock()
	for _, t := range ws {
		t.try()
	}
}

// Status implements interpreter.Place.
func (p *place) Status(ctx context.Context) (interpreter.QueueStatus, error) {
	info, err := p.s.st.Info(ctx, p.queue)
	if err != nil {
		return interpreter.QueueStatus{}, err
	}
	// Info and Position, not Members: a wait document is requested over
	// and over by every caller, and reading the whole queue for each
	// would cost O(callers²) work in the store.
	st := interpreter.QueueStatus{Sid: info.Sid, Size: info.Size, Max: info.MaxSize}
	if !info.MeanEnqueued.IsZero() {
		st.AvgWait = max(p.s.o.Clock.Now().Sub(info.MeanEnqueued), 0)
	}
	pos, size, err := p.s.st.Position(ctx, p.queue, p.sid)
	if err != nil {
		return st, err
	}
	st.Position, st.Size = pos, size
	return st, nil
}

// Leave implements interpreter.Place.
func (p *place) Leave(ctx context.Context) (bool, error) {
	removed, err := p.s.st.Remove(ctx, p.queue, p.sid)
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if p.pickup != nil {
		return false, nil // an agent took the call first
	}
	// Out of the store (removed now, or popped by an agent that has not
	// offered it yet and will find it left), or the store failed: either
	// way no agent may have it from here on.
	p.left = true
	delete(p.s.waiting, p.sid)
	if err != nil && !removed {
		p.s.unremoved[p.queue] = append(p.s.unremoved[p.queue], p.sid)
		return true, err
	}
	return true, nil
}

// Redirected implements interpreter.Place.
func (p *place) Redirected() (string, string, bool) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if p.redirect == nil {
		return "", "", false
	}
	return p.redirect[0], p.redirect[1], true
}

// ErrNotHere is returned for a call that is not waiting on this node.
var ErrNotHere = errors.New("queue: the call is not waiting on this node")

// Dequeue takes the waiting call callSid out of queue and has it request
// the document at url with method (the REST API's Member update: "Dequeue
// a member from a queue and have the member's call begin executing the
// TwiML document at that URL",
// https://www.twilio.com/docs/voice/api/queue-member). ErrNotHere when the
// call is not waiting in that queue on any live node; a caller waiting on
// another node is dequeued there (forward.go).
func (s *Service) Dequeue(ctx context.Context, queue, callSid, url, method string) error {
	err := s.dequeueLocal(ctx, queue, callSid, url, method)
	if !errors.Is(err, ErrNotHere) {
		return err
	}
	return s.forward(ctx, queue, callSid, url, method)
}

// dequeueLocal is Dequeue for a caller waiting on this node.
func (s *Service) dequeueLocal(ctx context.Context, queue, callSid, url, method string) error {
	s.mu.Lock()
	p := s.waiting[callSid]
	if p == nil || p.left || p.queue != queue {
		s.mu.Unlock()
		return fmt.Errorf("queue %q: call %s: %w", queue, callSid, ErrNotHere)
	}
	delete(s.waiting, callSid)
	p.left = true
	p.redirect = &[2]string{url, method}
	s.mu.Unlock()
	if _, err := s.st.Remove(ctx, queue, callSid); err != nil {
		s.log.Warn("queue dequeue", "queue", queue, "call_sid", callSid, "err", err)
	}
	p.picked()
	return nil
}

// Pickup implements interpreter.Place.
func (p *place) Pickup() *interpreter.Pickup {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.pickup
}

// take is an agent's Take.
type take struct {
	s        *Service
	queue    string
	agent    interpreter.Agent
	progress func(interpreter.Progress)

	mu       sync.Mutex
	canceled bool
	caller   *place
	released func(bool)
	done     bool                // Ended or Failed was reported
	remote   interpreter.Attempt // a node-to-node pick in progress
}

// Take implements interpreter.Queues.
func (s *Service) Take(ctx context.Context, queue string, a interpreter.Agent, progress func(interpreter.Progress)) (interpreter.Attempt, error) {
	if _, err := s.st.Info(ctx, queue); err != nil {
		// A queue the store does not know may be one it forgot while
		// callers waited in it here.
		if errors.Is(err, store.ErrNotFound) && s.restore(ctx, queue) == 0 {
			return nil, fmt.Errorf("queue %q: %w", queue, interpreter.ErrNoQueue)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("queue %q: %w", queue, err)
		}
	}
	s.removeLeft(ctx, queue)
	t := &take{s: s, queue: queue, agent: a, progress: progress}
	t.try()
	return t, nil
}

// try takes the front caller and offers it the agent's pickup, or waits
// for the next Enqueue when the queue is empty.
func (t *take) try() {
	s := t.s
	for {
		t.mu.Lock()
		stop := t.canceled || t.caller != nil
		t.mu.Unlock()
		if stop {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		s.mu.Lock()
		s.popping[t.queue]++
		s.mu.Unlock()
		m, err := s.st.Pop(ctx, t.queue)
		if err != nil {
			s.mu.Lock()
			s.popped(t.queue)
			s.mu.Unlock()
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
			if s.restore(ctx, t.queue) > 0 {
				cancel()
				continue
			}
			cancel()
			s.mu.Lock()
			s.watchers[t.queue] = append(s.watchers[t.queue], t)
			s.mu.Unlock()
			return
		case err != nil:
			cancel()
			s.log.Warn("queue pop", "queue", t.queue, "err", err)
			t.fail("queue store: " + err.Error())
			return
		}
		cancel()
		if t.offer(m) {
			return
		}
	}
}

// offer hands the popped member m to its waiting caller; false when the
// caller is gone and the next one should be tried.
func (t *take) offer(m store.Member) bool {
	s := t.s
	if m.Node != s.o.Node && m.Node != "" && s.o.Remote != nil {
		return t.pickRemote(m)
	}
	s.mu.Lock()
	s.popped(t.queue)
	p := s.waiting[m.CallSid]
	if p == nil || p.left {
		s.mu.Unlock()
		if m.Node != s.o.Node && m.Node != "" {
			s.log.Error("queue member on another node, and no node-to-node legs: dropped", "queue", t.queue, "call_sid", m.CallSid, "node", m.Node)
		}
		return false
	}
	delete(s.waiting, m.CallSid)
	t.mu.Lock()
	t.caller = p
	t.mu.Unlock()
	p.pickup = &interpreter.Pickup{
		Agent: t.agent,
		Ready: t.ready,
		Gone:  t.gone,
	}
	s.mu.Unlock()
	p.picked()
	return true
}

// popped ends a Pop of queue: its member, if any, is offered or dropped.
// s.mu is held.
func (s *Service) popped(queue string) {
	if s.popping[queue]--; s.popping[queue] <= 0 {
		delete(s.popping, queue)
	}
}

// removeLeft takes out of queue the callers who left it while the store
// failed; those it still cannot remove wait for the next Take. (An agent
// popping one meanwhile drops it: it waits here no more.)
func (s *Service) removeLeft(ctx context.Context, queue string) {
	s.mu.Lock()
	sids := s.unremoved[queue]
	delete(s.unremoved, queue)
	s.mu.Unlock()
	var failed []string
	for _, sid := range sids {
		if _, err := s.st.Remove(ctx, queue, sid); err != nil {
			failed = append(failed, sid)
		}
	}
	if len(failed) > 0 {
		s.mu.Lock()
		s.unremoved[queue] = append(s.unremoved[queue], failed...)
		s.mu.Unlock()
	}
}

// storeTimeout bounds a store operation run for an agent outside its own
// call's context.
const storeTimeout = 5 * time.Second

// restore puts back into queue, at its end and in the order they came,
// the callers waiting on this node whom the store no longer holds (it
// lost its state), and returns how many it put back. A Take calls it
// when the store finds the queue empty or unknown, which is when a
// forgotten caller would otherwise wait for ever.
func (s *Service) restore(ctx context.Context, queue string) int {
	s.mu.Lock()
	if s.popping[queue] > 0 {
		// Another agent's popped caller is in neither the store nor a
		// pickup yet: it would be pushed back and taken twice. That
		// agent's next Pop finds the queue empty and restores.
		s.mu.Unlock()
		return 0
	}
	var lost []*place
	for _, p := range s.waiting {
		if p.queue == queue && p.pushed && !p.left && p.pickup == nil {
			lost = append(lost, p)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(lost, func(a, b *place) int { return a.enqueued.Compare(b.enqueued) })
	n := 0
	for _, p := range lost {
		// No limit: these callers were admitted already. ErrExists is a
		// caller the store still holds (another Take restored it).
		_, err := s.st.Push(ctx, queue, store.Member{CallSid: p.sid, Node: s.o.Node, Enqueued: p.enqueued}, 0)
		switch {
		case errors.Is(err, store.ErrExists):
			continue
		case err != nil:
			s.log.Warn("queue restore", "queue", queue, "call_sid", p.sid, "err", err)
			return n
		}
		// Meanwhile another Take may have put the caller back too and
		// popped it (it is picked, or on its way): this push is then a
		// second entry, taken out again. A caller still waiting whom
		// this takes out is put back by the next Take.
		s.mu.Lock()
		twice := s.popping[queue] > 0 || p.left || p.pickup != nil || s.waiting[p.sid] != p
		s.mu.Unlock()
		if twice {
			if _, err := s.st.Remove(ctx, queue, p.sid); err != nil {
				s.log.Warn("queue restore", "queue", queue, "call_sid", p.sid, "err", err)
			}
			continue
		}
		s.log.Warn("queue: the store had lost a waiting caller; put back", "queue", queue, "call_sid", p.sid)
		n++
	}
	return n
}

// ready is the caller's Pickup.Ready: the bridge can start.
func (t *take) ready(leg interpreter.Leg, released func(bool)) {
	t.mu.Lock()
	if t.canceled {
		// The agent gave up while the caller heard the url document.
		t.caller = nil
		t.mu.Unlock()
		released(false)
		return
	}
	t.released = released
	sid := t.caller.sid
	t.mu.Unlock()
	t.progress(interpreter.Progress{Kind: interpreter.Answered, Leg: leg, CallSid: sid, Code: 200})
}

// gone is the caller's Pickup.Gone: it hung up before or during the
// bridge.
func (t *take) gone() {
	t.mu.Lock()
	if t.canceled || t.done {
		t.mu.Unlock()
		return
	}
	bridged := t.released != nil
	t.caller, t.released = nil, nil
	if bridged {
		t.done = true
	}
	t.mu.Unlock()
	if bridged {
		t.progress(interpreter.Progress{Kind: interpreter.Ended})
		return
	}
	t.try() // the caller left before the bridge: the next one
}

func (t *take) fail(reason string) {
	t.mu.Lock()
	if t.done || t.canceled {
		t.mu.Unlock()
		return
	}
	t.done = true
	t.mu.Unlock()
	t.progress(interpreter.Progress{Kind: interpreter.Failed, Reason: reason})
}

// Cancel implements interpreter.Attempt: the agent stops waiting, or ends
// the bridge and sends the caller on to its action.
func (t *take) Cancel() {
	t.mu.Lock()
	if t.canceled {
		t.mu.Unlock()
		return
	}
	t.canceled = true
	released := t.released
	t.released = nil
	remote := t.remote
	t.remote = nil
	t.mu.Unlock()
	if remote != nil {
		remote.Cancel() // CANCEL, or BYE to the caller's node: the caller goes on there
	}
	s := t.s
	s.mu.Lock()
	ws := s.watchers[t.queue]
	for i, w := range ws {
		if w == t {
			s.watchers[t.queue] = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(s.watchers[t.queue]) == 0 {
		delete(s.watchers, t.queue)
	}
	s.mu.Unlock()
	if released != nil {
		released(true)
	}
}
