package api

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/texml/texml/calls"
	"github.com/texml/texml/interpreter"
)

// fakeStreams is a StreamService over fakeCalls; it keeps the changes.
type fakeStreams struct {
	*fakeCalls
	streams []calls.StreamChange
	err     error
}

func (f *fakeStreams) Stream(ctx context.Context, account, sid string, sc calls.StreamChange) (calls.StreamResult, error) {
	if _, err := f.Get(ctx, account, sid); err != nil {
		return calls.StreamResult{}, err
	}
	f.streams = append(f.streams, sc)
	if f.err != nil {
		return calls.StreamResult{}, f.err
	}
	if sc.Start != nil {
		return calls.StreamResult{Sid: "MZ" + "00000000000000000000000000000001", Name: sc.Start.Name}, nil
	}
	return calls.StreamResult{Sid: "MZ" + "00000000000000000000000000000001", Name: "n1"}, nil
}

func TestStreamResource(t *testing.T) {
	fs := &fakeStreams{fakeCalls: &fakeCalls{}}
	f := newFixture(t, Options{Calls: fs})
	f.post(t, c1+".json", url.Values{"To": {"+15550001111"}, "From": {"+15559990000"}, "Url": {"http://app.test/voice"}}, acct1)
	call := fs.recs[0].Sid
	streams := c1 + "/" + call + "/Streams.json"
	const mz = "MZ00000000000000000000000000000001"

	// Create: the request reaches the service whole; the answer is
	// Twilio's Stream resource.
	w := f.post(t, streams, url.Values{"Url": {"wss://app.test/s"}, "Name": {"n1"}, "Track": {"both_tracks"},
		"StatusCallback": {"http://app.test/st"}, "StatusCallbackMethod": {"GET"},
		"Parameter1.Name": {"a"}, "Parameter1.Value": {"1"}, "Parameter2.Name": {"b"}, "Parameter2.Value": {"2"}}, acct1)
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	got := decode[forkJSON](t, w)
	if got.Sid != mz || got.AccountSid != acct1.Sid || got.CallSid != call || got.Name == nil || *got.Name != "n1" ||
		got.Status != "in-progress" || got.DateUpdated == "" || got.URI != "/2010-04-01/Accounts/"+acct1.Sid+"/Calls/"+call+"/Streams/"+mz+".json" {
		t.Errorf("create answered %+v", got)
	}
	want := interpreter.StreamRequest{URL: "wss://app.test/s", Name: "n1", Track: "both_tracks", StatusCallback: "http://app.test/st", StatusCallbackMethod: "GET"}
	if len(fs.streams) != 1 || fs.streams[0].Start == nil {
		t.Fatalf("changes %+v", fs.streams)
	}
	req := *fs.streams[0].Start
	if len(req.Params) != 2 || req.Params[1].Name != "b" || req.Params[1].Value != "2" {
		t.Errorf("params %+v", req.Params)
	}
	req.Params = nil
	if !reflect.DeepEqual(req, want) {
		t.Errorf("request %+v, want %+v", req, want)
	}

	// Stop, by name.
	w = f.post(t, c1+"/"+call+"/Streams/n1.json", url.Values{"Status": {"stopped"}}, acct1)
	if w.Code != http.StatusOK || decode[forkJSON](t, w).Status != "stopped" || fs.streams[1].Stop != "n1" {
		t.Errorf("stop: %d %s %+v", w.Code, w.Body, fs.streams)
	}

	for _, tc := range []struct {
		name   string
		path   string
		form   url.Values
		status int
		code   int
	}{
		{"no Url", streams, url.Values{}, http.StatusBadRequest, codeInvalidParameter},
		{"http Url", streams, url.Values{"Url": {"http://app.test/s"}}, http.StatusBadRequest, codeInvalidURL},
		{"bad Track", streams, url.Values{"Url": {"wss://app.test/s"}, "Track": {"up"}}, http.StatusBadRequest, codeInvalidParameter},
		{"bad method", streams, url.Values{"Url": {"wss://app.test/s"}, "StatusCallbackMethod": {"PUT"}}, http.StatusBadRequest, codeBadMethod},
		{"stop without Status", c1 + "/" + call + "/Streams/" + mz + ".json", url.Values{}, http.StatusBadRequest, codeInvalidParameter},
		{"unknown call", c1 + "/CA99999999999999999999999999999999/Streams.json", url.Values{"Url": {"wss://app.test/s"}}, http.StatusNotFound, codeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, f.post(t, tc.path, tc.form, acct1), tc.status, tc.code)
		})
	}

	// The service's refusals keep their codes.
	fs.err = &calls.Error{Status: http.StatusNotFound, Code: calls.CodeNoStream, Msg: "No running stream"}
	wantError(t, f.post(t, c1+"/"+call+"/Streams/nope.json", url.Values{"Status": {"stopped"}}, acct1), http.StatusNotFound, calls.CodeNoStream)
}

// TestStreamRoutesNeedAStreamService: a call service without streams
// serves no Stream routes.
func TestStreamRoutesNeedAStreamService(t *testing.T) {
	f, fc := newCallsFixture(t)
	f.post(t, c1+".json", url.Values{"To": {"+15550001111"}, "From": {"+15559990000"}, "Url": {"http://app.test/voice"}}, acct1)
	w := f.post(t, c1+"/"+fc.recs[0].Sid+"/Streams.json", url.Values{"Url": {"wss://app.test/s"}}, acct1)
	if w.Code != http.StatusNotFound {
		t.Errorf("%d %s, want 404", w.Code, w.Body)
	}
}
