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
	"encoding/hex"
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

// MaxSkew bounds how old a signed node request may be: it limits the
// replay of a captured INVITE.
const MaxSkew = 30 * time.Second

// Headers of a node-to-node INVITE.
const (
	hdrKind   = "X-Texml-Node"         // what the INVITE is for: "pick"
	hdrFrom   = "X-Texml-From-Node"    // the sending node's id
	hdrCaller = "X-Texml-Caller"       // the CallSid the INVITE is for
	hdrAgent  = "X-Texml-Agent"        // the dequeuing call's CallSid
	hdrURL    = "X-Texml-Queue-Url"    // the agent's Queue url document, for the caller
	hdrMethod = "X-Texml-Queue-Method" // its method
	hdrTime   = "X-Texml-Time"         // Unix seconds when signed
	hdrAuth   = "X-Texml-Auth"         // HMAC-SHA256 over the others
)

// Picker is the queue service of a node, as the cluster needs it: it
// hands a caller waiting here to an agent on another node (package queue
// implements it).
type Picker interface {
	AcceptRemote(ctx context.Context, callerSid string, agent interpreter.Agent, leg interpreter.Leg) error
}

// Options configure a Node.
type Options struct {
	Logger *slog.Logger
}

// Node is this process in the cluster.
type Node struct {
	id     string
	o      Options
	nodes  store.Nodes
	secret []byte
	log    *slog.Logger

	addr string // where the other nodes send SIP to this one (host:port)

	mu       sync.Mutex
	picker   Picker
	dialer   interpreter.Dialer
	sweepers []func(context.Context)

	stop chan struct{}
	done chan struct{}
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
	return &Node{id: id, o: o, nodes: nodes, secret: secret, log: o.Logger.With("node", id)}, nil
}

// Start registers the node at addr (host:port, where the others send it
// SIP) and keeps it alive until Close.
func (n *Node) Start(ctx context.Context, addr string) error {
	n.addr = addr
	if err := n.beat(ctx); err != nil {
		return err
	}
	n.stop, n.done = make(chan struct{}), make(chan struct{})
	go n.heartbeats()
	return nil
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

// sign computes the auth header over the fields of a node request.
func (n *Node) sign(fields ...string) string {
	m := hmac.New(sha256.New, n.secret)
	m.Write([]byte(strings.Join(fields, "\n")))
	return hex.EncodeToString(m.Sum(nil))
}

// Pick asks node owner for its waiting caller callerSid on behalf of
// agent, with a node-to-node INVITE; progress is the Dialer's (Answered
// once the caller heard the agent's url document and is bridged to the
// leg; Failed when the caller is gone; Ended when it hangs up).
func (n *Node) Pick(ctx context.Context, owner, callerSid string, agent interpreter.Agent, progress func(interpreter.Progress)) (interpreter.Attempt, error) {
	rec, err := n.nodes.Get(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("cluster: node %s: %w", owner, err)
	}
	n.mu.Lock()
	d := n.dialer
	n.mu.Unlock()
	if d == nil {
		return nil, errors.New("cluster: no dialer for node-to-node legs")
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	h := map[string]string{
		hdrKind: "pick", hdrFrom: n.id, hdrCaller: callerSid, hdrAgent: agent.CallSid,
		hdrURL: agent.URL, hdrMethod: agent.Method, hdrTime: ts,
	}
	h[hdrAuth] = n.sign("pick", n.id, callerSid, agent.CallSid, agent.URL, agent.Method, ts)
	return d.Dial(ctx, interpreter.Target{
		Kind: interpreter.SIPTarget, Addr: "sip:pick@" + rec.Addr, From: "texml-node",
		Headers: h, Timeout: 10 * time.Minute, CallSid: interpreter.NewSid("CA"), ParentCallSid: agent.CallSid,
	}, progress)
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
	want := n.sign(kind, get(hdrFrom), get(hdrCaller), get(hdrAgent), get(hdrURL), get(hdrMethod), get(hdrTime))
	if err != nil || age > MaxSkew || age < -MaxSkew || !hmac.Equal([]byte(want), []byte(get(hdrAuth))) {
		n.log.Warn("node request refused: bad or stale signature", "from_node", get(hdrFrom))
		return nil, 403, true
	}
	n.mu.Lock()
	p := n.picker
	n.mu.Unlock()
	if kind != "pick" || p == nil {
		return nil, 404, true
	}
	caller, agent := get(hdrCaller), interpreter.Agent{CallSid: get(hdrAgent), URL: get(hdrURL), Method: get(hdrMethod)}
	return func(ctx context.Context, leg interpreter.Leg) {
		if err := p.AcceptRemote(ctx, caller, agent, leg); err != nil {
			n.log.Info("pick refused", "call_sid", caller, "from_node", get(hdrFrom), "err", err)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = leg.Reject(rctx, "busy")
		}
	}, 0, true
}
