package main

import (
	"context"
	"net/http"
	"net/url"
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

// TestAPICallMachineDetection: calls created through the REST API with
// MachineDetection. Synchronous: the Url is requested once the detector
// decided, with AnsweredBy; AsyncAmd: the Url at once, the result to
// AsyncAmdStatusCallback. The Call resource shows answered_by.
func TestAPICallMachineDetection(t *testing.T) {
	const ms = time.Millisecond
	voicemail := amd.Party{{Kind: amd.Voice, For: 4 * time.Second}, {Kind: amd.Beep, At: 4300 * ms, For: 500 * ms}}
	a := newApp(t, map[string]string{
		"/voice": `<Response><Pause length="6"/></Response>`,
		"/amd":   `<Response/>`,
	})
	s := startServe(t, a.srv.URL+"/voice", "--account-sid", e2eAccount, "--auth-token", e2eToken)
	for _, tc := range []struct {
		name  string
		extra url.Values
	}{
		{"sync", url.Values{"MachineDetection": {"DetectMessageEnd"}}},
		{"async", url.Values{"MachineDetection": {"DetectMessageEnd"}, "AsyncAmd": {"true"}, "AsyncAmdStatusCallback": {a.srv.URL + "/amd"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			callee := sipphone.New(t)
			callee.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) {
				c.Talk(voicemail.Samples(5 * time.Second))
				c.Listen(5 * time.Second)
			}})
			form := url.Values{"To": {callee.URI("vm")}, "From": {"+15559990000"}, "Url": {a.srv.URL + "/voice"}}
			for k, v := range tc.extra {
				form[k] = v
			}
			code, c := apiForm(t, http.MethodPost, callsURL(s), form)
			if code != http.StatusCreated {
				t.Fatalf("create: %d %v", code, c)
			}
			sid := c["sid"].(string)
			var voice url.Values
			waitFor(t, 15*time.Second, "the call's Url requested", func() bool {
				for _, p := range a.requests("/voice") {
					if p.Get("CallSid") == sid {
						voice = p
						return true
					}
				}
				return false
			})
			result := voice
			if tc.name == "async" {
				if voice.Get("AnsweredBy") != "" {
					t.Errorf("async: the Url was requested with AnsweredBy %q, want it at once, without", voice.Get("AnsweredBy"))
				}
				result = waitRequest(t, a, "/amd", 15*time.Second)
			}
			if result.Get("AnsweredBy") != "machine_end_beep" || result.Get("MachineDetectionDuration") == "" {
				t.Errorf("%s: %v, want AnsweredBy machine_end_beep with MachineDetectionDuration", tc.name, result)
			}
			waitFor(t, 5*time.Second, "answered_by on the Call resource", func() bool {
				_, c := apiForm(t, http.MethodGet, callsURL(s)+"/"+sid+".json", nil)
				return c["answered_by"] == "machine_end_beep"
			})
		})
	}
	code, c := apiForm(t, http.MethodPost, callsURL(s), url.Values{"To": {"sip:x@127.0.0.1"}, "From": {"+1"}, "Url": {a.srv.URL + "/voice"},
		"MachineDetection": {"Enable"}, "MachineDetectionTimeout": {"90"}})
	if code != http.StatusBadRequest || c["code"] != float64(20001) {
		t.Errorf("MachineDetectionTimeout 90: %d %v, want 400/20001", code, c)
	}
}
