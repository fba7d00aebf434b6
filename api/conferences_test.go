package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/conference"
	"github.com/texml/texml/store"
	"github.com/texml/texml/store/memory"
)

// fakeRooms is a ConferenceController that records what it is asked and
// applies it to the store, as the conference service does; rooms in
// remote are another node's (ErrNotHere).
type fakeRooms struct {
	st     store.Conferences
	remote map[string]bool
	calls  []string
}

func (f *fakeRooms) UpdateParticipant(ctx context.Context, room, callSid string, u conference.ParticipantUpdate) error {
	f.calls = append(f.calls, fmt.Sprintf("update %s %s muted=%v hold=%v coach=%v", room, callSid, deref(u.Muted), deref(u.Hold), deref(u.Coach)))
	if f.remote[room] {
		return conference.ErrNotHere
	}
	c, err := f.st.Get(ctx, room)
	if err != nil {
		return conference.ErrNotHere
	}
	for _, p := range c.Participants {
		if p.CallSid == callSid {
			if u.Muted != nil {
				p.Muted = *u.Muted
			}
			if u.Coach != nil {
				p.Coaching, p.CallSidToCoach = *u.Coach != "", *u.Coach
			}
			// Hold is not stored, as the conference service does not.
			return f.st.Update(ctx, room, p, t0.Add(time.Hour))
		}
	}
	return conference.ErrNotHere
}

func (f *fakeRooms) Announce(_ context.Context, room, callSid, u, method string) error {
	f.calls = append(f.calls, fmt.Sprintf("announce %s %s %s %s", room, callSid, u, method))
	if f.remote[room] {
		return conference.ErrNotHere
	}
	return nil
}

func (f *fakeRooms) Kick(ctx context.Context, room, callSid string) error {
	f.calls = append(f.calls, "kick "+room+" "+callSid)
	if f.remote[room] {
		return conference.ErrNotHere
	}
	_, err := f.st.Leave(ctx, room, callSid, t0.Add(time.Hour))
	return err
}

func (f *fakeRooms) End(ctx context.Context, room string) error {
	f.calls = append(f.calls, "end "+room)
	if f.remote[room] {
		return conference.ErrNotHere
	}
	_, err := f.st.End(ctx, room, "conference-ended-via-api", "", t0.Add(time.Hour))
	return err
}

func deref[T any](p *T) any {
	if p == nil {
		return "nil"
	}
	return *p
}

var (
	callB = "CA" + strings.Repeat("b", 32)
	callC = "CA" + strings.Repeat("c", 32)
	callD = "CA" + strings.Repeat("d", 32)
)

// confFixture has rooms "alpha" (callA, labelled "host", and callB,
// muted; in progress), "beta" (callC; another node's) and a completed
// room "gone" (callD).
type confFixture struct {
	h     http.Handler
	rooms *fakeRooms
	sids  map[string]string // room name → conference sid
}

func newConfFixture(t *testing.T) *confFixture {
	t.Helper()
	ctx := context.Background()
	st := memory.New().Conferences
	f := &confFixture{rooms: &fakeRooms{st: st, remote: map[string]bool{"beta": true}}, sids: map[string]string{}}
	join := func(room string, p store.Participant, at time.Duration) {
		p.Joined = t0.Add(at)
		c, _, err := st.Join(ctx, room, p, 0, p.Joined)
		if err != nil {
			t.Fatal(err)
		}
		f.sids[room] = c.Sid
	}
	join("alpha", store.Participant{CallSid: callA, Label: "host", StartOnEnter: true, EndOnExit: true}, 0)
	join("alpha", store.Participant{CallSid: callB, Muted: true}, time.Minute)
	if err := st.Start(ctx, "alpha", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	join("beta", store.Participant{CallSid: callC, Node: "NOother"}, 2*time.Minute)
	join("gone", store.Participant{CallSid: callD}, 3*time.Minute)
	if _, err := st.End(ctx, "gone", "last-participant-left", callD, t0.Add(4*time.Minute)); err != nil {
		t.Fatal(err)
	}
	f.h = New(Options{Accounts: []Account{acct1, acct2}, DefaultAccountSid: acct1.Sid, Conferences: st, ConferenceControl: f.rooms})
	return f
}

// do sends method path with the form body as a.
func (f *confFixture) do(t *testing.T, method, path string, form url.Values, a Account) *httptest.ResponseRecorder {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, path, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r.SetBasicAuth(a.Sid, a.AuthToken)
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

const conf1 = "/2010-04-01/Accounts/AC11111111111111111111111111111111/Conferences"

func TestConferencesList(t *testing.T) {
	f := newConfFixture(t)
	for _, tc := range []struct {
		name, query string
		acct        Account
		want        []string // friendly names, in order
	}{
		{"newest first, completed too", "", acct1, []string{"gone", "beta", "alpha"}},
		{"status", "?Status=in-progress", acct1, []string{"alpha"}},
		{"status init", "?Status=init", acct1, []string{"beta"}},
		{"completed", "?Status=completed", acct1, []string{"gone"}},
		{"friendly name", "?FriendlyName=beta", acct1, []string{"beta"}},
		{"created that day", "?DateCreated=" + t0.Format(time.DateOnly), acct1, []string{"gone", "beta", "alpha"}},
		{"created before", "?DateCreated<=" + t0.AddDate(0, 0, -1).Format(time.DateOnly), acct1, nil},
		{"updated after", "?DateUpdated>=" + t0.Format(time.DateOnly) + "&Status=completed", acct1, []string{"gone"}},
		{"paged", "?PageSize=1", acct1, []string{"gone"}},
		{"other account owns none", "", acct2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/2010-04-01/Accounts/" + tc.acct.Sid + "/Conferences.json" + tc.query
			w := f.do(t, "GET", path, nil, tc.acct)
			if w.Code != http.StatusOK {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			body := decode[struct {
				Conferences []conferenceJSON `json:"conferences"`
				Next        *string          `json:"next_page_uri"`
			}](t, w)
			var got []string
			for _, c := range body.Conferences {
				got = append(got, c.FriendlyName)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if tc.query == "?PageSize=1" && (body.Next == nil || !strings.Contains(*body.Next, "PageToken=PA"+f.sids["gone"])) {
				t.Errorf("next_page_uri %v", body.Next)
			}
		})
	}
	wantError(t, f.do(t, "GET", conf1+".json?Status=bogus", nil, acct1), 400, codeInvalidParameter)
	wantError(t, f.do(t, "GET", conf1+".json?DateCreated=today", nil, acct1), 400, codeInvalidParameter)
}

func TestConferenceFetch(t *testing.T) {
	f := newConfFixture(t)
	w := f.do(t, "GET", conf1+"/"+f.sids["alpha"]+".json", nil, acct1)
	if w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	c := decode[map[string]any](t, w)
	for k, v := range map[string]any{
		"sid": f.sids["alpha"], "friendly_name": "alpha", "status": "in-progress", "account_sid": acct1.Sid,
		"region": "us1", "date_created": "Wed, 04 Mar 2026 10:00:00 +0000", "date_updated": "Wed, 04 Mar 2026 10:01:00 +0000",
		"reason_conference_ended": nil, "call_sid_ending_conference": nil, "api_version": "2010-04-01",
		"uri": conf1 + "/" + f.sids["alpha"] + ".json",
	} {
		if c[k] != v {
			t.Errorf("%s = %#v, want %#v", k, c[k], v)
		}
	}
	if sub, _ := c["subresource_uris"].(map[string]any); sub["participants"] != conf1+"/"+f.sids["alpha"]+"/Participants.json" {
		t.Errorf("subresource_uris %v", c["subresource_uris"])
	}
	// A completed room is reachable by Sid, with why it ended.
	c = decode[map[string]any](t, f.do(t, "GET", conf1+"/"+f.sids["gone"], nil, acct1))
	if c["status"] != "completed" || c["reason_conference_ended"] != "last-participant-left" || c["call_sid_ending_conference"] != callD {
		t.Errorf("completed: %v", c)
	}
	wantError(t, f.do(t, "GET", conf1+"/CF"+strings.Repeat("0", 32)+".json", nil, acct1), 404, codeNotFound)
	wantError(t, f.do(t, "GET", "/2010-04-01/Accounts/"+acct2.Sid+"/Conferences/"+f.sids["alpha"]+".json", nil, acct2), 404, codeNotFound)
}

func TestConferenceUpdate(t *testing.T) {
	for _, tc := range []struct {
		name, room string
		form       url.Values
		status     int
		code       int    // error code, or 0
		wantStatus string // the conference's status after
		wantCalls  string
	}{
		{"end", "alpha", url.Values{"Status": {"completed"}}, 200, 0, "completed", "[end alpha]"},
		{"another node's room", "beta", url.Values{"Status": {"completed"}}, 404, codeNotFound, "init", "[end beta]"},
		{"already completed", "gone", url.Values{"Status": {"completed"}}, 200, 0, "completed", "[]"},
		{"bad status", "alpha", url.Values{"Status": {"in-progress"}}, 400, codeInvalidParameter, "in-progress", "[]"},
		{"announce", "alpha", url.Values{"AnnounceUrl": {"https://x.test/a.xml"}, "AnnounceMethod": {"GET"}}, 200, 0, "in-progress", "[announce alpha  https://x.test/a.xml GET]"},
		{"announce a bad URL", "alpha", url.Values{"AnnounceUrl": {"/a.xml"}}, 400, codeInvalidURL, "in-progress", "[]"},
		{"announce into an ended room", "gone", url.Values{"AnnounceUrl": {"https://x.test/a.xml"}}, 400, codeInvalidParameter, "completed", "[]"},
		{"nothing", "alpha", url.Values{}, 200, 0, "in-progress", "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newConfFixture(t)
			path := conf1 + "/" + f.sids[tc.room] + ".json"
			w := f.do(t, "POST", path, tc.form, acct1)
			if tc.code != 0 {
				wantError(t, w, tc.status, tc.code)
			} else if w.Code != tc.status {
				t.Fatalf("%d %s", w.Code, w.Body)
			} else if c := decode[conferenceJSON](t, w); c.Status != tc.wantStatus {
				t.Errorf("response status %q", c.Status)
			}
			if c := decode[conferenceJSON](t, f.do(t, "GET", path, nil, acct1)); c.Status != tc.wantStatus {
				t.Errorf("status after %q, want %q", c.Status, tc.wantStatus)
			}
			if got := fmt.Sprint(f.rooms.calls); got != tc.wantCalls {
				t.Errorf("controller %s, want %s", got, tc.wantCalls)
			}
		})
	}
}

func TestParticipantsListAndFetch(t *testing.T) {
	f := newConfFixture(t)
	base := conf1 + "/" + f.sids["alpha"] + "/Participants"
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"all, in order of joining", base + ".json", []string{callA, callB}},
		{"no extension", base, []string{callA, callB}},
		{"muted", base + ".json?Muted=true", []string{callB}},
		{"not muted", base + ".json?Muted=false", []string{callA}},
		{"paged", base + ".json?PageSize=1&Page=1&PageToken=PA" + callA, []string{callB}},
		{"completed room has none", conf1 + "/" + f.sids["gone"] + "/Participants.json", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(t, "GET", tc.path, nil, acct1)
			if w.Code != http.StatusOK {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			body := decode[struct {
				Participants []participantJSON `json:"participants"`
			}](t, w)
			var got []string
			for _, p := range body.Participants {
				got = append(got, p.CallSid)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	for _, id := range []string{callA, callA + ".json", "host"} {
		w := f.do(t, "GET", base+"/"+id, nil, acct1)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", id, w.Code, w.Body)
		}
		p := decode[map[string]any](t, w)
		for k, v := range map[string]any{
			"call_sid": callA, "conference_sid": f.sids["alpha"], "account_sid": acct1.Sid, "label": "host",
			"muted": false, "hold": false, "coaching": false, "call_sid_to_coach": nil,
			"start_conference_on_enter": true, "end_conference_on_exit": true, "status": "connected",
			"date_created": "Wed, 04 Mar 2026 10:00:00 +0000", "uri": base + "/" + callA + ".json",
		} {
			if p[k] != v {
				t.Errorf("%s: %s = %#v, want %#v", id, k, p[k], v)
			}
		}
	}
	wantError(t, f.do(t, "GET", base+"/"+callC+".json", nil, acct1), 404, codeNotFound)
	wantError(t, f.do(t, "GET", conf1+"/"+f.sids["gone"]+"/Participants/"+callD+".json", nil, acct1), 404, codeNotFound)
	wantError(t, f.do(t, "GET", base+".json?Hold=maybe", nil, acct1), 400, codeInvalidParameter)
}

func TestParticipantUpdate(t *testing.T) {
	for _, tc := range []struct {
		name, room, call string
		form             url.Values
		status, code     int
		want             func(participantJSON) bool
		wantCalls        string
	}{
		{"mute", "alpha", callA, url.Values{"Muted": {"true"}}, 200, 0,
			func(p participantJSON) bool { return p.Muted }, "[update alpha " + callA + " muted=true hold=nil coach=nil]"},
		{"hold", "alpha", callB, url.Values{"Hold": {"true"}}, 200, 0,
			func(p participantJSON) bool { return p.Hold && p.Muted }, "[update alpha " + callB + " muted=nil hold=true coach=nil]"},
		{"coach", "alpha", callB, url.Values{"Coaching": {"true"}, "CallSidToCoach": {callA}}, 200, 0,
			func(p participantJSON) bool {
				return p.Coaching && p.CallSidToCoach != nil && *p.CallSidToCoach == callA
			},
			"[update alpha " + callB + " muted=nil hold=nil coach=" + callA + "]"},
		{"stop coaching", "alpha", callB, url.Values{"Coaching": {"false"}}, 200, 0,
			func(p participantJSON) bool { return !p.Coaching && p.CallSidToCoach == nil },
			"[update alpha " + callB + " muted=nil hold=nil coach=]"},
		{"by label", "alpha", "host", url.Values{"Muted": {"true"}}, 200, 0,
			func(p participantJSON) bool { return p.Muted && p.CallSid == callA }, "[update alpha " + callA + " muted=true hold=nil coach=nil]"},
		{"coaching without whom", "alpha", callB, url.Values{"Coaching": {"true"}}, 400, codeInvalidParameter, nil, "[]"},
		{"announce to one", "alpha", callB, url.Values{"AnnounceUrl": {"https://x.test/whisper.xml"}}, 200, 0,
			func(p participantJSON) bool { return p.CallSid == callB }, "[announce alpha " + callB + " https://x.test/whisper.xml ]"},
		{"bad bool", "alpha", callA, url.Values{"Muted": {"yes please"}}, 400, codeInvalidParameter, nil, "[]"},
		{"unsupported", "alpha", callA, url.Values{"WaitUrl": {"https://x"}}, 400, codeInvalidParameter, nil, "[]"},
		{"hold music", "alpha", callA, url.Values{"Hold": {"true"}, "HoldUrl": {"https://x.test/music.xml"}}, 200, 0,
			func(p participantJSON) bool { return p.Hold }, "[update alpha " + callA + " muted=nil hold=true coach=nil]"},
		{"bad HoldUrl", "alpha", callA, url.Values{"HoldUrl": {"music.xml"}}, 400, codeInvalidURL, nil, "[]"},
		{"another node's room", "beta", callC, url.Values{"Muted": {"true"}}, 404, codeNotFound, nil,
			"[update beta " + callC + " muted=true hold=nil coach=nil]"},
		{"unknown participant", "alpha", callC, url.Values{"Muted": {"true"}}, 404, codeNotFound, nil, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newConfFixture(t)
			w := f.do(t, "POST", conf1+"/"+f.sids[tc.room]+"/Participants/"+tc.call+".json", tc.form, acct1)
			if tc.code != 0 {
				wantError(t, w, tc.status, tc.code)
			} else if w.Code != tc.status {
				t.Fatalf("%d %s", w.Code, w.Body)
			} else if p := decode[participantJSON](t, w); !tc.want(p) {
				t.Errorf("response %+v", p)
			}
			if got := fmt.Sprint(f.rooms.calls); got != tc.wantCalls {
				t.Errorf("controller %s, want %s", got, tc.wantCalls)
			}
		})
	}
}

func TestParticipantDeleteAndCreate(t *testing.T) {
	f := newConfFixture(t)
	base := conf1 + "/" + f.sids["alpha"] + "/Participants"
	if w := f.do(t, "DELETE", base+"/"+callB+".json", nil, acct1); w.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	wantError(t, f.do(t, "GET", base+"/"+callB+".json", nil, acct1), 404, codeNotFound)
	wantError(t, f.do(t, "DELETE", base+"/"+callB+".json", nil, acct1), 404, codeNotFound)
	wantError(t, f.do(t, "DELETE", conf1+"/"+f.sids["beta"]+"/Participants/"+callC, nil, acct1), 404, codeNotFound)
	if got := fmt.Sprint(f.rooms.calls); got != "[kick alpha "+callB+" kick beta "+callC+"]" {
		t.Errorf("controller %s", got)
	}
	// Without a call service, no participant can be dialed.
	wantError(t, f.do(t, "POST", base+".json", url.Values{"From": {"+15550001"}, "To": {"+15550002"}}, acct1),
		http.StatusMethodNotAllowed, codeMethodNotAllowed)
}

// Creating a participant places a call whose document joins the room
// with the participant's options.
func TestParticipantCreate(t *testing.T) {
	f := newConfFixture(t)
	fc := &fakeCalls{}
	f.h = New(Options{Accounts: []Account{acct1, acct2}, DefaultAccountSid: acct1.Sid, Conferences: f.rooms.st, ConferenceControl: f.rooms, Calls: fc})
	base := conf1 + "/" + f.sids["alpha"] + "/Participants.json"
	form := url.Values{"From": {"+15550001"}, "To": {"sip:agent@example.com"}, "Muted": {"true"}, "Beep": {"onEnter"},
		"StartConferenceOnEnter": {"false"}, "Label": {"agent"}, "ConferenceStatusCallback": {"http://app.test/conf"},
		"ConferenceStatusCallbackEvent": {"join", "leave"}, "Coaching": {"true"}, "CallSidToCoach": {callA},
		"StatusCallback": {"http://app.test/status"}, "Timeout": {"20"}, "Record": {"true"}, "RecordingChannels": {"dual"}}
	w := f.do(t, "POST", base, form, acct1)
	if w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	p := decode[participantJSON](t, w)
	if p.Status != "queued" || p.CallSid != fc.recs[0].Sid || p.ConferenceSid != f.sids["alpha"] || !p.Muted || p.StartConferenceOnEnter ||
		p.Label == nil || *p.Label != "agent" || !p.Coaching {
		t.Errorf("participant %+v", p)
	}
	req := fc.created[0]
	doc := req.Config.Twiml
	for _, want := range []string{`<Conference `, `muted="true"`, `beep="onEnter"`, `startConferenceOnEnter="false"`, `participantLabel="agent"`,
		`statusCallback="http://app.test/conf"`, `statusCallbackEvent="join leave"`, `coach="` + callA + `"`, `>alpha</Conference>`} {
		if !strings.Contains(doc, want) {
			t.Errorf("document %s: no %s", doc, want)
		}
	}
	if ro := req.Config.Record; ro == nil || !ro.Dual {
		t.Errorf("Record options %+v, want the participant's call recorded, dual", ro)
	}
	if req.Config.StatusCallback != "http://app.test/status" || req.Placement.Target.Timeout != 20*time.Second || req.Placement.Target.Addr != "sip:agent@example.com" {
		t.Errorf("request %+v", req)
	}
	// By friendly name: the room need not exist yet.
	if w := f.do(t, "POST", conf1+"/newroom/Participants.json", url.Values{"From": {"+1"}, "To": {"+15550002"}}, acct1); w.Code != http.StatusCreated ||
		!strings.Contains(fc.created[1].Config.Twiml, ">newroom</Conference>") {
		t.Errorf("by name: %d %s", w.Code, w.Body)
	}
	for _, bad := range []url.Values{
		{"From": {"+1"}, "To": {"+2"}, "Beep": {"sometimes"}},
		{"From": {"+1"}, "To": {"+2"}, "Muted": {"maybe"}},
		{"From": {"+1"}, "To": {"+2"}, "Coaching": {"true"}},
		{"From": {"+1"}, "To": {"+2"}, "EarlyMedia": {"true"}},
		{"To": {"+2"}},
	} {
		if w := f.do(t, "POST", base, bad, acct1); w.Code != http.StatusBadRequest {
			t.Errorf("%v: %d %s, want 400", bad, w.Code, w.Body)
		}
	}
	wantError(t, f.do(t, "POST", conf1+"/"+f.sids["gone"]+"/Participants.json", form, acct1), 404, codeNotFound)
	wantError(t, f.do(t, "POST", conf1+"/CF"+strings.Repeat("0", 32)+"/Participants.json", form, acct1), 404, codeNotFound)
	if len(fc.created) != 2 {
		t.Errorf("%d calls placed, want 2", len(fc.created))
	}
}

func TestConferencesNotServedWithoutStore(t *testing.T) {
	h := New(Options{Accounts: []Account{acct1}, DefaultAccountSid: acct1.Sid})
	r := httptest.NewRequest("GET", conf1+".json", nil)
	r.SetBasicAuth(acct1.Sid, acct1.AuthToken)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	wantError(t, w, 404, codeNotFound)
}
