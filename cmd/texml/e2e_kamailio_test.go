package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/internal/kamailiotest"
	"github.com/texml/texml/internal/redistest"
	"github.com/texml/texml/internal/sipphone"
)

// kamailioNodes is a cluster as it is deployed: two `texml serve` nodes
// on one Redis, and Kamailio's dispatcher in front of them spreading new
// calls round-robin over the two. Phones call the proxy only; which node
// answers a call is up to the dispatcher, and the app finds out from the
// voice URL the call fetched (each node has its own). Node-to-node legs
// go directly between the nodes, not through the proxy.
//
// Tests of other cross-node features (a conference whose participants
// land on different nodes) start one with startKamailioNodes and place
// their calls with call, as TestKamailioQueueAcrossNodes does.
type kamailioNodes struct {
	proxy *kamailiotest.Proxy
	nodes [2]*service

	mu      sync.Mutex
	landed  map[string]int          // SipCallId → the node whose voice URL the call fetched
	actions map[string][]url.Values // path → the parameters of each request to it
}

// startKamailioNodes starts Redis, two texml nodes and Kamailio in front.
// Each call's voice document is voice[user], user being the one the phone
// called (the Request-URI's user part, which the proxy keeps); other
// paths of the app (actions, callbacks) are served from actions by path
// and recorded for actionRequests.
func startKamailioNodes(t *testing.T, voice, actions map[string]string) *kamailioNodes {
	t.Helper()
	k := &kamailioNodes{landed: map[string]int{}, actions: map[string][]url.Values{}}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "text/xml")
		var node int
		if _, err := fmt.Sscanf(r.URL.Path, "/node/%d", &node); err == nil {
			k.mu.Lock()
			k.landed[r.PostForm.Get("SipCallId")] = node
			k.mu.Unlock()
			to, _ := url.Parse(r.PostForm.Get("To")) // sip:user@host
			user, _, _ := strings.Cut(to.Opaque, "@")
			doc, ok := voice[user]
			if !ok {
				http.NotFound(w, r)
				return
			}
			_, _ = io.WriteString(w, doc)
			return
		}
		k.mu.Lock()
		k.actions[r.URL.Path] = append(k.actions[r.URL.Path], r.PostForm)
		k.mu.Unlock()
		doc, ok := actions[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, doc)
	}))
	t.Cleanup(app.Close)
	redis := redistest.Start(t)
	for i := range k.nodes {
		k.nodes[i] = startServe(t, fmt.Sprintf("%s/node/%d", app.URL, i),
			"--redis-url", redis.URL, "--public-ip", "127.0.0.1")
	}
	k.proxy = kamailiotest.Start(t, k.nodes[0].sipAddr, k.nodes[1].sipAddr)
	return k
}

// call places a call to user through the proxy with a phone of its own
// and returns it answered, with the node (0 or 1) the dispatcher sent it
// to.
func (k *kamailioNodes) call(t *testing.T, ctx context.Context, user string) (*sipphone.Call, int) {
	t.Helper()
	c := sipphone.New(t).Call(ctx, k.proxy.Addr, user, sipphone.CallOptions{})
	if c.FinalCode() != 200 {
		t.Fatalf("call to %s through Kamailio got %d (%v)", user, c.FinalCode(), c.Err())
	}
	return c, k.node(t, c)
}

// node is the node whose voice URL call c fetched: the one that answered.
func (k *kamailioNodes) node(t *testing.T, c *sipphone.Call) int {
	t.Helper()
	r := c.Response()
	if r == nil || r.CallID() == nil {
		t.Fatal("the call has no final response with a Call-ID")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	node, ok := k.landed[r.CallID().Value()]
	if !ok {
		t.Fatalf("no node fetched a voice document for call %s", r.CallID().Value())
	}
	return node
}

// actionRequests returns the parameters of each request to path so far.
func (k *kamailioNodes) actionRequests(path string) []url.Values {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]url.Values(nil), k.actions[path]...)
}

// relayed lists the requests of method the proxy relayed.
func (k *kamailioNodes) relayed(method string) []kamailiotest.Relay {
	var rs []kamailiotest.Relay
	for _, r := range k.proxy.Relayed() {
		if r.Method == method {
			rs = append(rs, r)
		}
	}
	return rs
}

// TestKamailioQueueAcrossNodes is TestQueueAcrossNodes behind Kamailio:
// the caller and the agent both call the proxy, whose round robin puts
// them on different nodes; tones cross both ways, the BYE of either
// side crosses the proxy and ends the call on the other node, and the
// caller's Enqueue action gets QueueResult=bridged. Two more calls then
// show the round robin going on.
func TestKamailioQueueAcrossNodes(t *testing.T) {
	k := startKamailioNodes(t, map[string]string{
		"support": `<Response><Enqueue action="/queued">support</Enqueue></Response>`,
		"agent":   `<Response><Dial><Queue>support</Queue></Dial></Response>`,
		"ping":    `<Response><Hangup/></Response>`,
	}, map[string]string{
		"/queued": `<Response><Say>Thank you.</Say><Hangup/></Response>`,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	caller, callerNode := k.call(t, ctx, "support")
	callerDone := make(chan []int16, 1)
	go func() {
		caller.Listen(2 * time.Second) // hold music on the caller's node
		hold := caller.Audio()
		caller.Listen(time.Second)
		caller.Tone(700, 1500*time.Millisecond)
		caller.Listen(6 * time.Second)
		callerDone <- hold
	}()
	time.Sleep(2300 * time.Millisecond)
	agent, agentNode := k.call(t, ctx, "agent")
	if agentNode == callerNode {
		t.Fatalf("the caller and the agent both landed on node %d: want round robin", callerNode)
	}
	agent.Listen(2500 * time.Millisecond)
	agent.Tone(1300, 1500*time.Millisecond)
	agent.Listen(500 * time.Millisecond)
	// The agent's BYE crosses the proxy to the agent's node, whose
	// node-to-node leg then ends the caller's bridge on the other node.
	if err := agent.Hangup(); err != nil {
		t.Error(err)
	}
	hold := <-callerDone

	if v := sipphone.VoicedTime(hold); v < time.Second {
		t.Errorf("the waiting caller heard %v of hold music in 2 s", v)
	}
	if !sipphone.HasTone(agent.Audio(), 700) {
		t.Errorf("the agent on node %d did not hear the caller's tone from node %d", agentNode, callerNode)
	}
	if !sipphone.HasTone(caller.Audio(), 1300) {
		t.Errorf("the caller on node %d did not hear the agent's tone from node %d", callerNode, agentNode)
	}
	// The caller's node hangs up after the Enqueue action: its BYE
	// follows the Record-Route back through the proxy to the phone.
	if !caller.WaitEnd(5*time.Second) || !caller.RemoteHangup() {
		t.Fatal("the caller's call did not end with texml's BYE after its action's Hangup")
	}
	if q := k.actionRequests("/queued"); len(q) != 1 || q[0].Get("QueueResult") != "bridged" {
		t.Errorf("Enqueue action requests %v, want one with QueueResult=bridged", q)
	}

	// Both BYEs crossed the proxy: texml's reached the caller by way of
	// it (its top Via is the proxy's), the agent's went on to its node.
	if bye := caller.Bye(); bye.Via() == nil || bye.Via().SentBy() != k.proxy.Addr {
		t.Errorf("texml's BYE reached the caller by way of %v, want the proxy at %s", bye.Via(), k.proxy.Addr)
	}
	var agentBye bool
	for _, r := range k.relayed("BYE") {
		agentBye = agentBye || strings.HasSuffix(r.Dest, "@"+k.nodes[agentNode].sipAddr)
	}
	if !agentBye {
		t.Errorf("BYEs through the proxy %v: none to the agent's node %s", k.relayed("BYE"), k.nodes[agentNode].sipAddr)
	}

	// The round robin goes on: two more calls, one to each node, in turn.
	for i, want := range []int{callerNode, agentNode} {
		c := sipphone.New(t).Call(ctx, k.proxy.Addr, "ping", sipphone.CallOptions{})
		if got := k.node(t, c); got != want {
			t.Errorf("call %d landed on node %d, want %d", i+3, got, want)
		}
		c.WaitEnd(5 * time.Second)
	}
	var dests []string
	for _, r := range k.relayed("INVITE") {
		dests = append(dests, r.Dest)
	}
	a, b := "sip:"+k.nodes[callerNode].sipAddr, "sip:"+k.nodes[agentNode].sipAddr
	if want := []string{a, b, a, b}; fmt.Sprint(dests) != fmt.Sprint(want) {
		t.Errorf("the proxy sent the INVITEs to %v, want %v", dests, want)
	}
}

// TestKamailioConferenceAcrossNodes: three phones call one room through
// Kamailio, which spreads them over both nodes; the room is mixed on the
// node of the first, the others reach it from wherever they landed, and
// everyone hears the other two and not themselves.
func TestKamailioConferenceAcrossNodes(t *testing.T) {
	k := startKamailioNodes(t, map[string]string{
		"room": `<Response><Dial><Conference beep="false">across</Conference></Dial></Response>`,
	}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	freqs := []float64{1200, 1700, 1900}
	calls := make([]*sipphone.Call, len(freqs))
	landed := map[int]bool{}
	var wg sync.WaitGroup
	start := time.Now().Add(3 * time.Second)
	for i, f := range freqs {
		var node int
		calls[i], node = k.call(t, ctx, "room")
		landed[node] = true
		talkAt(&wg, calls[i], f, start)
		time.Sleep(400 * time.Millisecond)
	}
	if len(landed) != 2 {
		t.Fatalf("the three calls landed on nodes %v; want both nodes used", landed)
	}
	wg.Wait()
	checkHeard(t, calls, freqs, others)
}
