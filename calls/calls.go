// Package calls keeps the records of calls and carries out the REST API's
// requests about them (https://www.twilio.com/docs/voice/api/call-resource):
// it places the calls that POST /Calls creates, follows every call's
// status (inbound, outbound-api and Dial children) into store.Calls so
// that any node can list and fetch them, and applies live updates on the
// node that runs the call, sending them over the cluster's bus when
// another node runs it.
//
// One Service per process. Its map of the calls running here is changed
// under one mutex; the records are written to the store by one
// goroutine, the newest state of each call at a time, so that a slow
// store never holds up a call.
package calls

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
)

// Placer creates the calls the API places; signaling.Server implements it
// over SIP, the simulator over scripted callees.
type Placer interface {
	// Check reports whether t can be dialed at all: a trunk routes the
	// number and no deny rule forbids it, or the SIP URI is usable.
	Check(t interpreter.Target) error
	// Prepare returns the call cfg describes, with what a call of this
	// process needs (its Dialer, queues, conferences, logger) filled in;
	// the Service runs it with Place.
	Prepare(cfg interpreter.Config) *interpreter.Call
}

// Sender sends a message to another node (cluster.Node implements it).
type Sender interface {
	Send(ctx context.Context, node string, m store.Message) error
}

// Options configure a Service.
type Options struct {
	Node   string      // this node's id, written into the records of its calls
	Store  store.Calls // where the records go
	Sender Sender      // reaches the node of a call; nil: one node only
	// CPS limits how many calls per second each account's POST /Calls
	// starts dialing; the others wait in status queued, in order, as
	// Twilio queues calls above an account's CPS
	// (https://help.twilio.com/articles/223180028). 0: no limit.
	CPS float64
	// MaxQueued refuses a new call (429, Twilio's 20429) while this many
	// of the account's calls wait for their turn; 0: 10,000.
	MaxQueued int
	// Clock times the CPS queue, the records' Created and the retry of
	// records the store refused; default the system clock.
	Clock  interpreter.Clock
	Logger *slog.Logger
}

// UpdateKind is the kind of the bus message that carries a live update
// to the node of a call; Deliver takes it.
const UpdateKind = "call-update"

// Service is the calls of this process, and the REST API's way to them.
type Service struct {
	o     Options
	log   *slog.Logger
	place Placer

	mu      sync.Mutex
	live    map[string]*entry           // calls running here, by CallSid
	dirty   map[string]store.CallRecord // newest records not yet in the store
	limits  map[string]*account         // by AccountSid
	started bool                        // Start has run: the flusher is there to stop
	kick    chan struct{}
	stop    chan struct{}
	flushed chan struct{}
	base    context.Context // parent of every placement; ended by Close
	end     context.CancelFunc
	wg      sync.WaitGroup // placements in progress
}

// entry is one call running on this node.
type entry struct {
	rec  store.CallRecord
	call *interpreter.Call // nil until the call reports its first status
	// cancel stops a call this node places, before it is answered.
	cancel context.CancelCauseFunc
	// pending is an update sent while a placed call waited for its turn;
	// it is given to the call as soon as the call starts.
	pending *interpreter.Update
}

// account is one account's placement rate.
type account struct {
	lim    *rate.Limiter
	queued int
}

// New returns a Service; it writes records once Start has been called.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = 10000
	}
	if o.Clock == nil {
		o.Clock = interpreter.SystemClock{}
	}
	s := &Service{o: o, log: o.Logger, live: map[string]*entry{}, dirty: map[string]store.CallRecord{},
		limits: map[string]*account{}, kick: make(chan struct{}, 1), stop: make(chan struct{}), flushed: make(chan struct{})}
	s.base, s.end = context.WithCancel(context.Background())
	return s
}

// SetPlacer sets what places the API's calls (the SIP server, created
// after the Service because it reports its calls' statuses to it).
func (s *Service) SetPlacer(p Placer) {
	s.mu.Lock()
	s.place = p
	s.mu.Unlock()
}

// Start begins writing records to the store.
func (s *Service) Start() {
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	go s.flusher()
}

// Close cancels the calls still waiting to be placed, waits for the
// placements to end (the SIP server hangs their calls up when it closes)
// and writes the last records, for at most ctx.
func (s *Service) Close(ctx context.Context) {
	s.end()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		return
	}
	close(s.stop)
	select {
	case <-s.flushed:
	case <-ctx.Done():
	}
}

// Observe follows a call's status; it is every call's
// interpreter.Config.OnStatus.
func (s *Service) Observe(ch interpreter.StatusChange) {
	info := ch.Call.Info()
	s.mu.Lock()
	e := s.live[info.CallSid]
	if e == nil {
		e = &entry{rec: store.CallRecord{
			Sid: info.CallSid, AccountSid: info.AccountSid, ParentCallSid: info.ParentCallSid,
			From: info.From, To: info.To, Direction: info.Direction, Node: s.o.Node, Created: ch.At,
		}}
		s.live[info.CallSid] = e
	}
	e.call = ch.Call
	r := &e.rec
	r.Status, r.Updated = ch.Status, ch.At
	if r.Start.IsZero() {
		r.Start = ch.At // dialed, or arrived
	}
	switch {
	case ch.Status == store.CallInProgress:
		r.Answered = ch.At
	case store.CallEnded(ch.Status):
		r.End = ch.At
		r.AnsweredBy = ch.Call.AnsweredBy()
		delete(s.live, info.CallSid)
	}
	pending := e.pending
	e.pending = nil
	s.dirty[r.Sid] = *r
	s.mu.Unlock()
	s.wake()
	if pending != nil {
		if err := ch.Call.Update(*pending); err != nil {
			s.log.Warn("update sent while the call was queued", "call_sid", info.CallSid, "err", err)
		}
	}
}

func (s *Service) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// flusher writes dirty records to the store until Close; a record that
// fails (Redis down) is tried again a second later unless a newer state
// of the call replaced it.
func (s *Service) flusher() {
	defer close(s.flushed)
	for {
		stopping := false
		select {
		case <-s.kick:
		case <-s.stop:
			stopping = true
		}
		s.mu.Lock()
		batch := s.dirty
		s.dirty = make(map[string]store.CallRecord, len(batch))
		s.mu.Unlock()
		failed := 0
		for sid, r := range batch {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := s.o.Store.Put(ctx, r)
			cancel()
			if err != nil {
				failed++
				s.mu.Lock()
				if _, newer := s.dirty[sid]; !newer {
					s.dirty[sid] = r
				}
				s.mu.Unlock()
			}
		}
		if failed > 0 {
			s.log.Warn("call records not written; trying again", "records", failed)
			if stopping {
				return
			}
			s.o.Clock.AfterFunc(time.Second, s.wake)
		}
		if stopping {
			return
		}
	}
}
