package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// TestDialPhoneCallees dials test phones through texml: parallel ringing
// with one busy and one answering phone, a whisper whose Gather the callee
// answers with a key, and a key the caller presses crossing the bridge as
// an RFC 4733 event.
func TestDialPhoneCallees(t *testing.T) {
	t.Run("parallel-busy-and-answer", func(t *testing.T) {
		t.Parallel()
		busy, answer := sipphone.New(t), sipphone.New(t)
		busy.Answer(sipphone.Behaviour{Ring: 200 * time.Millisecond, Reject: 486})
		answer.Answer(sipphone.Behaviour{Ring: 800 * time.Millisecond,
			Then: func(c *sipphone.Call) { c.Listen(3 * time.Second) }})
		p, _ := dialPhones(t, fmt.Sprintf(`<Dial action="/dialed"><Sip>%s</Sip><Sip>%s</Sip></Dial>`,
			busy.URI("busy"), answer.URI("answer")), map[string]string{}, 3*time.Second, nil)
		if p.Get("DialCallStatus") != "completed" || p.Get("DialBridged") != "true" {
			t.Errorf("action %v, want completed and bridged: the busy fork does not end the Dial", p)
		}
		if in := busy.Incoming(); len(in) != 1 || in[0].Code() != 486 {
			t.Errorf("the busy phone saw %d INVITEs", len(in))
		}
	})
	t.Run("whisper-gather-on-the-callee", func(t *testing.T) {
		t.Parallel()
		callee := sipphone.New(t)
		var mu sync.Mutex
		var heard []int16
		callee.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) {
			time.Sleep(1500 * time.Millisecond) // "Press 1 to accept"
			mu.Lock()
			heard = c.Audio()
			mu.Unlock()
			_ = c.DTMF("1")
			c.Listen(4 * time.Second)
		}})
		whisper := map[string]string{
			"/whisper": `<Response><Gather numDigits="1" action="/accept" timeout="5"><Say>Press 1 to accept the call.</Say></Gather><Hangup/></Response>`,
			"/accept":  `<Response/>`,
		}
		p, a := dialPhones(t, fmt.Sprintf(`<Dial action="/dialed"><Sip url="/whisper">%s</Sip></Dial>`, callee.URI("agent")),
			whisper, 5*time.Second, nil)
		if acc, ok := a.request("/accept"); !ok || acc.Get("Digits") != "1" || acc.Get("Direction") != "outbound-dial" {
			t.Errorf("the whisper's Gather action: %v (requested %v), want Digits=1 on the outbound-dial leg", acc, ok)
		}
		if p.Get("DialCallStatus") != "completed" || p.Get("DialBridged") != "true" {
			t.Errorf("action %v, want the call bridged after the callee pressed 1", p)
		}
		mu.Lock()
		defer mu.Unlock()
		if v := sipphone.VoicedTime(heard); v < 500*time.Millisecond {
			t.Errorf("the callee heard %v of the whisper prompt before pressing 1", v)
		}
	})
	t.Run("rfc4733-across-the-bridge", func(t *testing.T) {
		t.Parallel()
		callee := sipphone.New(t)
		got := make(chan string, 1)
		callee.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) {
			c.Listen(3 * time.Second)
			got <- c.ReceivedDigits()
		}})
		_, _ = dialPhones(t, fmt.Sprintf(`<Dial action="/dialed"><Sip>%s</Sip></Dial>`, callee.URI("agent")), nil, 4*time.Second,
			func(c *sipphone.Call) {
				time.Sleep(time.Second)
				if err := c.DTMF("59"); err != nil {
					t.Error(err)
				}
			})
		select {
		case d := <-got:
			if !strings.Contains(d, "59") {
				t.Errorf("the callee received the digits %q, want the caller's 59 passed through", d)
			}
		case <-time.After(10 * time.Second):
			t.Error("the callee never reported its digits")
		}
	})
}

// dialPhones runs one call through texml whose /voice document is
// <Response>dial</Response>, with extra documents, the caller holding the
// line for hold after act; it returns the Dial action's parameters.
func dialPhones(t *testing.T, dial string, extra map[string]string, hold time.Duration, act func(c *sipphone.Call)) (url.Values, *app) {
	t.Helper()
	docs := map[string]string{"/voice": "<Response>" + dial + "</Response>", "/dialed": `<Response><Hangup/></Response>`}
	for k, v := range extra {
		docs[k] = v
	}
	a := newApp(t, docs)
	s := startServe(t, a.srv.URL+"/voice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, hold, act)
	if c.FinalCode() != 200 {
		t.Fatalf("caller got %d", c.FinalCode())
	}
	return waitRequest(t, a, "/dialed", 20*time.Second), a
}
