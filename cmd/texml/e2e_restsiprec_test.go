package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// TestAPISiprecStartStop records a live call with the REST Siprec
// resource (https://www.twilio.com/docs/voice/api/siprec), SIPp as the
// session recording server: the session starts while a Pause runs, the
// callee's tone reaches the stream labelled 1 (what the leg's party
// says), Parameter1 reaches the metadata (the scenario checks it), and
// the REST stop sends the BYE while the call goes on. The statusCallback
// gets siprec-started and siprec-stopped; an unknown connector is
// refused with Twilio's 20001 and reported as <Start><Siprec> reports it.
func TestAPISiprecStartStop(t *testing.T) {
	const calleeTone = 900.0
	in, out := newRTPSink(t), newRTPSink(t)
	srs, wait := sippSRS(t, in.port(), out.port())
	a := newApp(t, map[string]string{"/voice": `<Response><Pause length="6"/></Response>`, "/sr": ``, "/lost": ``})
	cfg := filepath.Join(t.TempDir(), "texml.yaml")
	if err := os.WriteFile(cfg, []byte("siprec_connectors:\n  srs: sip:srs@"+srs+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, a.srv.URL+"/voice", "--account-sid", e2eAccount, "--auth-token", e2eToken, "--config", cfg)
	callee := sipphone.New(t)
	callee.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) {
		c.Tone(calleeTone, 5*time.Second)
		c.Listen(2 * time.Second)
	}})
	code, call := apiForm(t, http.MethodPost, callsURL(s), url.Values{"To": {callee.URI("bob")}, "From": {"+15559990000"},
		"Url": {a.srv.URL + "/voice"}})
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, call)
	}
	callSid, _ := call["sid"].(string)
	waitRequest(t, a, "/voice", 10*time.Second)
	time.Sleep(300 * time.Millisecond) // the Pause runs

	siprec := callsURL(s) + "/" + callSid + "/Siprec"
	code, lost := apiForm(t, http.MethodPost, siprec+".json", url.Values{"ConnectorName": {"nowhere"}, "StatusCallback": {a.srv.URL + "/lost"}})
	if code != http.StatusBadRequest || lost["code"] != float64(20001) || !strings.Contains(lost["message"].(string), "unknown SIPREC connector") {
		t.Errorf("unknown connector: %d %v, want 400 20001", code, lost)
	}
	code, sr := apiForm(t, http.MethodPost, siprec+".json", url.Values{"ConnectorName": {"srs"}, "Name": {"rec1"},
		"StatusCallback": {a.srv.URL + "/sr"}, "Parameter1.Name": {"agent"}, "Parameter1.Value": {"7"}})
	if code != http.StatusCreated || sr["status"] != "in-progress" || sr["name"] != "rec1" || sr["call_sid"] != callSid ||
		!strings.HasPrefix(sr["sid"].(string), "SR") || !strings.HasSuffix(sr["uri"].(string), "/Siprec/"+sr["sid"].(string)+".json") {
		t.Fatalf("start: %d %v", code, sr)
	}
	waitFor(t, 10*time.Second, "a second of the callee's audio at the recording server", func() bool {
		n, _ := in.got()
		return n >= 50
	})
	code, stopped := apiForm(t, http.MethodPost, siprec+"/rec1.json", url.Values{"Status": {"stopped"}})
	if code != http.StatusOK || stopped["status"] != "stopped" || stopped["sid"] != sr["sid"] {
		t.Fatalf("stop: %d %v", code, stopped)
	}
	if o, err := wait(); err != nil {
		t.Fatalf("SIPp (the recording server) failed: %v\n%s", err, o)
	}
	// The session is over, the call is not: the Pause goes on.
	code, now := apiForm(t, http.MethodGet, callsURL(s)+"/"+callSid+".json", nil)
	if code != http.StatusOK || now["status"] != "in-progress" {
		t.Errorf("after the stop the call is %d %v, want in-progress", code, now["status"])
	}
	code, again := apiForm(t, http.MethodPost, siprec+"/rec1.json", url.Values{"Status": {"stopped"}})
	if code != http.StatusNotFound || again["code"] != float64(20404) {
		t.Errorf("stopping it again: %d %v, want 404", code, again)
	}
	_, pcm := in.got()
	if !sipphone.HasTone(pcm, calleeTone) {
		t.Errorf("stream 1 lacks the callee's %.0f Hz tone (dominant %.0f Hz)", calleeTone, sipphone.DominantFreq(pcm))
	}
	if n, _ := out.got(); n == 0 {
		t.Error("stream 2 (what the callee hears) got no RTP")
	}
	var events []string
	waitFor(t, 5*time.Second, "siprec-started and siprec-stopped", func() bool {
		events = nil
		for _, p := range a.requests("/sr") {
			events = append(events, p.Get("SiprecEvent")+"/"+p.Get("SiprecName")+"/"+p.Get("SiprecSid"))
		}
		return len(events) >= 2
	})
	sid := sr["sid"].(string)
	if strings.Join(events, ",") != "siprec-started/rec1/"+sid+",siprec-stopped/rec1/"+sid {
		t.Errorf("statusCallback events %v, want siprec-started then siprec-stopped", events)
	}
	if p, ok := a.waitRequest(t, "/lost", 5*time.Second); !ok || p.Get("SiprecEvent") != "siprec-failed" {
		t.Errorf("the unknown connector's callback %v, want siprec-failed", p)
	}
}
