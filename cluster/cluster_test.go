package cluster

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
	"github.com/texml/texml/store/memory"
)

// recordingDialer keeps the Target of the node leg it was asked to place.
type recordingDialer struct{ t interpreter.Target }

func (d *recordingDialer) Dial(_ context.Context, t interpreter.Target, _ func(interpreter.Progress)) (interpreter.Attempt, error) {
	d.t = t
	return nil, nil
}

type pickerFunc func(ctx context.Context, callerSid string, agent interpreter.Agent, leg interpreter.Leg) error

func (f pickerFunc) AcceptRemote(ctx context.Context, callerSid string, agent interpreter.Agent, leg interpreter.Leg) error {
	return f(ctx, callerSid, agent, leg)
}

func startNode(t *testing.T, st *store.Store, id, addr string) *Node {
	t.Helper()
	n, err := New(context.Background(), st.Nodes, id, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background(), addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

// TestPickSignedAndClaimed: node B's pick INVITE carries headers node A
// accepts, and A hands the caller, the agent and its url document to its
// queue service.
func TestPickSignedAndClaimed(t *testing.T) {
	st := memory.New()
	a, b := startNode(t, st, "A", "10.0.0.1:5060"), startNode(t, st, "B", "10.0.0.2:5060")
	d := &recordingDialer{}
	b.SetDialer(d)
	agent := interpreter.Agent{CallSid: "CAagent", URL: "http://app/about", Method: "GET"}
	if _, err := b.Pick(context.Background(), "A", "CAcaller", agent, func(interpreter.Progress) {}); err != nil {
		t.Fatal(err)
	}
	if d.t.Kind != interpreter.SIPTarget || d.t.Addr != "sip:pick@10.0.0.1:5060" {
		t.Fatalf("node leg to %v %q, want a SIP leg to node A's address", d.t.Kind, d.t.Addr)
	}
	var got struct {
		caller string
		agent  interpreter.Agent
	}
	a.SetPicker(pickerFunc(func(_ context.Context, caller string, ag interpreter.Agent, _ interpreter.Leg) error {
		got.caller, got.agent = caller, ag
		return nil
	}))
	run, status, ok := a.Claim(d.t.Headers)
	if !ok || status != 0 || run == nil {
		t.Fatalf("Claim = %v, %d, %v; want node A to take the pick", run != nil, status, ok)
	}
	run(context.Background(), nil)
	if got.caller != "CAcaller" || got.agent != agent {
		t.Errorf("picked %q for %+v, want CAcaller for %+v", got.caller, got.agent, agent)
	}
}

func TestClaimRefuses(t *testing.T) {
	st := memory.New()
	a, b := startNode(t, st, "A", "10.0.0.1:5060"), startNode(t, st, "B", "10.0.0.2:5060")
	a.SetPicker(pickerFunc(func(context.Context, string, interpreter.Agent, interpreter.Leg) error { return nil }))
	d := &recordingDialer{}
	b.SetDialer(d)
	if _, err := b.Pick(context.Background(), "A", "CAcaller", interpreter.Agent{CallSid: "CAagent"}, func(interpreter.Progress) {}); err != nil {
		t.Fatal(err)
	}
	good := d.t.Headers
	with := func(k, v string) map[string]string {
		h := map[string]string{}
		for kk, vv := range good {
			h[kk] = vv
		}
		h[k] = v
		return h
	}
	other := memory.New() // another cluster: another secret
	stranger := startNode(t, other, "X", "10.0.0.9:5060")
	sd := &recordingDialer{}
	stranger.SetDialer(sd)
	_ = other.Nodes.Heartbeat(context.Background(), store.Node{ID: "A", Addr: "10.0.0.1:5060"}, time.Minute)
	if _, err := stranger.Pick(context.Background(), "A", "CAcaller", interpreter.Agent{CallSid: "CAagent"}, func(interpreter.Progress) {}); err != nil {
		t.Fatal(err)
	}
	old := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	for _, tc := range []struct {
		name   string
		h      map[string]string
		ok     bool
		status int
		hasRun bool
	}{
		{"an ordinary INVITE", map[string]string{"X-Custom": "1"}, false, 0, false},
		{"a changed caller", with(hdrCaller, "CAother"), true, 403, false},
		{"an old signature", with(hdrTime, old), true, 403, false},
		{"no signature", with(hdrAuth, ""), true, 403, false},
		{"another cluster's key", sd.t.Headers, true, 403, false},
		{"an unknown kind", with(hdrKind, "dance"), true, 403, false},
		{"header names in lower case", lower(good), true, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run, status, ok := a.Claim(tc.h)
			if ok != tc.ok || status != tc.status || (run != nil) != tc.hasRun {
				t.Errorf("Claim = run %v, %d, %v; want run %v, %d, %v", run != nil, status, ok, tc.hasRun, tc.status, tc.ok)
			}
		})
	}
}

func lower(h map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		b := []byte(k)
		for i, c := range b {
			if c >= 'A' && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		out[string(b)] = v
	}
	return out
}

// TestNodeLifecycle: a started node is alive for the others, a closed one
// is gone at once, and a node that was never started closes quietly.
func TestNodeLifecycle(t *testing.T) {
	st := memory.New()
	a := startNode(t, st, "A", "10.0.0.1:5060")
	b := startNode(t, st, "B", "10.0.0.2:5060")
	if !b.Alive(context.Background(), "A") {
		t.Fatal("a started node is not alive for the others")
	}
	a.Close()
	if b.Alive(context.Background(), "A") {
		t.Fatal("a closed node is still alive")
	}
	if _, err := b.Pick(context.Background(), "A", "CA1", interpreter.Agent{}, func(interpreter.Progress) {}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Pick from a gone node: %v, want ErrNotFound", err)
	}
	n, err := New(context.Background(), st.Nodes, "C", Options{})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
}
