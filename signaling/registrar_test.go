package signaling

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// fakeClock is the registrar's time in tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestRegistrar(t *testing.T, b Bindings) (*Registrar, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)}
	r, err := NewRegistrar(RegistrarConfig{Realm: "texml.test", Now: clk.now, Bindings: b, Secret: []byte("k"),
		Clients: []Client{{Identity: "alice", Password: "alice-pw"}, {Identity: "bob", Password: "bob-pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	return r, clk
}

// regClient is a softphone's registration as the registrar sees it: one
// Call-ID, a rising CSeq, and the last challenge reused until it fails
// (as phones do).
type regClient struct {
	t          *testing.T
	r          *Registrar
	callID     string
	cseq       uint32
	source     string
	user, pass string
	chal       *digest.Challenge
	nc         int
}

func (c *regClient) request(aor string, headers []string) *sip.Request {
	c.cseq++
	raw := fmt.Sprintf("REGISTER sip:texml.test SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK%d\r\n"+
		"From: <sip:%s@texml.test>;tag=t1\r\nTo: <sip:%s@texml.test>\r\n"+
		"Call-ID: %s\r\nCSeq: %d REGISTER\r\nMax-Forwards: 70\r\n", c.source, c.cseq, aor, aor, c.callID, c.cseq)
	for _, h := range headers {
		raw += h + "\r\n"
	}
	raw += "Content-Length: 0\r\n\r\n"
	m, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		c.t.Fatalf("parse %q: %v", raw, err)
	}
	req := m.(*sip.Request)
	req.SetSource(c.source)
	req.SetTransport("UDP")
	return req
}

// send registers aor with headers; a 401 is answered once with the
// client's credentials (none: the 401 is returned).
func (c *regClient) send(aor string, headers ...string) *sip.Response {
	for try := 0; ; try++ {
		req := c.request(aor, headers)
		if c.chal != nil && c.user != "" {
			c.nc++
			cred, err := digest.Digest(c.chal, digest.Options{Method: "REGISTER", URI: req.Recipient.String(),
				Username: c.user, Password: c.pass, Count: c.nc})
			if err != nil {
				c.t.Fatal(err)
			}
			req.AppendHeader(sip.NewHeader("Authorization", cred.String()))
		}
		res := c.r.Register(req)
		if res.StatusCode != 401 || c.user == "" || try == 1 {
			return res
		}
		h := res.GetHeader("WWW-Authenticate")
		if h == nil {
			c.t.Fatal("401 without WWW-Authenticate")
		}
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			c.t.Fatal(err)
		}
		c.chal, c.nc = chal, 0
	}
}

// contacts are the 200's bindings: contact URI → expires seconds.
func contacts(res *sip.Response) map[string]int {
	out := map[string]int{}
	for _, h := range res.GetHeaders("Contact") {
		c := h.(*sip.ContactHeader)
		v, _ := c.Params.Get("expires")
		n, _ := strconv.Atoi(v)
		out[c.Address.String()] = n
	}
	return out
}

// regStep is one REGISTER of a TestRegistrar case.
type regStep struct {
	advance    time.Duration // the clock moves on this much first
	client     int           // which of the case's clients sends it
	aor        string
	headers    []string
	want       int
	wantBinds  map[string]int // for a 200: contact → expires
	wantHeader string         // a header the response must have, "Name: value"
}

func with(s regStep, binds map[string]int) regStep { s.wantBinds = binds; return s }

// TestRegistrar runs REGISTER sequences against a registrar on a fake
// clock: every step's status and, for a 200, the bindings it lists.
func TestRegistrar(t *testing.T) {
	const a1, a2 = "sip:alice@10.0.0.5:5060", "sip:alice@203.0.113.9:5062"
	alice := func(headers ...string) regStep { return regStep{aor: "alice", headers: headers, want: 200} }
	tests := []struct {
		name    string
		clients [][2]string // user, password of each client
		perAOR  int
		total   int
		steps   []regStep
		after   map[string]int // alice's bindings at the end (contact → seconds left)
	}{
		{name: "register-default-expiry", steps: []regStep{
			with(alice("Contact: <"+a1+">"), map[string]int{a1: 3600}),
		}, after: map[string]int{a1: 3600}},
		{name: "expires-header-and-param", steps: []regStep{
			with(alice("Contact: <"+a1+">", "Expires: 300"), map[string]int{a1: 300}),
			with(alice("Contact: <"+a1+">;expires=120", "Expires: 300"), map[string]int{a1: 120}),
		}},
		{name: "longer-than-an-hour-is-an-hour", steps: []regStep{
			with(alice("Contact: <"+a1+">;expires=86400"), map[string]int{a1: 3600}),
		}},
		{name: "too-brief", steps: []regStep{
			{aor: "alice", headers: []string{"Contact: <" + a1 + ">;expires=30"}, want: 423, wantHeader: "Min-Expires: 60"},
		}, after: map[string]int{}},
		{name: "refresh", steps: []regStep{
			with(alice("Contact: <"+a1+">;expires=120"), map[string]int{a1: 120}),
			{advance: 100 * time.Second, aor: "alice", headers: []string{"Contact: <" + a1 + ">;expires=120"}, want: 200, wantBinds: map[string]int{a1: 120}},
			{advance: 100 * time.Second, aor: "alice", want: 200, wantBinds: map[string]int{a1: 20}}, // a query
		}, after: map[string]int{a1: 20}},
		{name: "several-contacts", steps: []regStep{
			with(alice("Contact: <"+a1+">;expires=600"), map[string]int{a1: 600}),
			with(alice("Contact: <"+a2+">;expires=900"), map[string]int{a1: 600, a2: 900}),
		}, after: map[string]int{a1: 600, a2: 900}},
		{name: "two-contacts-one-request", steps: []regStep{
			with(alice("Contact: <"+a1+">, <"+a2+">;expires=90"), map[string]int{a1: 3600, a2: 90}),
		}},
		{name: "unregister-one", steps: []regStep{
			with(alice("Contact: <"+a1+">, <"+a2+">"), map[string]int{a1: 3600, a2: 3600}),
			with(alice("Contact: <"+a1+">;expires=0"), map[string]int{a2: 3600}),
		}, after: map[string]int{a2: 3600}},
		{name: "unregister-expires-header", steps: []regStep{
			with(alice("Contact: <"+a1+">"), map[string]int{a1: 3600}),
			with(alice("Contact: <"+a1+">", "Expires: 0"), map[string]int{}),
		}, after: map[string]int{}},
		{name: "unregister-star", steps: []regStep{
			with(alice("Contact: <"+a1+">, <"+a2+">"), map[string]int{a1: 3600, a2: 3600}),
			with(alice("Contact: *", "Expires: 0"), map[string]int{}),
		}, after: map[string]int{}},
		{name: "star-needs-expires-zero", steps: []regStep{
			with(alice("Contact: <"+a1+">"), map[string]int{a1: 3600}),
			{aor: "alice", headers: []string{"Contact: *"}, want: 400},
		}, after: map[string]int{a1: 3600}},
		{name: "expiry", steps: []regStep{
			with(alice("Contact: <"+a1+">;expires=60"), map[string]int{a1: 60}),
			with(alice("Contact: <"+a2+">;expires=600"), map[string]int{a1: 60, a2: 600}),
			{advance: 61 * time.Second, aor: "alice", want: 200, wantBinds: map[string]int{a2: 539}},
		}, after: map[string]int{a2: 539}},
		{name: "wrong-password", clients: [][2]string{{"alice", "guess"}}, steps: []regStep{
			{aor: "alice", headers: []string{"Contact: <" + a1 + ">"}, want: 403},
		}, after: map[string]int{}},
		{name: "unknown-identity", clients: [][2]string{{"mallory", "x"}}, steps: []regStep{
			{aor: "mallory", headers: []string{"Contact: <sip:mallory@10.0.0.9>"}, want: 403},
		}},
		{name: "someone-elses-aor", clients: [][2]string{{"bob", "bob-pw"}}, steps: []regStep{
			{aor: "alice", headers: []string{"Contact: <" + a1 + ">"}, want: 403},
		}, after: map[string]int{}},
		{name: "no-credentials", clients: [][2]string{{"", ""}}, steps: []regStep{
			{aor: "alice", headers: []string{"Contact: <" + a1 + ">"}, want: 401},
		}, after: map[string]int{}},
		{name: "bad-expires", steps: []regStep{
			{aor: "alice", headers: []string{"Contact: <" + a1 + ">", "Expires: soon"}, want: 400},
		}},
		{name: "per-identity-limit", perAOR: 2, steps: []regStep{
			with(alice("Contact: <sip:alice@10.0.0.1>, <sip:alice@10.0.0.2>"), map[string]int{"sip:alice@10.0.0.1": 3600, "sip:alice@10.0.0.2": 3600}),
			{aor: "alice", headers: []string{"Contact: <sip:alice@10.0.0.3>"}, want: 503, wantHeader: "Retry-After: 60"},
			// A refresh of a registered contact is still fine.
			with(alice("Contact: <sip:alice@10.0.0.2>;expires=100"), map[string]int{"sip:alice@10.0.0.1": 3600, "sip:alice@10.0.0.2": 100}),
		}},
		{name: "overall-limit", total: 2, clients: [][2]string{{"alice", "alice-pw"}, {"bob", "bob-pw"}}, steps: []regStep{
			with(alice("Contact: <sip:alice@10.0.0.1>;expires=60, <sip:alice@10.0.0.2>"), map[string]int{"sip:alice@10.0.0.1": 60, "sip:alice@10.0.0.2": 3600}),
			{client: 1, aor: "bob", headers: []string{"Contact: <sip:bob@10.0.0.7>"}, want: 503},
			// Once alice's first binding lapses there is room.
			{advance: time.Minute, client: 1, aor: "bob", headers: []string{"Contact: <sip:bob@10.0.0.7>"}, want: 200, wantBinds: map[string]int{"sip:bob@10.0.0.7": 3600}},
		}, after: map[string]int{"sip:alice@10.0.0.2": 3540}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, clk := newTestRegistrar(t, NewBindings(tc.perAOR, tc.total))
			if tc.clients == nil {
				tc.clients = [][2]string{{"alice", "alice-pw"}}
			}
			var cs []*regClient
			for i, c := range tc.clients {
				cs = append(cs, &regClient{t: t, r: r, callID: fmt.Sprintf("call-%d", i), source: fmt.Sprintf("198.51.100.%d:40000", i+1), user: c[0], pass: c[1]})
			}
			for i, s := range tc.steps {
				clk.advance(s.advance)
				res := cs[s.client].send(s.aor, s.headers...)
				if res.StatusCode != s.want {
					t.Fatalf("step %d: %d %s, want %d", i, res.StatusCode, res.Reason, s.want)
				}
				if s.wantBinds != nil {
					if got := contacts(res); !equalMaps(got, s.wantBinds) {
						t.Errorf("step %d: bindings %v, want %v", i, got, s.wantBinds)
					}
				}
				if s.wantHeader != "" {
					name, val, _ := strings.Cut(s.wantHeader, ": ")
					if h := res.GetHeader(name); h == nil || h.Value() != val {
						t.Errorf("step %d: %s = %v, want %q", i, name, h, val)
					}
				}
			}
			if tc.after != nil {
				got := map[string]int{}
				for _, b := range r.Contacts("alice") {
					got[b.Contact] = int(b.Expires.Sub(clk.now()) / time.Second)
				}
				if !equalMaps(got, tc.after) {
					t.Errorf("alice's bindings at the end %v, want %v", got, tc.after)
				}
			}
		})
	}
}

func equalMaps(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
