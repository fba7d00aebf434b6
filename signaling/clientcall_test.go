package signaling

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/internal/sipphone"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/verbs"
)

// paramsApp is the docs app that also hands over the parameters of every
// request for the voice URL.
type paramsApp struct {
	*docs
	voice chan url.Values
}

func (a paramsApp) Fetch(ctx context.Context, r fetcher.Request) (*fetcher.Response, error) {
	if r.URL == "http://app/voice" {
		select {
		case a.voice <- r.Params:
		default:
		}
	}
	return a.docs.Fetch(ctx, r)
}

// clientCallServer is a Server with the client alice, the real Routes
// (every call to http://app/voice) and one RTP port, so that a call in
// progress holds them all.
func clientCallServer(t *testing.T, voice string) (*testServer, chan url.Values) {
	t.Helper()
	reg, err := NewRegistrar(RegistrarConfig{Realm: "texml.test", Clients: []Client{{Identity: "alice", Password: "alice-pw"}}})
	if err != nil {
		t.Fatal(err)
	}
	routes := &Routes{Routes: []Route{{Match: "*", App: App{VoiceURL: "http://app/voice"}}}}
	if err := routes.Validate(); err != nil {
		t.Fatal(err)
	}
	app := paramsApp{docs: &docs{byPath: map[string]string{"/voice": voice}}, voice: make(chan url.Values, 4)}
	ts := newTestServer(t, voice, 1, func(c *Config) {
		c.Registrar, c.Router, c.Fetcher = reg, routes, app
	})
	return ts, app.voice
}

// nextParams is the next voice request's parameters; it fails after 5 s.
func nextParams(t *testing.T, voice <-chan url.Values) url.Values {
	t.Helper()
	select {
	case p := <-voice:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("the app was not requested")
		return nil
	}
}

// TestClientCallAuthenticated: a registered client's INVITE is
// challenged with 407 (RFC 3261 §22.3), and the call with the right
// password reaches the app as Twilio Client's does: From and Caller
// client:alice, To the number dialed, Direction inbound, no geography
// for the client.
func TestClientCallAuthenticated(t *testing.T) {
	ts, voice := clientCallServer(t, `<Response><Say>hi</Say><Pause length="10"/></Response>`)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ph := sipphone.New(t, sipphone.WithName("alice"))
	addr := ts.addr.String()
	if res, err := ph.Register(ctx, addr, "alice", sipphone.RegisterOptions{Username: "alice", Password: "alice-pw", Expires: 120 * time.Second}); err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER: %v %v", res, err)
	}

	// Without credentials the challenge is the final response.
	c := ph.Call(ctx, addr, "+15551230000", sipphone.CallOptions{From: "alice"})
	res := c.Response()
	if c.FinalCode() != 407 || res == nil || res.GetHeader("Proxy-Authenticate") == nil {
		t.Fatalf("INVITE without credentials: %d %v, want 407 with Proxy-Authenticate", c.FinalCode(), res)
	}
	if p := res.GetHeader("Proxy-Authenticate").Value(); !containsAll(p, `realm="texml.test"`, "qop=", "nonce=") {
		t.Errorf("Proxy-Authenticate %s, want the registrar's realm, a nonce and qop", p)
	}
	waitFor(t, 5*time.Second, "the challenged INVITE holds a call slot or an RTP port", func() bool {
		return ts.Active() == 0 && ts.ports.InUse() == 0
	})
	if n := ts.app.fetches.Load(); n != 0 {
		t.Errorf("the app was requested %d times for the challenged INVITE", n)
	}

	c = ph.Call(ctx, addr, "+15551230000", sipphone.CallOptions{From: "alice", Username: "alice", Password: "alice-pw"})
	if c.FinalCode() != 200 {
		t.Fatalf("INVITE with the right password: %d (%v), want 200", c.FinalCode(), c.Err())
	}
	p := nextParams(t, voice)
	for k, want := range map[string]string{"From": "client:alice", "Caller": "client:alice",
		"To": "+15551230000", "Called": "+15551230000", "Direction": "inbound"} {
		if got := p.Get(k); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"FromCountry", "CallerCountry", "FromState", "CallerState"} {
		if p.Has(k) {
			t.Errorf("%s=%q for a client caller, want none", k, p.Get(k))
		}
	}
	if err := c.Hangup(); err != nil {
		t.Error(err)
	}
	waitFor(t, 5*time.Second, "the call is over", func() bool { return ts.Active() == 0 })
}

// TestClientCallWrongPassword: a client's INVITE with a wrong password
// gets 403 and the app is never requested.
func TestClientCallWrongPassword(t *testing.T) {
	ts, _ := clientCallServer(t, `<Response><Say>hi</Say></Response>`)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ph := sipphone.New(t, sipphone.WithName("alice"))
	addr := ts.addr.String()
	for _, o := range []sipphone.CallOptions{
		{From: "alice", Username: "alice", Password: "guess"},
		// alice's From with bob's name: the username must be the identity.
		{From: "alice", Username: "bob", Password: "alice-pw"},
	} {
		c := ph.Call(ctx, addr, "+15551230000", o)
		if c.FinalCode() != 403 {
			t.Errorf("INVITE as %s/%s: %d (%v), want 403", o.Username, o.Password, c.FinalCode(), c.Err())
		}
	}
	waitFor(t, 5*time.Second, "the refused INVITEs hold a call slot or an RTP port", func() bool {
		return ts.Active() == 0 && ts.ports.InUse() == 0
	})
	if n := ts.app.fetches.Load(); n != 0 {
		t.Errorf("the app was requested %d times", n)
	}
}

// TestClientCallOthersUnchallenged: a caller whose From is no client
// identity (a trunk, a SIP peer) is answered without a challenge, with
// From as before. While its call holds the only RTP port, a client's
// INVITE is still challenged (407, not 503): the port is taken only
// after the authentication.
func TestClientCallOthersUnchallenged(t *testing.T) {
	ts, voice := clientCallServer(t, `<Response><Say>hi</Say><Pause length="10"/></Response>`)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	trunk := sipphone.New(t, sipphone.WithName("bob"))
	addr := ts.addr.String()
	c := trunk.Call(ctx, addr, "+15551230000", sipphone.CallOptions{From: "bob"})
	if c.FinalCode() != 200 {
		t.Fatalf("INVITE from bob: %d (%v), want 200 without a challenge", c.FinalCode(), c.Err())
	}
	p := nextParams(t, voice)
	if got := p.Get("From"); got != "sip:bob@127.0.0.1" || p.Get("Caller") != got {
		t.Errorf("From=%q Caller=%q, want sip:bob@127.0.0.1 for both", got, p.Get("Caller"))
	}

	ph := sipphone.New(t, sipphone.WithName("alice"))
	if a := ph.Call(ctx, addr, "+15551230000", sipphone.CallOptions{From: "alice"}); a.FinalCode() != 407 {
		t.Errorf("a client's INVITE while every RTP port is busy: %d, want 407 before any port is needed", a.FinalCode())
	}
	if err := c.Hangup(); err != nil {
		t.Error(err)
	}
	waitFor(t, 5*time.Second, "the call is over", func() bool { return ts.Active() == 0 && ts.ports.InUse() == 0 })
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestAuthenticateCaller: the edge cases of a client INVITE's proxy
// authentication, on the registrar alone. Credentials answer a 407 only
// in Proxy-Authorization (RFC 3261 §22.3), are bound to the method (a
// REGISTER's do not pass for an INVITE), and on an old nonce get a stale
// challenge; a From that is no identity is no client call.
func TestAuthenticateCaller(t *testing.T) {
	r, clk := newTestRegistrar(t, nil)
	invite := func(from string, header, method string, chal *digest.Challenge) *sip.Request {
		t.Helper()
		raw := "INVITE sip:+15551230000@texml.test SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKi1\r\n" +
			"From: <sip:" + from + "@texml.test>;tag=t1\r\nTo: <sip:+15551230000@texml.test>\r\n" +
			"Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
		if chal != nil {
			cred, err := digest.Digest(chal, digest.Options{Method: method, URI: "sip:+15551230000@texml.test",
				Username: from, Password: from + "-pw", Count: 1})
			if err != nil {
				t.Fatal(err)
			}
			raw += header + ": " + cred.String() + "\r\n"
		}
		m, err := sip.ParseMessage([]byte(raw + "Content-Length: 0\r\n\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		return m.(*sip.Request)
	}
	if id, res := r.AuthenticateCaller(invite("carol", "", "", nil)); id != "" || res != nil {
		t.Fatalf("carol (no client): %q %v, want no challenge", id, res)
	}
	_, res := r.AuthenticateCaller(invite("alice", "", "", nil))
	if res == nil || res.StatusCode != 407 || res.GetHeader("Proxy-Authenticate") == nil || res.GetHeader("WWW-Authenticate") != nil {
		t.Fatalf("alice without credentials: %v, want 407 with Proxy-Authenticate only", res)
	}
	chal, err := digest.ParseChallenge(res.GetHeader("Proxy-Authenticate").Value())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, header, method string
		code                 int
	}{
		{"Authorization instead of Proxy-Authorization", "Authorization", "INVITE", 407},
		{"a REGISTER's digest", "Proxy-Authorization", "REGISTER", 403},
		{"right", "Proxy-Authorization", "INVITE", 0},
	} {
		id, res := r.AuthenticateCaller(invite("alice", tc.header, tc.method, chal))
		switch {
		case tc.code == 0 && (res != nil || id != "alice"):
			t.Errorf("%s: %q %v, want alice", tc.name, id, res)
		case tc.code != 0 && (res == nil || res.StatusCode != tc.code || id != ""):
			t.Errorf("%s: %q %v, want %d", tc.name, id, res, tc.code)
		}
	}
	clk.advance(nonceTTL + time.Second)
	_, res = r.AuthenticateCaller(invite("alice", "Proxy-Authorization", "INVITE", chal))
	if res == nil || res.StatusCode != 407 || !strings.Contains(res.GetHeader("Proxy-Authenticate").Value(), "stale=true") {
		t.Errorf("an old nonce: %v, want 407 with stale=true", res)
	}
}

// TestClientCallerDialect: a client call is From=client:IDENTITY for a
// TwiML app only; a TeXML app keeps the SIP From, and a call that is no
// client's is left alone.
func TestClientCallerDialect(t *testing.T) {
	for _, tc := range []struct {
		dialect  verbs.Dialect
		identity string
		want     string
	}{
		{verbs.TwiML, "alice", "client:alice"},
		{verbs.TeXML, "alice", "sip:alice@texml.test"},
		{verbs.TwiML, "", "sip:alice@texml.test"},
	} {
		cfg := interpreter.Config{Dialect: tc.dialect, From: "sip:alice@texml.test"}
		clientCaller(&cfg, tc.identity)
		if cfg.From != tc.want {
			t.Errorf("%v %q: From %q, want %q", tc.dialect, tc.identity, cfg.From, tc.want)
		}
	}
}
