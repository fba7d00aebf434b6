package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/internal/redistest"
	"github.com/texml/texml/internal/sipphone"
	"github.com/texml/texml/store"
	redisstore "github.com/texml/texml/store/redis"
)

// TestQueueOverRedis is TestQueueCallerHearsHoldMusicThenAgent with the
// queue kept in a Redis of the test's own (--redis-url).
func TestQueueOverRedis(t *testing.T) {
	r := redistest.Start(t)
	queueHoldMusicThenAgent(t, "--redis-url", r.URL)
}

// routedApp answers each call with the document of the user part of its
// To (the number the test phone dialed) and records every request, so
// that one service can run callers, agents and conference participants.
type routedApp struct {
	mu   sync.Mutex
	docs map[string]string // "/voice" by user, other paths by path
	reqs []routedRequest
	srv  *httptest.Server
}

type routedRequest struct {
	path string
	form url.Values
}

func newRoutedApp(t *testing.T, docs map[string]string) *routedApp {
	a := &routedApp{docs: docs}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		a.mu.Lock()
		a.reqs = append(a.reqs, routedRequest{r.URL.Path, r.PostForm})
		key := r.URL.Path
		if key == "/voice" {
			user, _, _ := strings.Cut(strings.TrimPrefix(r.PostForm.Get("To"), "sip:"), "@")
			key = user
		}
		doc, ok := a.docs[key]
		a.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, doc)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// requests returns the requests to path of the call callSid.
func (a *routedApp) requests(path, callSid string) []url.Values {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []url.Values
	for _, r := range a.reqs {
		if r.path == path && r.form.Get("CallSid") == callSid {
			out = append(out, r.form)
		}
	}
	return out
}

// callSidOf returns the CallSid of the n-th call (0-based) that asked
// for the document of user, waiting for it up to within.
func (a *routedApp) callSidOf(t *testing.T, user string, n int, within time.Duration) string {
	t.Helper()
	for deadline := time.Now().Add(within); ; {
		a.mu.Lock()
		var sids []string
		for _, r := range a.reqs {
			to, _, _ := strings.Cut(strings.TrimPrefix(r.form.Get("To"), "sip:"), "@")
			if r.path == "/voice" && to == user && !containsString(sids, r.form.Get("CallSid")) {
				sids = append(sids, r.form.Get("CallSid"))
			}
		}
		a.mu.Unlock()
		if len(sids) > n {
			return sids[n]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no call %d to %q within %v", n, user, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitRequests waits up to within for a request to path by callSid.
func (a *routedApp) waitRequests(path, callSid string, within time.Duration) []url.Values {
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if r := a.requests(path, callSid); len(r) > 0 {
			return r
		}
	}
	return a.requests(path, callSid)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// call dials user on the service and fails the test unless it is
// answered.
func call(ctx context.Context, t *testing.T, ph *sipphone.Phone, addr, user string) *sipphone.Call {
	t.Helper()
	c := ph.Call(ctx, addr, user, sipphone.CallOptions{})
	if c.FinalCode() != 200 {
		t.Fatalf("call to %q: %d", user, c.FinalCode())
	}
	return c
}

// TestRedisRestartMidCall stops Redis while a caller and an agent talk
// through a queue and three phones talk in a conference, and starts it
// again, as a node of a cluster must survive a store restart (README, "Several nodes"):
//
//   - the bridged and the mixed calls keep their media while Redis is
//     down: their audio never goes through the store;
//   - a caller enqueuing while Redis is down gets its Enqueue action at
//     once with QueueResult=system-error;
//   - leaving a conference, and hanging up while queued, with Redis down
//     end the calls without a hang;
//   - after the restart a new caller enqueues and an agent takes it;
//   - a caller queued before the outage is taken exactly once, after
//     the caller queued ahead of it, who hung up during the outage, is
//     passed over;
//   - a phone joining the conference after the restart talks with those
//     who were in it all along.
//
// It runs twice: with a Redis that persists its data (appendonly, fsync
// on every write) and loads it on restart, as a production Redis does;
// and with one that comes back empty, having forgotten the queues and
// the room, which texml then rebuilds from the calls it still runs (the
// waiting caller, the room's participants).
func TestRedisRestartMidCall(t *testing.T) {
	t.Run("persistent", func(t *testing.T) {
		redisRestartMidCall(t, redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always"))
	})
	t.Run("empty", func(t *testing.T) {
		redisRestartMidCall(t, redistest.Start(t))
	})
}

func redisRestartMidCall(t *testing.T, rs *redistest.Server) {
	a := newRoutedApp(t, map[string]string{
		"early":       `<Response><Enqueue action="/later-done">later</Enqueue></Response>`,
		"caller":      `<Response><Enqueue action="/queued">support</Enqueue></Response>`,
		"agent":       `<Response><Dial><Queue>support</Queue></Dial></Response>`,
		"takelater":   `<Response><Dial><Queue>later</Queue></Dial></Response>`,
		"room":        `<Response><Dial><Conference beep="false">room</Conference></Dial></Response>`,
		"/queued":     `<Response><Hangup/></Response>`,
		"/later-done": `<Response><Hangup/></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice", "--redis-url", rs.URL)
	base := "http://" + s.httpLn.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	// Every phone is made before the goroutine baseline: a phone's own
	// goroutines live until the test ends.
	phones := make([]*sipphone.Phone, 12)
	for i := range phones {
		phones[i] = sipphone.New(t)
	}
	gone, waiter, caller, agent := phones[0], phones[1], phones[2], phones[3]
	room := phones[4:7]
	late, late2, agent2, agent3, roomLate := phones[7], phones[8], phones[9], phones[10], phones[11]
	baseG, baseFD := settle()

	// Before the outage: two callers in queue "later", the second of
	// whom outlives the outage; a caller bridged with an agent through
	// queue "support"; three phones in a conference.
	goneCall := call(ctx, t, gone, s.sipAddr, "early")
	goneSid := a.callSidOf(t, "early", 0, 2*time.Second)
	st, err := redisstore.Open(ctx, rs.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The one who will hang up is queued first, so that the agent who
	// comes after the outage finds it at the front and passes it over.
	waitFor(t, 2*time.Second, "the first caller is in the queue", func() bool {
		ms, _ := st.Queues.Members(ctx, "later")
		return len(ms) == 1
	})
	waiterCall := call(ctx, t, waiter, s.sipAddr, "early")
	waiterSid := a.callSidOf(t, "early", 1, 2*time.Second)
	callerCall := call(ctx, t, caller, s.sipAddr, "caller")
	callerSid := a.callSidOf(t, "caller", 0, 2*time.Second)
	time.Sleep(500 * time.Millisecond) // the caller is in the queue
	agentCall := call(ctx, t, agent, s.sipAddr, "agent")
	roomCalls := make([]*sipphone.Call, len(room))
	for i, ph := range room {
		roomCalls[i] = call(ctx, t, ph, s.sipAddr, "room")
	}
	time.Sleep(1500 * time.Millisecond) // bridged, and the conference started

	// The outage.
	rs.Stop()
	down := time.Now()
	talkers := append([]*sipphone.Call{callerCall, agentCall}, roomCalls...)
	freqs := []float64{700, 1300, 1200, 1700, 1900}
	marks := make([]int, len(talkers))
	for i, c := range talkers {
		marks[i] = len(c.Audio())
	}
	var wg sync.WaitGroup
	for i, c := range talkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Tone(freqs[i], 3*time.Second)
			c.Listen(300 * time.Millisecond)
		}()
	}
	// A new caller, while Redis is down: its Enqueue fails, and its
	// action says so.
	lateCall := call(ctx, t, late, s.sipAddr, "caller")
	lateSid := a.callSidOf(t, "caller", 1, 2*time.Second)
	act := a.waitRequests("/queued", lateSid, 3*time.Second)
	if len(act) != 1 || act[0].Get("QueueResult") != "system-error" {
		t.Errorf("Enqueue action of a call enqueuing while Redis is down: %v, want one with QueueResult=system-error", act)
	}
	if !lateCall.WaitEnd(3 * time.Second) {
		t.Error("the call whose Enqueue failed did not end after its action's Hangup")
	}
	wg.Wait()
	windows := make([][]int16, len(talkers))
	for i, c := range talkers {
		windows[i] = c.Audio()[marks[i]:]
	}
	// Leaving while Redis is down: a queued caller hangs up, one phone
	// leaves the conference.
	activeBefore := s.sip.Active()
	_ = goneCall.Hangup()
	_ = roomCalls[2].Hangup()
	waitFor(t, 4*time.Second, "the two calls that hung up while Redis was down end", func() bool {
		return s.sip.Active() == activeBefore-2
	})
	if r := a.waitRequests("/later-done", goneSid, 3*time.Second); len(r) != 1 || r[0].Get("QueueResult") != "hangup" {
		t.Errorf("Enqueue action of a queued caller hanging up while Redis is down: %v, want QueueResult=hangup", r)
	}
	if d := time.Since(down); d > 10*time.Second {
		t.Errorf("the outage's checks took %v", d)
	}

	// Audio crossed while Redis was down.
	bridgeHeard := [][2]int{{0, 1}, {1, 0}}
	for _, h := range bridgeHeard {
		if !sipphone.HasTone(windows[h[0]], freqs[h[1]]) {
			t.Errorf("while Redis was down, %s did not hear the %v Hz tone across the bridge", []string{"the caller", "the agent"}[h[0]], freqs[h[1]])
		}
	}
	for i := 2; i < len(talkers); i++ {
		for j := 2; j < len(talkers); j++ {
			if lvl := toneLevel(windows[i], freqs[j]); i != j && lvl < -20 {
				t.Errorf("while Redis was down, conference phone %d heard phone %d's %v Hz at %.1f dBFS, want it heard", i-2, j-2, freqs[j], lvl)
			}
		}
	}

	// Redis returns, with what it held.
	rs.Restart()
	late2Call := call(ctx, t, late2, s.sipAddr, "caller")
	late2Sid := a.callSidOf(t, "caller", 2, 2*time.Second)
	time.Sleep(500 * time.Millisecond)
	agent2Call := call(ctx, t, agent2, s.sipAddr, "agent")
	agent3Call := call(ctx, t, agent3, s.sipAddr, "takelater")
	roomLateCall := call(ctx, t, roomLate, s.sipAddr, "room")
	time.Sleep(time.Second)
	var wg2 sync.WaitGroup
	// Pairs that must hear each other: two bridges, and a conference
	// phone there all along with the one that joined after the restart.
	pairs := [][2]*sipphone.Call{{late2Call, agent2Call}, {waiterCall, agent3Call}, {roomCalls[0], roomLateCall}}
	pairFreqs := [][2]float64{{900, 1500}, {1100, 500}, {1200, 2100}}
	for i, p := range pairs {
		for j, c := range p {
			wg2.Add(1)
			go func() {
				defer wg2.Done()
				c.Tone(pairFreqs[i][j], 1500*time.Millisecond)
				c.Listen(500 * time.Millisecond)
			}()
		}
	}
	wg2.Wait()
	for i, p := range pairs {
		for j, c := range p {
			if f := pairFreqs[i][1-j]; !sipphone.HasTone(c.Audio(), f) {
				t.Errorf("after the restart, pair %d side %d did not hear the other's %v Hz tone", i, j, f)
			}
		}
	}
	_ = agent2Call.Hangup()
	_ = agent3Call.Hangup()
	_ = agentCall.Hangup()
	for _, c := range append(roomCalls[:2], roomLateCall) {
		_ = c.Hangup()
	}
	for _, w := range []struct {
		path, sid, what string
	}{
		{"/queued", late2Sid, "the caller enqueued after the restart"},
		{"/later-done", waiterSid, "the caller queued before the outage"},
		{"/queued", callerSid, "the caller bridged through the outage"},
	} {
		r := a.waitRequests(w.path, w.sid, 3*time.Second)
		if len(r) != 1 || r[0].Get("QueueResult") != "bridged" {
			t.Errorf("Enqueue actions of %s: %v, want one with QueueResult=bridged", w.what, r)
		}
	}

	// Nothing queued is left or duplicated: both queues are empty, and
	// the conference is over.
	for _, q := range []string{"support", "later"} {
		if ms, err := st.Queues.Members(ctx, q); err != nil || len(ms) != 0 {
			t.Errorf("queue %q after every call ended: %v, %v; want it empty", q, ms, err)
		}
	}
	waitIdle(t, s)
	if c, err := st.Conferences.Get(ctx, "room"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("conference after every participant left: %+v, %v; want none active", c, err)
	}
	if code, body, _ := httpGet(t, base+"/healthz"); code != 200 || !strings.HasPrefix(string(body), "ok 0 active calls") {
		t.Errorf("/healthz: %d %q", code, body)
	}
	s.fetch.Close()
	a.srv.CloseClientConnections()
	checkNoLeaks(t, s, baseG, baseFD, 3*time.Second)
	if t.Failed() {
		t.Logf("calls: gone %s, waiter %s, caller %s, late %s, late2 %s", goneSid, waiterSid, callerSid, lateSid, late2Sid)
		for _, r := range a.reqs {
			t.Logf("%s %s %s", r.path, r.form.Get("CallSid"), fmt.Sprint(r.form))
		}
	}
}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
	}
}
