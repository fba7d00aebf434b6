package main

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/internal/sipphone"
)

// TestReferPhone has texml transfer a real SIP caller with <Refer>: the
// test phone takes the REFER (202), reports the target's answers in
// NOTIFYs, and the action gets ReferCallStatus, ReferSipResponseCode and
// NotifySipResponseCode. A completed transfer ends texml's leg (BYE) and
// the action's TwiML is not run; a failed one runs it.
func TestReferPhone(t *testing.T) {
	tests := []struct {
		name   string
		reply  sipphone.ReferReply
		status string
		notify string
		bye    bool // texml hangs up at once
	}{
		{"completed", sipphone.ReferReply{Notify: []int{100, 180, 200}, Gap: 50 * time.Millisecond}, "completed", "200", true},
		{"busy", sipphone.ReferReply{Notify: []int{100, 486}}, "busy", "486", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newApp(t, map[string]string{
				"/voice":    `<Response><Refer action="/referred"><Sip>sip:agent@pbx.test?X-Ticket=42</Sip></Refer><Pause length="1"/></Response>`,
				"/referred": `<Response><Pause length="1"/><Hangup/></Response>`,
			})
			s := startServe(t, a.srv.URL+"/voice")
			ph := sipphone.New(t)
			ph.OnRefer(tt.reply)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			began := time.Now()
			c := callTexml(ctx, t, ph, s.sipAddr, 10*time.Second, nil)
			took := time.Since(began)
			if c.FinalCode() != 200 {
				t.Fatalf("caller got %d", c.FinalCode())
			}
			p := waitRequest(t, a, "/referred", 10*time.Second)
			if p.Get("ReferCallStatus") != tt.status || p.Get("ReferSipResponseCode") != "202" || p.Get("NotifySipResponseCode") != tt.notify {
				t.Errorf("action %v, want ReferCallStatus=%s, 202, NotifySipResponseCode=%s", p, tt.status, tt.notify)
			}
			if !c.RemoteHangup() {
				t.Error("texml did not hang up")
			}
			// A completed transfer ends the call at once; a failed one
			// runs the action's document (a one-second Pause) first.
			if tt.bye && took > 2*time.Second {
				t.Errorf("the call lasted %v after a completed transfer", took)
			}
			if !tt.bye && took < time.Second {
				t.Errorf("the call lasted %v: the action's document did not run", took)
			}
			var refer *sip.Request
			for _, r := range c.Requests() {
				if r.Method == sip.REFER {
					refer = r
				}
			}
			if refer == nil {
				t.Fatal("the phone got no REFER")
			}
			if h := refer.GetHeader("Refer-To"); h == nil || h.Value() != "<sip:agent@pbx.test?X-Ticket=42>" {
				t.Errorf("Refer-To %v", h)
			}
			for _, code := range c.Notified() {
				if code != 200 {
					t.Errorf("NOTIFY answered %d, want 200", code)
				}
			}
			t.Logf("%s: call of %v (REFER, %d NOTIFYs, action, BYE)", tt.name, took.Round(time.Millisecond), len(c.Notified()))
		})
	}
}

// TestDialReferURLPhones: the agent a caller was dialed to transfers the
// caller with a REFER (a blind transfer, Twilio's "Inbound SIP REFER to
// Twilio"): texml accepts it, requests referUrl with ReferTransferTarget
// and the REFER's X- headers, dials what it returns, tells the agent with
// NOTIFYs 100 and 200, and lets the agent go.
func TestDialReferURLPhones(t *testing.T) {
	agent, sales := sipphone.New(t), sipphone.New(t)
	referred := make(chan *sip.Response, 1)
	agent.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) {
		time.Sleep(500 * time.Millisecond)
		res, err := c.Refer(sales.URI("sales"), map[string]string{"X-Ticket": "42"})
		if err != nil {
			t.Error(err)
		}
		referred <- res
		c.WaitEnd(10 * time.Second)
	}})
	sales.Answer(sipphone.Behaviour{Ring: 300 * time.Millisecond, Then: func(c *sipphone.Call) {
		c.Listen(time.Second)
		_ = c.Hangup()
	}})
	a := newApp(t, map[string]string{
		"/voice":  `<Response><Dial referUrl="/refer" action="/first"><Sip>` + agent.URI("agent") + `</Sip></Dial></Response>`,
		"/refer":  `<Response><Dial action="/second"><Sip>` + sales.URI("sales") + `</Sip></Dial></Response>`,
		"/second": `<Response><Hangup/></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 10*time.Second, nil)
	if c.FinalCode() != 200 {
		t.Fatalf("caller got %d", c.FinalCode())
	}
	if res := <-referred; res == nil || res.StatusCode != 202 {
		t.Fatalf("the agent's REFER was answered %v, want 202", res)
	}
	p := waitRequest(t, a, "/refer", 10*time.Second)
	if p.Get("ReferTransferTarget") != "<"+sales.URI("sales")+">" || p.Get("SipHeader_X-Ticket") != "42" || p.Get("CallSid") == "" {
		t.Errorf("referUrl params %v", p)
	}
	second := waitRequest(t, a, "/second", 10*time.Second)
	if second.Get("DialCallStatus") != "completed" || second.Get("DialBridged") != "true" {
		t.Errorf("the transfer's Dial: %v, want bridged", second)
	}
	if _, ok := a.request("/first"); ok {
		t.Error("the first Dial's action was requested: the REFER replaces it")
	}
	in := agent.Incoming()
	if len(in) != 1 {
		t.Fatalf("the agent saw %d calls", len(in))
	}
	ac := in[0].Call()
	if !ac.WaitEnd(5 * time.Second) {
		t.Fatal("texml did not let the agent go after the transfer")
	}
	if got := ac.Notifies(); len(got) != 2 || got[0] != 100 || got[1] != 200 {
		t.Errorf("the agent's NOTIFYs %v, want 100 then 200", got)
	}
	if !ac.RemoteHangup() {
		t.Error("the agent's call did not end with texml's BYE")
	}
	if !c.RemoteHangup() {
		t.Error("texml did not hang up the caller after the second Dial's <Hangup/>")
	}
	t.Logf("caller's call %v: agent, REFER at 0.5 s, sales rings 0.3 s, talks 1 s", time.Since(began).Round(time.Millisecond))
}

// TestReferSIPp: the same transfer against SIPp, a SIP stack other than
// sipgo (fixtures/sipp/refer_accept.xml): it takes the REFER and sends
// NOTIFY 200; texml reports completed and hangs up.
func TestReferSIPp(t *testing.T) {
	a := newApp(t, map[string]string{
		"/voice":    `<Response><Refer action="/referred"><Sip>sip:agent@pbx.test</Sip></Refer></Response>`,
		"/referred": `<Response><Say>not run</Say></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice")
	if out, err := sipp(t, s, "refer_accept.xml", "test"); err != nil {
		t.Fatalf("sipp: %v\n%s", err, out)
	}
	p := waitRequest(t, a, "/referred", 5*time.Second)
	if p.Get("ReferCallStatus") != "completed" || p.Get("ReferSipResponseCode") != "202" || p.Get("NotifySipResponseCode") != "200" {
		t.Errorf("action %v, want completed, 202, 200", p)
	}
	waitIdle(t, s)
}

// TestDialCallerReferPhones: the caller, bridged by a Dial with referUrl,
// transfers the party it was dialed to (Twilio's "Inbound SIP REFER to
// Twilio" from the caller's side: an agent's SIP phone calls in, dials a
// customer, and presses Transfer). texml accepts it, requests referUrl
// for the dialed party with ReferTransferTarget, and the dialed party
// runs what it returns as a call of its own (here a Dial to sales, which
// hears it); the caller hears NOTIFYs 100 and 200 and is let go, without
// the first Dial's action.
func TestDialCallerReferPhones(t *testing.T) {
	customer, sales, heard := transferParties(t)
	a := newApp(t, map[string]string{
		"/voice": `<Response><Dial referUrl="/refer" action="/first"><Sip>` + customer.URI("customer") + `</Sip></Dial></Response>`,
		"/refer": `<Response><Dial><Sip>` + sales.URI("sales") + `</Sip></Dial></Response>`,
		"/first": `<Response><Say>never</Say></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var res *sip.Response
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 0, func(c *sipphone.Call) {
		time.Sleep(700 * time.Millisecond) // bridged with the customer by now
		var err error
		if res, err = c.Refer(sales.URI("sales"), map[string]string{"X-Ticket": "7"}); err != nil {
			t.Error(err)
		}
		c.WaitEnd(10 * time.Second)
	})
	if res == nil || res.StatusCode != 202 {
		t.Fatalf("the caller's REFER was answered %v, want 202", res)
	}
	parent := waitRequest(t, a, "/voice", time.Second).Get("CallSid")
	p := waitRequest(t, a, "/refer", 10*time.Second)
	if p.Get("ReferTransferTarget") != "<"+sales.URI("sales")+">" || p.Get("SipHeader_X-Ticket") != "7" ||
		p.Get("Direction") != "outbound-dial" || p.Get("ParentCallSid") != parent {
		t.Errorf("referUrl params %v: want the dialed party's call (outbound-dial, ParentCallSid %s)", p, parent)
	}
	if !c.RemoteHangup() {
		t.Error("texml did not let the caller go after the transfer")
	}
	if got := c.Notifies(); len(got) != 2 || got[0] != 100 || got[1] != 200 {
		t.Errorf("the caller's NOTIFYs %v, want [100 200]", got)
	}
	select {
	case audio := <-heard:
		if !sipphone.HasTone(audio, 700) {
			t.Error("sales did not hear the customer's tone: the transferred party was not connected")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("sales was never connected")
	}
	if _, ok := a.request("/first"); ok {
		t.Error("the first Dial's action was requested: the transfer replaces it")
	}
}

// TestRESTCallReferPhones: a call created through the REST API whose
// TwiML dials on, and whose called party (the "caller" of that TwiML)
// transfers the dialed party with a REFER, as in TestDialCallerReferPhones:
// a REST-created call's leg takes REFERs the same way while bridged.
func TestRESTCallReferPhones(t *testing.T) {
	agent := sipphone.New(t)
	customer, sales, heard := transferParties(t)
	referred := make(chan *sip.Response, 1)
	agent.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) {
		time.Sleep(1500 * time.Millisecond) // bridged with the customer by now
		res, err := c.Refer(sales.URI("sales"), nil)
		if err != nil {
			t.Error(err)
		}
		referred <- res
		c.WaitEnd(10 * time.Second)
	}})
	a := newApp(t, map[string]string{
		"/voice": `<Response><Hangup/></Response>`,
		"/agent": `<Response><Dial referUrl="/refer" action="/first"><Sip>` + customer.URI("customer") + `</Sip></Dial></Response>`,
		"/refer": `<Response><Dial><Sip>` + sales.URI("sales") + `</Sip></Dial></Response>`,
		"/first": `<Response><Say>never</Say></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice", "--account-sid", e2eAccount, "--auth-token", e2eToken)
	code, c := apiForm(t, http.MethodPost, callsURL(s)+".json", url.Values{"To": {agent.URI("agent")}, "From": {"+15559990000"}, "Url": {a.srv.URL + "/agent"}})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, c)
	}
	select {
	case res := <-referred:
		if res == nil || res.StatusCode != 202 {
			t.Fatalf("the agent's REFER was answered %v, want 202", res)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the agent never sent its REFER")
	}
	p := waitRequest(t, a, "/refer", 10*time.Second)
	if p.Get("ParentCallSid") != c["sid"] || p.Get("Direction") != "outbound-dial" {
		t.Errorf("referUrl params %v: want the customer's call, child of %v", p, c["sid"])
	}
	select {
	case audio := <-heard:
		if !sipphone.HasTone(audio, 700) {
			t.Error("sales did not hear the customer's tone")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("sales was never connected")
	}
	in := agent.Incoming()
	if len(in) != 1 || !in[0].Call().WaitEnd(5*time.Second) {
		t.Fatal("texml did not let the agent go after the transfer")
	}
	if got := in[0].Call().Notifies(); len(got) != 2 || got[0] != 100 || got[1] != 200 {
		t.Errorf("the agent's NOTIFYs %v, want [100 200]", got)
	}
	waitCallStatus(t, callsURL(s)+"/"+c["sid"].(string)+".json", "completed", 5*time.Second)
}

// TestReferDigest: a party that challenged texml's INVITE (a REST-created
// call with SipAuthUsername/SipAuthPassword) challenges its REFER too;
// texml sends it again with the same credentials (RFC 3261 §22.2), so
// the <Refer> goes through.
func TestReferDigest(t *testing.T) {
	creds := sipphone.Credentials{Realm: "pbx", Username: "texml", Password: "s3cret"}
	ph := sipphone.New(t)
	ph.Answer(sipphone.Behaviour{Challenge: &creds, Then: func(c *sipphone.Call) { c.WaitEnd(10 * time.Second) }})
	ph.OnRefer(sipphone.ReferReply{Challenge: &creds, Notify: []int{100, 200}})
	a := newApp(t, map[string]string{
		"/voice":    `<Response><Hangup/></Response>`,
		"/call":     `<Response><Refer action="/referred"><Sip>sip:agent@pbx.test</Sip></Refer></Response>`,
		"/referred": `<Response/>`,
	})
	s := startServe(t, a.srv.URL+"/voice", "--account-sid", e2eAccount, "--auth-token", e2eToken)
	code, c := apiForm(t, http.MethodPost, callsURL(s)+".json", url.Values{"To": {ph.URI("pbx")}, "From": {"+15559990000"},
		"Url": {a.srv.URL + "/call"}, "SipAuthUsername": {creds.Username}, "SipAuthPassword": {creds.Password}})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, c)
	}
	p := waitRequest(t, a, "/referred", 10*time.Second)
	if p.Get("ReferSipResponseCode") != "202" || p.Get("ReferCallStatus") != "completed" {
		t.Errorf("action %v: want ReferSipResponseCode=202 ReferCallStatus=completed", p)
	}
	var refers, authed int
	for _, in := range ph.Incoming() {
		for _, r := range in.Call().Requests() {
			if r.Method == sip.REFER {
				refers++
				if r.GetHeader("Authorization") != nil {
					authed++
				}
			}
		}
	}
	if refers != 2 || authed != 1 {
		t.Errorf("the phone got %d REFERs, %d with credentials; want 2 and 1", refers, authed)
	}
}

// transferParties are the phones of a transfer by the caller: the
// customer the caller dialed, who plays a 700 Hz tone to whoever it is
// connected with, and sales, the transfer's target, which answers and
// hands what it heard to heard.
func transferParties(t *testing.T) (customer, sales *sipphone.Phone, heard <-chan []int16) {
	customer, sales = sipphone.New(t), sipphone.New(t)
	customer.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) {
		c.Silence(time.Second)
		c.Tone(700, 4*time.Second)
		c.WaitEnd(10 * time.Second)
	}})
	got := make(chan []int16, 1)
	sales.Answer(sipphone.Behaviour{Ring: 300 * time.Millisecond, Then: func(c *sipphone.Call) {
		c.Listen(2 * time.Second)
		got <- c.Audio()
		_ = c.Hangup()
	}})
	return customer, sales, got
}
