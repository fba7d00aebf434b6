package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/internal/sipphone"
)

// signedRequest is one request a capturingApp received, as sent.
type signedRequest struct {
	method, path, url string
	header            http.Header
	body              []byte
	params            url.Values // the query of a GET, the form of a POST
}

// capturingApp serves documents and keeps every request whole, so that a
// test can check its signature over the exact bytes.
type capturingApp struct {
	mu   sync.Mutex
	docs map[string]string
	got  []signedRequest
	srv  *httptest.Server
}

func newCapturingApp(t *testing.T, docs map[string]string) *capturingApp {
	a := &capturingApp{docs: docs}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		params := r.URL.Query()
		if r.Method == http.MethodPost {
			params, _ = url.ParseQuery(string(body))
		}
		a.mu.Lock()
		a.got = append(a.got, signedRequest{r.Method, r.URL.Path, "http://" + r.Host + r.URL.RequestURI(), r.Header.Clone(), body, params})
		doc, ok := a.docs[r.URL.Path]
		a.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, doc)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// wait returns the first request to path whose params have key=value
// ("" key: any), waiting up to d.
func (a *capturingApp) wait(t *testing.T, path, key, value string, d time.Duration) signedRequest {
	t.Helper()
	var found signedRequest
	waitFor(t, d, "a request to "+path, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, r := range a.got {
			if r.path == path && (key == "" || r.params.Get(key) == value) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// telnyxSeed is the Ed25519 seed the TeXML tests sign with.
var telnyxSeed = bytes.Repeat([]byte{9}, ed25519.SeedSize)

// checkTelnyxSigned checks that r carries Telnyx's signature over its
// exact body, with a current timestamp, verifiable with the public key,
// and no Twilio signature.
func checkTelnyxSigned(t *testing.T, r signedRequest) {
	t.Helper()
	pub := ed25519.NewKeyFromSeed(telnyxSeed).Public().(ed25519.PublicKey)
	ts := r.header.Get("Telnyx-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Minute {
		t.Errorf("%s %s: telnyx-timestamp %q is not now", r.method, r.path, ts)
	}
	if !fetcher.VerifyEd25519(pub, ts, r.body, r.header.Get("Telnyx-Signature-Ed25519")) {
		t.Errorf("%s %s: telnyx-signature-ed25519 %q does not verify", r.method, r.path, r.header.Get("Telnyx-Signature-Ed25519"))
	}
	if s := r.header.Get("X-Twilio-Signature"); s != "" {
		t.Errorf("%s %s: a TeXML request carries X-Twilio-Signature %q", r.method, r.path, s)
	}
}

// TestTexmlRouteSignedRequests: one server, a TeXML route and a TwiML
// one. A call to the TeXML route gets Telnyx's request parameters, its
// Gather action is requested with the app's method, and every request and
// callback is signed with Ed25519; a call to the TwiML route is signed
// with X-Twilio-Signature and carries none of Telnyx's parameters.
func TestTexmlRouteSignedRequests(t *testing.T) {
	a := newCapturingApp(t, map[string]string{
		"/telnyx": `<Response><Gather numDigits="1" timeout="10" action="/digits"><Say>Press a key</Say></Gather></Response>`,
		"/digits": `<Response><Hangup/></Response>`,
		"/status": `<Response/>`,
		"/twilio": `<Response><Pause length="1"/><Hangup/></Response>`,
	})
	cfg := filepath.Join(t.TempDir(), "texml.yaml")
	yaml := "routes:\n" +
		"  - match: telnyx\n    app: {voice_url: " + a.srv.URL + "/telnyx, voice_method: GET, dialect: texml, connection_id: '1684641123236054244',\n" +
		"      status_callback: " + a.srv.URL + "/status, status_callback_events: [completed]}\n" +
		"  - match: '*'\n    app: {voice_url: " + a.srv.URL + "/twilio}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, a.srv.URL+"/twilio", "--config", cfg, "--auth-token", e2eToken,
		"--signing-key", base64.StdEncoding.EncodeToString(telnyxSeed))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	ph := sipphone.New(t)
	c := ph.Call(ctx, s.sipAddr, "telnyx", sipphone.CallOptions{From: "+15550001111", FromName: "Ann", Codecs: []sipphone.Codec{sipphone.PCMA}})
	if c.FinalCode() != 200 {
		t.Fatalf("the TeXML route answered %d", c.FinalCode())
	}
	first := a.wait(t, "/telnyx", "", "", 5*time.Second)
	time.Sleep(1500 * time.Millisecond) // the prompt starts; a key barges in
	if err := c.DTMF("7"); err != nil {
		t.Fatal(err)
	}
	digits := a.wait(t, "/digits", "", "", 10*time.Second)
	if !c.WaitEnd(10 * time.Second) {
		t.Error("the TeXML call did not end with <Hangup/>")
	}
	status := a.wait(t, "/status", "CallStatus", "completed", 10*time.Second)

	if first.method != http.MethodGet || digits.method != http.MethodGet || digits.params.Get("Digits") != "7" {
		t.Errorf("voice %s, Gather action %s %v: want both with the app's GET and Digits 7", first.method, digits.method, digits.params)
	}
	for _, r := range []signedRequest{first, digits, status} {
		checkTelnyxSigned(t, r)
		p := r.params
		if p.Get("ApiVersion") != "v2/texml" || p.Get("CallerId") != "Ann" || p.Get("ConnectionId") != "1684641123236054244" ||
			p.Get("Codec") != "PCMA" || p.Get("SamplingRate") != "8000" || p.Get("From") != "+15550001111" {
			t.Errorf("%s %s: parameters %v", r.method, r.path, p)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000Z07:00", p.Get("CallInitiatedAt")); err != nil {
			t.Errorf("%s: CallInitiatedAt %q: %v", r.path, p.Get("CallInitiatedAt"), err)
		}
	}
	if status.method != http.MethodPost || len(status.body) == 0 {
		t.Errorf("status callback %s with %d bytes, want a signed POST body", status.method, len(status.body))
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z07:00", status.params.Get("Timestamp")); err != nil {
		t.Errorf("status Timestamp %q is not Telnyx's ISO 8601: %v", status.params.Get("Timestamp"), err)
	}

	c2 := callTexml(ctx, t, ph, s.sipAddr, 10*time.Second, nil)
	if c2.FinalCode() != 200 {
		t.Fatalf("the TwiML route answered %d", c2.FinalCode())
	}
	tw := a.wait(t, "/twilio", "", "", 5*time.Second)
	if !fetcher.ValidateSignature(e2eToken, tw.url, tw.params, tw.header.Get("X-Twilio-Signature")) {
		t.Errorf("TwiML request: X-Twilio-Signature %q does not verify", tw.header.Get("X-Twilio-Signature"))
	}
	if tw.header.Get("Telnyx-Signature-Ed25519") != "" || tw.params.Get("ApiVersion") != "2010-04-01" || tw.params.Has("CallerId") || tw.params.Has("Codec") {
		t.Errorf("TwiML request: headers %v, params %v", tw.header, tw.params)
	}
}

// texmlAPI sends a request to Telnyx's API of the service with the Bearer
// key; a body that starts with "{" is JSON, any other a form.
func texmlAPI(t *testing.T, s *service, method, path, key, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.httpLn.Addr().String()+"/v2/texml/Accounts/"+e2eAccount+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" && body[0] == '{' {
		req.Header.Set("Content-Type", "application/json")
	} else if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, v
}

// TestTexmlAPICallCreateUpdate creates a call through Telnyx's TeXML
// REST API to a test phone: the application's document runs on it in the
// TeXML dialect, signed with Ed25519; the call is fetched in Telnyx's
// shape, redirected by an update, and ends.
func TestTexmlAPICallCreateUpdate(t *testing.T) {
	const key = "KEY0123456789"
	a := newCapturingApp(t, map[string]string{
		"/voice":  `<Response><Say>Hello from TeXML.</Say><Pause length="20"/></Response>`,
		"/bye":    `<Response><Say>Goodbye.</Say><Hangup/></Response>`,
		"/status": `<Response/>`,
	})
	s := startServe(t, a.srv.URL+"/voice", "--account-sid", e2eAccount, "--api-key", key, "--dialect", "texml",
		"--connection-id", "42", "--signing-key", base64.StdEncoding.EncodeToString(telnyxSeed))
	callee := sipphone.New(t)
	heard := make(chan time.Duration, 1)
	callee.Answer(sipphone.Behaviour{Ring: 300 * time.Millisecond, Then: func(c *sipphone.Call) {
		c.Listen(2500 * time.Millisecond)
		heard <- sipphone.VoicedTime(c.Audio())
		c.Listen(20 * time.Second)
	}})

	if code, e := texmlAPI(t, s, http.MethodPost, "/Calls", "wrong", `{}`); code != http.StatusUnauthorized || e["errors"] == nil {
		t.Errorf("a wrong key: %d %v", code, e)
	}
	body := `{"ApplicationSid":"42","From":"+15559990000","To":"` + callee.URI("bob") + `",` +
		`"StatusCallback":"` + a.srv.URL + `/status","StatusCallbackEvent":"initiated answered completed"}`
	code, created := texmlAPI(t, s, http.MethodPost, "/Calls", key, body)
	sid, _ := created["call_sid"].(string)
	if code != http.StatusOK || sid == "" || created["status"] != "queued" || created["to"] != callee.URI("bob") {
		t.Fatalf("create: %d %v", code, created)
	}
	voice := a.wait(t, "/voice", "CallSid", sid, 10*time.Second)
	checkTelnyxSigned(t, voice)
	if p := voice.params; p.Get("Direction") != "outbound-api" || p.Get("ApiVersion") != "v2/texml" || p.Get("ConnectionId") != "42" ||
		p.Get("CallerId") != "+15559990000" || p.Get("CallStatus") != "in-progress" {
		t.Errorf("voice request %v", p)
	}
	var c map[string]any
	waitFor(t, 5*time.Second, "status in-progress", func() bool {
		_, c = texmlAPI(t, s, http.MethodGet, "/Calls/"+sid, key, "")
		return c["status"] == "in-progress"
	})
	if c["direction"] != "outbound" || c["uri"] != "/v2/texml/Accounts/"+e2eAccount+"/Calls/"+sid+".json" || c["start_time"] == nil {
		t.Errorf("fetched %v", c)
	}
	waitHeard(t, heard, "the app's Say")

	if code, u := texmlAPI(t, s, http.MethodPost, "/Calls/"+sid, key, `{"Url":"`+a.srv.URL+`/bye","Method":"POST"}`); code != http.StatusOK || u["sid"] != sid {
		t.Fatalf("update: %d %v", code, u)
	}
	bye := a.wait(t, "/bye", "CallSid", sid, 5*time.Second)
	checkTelnyxSigned(t, bye)
	waitFor(t, 10*time.Second, "status completed", func() bool {
		_, c = texmlAPI(t, s, http.MethodGet, "/Calls/"+sid+".json", key, "")
		return c["status"] == "completed"
	})
	if c["duration"] == nil || c["end_time"] == nil {
		t.Errorf("completed call %v: want duration and end_time", c)
	}
	done := a.wait(t, "/status", "CallStatus", "completed", 10*time.Second)
	checkTelnyxSigned(t, done)
	if code, e := texmlAPI(t, s, http.MethodPost, "/Calls/"+sid, key, url.Values{"Url": {a.srv.URL + "/bye"}}.Encode()); code != http.StatusUnprocessableEntity || e["errors"] == nil {
		t.Errorf("redirecting an ended call: %d %v, want 422 with Telnyx's errors", code, e)
	}
}
