package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// TestAPIDialChildUpdate ends a <Dial>'s child call through the REST API,
// as a call centre's dashboard does with the CallSid of the agent's leg: a
// bridged callee gets BYE and the caller goes on with the Dial's action
// (DialCallStatus=completed); a callee that still rings gets CANCEL
// (Status=canceled) and the action says canceled. A new document for a
// child that still rings is refused with a clear error.
func TestAPIDialChildUpdate(t *testing.T) {
	tests := []struct {
		name      string
		callee    sipphone.Behaviour
		update    url.Values
		inStatus  string // the child's status when it is updated
		dialed    string // DialCallStatus
		bridged   string
		final     string // the child's status afterwards
		canceled  bool   // the callee saw CANCEL rather than BYE
		redirectT bool   // also try a Twiml update first: refused while it rings
	}{
		{name: "bridged", callee: sipphone.Behaviour{Then: func(c *sipphone.Call) { c.Listen(30 * time.Second) }},
			update: url.Values{"Status": {"completed"}}, inStatus: "in-progress",
			dialed: "completed", bridged: "true", final: "completed"},
		{name: "ringing", callee: sipphone.Behaviour{RingForever: true},
			update: url.Values{"Status": {"canceled"}}, inStatus: "ringing",
			dialed: "canceled", bridged: "false", final: "canceled", canceled: true, redirectT: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			callee := sipphone.New(t)
			callee.Answer(tc.callee)
			a := newApp(t, map[string]string{
				"/voice":  fmt.Sprintf(`<Response><Dial action="/dialed" timeout="30"><Sip>%s</Sip></Dial></Response>`, callee.URI("agent")),
				"/dialed": `<Response><Say>The agent left.</Say><Pause length="2"/></Response>`,
			})
			s := startServe(t, a.srv.URL+"/voice", "--account-sid", e2eAccount, "--auth-token", e2eToken)
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			done := make(chan *sipphone.Call, 1)
			go func() { done <- callTexml(ctx, t, sipphone.New(t), s.sipAddr, 30*time.Second, nil) }()

			parent := waitRequest(t, a, "/voice", 10*time.Second).Get("CallSid")
			child := waitChild(t, s, parent, tc.inStatus)
			childURL := callsURL(s) + "/" + child + ".json"
			if tc.redirectT {
				code, c := apiForm(t, http.MethodPost, childURL, url.Values{"Twiml": {"<Response><Hangup/></Response>"}})
				if code != http.StatusBadRequest || c["code"] != float64(20001) {
					t.Errorf("a new document for the child: %d %v, want 400/20001", code, c)
				}
			}
			if code, c := apiForm(t, http.MethodPost, childURL, tc.update); code != http.StatusOK {
				t.Fatalf("update %v: %d %v", tc.update, code, c)
			}
			p := waitRequest(t, a, "/dialed", 10*time.Second)
			if p.Get("DialCallStatus") != tc.dialed || p.Get("DialBridged") != tc.bridged || p.Get("DialCallSid") != child {
				t.Errorf("action %v: want DialCallStatus=%s DialBridged=%s DialCallSid=%s", p, tc.dialed, tc.bridged, child)
			}
			waitCallStatus(t, childURL, tc.final, 5*time.Second)
			in := callee.Next(time.Second)
			if !in.Wait(5 * time.Second) {
				t.Fatal("the callee's call did not end")
			}
			if in.Canceled() != tc.canceled {
				t.Errorf("callee canceled %v, want %v (BYE otherwise)", in.Canceled(), tc.canceled)
			}
			// The caller stays: it hears the action's document, then
			// texml hangs up.
			c := <-done
			if !c.RemoteHangup() || sipphone.VoicedTime(c.Audio()) < 500*time.Millisecond {
				t.Errorf("caller: texml hung up %v, voiced %v: want the action's Say, then texml's BYE", c.RemoteHangup(), sipphone.VoicedTime(c.Audio()))
			}
			waitCallStatus(t, callsURL(s)+"/"+parent+".json", "completed", 5*time.Second)
		})
	}
}

// TestAPIDialChildRedirect redirects a bridged <Dial> child through the
// REST API: the callee leaves the bridge and hears a document of its own
// (its own call from then on: texml hangs it up at the document's end),
// while the caller goes on with the Dial's action.
func TestAPIDialChildRedirect(t *testing.T) {
	callee := sipphone.New(t)
	heard := make(chan *sipphone.Call, 1)
	callee.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) {
		c.Listen(30 * time.Second)
		heard <- c
	}})
	a := newApp(t, map[string]string{
		"/voice":  fmt.Sprintf(`<Response><Dial action="/dialed"><Sip>%s</Sip></Dial></Response>`, callee.URI("customer")),
		"/dialed": `<Response><Say>Your party is on hold.</Say></Response>`,
		"/hold":   `<Response><Say>Please hold while we find an agent.</Say></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice", "--account-sid", e2eAccount, "--auth-token", e2eToken)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	done := make(chan *sipphone.Call, 1)
	go func() { done <- callTexml(ctx, t, sipphone.New(t), s.sipAddr, 30*time.Second, nil) }()

	parent := waitRequest(t, a, "/voice", 10*time.Second).Get("CallSid")
	child := waitChild(t, s, parent, "in-progress")
	childURL := callsURL(s) + "/" + child + ".json"
	if code, c := apiForm(t, http.MethodPost, childURL, url.Values{"Url": {a.srv.URL + "/hold"}}); code != http.StatusOK {
		t.Fatalf("redirect: %d %v", code, c)
	}
	p := waitRequest(t, a, "/dialed", 10*time.Second)
	if p.Get("DialCallStatus") != "completed" || p.Get("DialBridged") != "true" || p.Get("DialCallSid") != child {
		t.Errorf("action %v: want completed, bridged, DialCallSid=%s", p, child)
	}
	h := waitRequest(t, a, "/hold", 5*time.Second)
	if h.Get("CallSid") != child || h.Get("ParentCallSid") != parent || h.Get("Direction") != "outbound-dial" {
		t.Errorf("the child's document request %v: want CallSid=%s ParentCallSid=%s Direction=outbound-dial", h, child, parent)
	}
	var c *sipphone.Call
	select {
	case c = <-heard:
	case <-time.After(35 * time.Second):
		t.Fatal("the callee's call did not end")
	}
	if !c.RemoteHangup() || sipphone.VoicedTime(c.Audio()) < time.Second {
		t.Errorf("callee: texml hung up %v, voiced %v: want its own document's Say, then texml's BYE", c.RemoteHangup(), sipphone.VoicedTime(c.Audio()))
	}
	waitCallStatus(t, childURL, "completed", 5*time.Second)
	caller := <-done
	if !caller.RemoteHangup() || sipphone.VoicedTime(caller.Audio()) < 500*time.Millisecond {
		t.Errorf("caller: texml hung up %v, voiced %v: want the action's Say, then texml's BYE", caller.RemoteHangup(), sipphone.VoicedTime(caller.Audio()))
	}
	waitCallStatus(t, callsURL(s)+"/"+parent+".json", "completed", 5*time.Second)
}

// waitChild waits until the Calls list filtered by ParentCallSid shows
// the parent's one Dial child with status, and returns its sid.
func waitChild(t *testing.T, s *service, parent, status string) string {
	t.Helper()
	var child string
	waitFor(t, 10*time.Second, "the Dial's child listed "+status, func() bool {
		_, list := apiForm(t, http.MethodGet, callsURL(s)+".json?ParentCallSid="+parent, nil)
		calls, _ := list["calls"].([]any)
		if len(calls) != 1 {
			return false
		}
		c := calls[0].(map[string]any)
		child, _ = c["sid"].(string)
		return c["status"] == status
	})
	return child
}
