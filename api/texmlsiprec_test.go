package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/texml/texml/calls"
	"github.com/texml/texml/interpreter"
)

// TestTexmlSiprec: Telnyx's Siprec commands start and stop the same
// session as Twilio's resource, with JSON or form parameters, Telnyx's
// answer and errors; what texml cannot do (TLS and SRTP) is refused.
func TestTexmlSiprec(t *testing.T) {
	fs := &fakeSiprec{fakeCalls: &fakeCalls{}}
	h := New(Options{Accounts: []Account{tx1}, Calls: fs,
		Applications: func(id string) (interpreter.Config, bool) { return texmlApp, id == "1234" }})
	rec, _ := fs.Create(t.Context(), calls.Request{Config: interpreter.Config{AccountSid: tx1.Sid}})
	siprec := txCalls + "/" + rec.Sid + "/Siprec.json"

	w := txDo(t, h, "POST", siprec, "KEY-one", `{"ConnectorName":"my_connector","Name":"rec1","Track":"inbound_track","SipTransport":"tcp"}`)
	if w.Code != http.StatusOK {
		t.Fatalf("start: %d %s", w.Code, w.Body)
	}
	var got texmlSiprecJSON
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Sid != srSid || got.AccountSid != tx1.Sid || got.CallSid != rec.Sid || got.Status != "in-progress" || got.Track != "inbound_track" ||
		got.StartTime == "" || got.URI != "/v2/texml/Accounts/"+tx1.Sid+"/Calls/"+rec.Sid+"/Siprec/"+srSid+".json" {
		t.Errorf("start answered %+v", got)
	}
	if len(fs.changes) != 1 || fs.changes[0].Start == nil || fs.changes[0].Start.ConnectorName != "my_connector" || fs.changes[0].Start.Name != "rec1" {
		t.Fatalf("changes %+v", fs.changes)
	}
	w = txDo(t, h, "POST", txCalls+"/"+rec.Sid+"/Siprec/rec1.json", "KEY-one", "Status=stopped")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"status":"stopped"`) || fs.changes[1].Stop != "rec1" {
		t.Errorf("stop: %d %s", w.Code, w.Body)
	}
	for _, tc := range []struct {
		name, path, body string
		status           int
		code, pointer    string
	}{
		{"no connector", siprec, `{}`, http.StatusUnprocessableEntity, telnyxBadRequest, "/ConnectorName"},
		{"secure", siprec, `{"ConnectorName":"c","Secure":"true"}`, http.StatusUnprocessableEntity, telnyxBadRequest, "/Secure"},
		{"tls", siprec, `{"ConnectorName":"c","SipTransport":"tls"}`, http.StatusUnprocessableEntity, telnyxBadRequest, "/SipTransport"},
		{"bad track", siprec, `{"ConnectorName":"c","Track":"left"}`, http.StatusUnprocessableEntity, telnyxBadRequest, "/Track"},
		{"bad status", txCalls + "/" + rec.Sid + "/Siprec/rec1.json", `{"Status":"paused"}`, http.StatusUnprocessableEntity, telnyxBadRequest, "/Status"},
		{"unknown call", txCalls + "/CA99999999999999999999999999999999/Siprec.json", `{"ConnectorName":"c"}`, http.StatusNotFound, telnyxNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantTelnyxError(t, txDo(t, h, "POST", tc.path, "KEY-one", tc.body), tc.status, tc.code, tc.pointer)
		})
	}
	if w := txDo(t, h, "POST", siprec, "", `{"ConnectorName":"c"}`); w.Code != http.StatusUnauthorized {
		t.Errorf("no key: %d", w.Code)
	}
}
