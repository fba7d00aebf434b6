package main

import (
	"context"
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
