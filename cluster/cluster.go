// Package cluster makes one texml process a node among the nodes that
// share a store (Redis): it heartbeats so that the others know it is
// alive, and it carries the node-to-node SIP legs by which a call on one
// node reaches a call waiting on another. A queue's caller stays on the
// node it called; an agent dequeuing it from another node sends that node
// an INVITE, signed with the key the nodes share through the store, and
// the home node bridges its caller with that leg. The media therefore
// never needs a SIP front end to move calls (no REFER through a proxy).
package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
)

// Heartbeats: a node writes its record every Beat, and the record lives
// TTL, so a node that dies is gone from the store within TTL (plus one
// Beat at most since its last write). Its queue members are then never
// handed to an agent.
const (
	Beat = 2 * time.Second
	TTL  = 6 * time.Second
)

// prefix is what every node header's name starts with; all of them but
// the signature are signed.
const prefix = "x-texml-"

// MaxSkew bounds how old a signed node request may be: it limits the
// replay of a captured INVITE.
const MaxSkew = 30 * time.Second

// Headers of a node-to-node INVITE.
const (
	hdrKind   = "X-Texml-Node"         // what the INVITE is for: "pick" or "join"
	hdrFrom   = "X-Texml-From-Node"    // the sending node's id
	hdrCaller = "X-Texml-Caller"       // the CallSid the INVITE is for
	hdrAgent  = "X-Texml-Agent"        // the dequeuing call's CallSid
	hdrURL    = "X-Texml-Queue-Url"    // the agent's Queue url document, for the caller
	hdrMethod = "X-Texml-Queue-Method" // its method
	hdrTime   = "X-Texml-Time"         // Unix seconds when signed
	hdrRoom   = "X-Texml-Room"         // the room a participant joins
	hdrPart   = "X-Texml-Participant"  // the participant\'s Conference attributes (base64 JSON)
	hdrAuth   = "X-Texml-Auth"         // HMAC-SHA256 over the others
)

// Picker is the queue service of a node, as the cluster needs it: it
// hands a caller waiting here to an agent on another node (package queue
// implements it).
type Picker interface {
	AcceptRemote(ctx context.Context, callerSid string, agent interpreter.Agent, leg interpreter.Leg) error
}

// Seater is the conference service of a node, as the cluster needs it
// (package conference implements it): it seats another node's
// participant in a room mixed here, and hears what the home node of a
// room says about this node's participants.
type Seater interface {
	AcceptJoin(ctx context.Context, room string, p interpreter.Participant, from string, leg interpreter.Leg) error
	Deliver(callSid, state string)
}

// Options configure a Node.
type Options struct {
	// Bus carries messages between nodes (a room's home node telling a
	// participant's node that the room started); nil: none.
	Bus    store.Bus
	Logger *slog.Logger
}

// Node is this process in the cluster.
type Node struct {
	id     string
	o      Options
	nodes  store.Nodes
	bus    store.Bus // nil: no messages between nodes
	secret []byte
	log    *slog.Logger

	addr string // where the other nodes send SIP to this one (host:port)

	mu       sync.Mutex
	picker   Picker
	seater   Seater
	handlers map[string]func(store.Message) // by Message.Kind (Handle)
	dialer   interpreter.Dialer
	sweepers []func(context.Context)

	stop        chan struct{}
	done        chan struct{}
	unsubscribe context.CancelFunc
}

// New prepares the node with id over the store's node records; it takes
// part once Start has registered it. The store's shared signing key is
// read now, so that a store that is down fails the start of the process.
func New(ctx context.Context, nodes store.Nodes, id string, o Options) (*Node, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	secret, err := nodes.Secret(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return &Node{id: id, o: o, nodes: nodes, bus: o.Bus, secret: secret, log: o.Logger.With("node", id)}, nil
}

// Start registers the node at addr (host:port, where the others send it
// SIP) and keeps it alive until Close.
func (n *Node) Start(ctx context.Context, addr string) error {
	n.addr = addr
	if err := n.beat(ctx); err != nil {
		return err
	}
	n.stop, n.done = make(chan struct{}), make(chan struct{})
	if n.bus != nil {
		sctx, cancel := context.WithCancel(context.Background())
		msgs, err := n.bus.Subscribe(sctx, n.id)
		if err != nil {
			cancel()
			return fmt.Errorf("cluster: subscribe: %w", err)
		}
		n.unsubscribe = cancel
		go n.listen(msgs)
	}
	go n.heartbeats()
	return nil
}

// listen hands the bus's messages for this node to their service.
func (n *Node) listen(msgs <-chan store.Message) {
	for m := range msgs {
		n.mu.Lock()
		seater := n.seater
		h := n.handlers[m.Kind]
		n.mu.Unlock()
		switch {
		case m.Kind == "seat" && seater != nil:
			seater.Deliver(m.CallSid, string(m.Body))
		case h != nil:
			h(m)
		}
	}
}

// Handle hands the bus's messages of kind to h, on the node's one
// listening goroutine (h must not block). Services other than the
// conference's (the REST API's live call updates) register this way.
func (n *Node) Handle(kind string, h func(store.Message)) {
	n.mu.Lock()
	if n.handlers == nil {
		n.handlers = map[string]func(store.Message){}
	}
	n.handlers[kind] = h
	n.mu.Unlock()
}

// Send publishes m to node over the store's bus: at most once, and lost
// when node is not listening (store.Bus).
func (n *Node) Send(ctx context.Context, node string, m store.Message) error {
	if n.bus == nil {
		return errors.New("cluster: no bus between nodes")
	}
	return n.bus.Publish(ctx, node, m)
}

// SetSeater sets the conference service that seats other nodes'
// participants and hears about its own.
func (n *Node) SetSeater(st Seater) {
	n.mu.Lock()
	n.seater = st
	n.mu.Unlock()
}

// SetDialer sets what places the node-to-node legs (the SIP server).
func (n *Node) SetDialer(d interpreter.Dialer) {
	n.mu.Lock()
	n.dialer = d
	n.mu.Unlock()
}

// ID is the node's id.
func (n *Node) ID() string { return n.id }

// SetPicker sets the queue service that serves other nodes' picks.
func (n *Node) SetPicker(p Picker) {
	n.mu.Lock()
	n.picker = p
	n.mu.Unlock()
}

func (n *Node) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, Beat)
	defer cancel()
	if err := n.nodes.Heartbeat(ctx, store.Node{ID: n.id, Addr: n.addr}, TTL); err != nil {
		return fmt.Errorf("cluster: heartbeat: %w", err)
	}
	return nil
}

// SweepEvery is how often a node runs its sweepers: a dead node's queue
// members and conference seats are gone from the store at most TTL +
// SweepEvery after its last heartbeat.
const SweepEvery = 5 * Beat

// AddSweeper has f run every SweepEvery on the heartbeat goroutine, to
// clear what dead nodes left in the store (queue.Service.Sweep,
// conference.Service.Sweep).
func (n *Node) AddSweeper(f func(ctx context.Context)) {
	n.mu.Lock()
	n.sweepers = append(n.sweepers, f)
	n.mu.Unlock()
}

func (n *Node) heartbeats() {
	defer close(n.done)
	t := time.NewTicker(Beat)
	defer t.Stop()
	for i := 1; ; i++ {
		select {
		case <-n.stop:
			return
		case <-t.C:
			if err := n.beat(context.Background()); err != nil {
				// The store is down: the node keeps its calls, and
				// the others see it gone after TTL.
				n.log.Warn("heartbeat", "err", err)
				continue
			}
			if i%int(SweepEvery/Beat) == 0 {
				n.sweep()
			}
		}
	}
}

func (n *Node) sweep() {
	n.mu.Lock()
	fs := slices.Clone(n.sweepers)
	n.mu.Unlock()
	for _, f := range fs {
		ctx, cancel := context.WithTimeout(context.Background(), SweepEvery)
		f(ctx)
		cancel()
	}
}

// Close stops the heartbeats and removes the node from the store, so that
// the others stop handing it work at once.
func (n *Node) Close() {
	if n.stop == nil {
		return // never started
	}
	close(n.stop)
	<-n.done
	n.stop = nil
	if n.unsubscribe != nil {
		n.unsubscribe()
	}
	ctx, cancel := context.WithTimeout(context.Background(), Beat)
	defer cancel()
	if err := n.nodes.Forget(ctx, n.id); err != nil {
		n.log.Warn("forget node", "err", err)
	}
}

// Alive reports whether the node with id is alive; a store error counts
// as alive, so that an outage does not make callers be dropped.
func (n *Node) Alive(ctx context.Context, id string) bool {
	_, err := n.nodes.Get(ctx, id)
	return !errors.Is(err, store.ErrNotFound)
}

// sign computes the signature of a node request's headers: every
// X-Texml- header but the signature, by lower-case name, sorted.
func (n *Node) sign(h map[string]string) string {
	lines := make([]string, 0, len(h))
	for k, v := range h {
		k = strings.ToLower(k)
		if strings.HasPrefix(k, prefix) && k != strings.ToLower(hdrAuth) {
			lines = append(lines, k+"="+v)
		}
	}
	slices.Sort(lines)
	m := hmac.New(sha256.New, n.secret)
	m.Write([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(m.Sum(nil))
}

// dial places a signed node-to-node leg to node.
func (n *Node) dial(ctx context.Context, node string, h map[string]string, parent string, progress func(interpreter.Progress)) (interpreter.Attempt, error) {
	rec, err := n.nodes.Get(ctx, node)
	if err != nil {
		return nil, fmt.Errorf("cluster: node %s: %w", node, err)
	}
	n.mu.Lock()
	d := n.dialer
	n.mu.Unlock()
	if d == nil {
		return nil, errors.New("cluster: no dialer for node-to-node legs")
	}
	h[hdrFrom] = n.id
	h[hdrTime] = strconv.FormatInt(time.Now().Unix(), 10)
	h[hdrAuth] = n.sign(h)
	return d.Dial(ctx, interpreter.Target{
		Kind: interpreter.SIPTarget, Addr: "sip:" + h[hdrKind] + "@" + rec.Addr, From: "texml-node",
		Headers: h, Timeout: 10 * time.Minute, CallSid: interpreter.NewSid("CA"), ParentCallSid: parent,
	}, progress)
}

// Pick asks node owner for its waiting caller callerSid on behalf of
// agent, with a node-to-node INVITE; progress is the Dialer's (Answered
// once the caller heard the agent's url document and is bridged to the
// leg; Failed when the caller is gone; Ended when it hangs up).
func (n *Node) Pick(ctx context.Context, owner, callerSid string, agent interpreter.Agent, progress func(interpreter.Progress)) (interpreter.Attempt, error) {
	return n.dial(ctx, owner, map[string]string{
		hdrKind: "pick", hdrCaller: callerSid, hdrAgent: agent.CallSid, hdrURL: agent.URL, hdrMethod: agent.Method,
	}, agent.CallSid, progress)
}

// participant is what a node-to-node join carries of a Participant.
type participant struct {
	CallSid, Label, Beep, Coach string
	Muted, StartOnEnter         bool
	EndOnExit                   bool
	Max                         int
}

// Join places a node-to-node leg to home, the node that mixes the room
// called room, for participant p of this node (conference.Remote).
func (n *Node) Join(ctx context.Context, home, room string, p interpreter.Participant, progress func(interpreter.Progress)) (interpreter.Attempt, error) {
	blob, err := json.Marshal(participant{CallSid: p.CallSid, Label: p.Label, Beep: p.Beep, Coach: p.Coach,
		Muted: p.Muted, StartOnEnter: p.StartOnEnter, EndOnExit: p.EndOnExit, Max: p.Max})
	if err != nil {
		return nil, err
	}
	return n.dial(ctx, home, map[string]string{
		hdrKind: "join", hdrCaller: p.CallSid, hdrRoom: room, hdrPart: base64.StdEncoding.EncodeToString(blob),
	}, p.CallSid, progress)
}

// Notify tells node, over the store's bus, that its participant callSid
// is in state (conference.Remote).
func (n *Node) Notify(ctx context.Context, node, callSid, state string) error {
	if n.bus == nil {
		return errors.New("cluster: no bus")
	}
	return n.bus.Publish(ctx, node, store.Message{Kind: "seat", CallSid: callSid, Body: []byte(state)})
}

// Claim looks at a new INVITE's X- headers (names as sent, any case). ok
// is false when it is not a node-to-node INVITE. Otherwise status, when
// not 0, refuses it (403: a bad signature or an old one), and run serves
// the leg until it ends.
func (n *Node) Claim(headers map[string]string) (run func(ctx context.Context, leg interpreter.Leg), status int, ok bool) {
	h := make(map[string]string, len(headers))
	for k, v := range headers {
		h[strings.ToLower(k)] = v
	}
	get := func(name string) string { return h[strings.ToLower(name)] }
	kind := get(hdrKind)
	if kind == "" {
		return nil, 0, false
	}
	ts, err := strconv.ParseInt(get(hdrTime), 10, 64)
	age := time.Since(time.Unix(ts, 0))
	if err != nil || age > MaxSkew || age < -MaxSkew || !hmac.Equal([]byte(n.sign(h)), []byte(get(hdrAuth))) {
		n.log.Warn("node request refused: bad or stale signature", "from_node", get(hdrFrom))
		return nil, 403, true
	}
	n.mu.Lock()
	picker, seater := n.picker, n.seater
	n.mu.Unlock()
	from := get(hdrFrom)
	refuse := func(ctx context.Context, leg interpreter.Leg, what string, err error) {
		n.log.Info(what+" refused", "call_sid", get(hdrCaller), "from_node", from, "err", err)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = leg.Reject(rctx, "busy")
	}
	switch {
	case kind == "pick" && picker != nil:
		caller, agent := get(hdrCaller), interpreter.Agent{CallSid: get(hdrAgent), URL: get(hdrURL), Method: get(hdrMethod)}
		return func(ctx context.Context, leg interpreter.Leg) {
			if err := picker.AcceptRemote(ctx, caller, agent, leg); err != nil {
				refuse(ctx, leg, "pick", err)
			}
		}, 0, true
	case kind == "join" && seater != nil:
		var pp participant
		blob, err := base64.StdEncoding.DecodeString(get(hdrPart))
		if err == nil {
			err = json.Unmarshal(blob, &pp)
		}
		if err != nil {
			return nil, 400, true
		}
		p := interpreter.Participant{CallSid: pp.CallSid, Label: pp.Label, Beep: pp.Beep, Coach: pp.Coach,
			Muted: pp.Muted, StartOnEnter: pp.StartOnEnter, EndOnExit: pp.EndOnExit, Max: pp.Max}
		room := get(hdrRoom)
		return func(ctx context.Context, leg interpreter.Leg) {
			if err := seater.AcceptJoin(ctx, room, p, from, leg); err != nil {
				refuse(ctx, leg, "join", err)
			}
		}, 0, true
	}
	return nil, 404, true
}
