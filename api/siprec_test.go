package api

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/texml/texml/calls"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/verbs"
)

// fakeSiprec is a SiprecService over fakeCalls; it keeps the changes.
type fakeSiprec struct {
	*fakeCalls
	changes []calls.SiprecChange
	err     error
}

const srSid = "SR00000000000000000000000000000001"

func (f *fakeSiprec) Siprec(ctx context.Context, account, sid string, sc calls.SiprecChange) (calls.SiprecResult, error) {
	if _, err := f.Get(ctx, account, sid); err != nil {
		return calls.SiprecResult{}, err
	}
	f.changes = append(f.changes, sc)
	if f.err != nil {
		return calls.SiprecResult{}, f.err
	}
	if sc.Start != nil {
		return calls.SiprecResult{Sid: srSid, Name: sc.Start.Name}, nil
	}
	return calls.SiprecResult{Sid: srSid, Name: "rec1"}, nil
}

// TestSiprecResource checks the Siprec resource
// (https://www.twilio.com/docs/voice/api/siprec): what create and update
// hand the service, Twilio's answer, and the requests refused before
// the service is asked.
func TestSiprecResource(t *testing.T) {
	fs := &fakeSiprec{fakeCalls: &fakeCalls{}}
	f := newFixture(t, Options{Calls: fs})
	f.post(t, c1+".json", url.Values{"To": {"+15550001111"}, "From": {"+15559990000"}, "Url": {"http://app.test/voice"}}, acct1)
	call := fs.recs[0].Sid
	siprec := c1 + "/" + call + "/Siprec.json"

	// Create: the request reaches the service whole; the answer is
	// Twilio's Siprec resource.
	w := f.post(t, siprec, url.Values{"ConnectorName": {"srs1"}, "Name": {"rec1"}, "Track": {"inbound_track"},
		"StatusCallback": {"https://app.test/sr"}, "StatusCallbackMethod": {"get"},
		"Parameter1.Name": {"a"}, "Parameter1.Value": {"1"}, "Parameter3.Name": {"c"}, "Parameter3.Value": {"3"}}, acct1)
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	got := decode[forkJSON](t, w)
	if got.Sid != srSid || got.AccountSid != acct1.Sid || got.CallSid != call || got.Name == nil || *got.Name != "rec1" ||
		got.Status != "in-progress" || got.DateUpdated == "" || got.URI != "/2010-04-01/Accounts/"+acct1.Sid+"/Calls/"+call+"/Siprec/"+srSid+".json" {
		t.Errorf("create answered %+v", got)
	}
	want := interpreter.SiprecRequest{ConnectorName: "srs1", Name: "rec1", Track: "inbound_track",
		StatusCallback: "https://app.test/sr", StatusCallbackMethod: "GET",
		Params: []verbs.Param{{Name: "a", Value: "1"}, {Name: "c", Value: "3"}}}
	if len(fs.changes) != 1 || fs.changes[0].Start == nil || !reflect.DeepEqual(*fs.changes[0].Start, want) {
		t.Fatalf("changes %+v, want a start of %+v", fs.changes, want)
	}

	// Create without a name: name is null.
	w = f.post(t, c1+"/"+call+"/Siprec", url.Values{"ConnectorName": {"sip:srs@192.0.2.1"}}, acct1)
	if w.Code != http.StatusCreated || decode[forkJSON](t, w).Name != nil {
		t.Errorf("create without Name: %d %s", w.Code, w.Body)
	}

	// Stop, by name and by sid.
	for _, key := range []string{"rec1", srSid} {
		w = f.post(t, c1+"/"+call+"/Siprec/"+key+".json", url.Values{"Status": {"stopped"}}, acct1)
		last := fs.changes[len(fs.changes)-1]
		if st := decode[forkJSON](t, w); w.Code != http.StatusOK || st.Status != "stopped" || st.Sid != srSid || last.Stop != key {
			t.Errorf("stop %s: %d %s %+v", key, w.Code, w.Body, last)
		}
	}

	n := len(fs.changes)
	for _, tc := range []struct {
		name   string
		path   string
		form   url.Values
		status int
		code   int
	}{
		{"no ConnectorName", siprec, url.Values{"Name": {"x"}}, http.StatusBadRequest, codeInvalidParameter},
		{"bad Track", siprec, url.Values{"ConnectorName": {"srs1"}, "Track": {"up"}}, http.StatusBadRequest, codeInvalidParameter},
		{"relative StatusCallback", siprec, url.Values{"ConnectorName": {"srs1"}, "StatusCallback": {"/sr"}}, http.StatusBadRequest, codeInvalidURL},
		{"bad method", siprec, url.Values{"ConnectorName": {"srs1"}, "StatusCallbackMethod": {"PUT"}}, http.StatusBadRequest, codeBadMethod},
		{"stop without Status", c1 + "/" + call + "/Siprec/" + srSid + ".json", url.Values{}, http.StatusBadRequest, codeInvalidParameter},
		{"stop with another Status", c1 + "/" + call + "/Siprec/" + srSid + ".json", url.Values{"Status": {"paused"}}, http.StatusBadRequest, codeInvalidParameter},
		{"unknown call", c1 + "/CA99999999999999999999999999999999/Siprec.json", url.Values{"ConnectorName": {"srs1"}}, http.StatusNotFound, codeNotFound},
		{"not a call sid", c1 + "/XX99999999999999999999999999999999/Siprec.json", url.Values{"ConnectorName": {"srs1"}}, http.StatusNotFound, codeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, f.post(t, tc.path, tc.form, acct1), tc.status, tc.code)
		})
	}
	if len(fs.changes) != n {
		t.Errorf("refused requests reached the service: %+v", fs.changes[n:])
	}

	// The service's refusals keep their status and code.
	for _, tc := range []struct {
		name string
		path string
		form url.Values
		err  *calls.Error
	}{
		{"call not in progress", siprec, url.Values{"ConnectorName": {"srs1"}},
			&calls.Error{Status: http.StatusBadRequest, Code: calls.CodeNotInProgress, Msg: "Call is not in-progress."}},
		{"unknown connector", siprec, url.Values{"ConnectorName": {"nope"}},
			&calls.Error{Status: http.StatusBadRequest, Code: calls.CodeSiprecRefused, Msg: "Siprec not started: unknown SIPREC connector"}},
		{"no such session", c1 + "/" + call + "/Siprec/nope.json", url.Values{"Status": {"stopped"}},
			&calls.Error{Status: http.StatusNotFound, Code: calls.CodeNoSiprec, Msg: "No running SIPREC session"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs.err = tc.err
			wantError(t, f.post(t, tc.path, tc.form, acct1), tc.err.Status, tc.err.Code)
		})
	}
}

// TestSiprecRoutesNeedASiprecService: a call service without SIPREC
// serves no Siprec routes.
func TestSiprecRoutesNeedASiprecService(t *testing.T) {
	f, fc := newCallsFixture(t)
	f.post(t, c1+".json", url.Values{"To": {"+15550001111"}, "From": {"+15559990000"}, "Url": {"http://app.test/voice"}}, acct1)
	w := f.post(t, c1+"/"+fc.recs[0].Sid+"/Siprec.json", url.Values{"ConnectorName": {"srs1"}}, acct1)
	if w.Code != http.StatusNotFound {
		t.Errorf("%d %s, want 404", w.Code, w.Body)
	}
}
