package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/calls"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
)

// fakeCalls is a CallService over a slice of records, newest last; it
// keeps the requests and changes it is given.
type fakeCalls struct {
	recs    []store.CallRecord
	created []calls.Request
	changes []calls.Change
	err     error // returned by Update and Delete when set
}

func (f *fakeCalls) Create(_ context.Context, r calls.Request) (store.CallRecord, error) {
	f.created = append(f.created, r)
	now := t0.Add(time.Duration(len(f.recs)) * time.Second)
	rec := store.CallRecord{Sid: fmt.Sprintf("CA%032d", len(f.recs)+1), AccountSid: r.Config.AccountSid, From: r.Config.From, To: r.Config.To,
		Direction: "outbound-api", Status: store.CallQueued, Created: now, Updated: now}
	f.recs = append(f.recs, rec)
	return rec, nil
}

func (f *fakeCalls) Get(_ context.Context, account, sid string) (store.CallRecord, error) {
	for _, r := range f.recs {
		if r.Sid == sid && r.AccountSid == account {
			return r, nil
		}
	}
	return store.CallRecord{}, store.ErrNotFound
}

func (f *fakeCalls) List(_ context.Context, account string, offset, limit int) ([]store.CallRecord, error) {
	var out []store.CallRecord
	for i := len(f.recs) - 1; i >= 0; i-- {
		if f.recs[i].AccountSid == account {
			out = append(out, f.recs[i])
		}
	}
	out = out[min(offset, len(out)):]
	if limit > 0 {
		out = out[:min(limit, len(out))]
	}
	return out, nil
}

func (f *fakeCalls) Update(ctx context.Context, account, sid string, ch calls.Change) (store.CallRecord, error) {
	f.changes = append(f.changes, ch)
	if f.err != nil {
		return store.CallRecord{}, f.err
	}
	return f.Get(ctx, account, sid)
}

func (f *fakeCalls) Delete(ctx context.Context, account, sid string) error {
	if _, err := f.Get(ctx, account, sid); err != nil {
		return err
	}
	return f.err
}

var c1 = "/2010-04-01/Accounts/" + acct1.Sid + "/Calls"

func newCallsFixture(t *testing.T) (*fixture, *fakeCalls) {
	fc := &fakeCalls{}
	return newFixture(t, Options{Calls: fc}), fc
}

func TestCallCreate(t *testing.T) {
	ok := url.Values{"To": {"+15550001111"}, "From": {"+15559990000"}, "Url": {"http://app.test/voice"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for kk, vv := range ok {
			f[kk] = vv
		}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	bad := []struct {
		name string
		form url.Values
		code int
	}{
		{"no To", with("To", ""), codeNoTo},
		{"no From", with("From", ""), codeNoFrom},
		{"bad To", with("To", "not a number"), codeBadTo},
		{"no Url or Twiml", with("Url", ""), codeInvalidURL},
		{"relative Url", with("Url", "/voice"), codeInvalidURL},
		{"bad Method", with("Method", "PUT"), codeBadMethod},
		{"Timeout too long", with("Timeout", "601"), codeInvalidParameter},
		{"TimeLimit not a number", with("TimeLimit", "x"), codeInvalidParameter},
		{"bad event", with("StatusCallbackEvent", "hungup"), codeInvalidParameter},
		{"bad digits", with("SendDigits", "12a"), codeInvalidParameter},
		{"Record not a boolean", with("Record", "yes"), codeInvalidParameter},
		{"recording options without Record", with("RecordingChannels", "dual"), codeInvalidParameter},
		{"bad RecordingTrack", func() url.Values { f := with("Record", "true"); f.Set("RecordingTrack", "left"); return f }(), codeInvalidParameter},
		{"bad RecordingStatusCallbackEvent", func() url.Values {
			f := with("Record", "true")
			f.Set("RecordingStatusCallbackEvent", "done")
			return f
		}(), codeInvalidParameter},
		{"ApplicationSid not supported", with("ApplicationSid", "AP123"), codeInvalidParameter},
		{"AMD timing without MachineDetection", with("MachineDetectionTimeout", "10"), codeInvalidParameter},
		{"bad MachineDetection", with("MachineDetection", "Maybe"), codeInvalidParameter},
		{"AsyncAmd not a boolean", func() url.Values { f := with("MachineDetection", "Enable"); f.Set("AsyncAmd", "yes"); return f }(), codeInvalidParameter},
		{"MachineDetectionSpeechThreshold out of range", func() url.Values {
			f := with("MachineDetection", "Enable")
			f.Set("MachineDetectionSpeechThreshold", "100")
			return f
		}(), codeInvalidParameter},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			f, fc := newCallsFixture(t)
			wantError(t, f.post(t, c1+".json", tc.form, acct1), http.StatusBadRequest, tc.code)
			if len(fc.created) != 0 {
				t.Error("a bad request created a call")
			}
		})
	}

	f, fc := newCallsFixture(t)
	form := with("StatusCallbackEvent", "initiated")
	form.Add("StatusCallbackEvent", "answered completed")
	form.Set("Timeout", "15")
	form.Set("TimeLimit", "120")
	form.Set("SendDigits", "1w2#")
	form.Set("SipAuthUsername", "u")
	w := f.post(t, c1+".json", form, acct1)
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	c := decode[callJSON](t, w)
	if !strings.HasPrefix(c.Sid, "CA") || c.Status != "queued" || c.Direction != "outbound-api" || c.AccountSid != acct1.Sid ||
		c.To != "+15550001111" || c.Duration != nil || c.URI != c1+"/"+c.Sid+".json" {
		t.Errorf("created %+v", c)
	}
	r := fc.created[0]
	tg := r.Placement.Target
	if tg.Addr != "+15550001111" || tg.Timeout != 15*time.Second || tg.Username != "u" || r.Placement.SendDigits != "1w2#" ||
		r.Config.MaxDuration != 2*time.Minute || strings.Join(r.Config.StatusCallbackEvents, " ") != "initiated answered completed" {
		t.Errorf("request %+v", r)
	}
	recForm := with("Record", "true")
	for k, v := range map[string]string{"RecordingChannels": "dual", "RecordingTrack": "inbound", "Trim": "do-not-trim",
		"RecordingStatusCallback": "http://app.test/rec", "RecordingStatusCallbackEvent": "in-progress completed"} {
		recForm.Set(k, v)
	}
	if w := f.post(t, c1+".json", recForm, acct1); w.Code != http.StatusCreated {
		t.Fatalf("create with Record: %d %s", w.Code, w.Body)
	}
	if ro := fc.created[len(fc.created)-1].Config.Record; ro == nil || !ro.Dual || ro.Track != interpreter.TrackInbound || ro.Trim ||
		ro.StatusCallback != "http://app.test/rec" || strings.Join(ro.StatusCallbackEvents, " ") != "in-progress completed" {
		t.Errorf("record options %+v", ro)
	}
	amdForm := with("MachineDetection", "DetectMessageEnd")
	for k, v := range map[string]string{"MachineDetectionTimeout": "20", "MachineDetectionSpeechThreshold": "3000",
		"MachineDetectionSpeechEndThreshold": "1500", "MachineDetectionSilenceTimeout": "4000", "AsyncAmd": "true",
		"AsyncAmdStatusCallback": "http://app.test/amd"} {
		amdForm.Set(k, v)
	}
	if w := f.post(t, c1+".json", amdForm, acct1); w.Code != http.StatusCreated {
		t.Fatalf("create with AMD: %d %s", w.Code, w.Body)
	}
	ac := fc.created[len(fc.created)-1].Config
	if ac.MachineDetection != "DetectMessageEnd" || ac.MachineDetectionTimeout != 20*time.Second || ac.MachineDetectionSpeechThreshold != 3*time.Second ||
		ac.MachineDetectionSpeechEndThreshold != 1500*time.Millisecond || ac.MachineDetectionSilenceTimeout != 4*time.Second ||
		!ac.AsyncAMD || ac.AsyncAMDStatusCallback != "http://app.test/amd" {
		t.Errorf("AMD config %+v", ac)
	}
	for _, to := range []string{"sip:bob@example.com", "client:alice", "+1 (555) 000-1111"} {
		if w := f.post(t, c1+".json", with("To", to), acct1); w.Code != http.StatusCreated {
			t.Errorf("To %s: %d %s", to, w.Code, w.Body)
		}
	}
	twiml := with("Url", "")
	twiml.Set("Twiml", "<Response><Say>hi</Say></Response>")
	if w := f.post(t, c1, twiml, acct1); w.Code != http.StatusCreated {
		t.Errorf("Twiml: %d %s", w.Code, w.Body)
	}
}

func TestCallFetchListUpdateDelete(t *testing.T) {
	f, fc := newCallsFixture(t)
	form := url.Values{"To": {"+15550001111"}, "From": {"+15559990000"}, "Url": {"http://app.test/voice"}}
	for range 5 {
		f.post(t, c1+".json", form, acct1)
	}
	f.post(t, "/2010-04-01/Accounts/"+acct2.Sid+"/Calls.json", form, acct2)
	first := fc.recs[0].Sid

	if w := f.do(t, http.MethodGet, c1+"/"+first+".json", acct1); w.Code != http.StatusOK || decode[callJSON](t, w).Sid != first {
		t.Errorf("fetch: %d %s", w.Code, w.Body)
	}
	wantError(t, f.do(t, http.MethodGet, "/2010-04-01/Accounts/"+acct2.Sid+"/Calls/"+first, acct2), http.StatusNotFound, codeNotFound)

	// Pages of two, following next_page_uri as the helper libraries do.
	var seen []string
	next := c1 + ".json?PageSize=2"
	for next != "" {
		w := f.do(t, http.MethodGet, next, acct1)
		if w.Code != http.StatusOK {
			t.Fatalf("list %s: %d %s", next, w.Code, w.Body)
		}
		body := decode[struct {
			Calls []callJSON `json:"calls"`
			Next  *string    `json:"next_page_uri"`
		}](t, w)
		for _, c := range body.Calls {
			seen = append(seen, c.Sid)
		}
		next = ""
		if body.Next != nil {
			next = *body.Next
		}
	}
	if len(seen) != 5 || seen[0] != fc.recs[4].Sid || seen[4] != first {
		t.Errorf("listed %v: want the account's 5 calls, newest first", seen)
	}
	fc.recs[1].Status = store.CallBusy
	w := f.do(t, http.MethodGet, c1+".json?Status=busy&StartTime>=2020-01-01", acct1)
	if got := decode[struct {
		Calls []callJSON `json:"calls"`
	}](t, w).Calls; len(got) != 0 {
		t.Errorf("busy calls with no start time: %d, want 0 (StartTime> needs a start)", len(got))
	}
	if got := decode[struct {
		Calls []callJSON `json:"calls"`
	}](t, f.do(t, http.MethodGet, c1+".json?Status=busy", acct1)).Calls; len(got) != 1 || got[0].Sid != fc.recs[1].Sid {
		t.Errorf("Status=busy listed %d", len(got))
	}
	wantError(t, f.do(t, http.MethodGet, c1+".json?StartTime=yesterday", acct1), http.StatusBadRequest, codeInvalidParameter)

	// Updates.
	if w := f.post(t, c1+"/"+first+".json", url.Values{"Twiml": {"<Response><Hangup/></Response>"}}, acct1); w.Code != http.StatusOK {
		t.Errorf("update Twiml: %d %s", w.Code, w.Body)
	}
	if w := f.post(t, c1+"/"+first, url.Values{"Status": {"completed"}}, acct1); w.Code != http.StatusOK {
		t.Errorf("update Status: %d %s", w.Code, w.Body)
	}
	if len(fc.changes) != 2 || fc.changes[0].Twiml == "" || fc.changes[1].Status != "completed" {
		t.Errorf("changes %+v", fc.changes)
	}
	wantError(t, f.post(t, c1+"/"+first, url.Values{"Status": {"in-progress"}}, acct1), http.StatusBadRequest, codeInvalidParameter)
	wantError(t, f.post(t, c1+"/"+first, url.Values{}, acct1), http.StatusBadRequest, codeInvalidParameter)
	wantError(t, f.post(t, c1+"/"+first, url.Values{"Url": {"ftp://x"}}, acct1), http.StatusBadRequest, codeInvalidURL)
	fc.err = &calls.Error{Status: http.StatusBadRequest, Code: calls.CodeNotInProgress, Msg: "Call is not in-progress. Cannot redirect."}
	wantError(t, f.post(t, c1+"/"+first, url.Values{"Url": {"http://app.test/x"}}, acct1), http.StatusBadRequest, calls.CodeNotInProgress)

	// Delete: the service's refusal, then success.
	fc.err = &calls.Error{Status: http.StatusBadRequest, Code: calls.CodeNotComplete, Msg: "Cannot delete this resource before it is complete"}
	wantError(t, f.do(t, http.MethodDelete, c1+"/"+first+".json", acct1), http.StatusBadRequest, calls.CodeNotComplete)
	fc.err = nil
	if w := f.do(t, http.MethodDelete, c1+"/"+first+".json", acct1); w.Code != http.StatusNoContent {
		t.Errorf("delete: %d %s", w.Code, w.Body)
	}
	wantError(t, f.do(t, http.MethodDelete, c1+"/CAnope", acct1), http.StatusNotFound, codeNotFound)
}

func TestCallJSON(t *testing.T) {
	r := store.CallRecord{Sid: "CA1", AccountSid: "AC1", From: "+1", To: "+2", Direction: "inbound", Status: "completed",
		Created: t0, Updated: t0, Start: t0.Add(2 * time.Second), Answered: t0.Add(5 * time.Second), End: t0.Add(65 * time.Second), AnsweredBy: "human"}
	c := callOf(r)
	if *c.Duration != "60" || *c.StartTime != rfc2822(t0.Add(2*time.Second)) || *c.AnsweredBy != "human" || c.QueueTime != "2000" ||
		c.ParentCallSid != nil || c.SubresourceURIs["recordings"] != "/2010-04-01/Accounts/AC1/Calls/CA1/Recordings.json" ||
		c.SubresourceURIs["user_defined_messages"] != "/2010-04-01/Accounts/AC1/Calls/CA1/UserDefinedMessages.json" {
		t.Errorf("%+v", c)
	}
	r.Answered = time.Time{}
	if c := callOf(r); *c.Duration != "0" {
		t.Errorf("unanswered duration %s", *c.Duration)
	}
}

// A call created between two pages neither repeats nor skips a record:
// next_page_uri's token names the last call of the page before.
func TestCallListTokenAcrossNewCalls(t *testing.T) {
	f, fc := newCallsFixture(t)
	form := url.Values{"To": {"+15550001111"}, "From": {"+15559990000"}, "Url": {"http://app.test/voice"}}
	for range 5 {
		f.post(t, c1+".json", form, acct1)
	}
	type page struct {
		Calls []callJSON `json:"calls"`
		Next  *string    `json:"next_page_uri"`
	}
	first := decode[page](t, f.do(t, http.MethodGet, c1+".json?PageSize=2", acct1))
	f.post(t, c1+".json", form, acct1) // a sixth call, newest of all
	second := decode[page](t, f.do(t, http.MethodGet, *first.Next, acct1))
	var got []string
	for _, c := range append(first.Calls, second.Calls...) {
		got = append(got, c.Sid)
	}
	want := []string{fc.recs[4].Sid, fc.recs[3].Sid, fc.recs[2].Sid, fc.recs[1].Sid}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("pages %v, want %v", got, want)
	}
}
