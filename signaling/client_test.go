package signaling

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/texml/texml/interpreter"
)

// TestRegistrarNonces: a phone reusing an old nonce gets a new challenge
// marked stale (no password prompt), and a nonce texml did not issue is
// never accepted.
func TestRegistrarNonces(t *testing.T) {
	r, clk := newTestRegistrar(t, nil)
	c := &regClient{t: t, r: r, callID: "n1", source: "198.51.100.1:5060", user: "alice", pass: "alice-pw"}
	if res := c.send("alice", "Contact: <sip:alice@10.0.0.5>"); res.StatusCode != 200 {
		t.Fatalf("first REGISTER: %d", res.StatusCode)
	}
	clk.advance(nonceTTL + time.Second)
	req := c.request("alice", []string{"Contact: <sip:alice@10.0.0.5>"})
	c.nc++
	cred, _ := digest.Digest(c.chal, digest.Options{Method: "REGISTER", URI: req.Recipient.String(), Username: "alice", Password: "alice-pw", Count: c.nc})
	req.AppendHeader(sip.NewHeader("Authorization", cred.String()))
	res := r.Register(req)
	if res.StatusCode != 401 || !strings.Contains(res.GetHeader("WWW-Authenticate").Value(), "stale=true") {
		t.Fatalf("old nonce: %d %v, want 401 with stale=true", res.StatusCode, res.GetHeader("WWW-Authenticate"))
	}

	forged := &digest.Challenge{Realm: "texml.test", Nonce: strings.Repeat("0", 48), Algorithm: "MD5", QOP: []string{"auth"}}
	req = c.request("alice", []string{"Contact: <sip:alice@10.0.0.5>"})
	cred, _ = digest.Digest(forged, digest.Options{Method: "REGISTER", URI: req.Recipient.String(), Username: "alice", Password: "alice-pw", Count: 1})
	req.AppendHeader(sip.NewHeader("Authorization", cred.String()))
	if res := r.Register(req); res.StatusCode != 401 || strings.Contains(res.GetHeader("WWW-Authenticate").Value(), "stale") {
		t.Fatalf("forged nonce: %d, want a plain 401", res.StatusCode)
	}
}

// TestRegistrarOutOfOrder: a REGISTER of the same Call-ID with a lower
// CSeq than the one that set the binding is refused and changes nothing
// (RFC 3261 §10.3 step 7).
func TestRegistrarOutOfOrder(t *testing.T) {
	r, _ := newTestRegistrar(t, nil)
	c := &regClient{t: t, r: r, callID: "o1", source: "198.51.100.1:5060", user: "alice", pass: "alice-pw", cseq: 10}
	if res := c.send("alice", "Contact: <sip:alice@10.0.0.5>;expires=600"); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %d", res.StatusCode)
	}
	c.cseq = 3
	if res := c.send("alice", "Contact: <sip:alice@10.0.0.5>;expires=0"); res.StatusCode != 400 {
		t.Fatalf("older CSeq: %d, want 400", res.StatusCode)
	}
	if n := len(r.Contacts("alice")); n != 1 {
		t.Errorf("%d bindings after the refused REGISTER, want 1", n)
	}
}

func TestNewRegistrarChecks(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  RegistrarConfig
		err  string
	}{
		{"no realm", RegistrarConfig{}, "realm"},
		{"empty identity", RegistrarConfig{Realm: "r", Clients: []Client{{Password: "p"}}}, "identity"},
		{"space in identity", RegistrarConfig{Realm: "r", Clients: []Client{{Identity: "a b", Password: "p"}}}, "identity"},
		{"no password", RegistrarConfig{Realm: "r", Clients: []Client{{Identity: "a"}}}, "password"},
		{"twice", RegistrarConfig{Realm: "r", Clients: []Client{{Identity: "a", Password: "p"}, {Identity: "a", Password: "q"}}}, "twice"},
		{"fine", RegistrarConfig{Realm: "r", Clients: []Client{{Identity: "alice_1", Password: "p"}}}, ""},
	} {
		_, err := NewRegistrar(tc.cfg)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want an error about %q", tc.name, err, tc.err)
		}
	}
}

func TestNATDestination(t *testing.T) {
	for _, tc := range []struct {
		host string
		nat  bool
	}{
		{"10.1.2.3", true}, {"192.168.1.20", true}, {"172.16.0.9", true}, {"100.64.1.1", true},
		{"127.0.0.1", true}, {"169.254.1.1", true}, {"0.0.0.0", true}, {"[fd00::1]", true}, {"[fe80::1]", true},
		{"df7jal23ls0d.invalid", true}, {"phone.local", true},
		{"203.0.113.9", false}, {"8.8.8.8", false}, {"[2001:db8::1]", false}, {"phone.example.com", false},
	} {
		if got := natDestination(sip.Uri{Host: tc.host}); got != tc.nat {
			t.Errorf("%s: behind NAT %v, want %v", tc.host, got, tc.nat)
		}
	}
}

func TestClientDestination(t *testing.T) {
	b := Binding{Contact: "sip:alice@10.0.0.5:5062;transport=udp", Source: "198.51.100.7:40123", Transport: "UDP"}
	d, err := clientDestination(dest{}, b)
	if err != nil {
		t.Fatal(err)
	}
	if d.uri.Host != "10.0.0.5" || d.addr != "198.51.100.7:40123" || d.transport != "UDP" {
		t.Errorf("NATed contact: uri %s addr %q %q, want the contact as request URI sent to the REGISTER's source", d.uri.String(), d.addr, d.transport)
	}
	b.Contact = "sip:alice@203.0.113.9:5060"
	if d, _ = clientDestination(dest{}, b); d.addr != "" {
		t.Errorf("public contact sent to %q, want the contact itself", d.addr)
	}
	if _, err := clientDestination(dest{}, Binding{Contact: "not a uri"}); err == nil {
		t.Error("a bad contact was accepted")
	}
}

func TestXHeaders(t *testing.T) {
	got := map[string]string{}
	for _, h := range xHeaders(map[string]string{"FirstName": "Ada", "X-Ticket": "42", "bad name": "x", "Evil": "a\r\nVia: b"}) {
		got[h.Name()] = h.Value()
	}
	want := map[string]string{"X-FirstName": "Ada", "X-Ticket": "42", "X-Evil": "a  Via: b"}
	if len(got) != len(want) {
		t.Fatalf("headers %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestBestFailure(t *testing.T) {
	for _, tc := range []struct {
		codes []int
		want  int
	}{
		{[]int{480}, 480},
		{[]int{487, 486}, 486},
		{[]int{404, 480}, 480},
		{[]int{503, 404}, 404},
		{[]int{0, 503}, 503},
		{[]int{486, 603}, 603},
		{[]int{0, 0}, 0},
	} {
		var fs []interpreter.Progress
		for _, c := range tc.codes {
			fs = append(fs, interpreter.Progress{Kind: interpreter.Failed, Code: c})
		}
		if got := bestFailure(fs).Code; got != tc.want {
			t.Errorf("%v: %d, want %d", tc.codes, got, tc.want)
		}
	}
}

// TestClientCallEvents feeds branch events to a clientCall and checks the
// one stream the interpreter sees: one Ringing, the first answer, the
// others canceled, the winner's Ended; or the best failure once all fail.
func TestClientCallEvents(t *testing.T) {
	type ev struct {
		branch int
		p      interpreter.Progress
	}
	P := func(k interpreter.ProgressKind, code int) interpreter.Progress {
		return interpreter.Progress{Kind: k, Code: code}
	}
	tests := []struct {
		name     string
		branches int
		events   []ev
		want     []interpreter.Progress
		canceled []bool // each branch's Cancel was called
	}{
		{"first-answer-wins", 3, []ev{
			{0, P(interpreter.Trying, 100)}, {1, P(interpreter.Trying, 100)},
			{0, P(interpreter.Ringing, 180)}, {1, P(interpreter.Ringing, 180)}, {2, P(interpreter.Ringing, 180)},
			{1, P(interpreter.Answered, 200)},
			{0, P(interpreter.Failed, 487)}, {2, P(interpreter.Answered, 200)}, {2, P(interpreter.Ended, 0)},
			{1, P(interpreter.Ended, 0)},
		}, []interpreter.Progress{P(interpreter.Trying, 100), P(interpreter.Ringing, 180), P(interpreter.Answered, 200), P(interpreter.Ended, 0)},
			[]bool{true, false, true}},
		{"all-fail", 3, []ev{
			{0, P(interpreter.Ringing, 180)}, {0, P(interpreter.Failed, 487)}, {1, P(interpreter.Failed, 486)}, {2, P(interpreter.Failed, 0)},
		}, []interpreter.Progress{P(interpreter.Ringing, 180), P(interpreter.Failed, 486)}, []bool{false, false, false}},
		{"early-media-of-several-is-ringing", 2, []ev{
			{1, P(interpreter.EarlyMedia, 183)}, {0, P(interpreter.Answered, 200)}, {0, P(interpreter.Ended, 0)},
		}, []interpreter.Progress{P(interpreter.Ringing, 183), P(interpreter.Answered, 200), P(interpreter.Ended, 0)}, []bool{false, true}},
		{"early-media-of-one", 1, []ev{
			{0, P(interpreter.EarlyMedia, 183)}, {0, P(interpreter.Failed, 480)},
		}, []interpreter.Progress{P(interpreter.EarlyMedia, 183), P(interpreter.Failed, 480)}, []bool{false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []interpreter.Progress
			c := &clientCall{progress: func(p interpreter.Progress) { got = append(got, p) }, early: tc.branches == 1}
			for range tc.branches {
				c.branches = append(c.branches, &outCall{cancel: make(chan struct{})})
			}
			c.pending = tc.branches
			for _, e := range tc.events {
				c.branch(e.branch)(e.p)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("events %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i].Kind != tc.want[i].Kind || got[i].Code != tc.want[i].Code {
					t.Errorf("event %d: %v %d, want %v %d", i, got[i].Kind, got[i].Code, tc.want[i].Kind, tc.want[i].Code)
				}
			}
			for i, a := range c.branches {
				if isClosed(a.cancel) != tc.canceled[i] {
					t.Errorf("branch %d canceled: %v, want %v", i, isClosed(a.cancel), tc.canceled[i])
				}
			}
		})
	}
}
