package calls

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
	"github.com/texml/texml/store"
	"github.com/texml/texml/store/memory"
)

// docs serves one document for every URL.
type docs string

func (d docs) Fetch(_ context.Context, r fetcher.Request) (*fetcher.Response, error) {
	return &fetcher.Response{URL: r.URL, RequestURL: r.URL, Status: 200, ContentType: "text/xml", Kind: fetcher.TwiML, Body: []byte(d)}, nil
}

// simPlacer places calls to scripted callees, each call in a simulated
// world of its own; ended receives each call's final status.
type simPlacer struct {
	callees []sim.Callee
	doc     docs
	ended   chan string
	mu      sync.Mutex
	calls   map[string]*interpreter.Call
}

func (p *simPlacer) Check(t interpreter.Target) error {
	if t.Addr == "+19005550000" {
		return errors.New("denied")
	}
	return nil
}

func (p *simPlacer) Prepare(cfg interpreter.Config) *interpreter.Call {
	world := sim.New(sim.Options{Callees: p.callees})
	cfg.Clock, cfg.Dialer = world, world.Dialer()
	observe := cfg.OnStatus
	cfg.OnStatus = func(ch interpreter.StatusChange) {
		observe(ch)
		if store.CallEnded(ch.Status) {
			p.ended <- ch.Status
		}
	}
	c := interpreter.New(nil, p.doc, nil, cfg)
	p.mu.Lock()
	if p.calls == nil {
		p.calls = map[string]*interpreter.Call{}
	}
	p.calls[c.Sid()] = c
	p.mu.Unlock()
	return c
}

// ringer is a Dialer whose callees ring until canceled, on the real
// clock: a test acts on a call while it rings.
type ringer struct{ ringing chan struct{} }

type ringing struct {
	once     sync.Once
	progress func(interpreter.Progress)
}

func (r *ringer) Dial(_ context.Context, _ interpreter.Target, progress func(interpreter.Progress)) (interpreter.Attempt, error) {
	progress(interpreter.Progress{Kind: interpreter.Ringing, Code: 180})
	r.ringing <- struct{}{}
	return &ringing{progress: progress}, nil
}

func (a *ringing) Cancel() {
	a.once.Do(func() { a.progress(interpreter.Progress{Kind: interpreter.Failed, Code: 487}) })
}

// ringPlacer places every call with a ringer.
type ringPlacer struct {
	simPlacer
	r *ringer
}

func (p *ringPlacer) Prepare(cfg interpreter.Config) *interpreter.Call {
	observe := cfg.OnStatus
	cfg.Dialer = p.r
	cfg.OnStatus = func(ch interpreter.StatusChange) {
		observe(ch)
		if store.CallEnded(ch.Status) {
			p.ended <- ch.Status
		}
	}
	return interpreter.New(nil, p.doc, nil, cfg)
}

func newRingPlacer() *ringPlacer {
	return &ringPlacer{simPlacer: simPlacer{doc: `<Response/>`, ended: make(chan string, 1)}, r: &ringer{ringing: make(chan struct{}, 1)}}
}

func newService(t *testing.T, o Options, p Placer) *Service {
	t.Helper()
	if o.Store == nil {
		o.Store = memory.New().Calls
	}
	if o.Node == "" {
		o.Node = "NOa"
	}
	s := New(o)
	s.SetPlacer(p)
	s.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

func request(to string) Request {
	return Request{
		Config:    interpreter.Config{AccountSid: "ACone", From: "+15559990000", To: to, URL: "http://app.test/voice"},
		Placement: interpreter.Placement{Target: interpreter.Target{Kind: interpreter.NumberTarget, Addr: to}},
	}
}

// waitRecord waits until the store holds sid in a final status.
func waitRecord(t *testing.T, st store.Calls, sid string) store.CallRecord {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := st.Get(context.Background(), sid)
		if err == nil && store.CallEnded(r.Status) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("record of %s: %+v, %v; want it ended", sid, r, err)
		}
		time.Sleep(10 * time.Millisecond) // the flusher writes on its own goroutine
	}
}

func TestCreateRecordsTheCall(t *testing.T) {
	tests := []struct {
		callee, status string
		answered       bool
	}{
		{"+15550001111=ring:2,answer", store.CallCompleted, true},
		{"+15550001111=busy", store.CallBusy, false},
		{"+15550001111=failed", store.CallFailed, false},
	}
	for _, tc := range tests {
		t.Run(tc.status, func(t *testing.T) {
			c, _ := sim.ParseCallee(tc.callee)
			p := &simPlacer{callees: []sim.Callee{c}, doc: `<Response><Say>hi</Say></Response>`, ended: make(chan string, 1)}
			st := memory.New().Calls
			s := newService(t, Options{Store: st}, p)
			rec, err := s.Create(context.Background(), request("+15550001111"))
			if err != nil {
				t.Fatal(err)
			}
			if rec.Status != store.CallQueued || rec.Direction != "outbound-api" || rec.Node != "NOa" || rec.AccountSid != "ACone" {
				t.Errorf("created %+v", rec)
			}
			if got := <-p.ended; got != tc.status {
				t.Errorf("ended %s, want %s", got, tc.status)
			}
			r := waitRecord(t, st, rec.Sid)
			if r.Status != tc.status || r.End.IsZero() || r.Start.IsZero() || r.Answered.IsZero() == tc.answered {
				t.Errorf("record %+v", r)
			}
			if _, err := s.Get(context.Background(), "ACother", rec.Sid); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("another account's Get: %v, want ErrNotFound", err)
			}
			list, err := s.List(context.Background(), "ACone", 0, 0)
			if err != nil || len(list) != 1 || list[0].Sid != rec.Sid {
				t.Errorf("List = %v, %v", list, err)
			}
		})
	}
}

func TestCreateRefusals(t *testing.T) {
	p := &simPlacer{doc: `<Response/>`, ended: make(chan string, 10)}
	s := newService(t, Options{CPS: 0.0001, MaxQueued: 1}, p)
	_, err := s.Create(context.Background(), request("+19005550000"))
	if e, ok := IsRefusal(err); !ok || e.Code != CodeNotAuthorized || e.Status != http.StatusBadRequest {
		t.Errorf("denied number: %v", err)
	}
	// The first call takes the only token; the second waits for its
	// turn (hours at this rate), which fills the queue of one.
	if _, err := s.Create(context.Background(), request("+15550001111")); err != nil {
		t.Fatal(err)
	}
	<-p.ended // no callee answers: it rang out in virtual time
	waiting, err := s.Create(context.Background(), request("+15550001111"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Create(context.Background(), request("+15550001111"))
	if e, ok := IsRefusal(err); !ok || e.Code != CodeTooMany || e.Status != http.StatusTooManyRequests {
		t.Errorf("over the queue: %v", err)
	}
	// Canceling the waiting call ends it without dialing.
	if _, err := s.Update(context.Background(), "ACone", waiting.Sid, Change{Status: store.CallCanceled}); err != nil {
		t.Fatal(err)
	}
	for got := range p.ended {
		if got == store.CallCanceled {
			break
		}
	}
}

func TestUpdate(t *testing.T) {
	p := newRingPlacer()
	st := memory.New().Calls
	s := newService(t, Options{Store: st}, p)
	rec, err := s.Create(context.Background(), request("+15550001111"))
	if err != nil {
		t.Fatal(err)
	}
	<-p.r.ringing
	// Redirecting before the answer keeps the update for it; canceling
	// while it rings ends it as canceled.
	if _, err := s.Update(context.Background(), "ACone", rec.Sid, Change{Update: interpreter.Update{Twiml: "<Response/>"}}); err != nil {
		t.Errorf("redirect while ringing: %v", err)
	}
	if _, err := s.Update(context.Background(), "ACone", rec.Sid, Change{Status: store.CallCanceled}); err != nil {
		t.Fatal(err)
	}
	if got := <-p.ended; got != store.CallCanceled {
		t.Errorf("ended %s, want canceled", got)
	}
	waitRecord(t, st, rec.Sid)
	_, err = s.Update(context.Background(), "ACone", rec.Sid, Change{Update: interpreter.Update{URL: "http://app.test/x"}})
	if e, ok := IsRefusal(err); !ok || e.Code != CodeNotInProgress {
		t.Errorf("redirecting an ended call: %v, want 21220", err)
	}
	if _, err := s.Update(context.Background(), "ACone", rec.Sid, Change{Status: store.CallCompleted}); err != nil {
		t.Errorf("ending an ended call: %v, want no error", err)
	}
	if err := s.Delete(context.Background(), "ACone", rec.Sid); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), "ACone", rec.Sid); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
}

// sender hands messages straight to another node's Service.
type sender struct {
	mu    sync.Mutex
	nodes map[string]*Service
	sent  []store.Message
}

func (s *sender) Send(_ context.Context, node string, m store.Message) error {
	s.mu.Lock()
	s.sent = append(s.sent, m)
	dst := s.nodes[node]
	s.mu.Unlock()
	if dst == nil {
		return errors.New("no such node")
	}
	dst.Deliver(m)
	return nil
}

// An update for a call of another node goes to that node, which applies it.
func TestUpdateReachesTheCallsNode(t *testing.T) {
	_, b, bus, p, rec := twoNodes(t)
	if _, err := b.Update(context.Background(), "ACone", rec.Sid, Change{Status: store.CallCompleted}); err != nil {
		t.Fatal(err)
	}
	if got := <-p.ended; got != store.CallCanceled {
		t.Errorf("ended %s, want canceled (it was ringing)", got)
	}
	bus.mu.Lock()
	defer bus.mu.Unlock()
	if len(bus.sent) != 1 || bus.sent[0].Kind != UpdateKind || bus.sent[0].CallSid != rec.Sid {
		t.Fatalf("sent %+v", bus.sent)
	}
	var ch Change
	if err := json.Unmarshal(bus.sent[0].Body, &ch); err != nil || ch.Status != store.CallCompleted {
		t.Errorf("message body %s: %v", bus.sent[0].Body, err)
	}
}

// stepClock is a Clock whose sleeps and timers take no time: it records
// the sleeps asked for, and runs timers at once.
type stepClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return context.Cause(ctx)
}

func (c *stepClock) AfterFunc(_ time.Duration, f func()) func() bool {
	go f()
	return func() bool { return false }
}

// Calls above the account's CPS wait their turn: at 2 calls a second,
// the second accepted at one instant waits 500 ms, the third 1 s.
func TestCPSQueue(t *testing.T) {
	c, _ := sim.ParseCallee("+15550001111=busy")
	p := &simPlacer{callees: []sim.Callee{c}, doc: `<Response/>`, ended: make(chan string, 3)}
	clk := &stepClock{now: time.Now()}
	s := newService(t, Options{CPS: 2, Clock: clk}, p)
	for range 3 {
		if _, err := s.Create(context.Background(), request("+15550001111")); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		<-p.ended
	}
	clk.mu.Lock()
	got := slices.Clone(clk.sleeps)
	clk.mu.Unlock()
	slices.Sort(got)
	if want := []time.Duration{0, 500 * time.Millisecond, time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
}

// failingCalls refuses the first n Puts of a call past queued, as a
// store that is down does.
type failingCalls struct {
	store.Calls
	mu sync.Mutex
	n  int
}

func (f *failingCalls) Put(ctx context.Context, r store.CallRecord) error {
	f.mu.Lock()
	fail := r.Status != store.CallQueued && f.n > 0
	if fail {
		f.n--
	}
	f.mu.Unlock()
	if fail {
		return errors.New("connection refused")
	}
	return f.Calls.Put(ctx, r)
}

// A record the store refused is written again later: the call's final
// state reaches the store once it is back.
func TestRecordsRetried(t *testing.T) {
	c, _ := sim.ParseCallee("+15550001111=busy")
	p := &simPlacer{callees: []sim.Callee{c}, doc: `<Response/>`, ended: make(chan string, 1)}
	st := &failingCalls{Calls: memory.New().Calls, n: 2}
	s := newService(t, Options{Store: st, Clock: &stepClock{now: time.Now()}}, p)
	rec, err := s.Create(context.Background(), request("+15550001111"))
	if err != nil {
		t.Fatal(err)
	}
	<-p.ended
	if r := waitRecord(t, st.Calls, rec.Sid); r.Status != store.CallBusy {
		t.Errorf("record %+v, want busy", r)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.n != 0 {
		t.Errorf("%d refusals left: the flusher did not try", st.n)
	}
}

// twoNodes is two Services sharing one store and a bus, and a call placed
// by the first (NOa), ringing until canceled.
func twoNodes(t *testing.T) (a, b *Service, bus *sender, p *ringPlacer, rec store.CallRecord) {
	t.Helper()
	shared := memory.New().Calls
	bus = &sender{nodes: map[string]*Service{}}
	p = newRingPlacer()
	a = newService(t, Options{Node: "NOa", Store: shared, Sender: bus}, p)
	b = newService(t, Options{Node: "NOb", Store: shared, Sender: bus}, &simPlacer{})
	bus.nodes["NOa"], bus.nodes["NOb"] = a, b
	rec, err := a.Create(context.Background(), request("+15550001111"))
	if err != nil {
		t.Fatal(err)
	}
	<-p.r.ringing
	return a, b, bus, p, rec
}
