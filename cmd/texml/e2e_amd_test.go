package main

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
	"github.com/texml/texml/media/amd"
)

// TestDialMachineDetection runs answering machine detection on a real
// call: texml serve dials a test phone through --sip-trunk with
// <Number machineDetection>, the phone answers with generated audio (a
// voicemail greeting: 4 s of speech-like sound, then a beep; or a short
// hello), and amdStatusCallback gets what the detector heard over RTP,
// per mode (https://www.twilio.com/docs/voice/twiml/number).
func TestDialMachineDetection(t *testing.T) {
	const ms = time.Millisecond
	voicemail := amd.Party{{Kind: amd.Voice, For: 4 * time.Second}, {Kind: amd.Beep, At: 4300 * ms, For: 500 * ms}}
	hello := amd.Party{{Kind: amd.Voice, For: 800 * ms}}
	tests := []struct {
		name, mode string
		greeting   amd.Party
		want       string
		min, max   time.Duration // MachineDetectionDuration
	}{
		{"voicemail-enable", "Enable", voicemail, "machine_start", 2300 * ms, 2800 * ms},
		{"voicemail-message-end", "DetectMessageEnd", voicemail, "machine_end_beep", 4700 * ms, 5300 * ms},
		{"person", "Enable", hello, "human", 1900 * ms, 2500 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			callee := sipphone.New(t)
			callee.Answer(sipphone.Behaviour{Ring: 300 * ms, Then: func(c *sipphone.Call) {
				c.Talk(tc.greeting.Samples(5 * time.Second))
				c.Listen(5 * time.Second)
			}})
			a := newApp(t, map[string]string{
				"/voice": `<Response><Dial action="/dialed"><Number machineDetection="` + tc.mode +
					`" amdStatusCallback="/amd">+15551230000</Number></Dial></Response>`,
				"/dialed": `<Response><Hangup/></Response>`,
				"/amd":    `<Response/>`,
			})
			s := startServe(t, a.srv.URL+"/voice", "--sip-trunk", "sip:"+callee.Addr())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 8*time.Second, nil)
			if c.FinalCode() != 200 {
				t.Fatalf("caller got %d, want 200", c.FinalCode())
			}
			p := waitRequest(t, a, "/amd", 20*time.Second)
			dialed := waitRequest(t, a, "/dialed", 20*time.Second)
			if p.Get("AnsweredBy") != tc.want {
				t.Errorf("AnsweredBy %q, want %q", p.Get("AnsweredBy"), tc.want)
			}
			if p.Get("CallSid") == "" || p.Get("CallSid") != dialed.Get("DialCallSid") || p.Get("AccountSid") == "" {
				t.Errorf("callback %v: want the child's CallSid (DialCallSid %s) and the AccountSid", p, dialed.Get("DialCallSid"))
			}
			n, err := strconv.Atoi(p.Get("MachineDetectionDuration"))
			if d := time.Duration(n) * ms; err != nil || d < tc.min || d > tc.max {
				t.Errorf("MachineDetectionDuration %q, want %v-%v", p.Get("MachineDetectionDuration"), tc.min, tc.max)
			}
			if dialed.Get("DialCallStatus") != "completed" || dialed.Get("DialBridged") != "true" {
				t.Errorf("Dial action %v: detection must not keep the callee from the bridge", dialed)
			}
		})
	}
}
