package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/calls"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
	"github.com/texml/texml/verbs"
)

var (
	tx1 = Account{Sid: "f5586561-8ff0-4291-a51b-c7dfe4139ff9", APIKey: "KEY-one"}
	tx2 = Account{Sid: "AC" + strings.Repeat("3", 32), AuthToken: "token-three", APIKey: "KEY-two"}
	// txCalls is tx1's Calls resource.
	txCalls = TexmlPrefix + tx1.Sid + "/Calls"
)

// texmlApp is the TeXML application "1234" of the tests.
var texmlApp = interpreter.Config{URL: "http://app.test/texml", Method: "GET", Dialect: verbs.TeXML, ConnectionID: "1234",
	StatusCallback: "http://app.test/status"}

// texmlFixture serves Telnyx's paths over a fakeCalls.
func texmlFixture(t *testing.T) (http.Handler, *fakeCalls) {
	t.Helper()
	fc := &fakeCalls{}
	h := New(Options{Accounts: []Account{acct1, tx1, tx2}, Calls: fc,
		Applications: func(id string) (interpreter.Config, bool) { return texmlApp, id == "1234" }})
	return h, fc
}

// txDo sends a request with a Bearer key ("" none); a body that starts
// with "{" is sent as JSON, any other as a form.
func txDo(t *testing.T, h http.Handler, method, path, key, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	switch {
	case strings.HasPrefix(body, "{"):
		r.Header.Set("Content-Type", "application/json")
	case body != "":
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// wantTelnyxError checks Telnyx's error body.
func wantTelnyxError(t *testing.T, w *httptest.ResponseRecorder, status int, code, pointer string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	var body struct{ Errors []telnyxError }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 {
		t.Fatalf("body %s: %v", w.Body, err)
	}
	e := body.Errors[0]
	got := ""
	if e.Source != nil {
		got = e.Source.Pointer
	}
	if e.Code != code || e.Title == "" || e.Detail == "" || got != pointer || !strings.HasSuffix(e.Meta.URL, "/"+code) {
		t.Errorf("error %+v, want code %s, pointer %q", e, code, pointer)
	}
}

func TestTexmlAuth(t *testing.T) {
	h, _ := texmlFixture(t)
	for _, tt := range []struct {
		name, path, key string
		status          int
		code            string
	}{
		{"ok", txCalls, tx1.APIKey, 200, ""},
		{"ok .json", txCalls + ".json", tx1.APIKey, 200, ""},
		{"no key", txCalls, "", 401, telnyxUnauthorized},
		{"wrong key", txCalls, "KEY-three", 401, telnyxUnauthorized},
		{"a Twilio token is no key", txCalls, acct1.AuthToken, 401, telnyxUnauthorized},
		{"another account's path", TexmlPrefix + tx2.Sid + "/Calls", tx1.APIKey, 404, telnyxNotFound},
		{"unknown resource", TexmlPrefix + tx1.Sid + "/Queues", tx1.APIKey, 404, telnyxNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := txDo(t, h, http.MethodGet, tt.path, tt.key, "")
			if tt.code == "" {
				if w.Code != tt.status {
					t.Errorf("status %d: %s", w.Code, w.Body)
				}
				return
			}
			wantTelnyxError(t, w, tt.status, tt.code, "")
		})
	}
	// Basic auth, Twilio's, does not open Telnyx's paths.
	r := httptest.NewRequest(http.MethodGet, TexmlPrefix+tx2.Sid+"/Calls", nil)
	r.SetBasicAuth(tx2.Sid, tx2.AuthToken)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	wantTelnyxError(t, w, 401, telnyxUnauthorized, "")
}

func TestTexmlCallCreate(t *testing.T) {
	const ok = `"ApplicationSid":"1234","From":"+15559990000","To":"+15550001111"`
	bad := []struct {
		name, body string
		status     int
		code, ptr  string
	}{
		{"not JSON", `{"To":`, 422, telnyxBadRequest, ""},
		{"no ApplicationSid", `{"From":"+15559990000","To":"+15550001111"}`, 422, telnyxMissing, "/ApplicationSid"},
		{"unknown application", `{"ApplicationSid":"99","From":"+1","To":"+15550001111"}`, 422, telnyxNoAssociation, "/ApplicationSid"},
		{"no To", `{"ApplicationSid":"1234","From":"+15559990000"}`, 422, telnyxMissing, "/To"},
		{"no From", `{"ApplicationSid":"1234","To":"+15550001111"}`, 422, telnyxMissing, "/From"},
		{"client To", `{"ApplicationSid":"1234","From":"+1","To":"client:alice"}`, 422, telnyxBadPhone, "/To"},
		{"bad Url", `{` + ok + `,"Url":"/relative"}`, 422, telnyxBadURL, "/Url"},
		{"bad UrlMethod", `{` + ok + `,"UrlMethod":"PUT"}`, 422, telnyxBadRequest, "/UrlMethod"},
		{"Timeout above 120", `{` + ok + `,"Timeout":300}`, 422, telnyxBadRequest, "/Timeout"},
		{"TimeLimit below 30", `{` + ok + `,"TimeLimit":20}`, 422, telnyxBadRequest, "/TimeLimit"},
		{"bad event", `{` + ok + `,"StatusCallbackEvent":"initiated hungup"}`, 422, telnyxBadRequest, "/StatusCallbackEvent"},
		{"RecordingTimeout", `{` + ok + `,"Record":true,"RecordingTimeout":5}`, 422, telnyxBadRequest, "/RecordingTimeout"},
		{"CallerId", `{` + ok + `,"CallerId":"Ann"}`, 422, telnyxBadRequest, "/CallerId"},
		{"CustomHeaders", `{` + ok + `,"CustomHeaders":[{"name":"X-A","value":"1"}]}`, 422, telnyxBadRequest, "/CustomHeaders"},
		{"Premium detection", `{` + ok + `,"MachineDetection":"Enable","DetectionMode":"Premium"}`, 422, telnyxBadRequest, "/DetectionMode"},
		{"AMD timeout in seconds", `{` + ok + `,"MachineDetection":"Enable","MachineDetectionTimeout":30}`, 422, telnyxBadRequest, "/MachineDetection"},
		{"AMD timing without detection", `{` + ok + `,"MachineDetection":"Disable","MachineDetectionTimeout":3000}`, 422, telnyxBadRequest, "/MachineDetectionTimeout"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			h, fc := texmlFixture(t)
			wantTelnyxError(t, txDo(t, h, http.MethodPost, txCalls, tx1.APIKey, tt.body), tt.status, tt.code, tt.ptr)
			if len(fc.created) != 0 {
				t.Error("a bad request created a call")
			}
		})
	}

	h, fc := texmlFixture(t)
	w := txDo(t, h, http.MethodPost, txCalls, tx1.APIKey, `{`+ok+`,"StatusCallbackEvent":"initiated answered","Record":false,
		"MachineDetection":"DetectMessageEnd","MachineDetectionTimeout":5000,"MachineDetectionSpeechThreshold":3000,
		"AsyncAmd":true,"AsyncAmdStatusCallback":"http://app.test/amd","DetectionMode":"Regular","SipAuthUsername":"u"}`)
	if w.Code != http.StatusOK {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	var created texmlCreated
	if err := json.Unmarshal(w.Body.Bytes(), &created); err != nil || created.CallSid == "" || created.Status != "queued" ||
		created.From != "+15559990000" || created.To != "+15550001111" || created.AccountSid != tx1.Sid {
		t.Errorf("created %s (%v)", w.Body, err)
	}
	r := fc.created[0]
	c := r.Config
	if c.Dialect != verbs.TeXML || c.URL != texmlApp.URL || c.Method != "GET" || c.ConnectionID != "1234" || c.AccountSid != tx1.Sid ||
		c.StatusCallback != texmlApp.StatusCallback || strings.Join(c.StatusCallbackEvents, " ") != "initiated answered" {
		t.Errorf("config %+v", c)
	}
	if c.MachineDetection != "DetectMessageEnd" || c.MachineDetectionTimeout != 5*time.Second ||
		c.MachineDetectionSpeechThreshold != 3*time.Second || !c.AsyncAMD || c.AsyncAMDStatusCallback != "http://app.test/amd" {
		t.Errorf("machine detection %+v", c)
	}
	if tg := r.Placement.Target; tg.Timeout != 30*time.Second || tg.Username != "u" || tg.Addr != "+15550001111" {
		t.Errorf("target %+v, want Telnyx's 30 s ring timeout", tg)
	}

	// A form works too; Url, UrlMethod and Texml override the app's.
	form := url.Values{"ApplicationSid": {"1234"}, "From": {"+15559990000"}, "To": {"sip:bob@example.com"},
		"Url": {"http://other.test/x"}, "UrlMethod": {"POST"}, "Texml": {"<Response><Say>hi</Say></Response>"},
		"MachineDetection": {"Disable"}, "Timeout": {"60"}, "TimeLimit": {"600"}}
	if w := txDo(t, h, http.MethodPost, txCalls+".json", tx1.APIKey, form.Encode()); w.Code != http.StatusOK {
		t.Fatalf("form create: %d %s", w.Code, w.Body)
	}
	c = fc.created[1].Config
	if c.URL != "http://other.test/x" || c.Method != "POST" || c.Twiml == "" || c.MachineDetection != "" ||
		c.MaxDuration != 10*time.Minute || fc.created[1].Placement.Target.Timeout != time.Minute {
		t.Errorf("form config %+v", c)
	}
}

func TestTexmlCallFetchUpdateList(t *testing.T) {
	h, fc := texmlFixture(t)
	body := `{"ApplicationSid":"1234","From":"+15559990000","To":"+15550001111"}`
	for range 3 {
		txDo(t, h, http.MethodPost, txCalls, tx1.APIKey, body)
	}
	fc.recs[0].AnsweredBy = "machine_end_beep"
	fc.recs[0].Status = store.CallInProgress
	sid := fc.recs[0].Sid

	w := txDo(t, h, http.MethodGet, txCalls+"/"+sid+".json", tx1.APIKey, "")
	if w.Code != http.StatusOK {
		t.Fatalf("fetch: %d %s", w.Code, w.Body)
	}
	got := decode[texmlCallJSON](t, w)
	if got.Sid != sid || got.Direction != "outbound" || got.AnsweredBy == nil || *got.AnsweredBy != "machine" ||
		got.URI != txCalls+"/"+sid+".json" || got.Status != "in-progress" || got.AccountSid != tx1.Sid {
		t.Errorf("fetched %+v", got)
	}
	wantTelnyxError(t, txDo(t, h, http.MethodGet, txCalls+"/CA404", tx1.APIKey, ""), 404, telnyxNotFound, "")

	for _, tt := range []struct {
		name, body string
		want       calls.Change
	}{
		{"json url", `{"Url":"http://app.test/next","Method":"GET"}`, calls.Change{Update: interpreter.Update{URL: "http://app.test/next", Method: "GET"}}},
		{"form texml", url.Values{"Texml": {"<Response/>"}}.Encode(), calls.Change{Update: interpreter.Update{Twiml: "<Response/>"}}},
		{"json completed", `{"Status":"completed","StatusCallback":"http://app.test/s2"}`, calls.Change{Status: "completed", Update: interpreter.Update{StatusCallback: "http://app.test/s2"}}},
	} {
		w := txDo(t, h, http.MethodPost, txCalls+"/"+sid, tx1.APIKey, tt.body)
		if w.Code != http.StatusOK || decode[texmlCallJSON](t, w).Sid != sid {
			t.Errorf("%s: %d %s", tt.name, w.Code, w.Body)
		}
		if ch := fc.changes[len(fc.changes)-1]; ch != tt.want {
			t.Errorf("%s: change %+v, want %+v", tt.name, ch, tt.want)
		}
	}
	wantTelnyxError(t, txDo(t, h, http.MethodPost, txCalls+"/"+sid, tx1.APIKey, `{"Status":"paused"}`), 422, telnyxBadRequest, "/Status")
	wantTelnyxError(t, txDo(t, h, http.MethodPost, txCalls+"/"+sid, tx1.APIKey, `{}`), 422, telnyxBadRequest, "/Url")
	fc.err = &calls.Error{Status: 400, Code: calls.CodeNotInProgress, Msg: "Call is not in-progress. Cannot redirect."}
	wantTelnyxError(t, txDo(t, h, http.MethodPost, txCalls+"/"+sid, tx1.APIKey, `{"Url":"http://app.test/next"}`), 422, telnyxBadRequest, "")

	var seen []string
	next := txCalls + ".json?PageSize=2"
	for next != "" {
		w := txDo(t, h, http.MethodGet, next, tx1.APIKey, "")
		if w.Code != http.StatusOK {
			t.Fatalf("list %s: %d %s", next, w.Code, w.Body)
		}
		page := decode[struct {
			Calls       []texmlCallJSON `json:"calls"`
			NextPageURI *string         `json:"next_page_uri"`
		}](t, w)
		for _, c := range page.Calls {
			seen = append(seen, c.Sid)
		}
		next = ""
		if page.NextPageURI != nil {
			next = *page.NextPageURI
		}
	}
	if len(seen) != 3 || seen[2] != sid {
		t.Errorf("listed %v, want the three calls, newest first", seen)
	}
	wantTelnyxError(t, txDo(t, h, http.MethodGet, txCalls+"?To=%2B1", tx1.APIKey, ""), 422, telnyxBadRequest, "/To")
}

// TestTexmlStreams: Telnyx's Streams commands start and stop the same
// fork as Twilio's resource, with JSON or form parameters, Telnyx's
// answer and errors.
func TestTexmlStreams(t *testing.T) {
	fs := &fakeStreams{fakeCalls: &fakeCalls{}}
	h := New(Options{Accounts: []Account{tx1}, Calls: fs,
		Applications: func(id string) (interpreter.Config, bool) { return texmlApp, id == "1234" }})
	rec, _ := fs.Create(t.Context(), calls.Request{Config: interpreter.Config{AccountSid: tx1.Sid}})
	streams := txCalls + "/" + rec.Sid + "/Streams.json"
	const mz = "MZ00000000000000000000000000000001"

	w := txDo(t, h, "POST", streams, "KEY-one", `{"Url":"wss://app.test/s","Name":"n1","Track":"both_tracks","StatusCallback":"http://app.test/st","BidirectionalMode":"mp3"}`)
	if w.Code != http.StatusOK {
		t.Fatalf("start: %d %s", w.Code, w.Body)
	}
	var got texmlStreamJSON
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Sid != mz || got.AccountSid != tx1.Sid || got.CallSid != rec.Sid || got.Name != "n1" || got.Status != "in-progress" ||
		got.URI != "/v2/texml/Accounts/"+tx1.Sid+"/Calls/"+rec.Sid+"/Streams/"+mz+".json" {
		t.Errorf("start answered %+v", got)
	}
	if len(fs.streams) != 1 || fs.streams[0].Start == nil || fs.streams[0].Start.Track != "both_tracks" || fs.streams[0].Start.URL != "wss://app.test/s" {
		t.Fatalf("changes %+v", fs.streams)
	}
	w = txDo(t, h, "POST", txCalls+"/"+rec.Sid+"/Streams/n1.json", "KEY-one", "Status=stopped")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"status":"stopped"`) || fs.streams[1].Stop != "n1" {
		t.Errorf("stop: %d %s", w.Code, w.Body)
	}
	for _, tc := range []struct {
		name, path, body string
		status           int
		code, pointer    string
	}{
		{"no Url", streams, `{}`, http.StatusUnprocessableEntity, telnyxBadRequest, "/Url"},
		{"rtp mode", streams, `{"Url":"wss://app.test/s","BidirectionalMode":"rtp"}`, http.StatusUnprocessableEntity, telnyxBadRequest, "/BidirectionalMode"},
		{"bad status", txCalls + "/" + rec.Sid + "/Streams/n1.json", `{"Status":"paused"}`, http.StatusUnprocessableEntity, telnyxBadRequest, "/Status"},
		{"unknown call", txCalls + "/CA99999999999999999999999999999999/Streams.json", `{"Url":"wss://app.test/s"}`, http.StatusNotFound, telnyxNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantTelnyxError(t, txDo(t, h, "POST", tc.path, "KEY-one", tc.body), tc.status, tc.code, tc.pointer)
		})
	}
	if w := txDo(t, h, "POST", streams, "", `{"Url":"wss://app.test/s"}`); w.Code != http.StatusUnauthorized {
		t.Errorf("no key: %d", w.Code)
	}
}
