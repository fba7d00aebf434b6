package main

import (
	"slices"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// twilioCall is the part of a CallInstance the tests check.
type twilioCall struct {
	Sid, AccountSid, To, From, Status, Direction string
}

// twilioCalls is call-create's result: the calls created, and each
// fetched once its status was one of wait's.
type twilioCalls struct {
	Created, Fetched []twilioCall
}

// callerID is the From of the calls the tests create.
const callerID = "+15550001000"

// holdTwiML keeps an answered call up for 20 s after a greeting.
const holdTwiML = `<Response><Say>hi</Say><Pause length="20"/></Response>`

// TestTwilioNodeCalls drives the Calls resource with the official twilio
// npm package: calls created with twiml and with url, to SIP URIs and
// through a trunk, fetched, listed page by page, ended by an update, and
// a busy callee; a To no trunk carries is refused.
func TestTwilioNodeCalls(t *testing.T) {
	needTwilioNode(t)
	a := newApp(t, map[string]string{
		"/voice": `<Response><Hangup/></Response>`,
		"/call":  holdTwiML,
	})
	trunk := sipphone.New(t)
	trunk.Answer(listenUntilBye)
	cfg := twilioConfig(t, a.srv.URL, nil, `  - name: test
    match: ["+1555*"]
    uri: sip:`+trunk.Addr()+"\n")
	s := startServe(t, a.srv.URL+"/voice", "--account-sid", twilioAccount, "--auth-token", twilioToken, "--config", cfg)
	node := newTwilioNode(s, twilioAccount, twilioToken)

	// Not parallel: the other subtests' calls would change the list
	// between its pages.
	t.Run("list-paging", func(t *testing.T) {
		p := answeringPhone(t)
		var got twilioCalls
		node.do(t, &got, "call-create", "to="+p.URI("many"), "from="+callerID, "count=5",
			"twiml=<Response><Pause length=\"1\"/></Response>", "wait=completed")
		var pg struct {
			All   []string
			Pages [][]string
		}
		node.do(t, &pg, "paging", "resource=calls", "pageSize=2")
		for _, c := range got.Created {
			if !slices.Contains(pg.All, c.Sid) {
				t.Errorf("calls.list({pageSize: 2}) = %v, without %s", pg.All, c.Sid)
			}
		}
		if len(pg.Pages) != (len(pg.All)+1)/2 || !slices.Equal(slices.Concat(pg.Pages...), pg.All) {
			t.Errorf("page({pageSize: 2}) then nextPage() = %v, want %v in pages of 2", pg.Pages, pg.All)
		}
	})
	t.Run("twiml", func(t *testing.T) {
		t.Parallel()
		p := answeringPhone(t)
		var got twilioCalls
		node.do(t, &got, "call-create", "to="+p.URI("alice"), "from="+callerID, "twiml="+holdTwiML, "wait=in-progress")
		created, fetched := got.Created[0], got.Fetched[0]
		want := twilioCall{Sid: created.Sid, AccountSid: twilioAccount, To: p.URI("alice"), From: callerID, Status: "queued", Direction: "outbound-api"}
		if created != want {
			t.Errorf("calls.create() = %+v, want %+v", created, want)
		}
		if want.Status = "in-progress"; fetched != want {
			t.Errorf("fetch() once answered = %+v, want %+v", fetched, want)
		}
		in := p.Next(5 * time.Second)
		if in.From().User != callerID {
			t.Errorf("the callee's INVITE is from %s, want %s", in.From().User, callerID)
		}
		time.Sleep(1500 * time.Millisecond) // "hi"
		if v := sipphone.VoicedTime(in.Call().Audio()); v < 200*time.Millisecond {
			t.Errorf("the callee heard %v of the Say", v)
		}
		var upd struct{ Updated, Fetched twilioCall }
		node.do(t, &upd, "call-update", "sid="+created.Sid, "twiml=<Response><Hangup/></Response>", "wait=completed,failed,busy,no-answer,canceled")
		if upd.Fetched.Status != "completed" {
			t.Errorf("fetch() after update({twiml: Hangup}) = %+v, want completed", upd.Fetched)
		}
		if !in.Call().WaitEnd(5*time.Second) || !in.Call().RemoteHangup() {
			t.Error("the callee's call did not end with texml's BYE")
		}
	})
	t.Run("url", func(t *testing.T) {
		t.Parallel()
		p := answeringPhone(t)
		var got twilioCalls
		node.do(t, &got, "call-create", "to="+p.URI("bob"), "from="+callerID, "url="+a.srv.URL+"/call", "method=POST", "wait=in-progress")
		sid := got.Created[0].Sid
		r, ok := a.waitRequest(t, "/call", 5*time.Second)
		if !ok || r.Get("CallSid") != sid || r.Get("Direction") != "outbound-api" || r.Get("CallStatus") != "in-progress" {
			t.Errorf("the url got %v (requested: %v), want CallSid %s, Direction outbound-api, CallStatus in-progress", r, ok, sid)
		}
		in := p.Next(5 * time.Second)
		endCall(t, node, sid, in)
	})
	t.Run("trunk", func(t *testing.T) {
		t.Parallel()
		var got twilioCalls
		node.do(t, &got, "call-create", "to=+15551230000", "from="+callerID, "twiml="+holdTwiML, "wait=in-progress")
		in := trunk.Next(5 * time.Second)
		if u := in.RequestURI().User; u != "+15551230000" {
			t.Errorf("the trunk got an INVITE for %s, want +15551230000", u)
		}
		endCall(t, node, got.Created[0].Sid, in)
	})
	t.Run("busy", func(t *testing.T) {
		t.Parallel()
		p := sipphone.New(t)
		p.Answer(sipphone.Behaviour{Reject: 486})
		var got twilioCalls
		node.do(t, &got, "call-create", "to="+p.URI("busy"), "from="+callerID, "twiml="+holdTwiML, "wait=completed,failed,busy,no-answer,canceled")
		if got.Fetched[0].Status != "busy" {
			t.Errorf("a call answered 486: %+v, want busy", got.Fetched[0])
		}
	})
	t.Run("to-no-trunk-carries", func(t *testing.T) {
		t.Parallel()
		// A well-formed number that no trunk carries (or a deny rule
		// forbids) is answered as Twilio answers a number outside the
		// account's calling permissions: 400 and 21215
		// (https://www.twilio.com/docs/errors/21215). A malformed To is
		// 21211, "Invalid 'To' Phone Number".
		_, rest := node.run(t, "call-create", "to=+442071234567", "from="+callerID, "twiml="+holdTwiML)
		if rest == nil || rest.Status != 400 || rest.Code != 21215 {
			t.Errorf("calls.create() to a number no trunk carries: %+v, want a RestException 400/21215", rest)
		}
		_, rest = node.run(t, "call-create", "to=not-a-number", "from="+callerID, "twiml="+holdTwiML)
		if rest == nil || rest.Status != 400 || rest.Code != 21211 {
			t.Errorf("calls.create() to a malformed number: %+v, want a RestException 400/21211", rest)
		}
	})
}

// listenUntilBye answers every call and listens until the caller hangs up.
var listenUntilBye = sipphone.Behaviour{Then: func(c *sipphone.Call) { c.Listen(30 * time.Second) }}

// answeringPhone is a test phone that answers every call (listenUntilBye).
func answeringPhone(t *testing.T) *sipphone.Phone {
	p := sipphone.New(t)
	p.Answer(listenUntilBye)
	return p
}

// endCall ends a call with update({status: 'completed'}) and checks that
// it is completed and that texml hung up on in.
func endCall(t *testing.T, node twilioNode, sid string, in *sipphone.Incoming) {
	t.Helper()
	var upd struct{ Updated, Fetched twilioCall }
	node.do(t, &upd, "call-update", "sid="+sid, "status=completed", "wait=completed,failed,busy,no-answer,canceled")
	if upd.Fetched.Status != "completed" {
		t.Errorf("fetch() after update({status: 'completed'}) = %+v, want completed", upd.Fetched)
	}
	if !in.Call().WaitEnd(5*time.Second) || !in.Call().RemoteHangup() {
		t.Error("the callee's call did not end with texml's BYE")
	}
}
