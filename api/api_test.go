package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/media/audio"
	"github.com/texml/texml/signaling"
)

var (
	acct1  = Account{Sid: "AC" + strings.Repeat("1", 32), AuthToken: "token-one"}
	acct2  = Account{Sid: "AC" + strings.Repeat("2", 32), AuthToken: "token-two"}
	callA  = "CA" + strings.Repeat("a", 32)
	t0     = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	rec1   = "/2010-04-01/Accounts/" + acct1.Sid + "/Recordings"
	rec2   = "/2010-04-01/Accounts/" + acct2.Sid + "/Recordings"
	noAuth = Account{}
)

// sid makes a recording sid from a digit.
func sid(c byte) string { return "RE" + strings.Repeat(string(c), 32) }

// writeWAV writes a recording of d seconds (mono) in dir.
func writeWAV(t *testing.T, dir, sid string, seconds int) {
	t.Helper()
	f, err := os.Create(signaling.RecordingPath(dir, sid))
	if err != nil {
		t.Fatal(err)
	}
	w := audio.NewWAVWriter(f)
	for range seconds * 50 {
		if err := w.Write(make([]int16, 160)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// fixture is a recordings directory: five recordings of acct1 (sids
// RE1…, RE2…, … RE5…, one minute apart, RE5 newest; RE1 and RE2 of call
// callA), one of acct2 (REa…), and the handler over it.
type fixture struct {
	dir string
	h   http.Handler
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	dir := t.TempDir()
	for i := range 5 {
		s := sid(byte('1' + i))
		writeWAV(t, dir, s, i+1)
		info := signaling.RecordingInfo{Sid: s, AccountSid: acct1.Sid, Source: "RecordVerb", Channels: 1,
			StartTime: t0.Add(time.Duration(i) * time.Minute), DurationMS: int64(i+1) * 1000}
		if i < 2 {
			info.CallSid = callA
		}
		if err := signaling.WriteRecordingInfo(dir, info); err != nil {
			t.Fatal(err)
		}
	}
	writeWAV(t, dir, sid('a'), 1)
	if err := signaling.WriteRecordingInfo(dir, signaling.RecordingInfo{Sid: sid('a'), AccountSid: acct2.Sid, Channels: 1, StartTime: t0, DurationMS: 1000}); err != nil {
		t.Fatal(err)
	}
	o.Accounts = []Account{acct1, acct2}
	o.RecordingsDir = dir
	o.DefaultAccountSid = acct1.Sid
	o.BaseURL = "https://texml.test"
	return &fixture{dir: dir, h: New(o)}
}

// do sends a request as a (no credentials when a is noAuth).
func (f *fixture) do(t *testing.T, method, path string, a Account) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	if a != noAuth {
		r.SetBasicAuth(a.Sid, a.AuthToken)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// decode parses a JSON response body.
func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("%s: %v", w.Body, err)
	}
	return v
}

// wantError checks a Twilio error response.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status, code int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	e := decode[apiError](t, w)
	if e.Code != code || e.Status != status || e.Message == "" || e.MoreInfo != "https://www.twilio.com/docs/errors/"+itoa(code) {
		t.Errorf("error %+v, want code %d status %d", e, code, status)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestAPIAuth(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct {
		name   string
		path   string
		as     Account
		status int
		code   int
	}{
		{"ok", rec1 + ".json", acct1, 200, 0},
		{"ok without .json", rec1, acct1, 200, 0},
		{"no credentials", rec1 + ".json", noAuth, 401, 20003},
		{"wrong token", rec1 + ".json", Account{Sid: acct1.Sid, AuthToken: "token-two"}, 401, 20003},
		{"unknown account", rec1 + ".json", Account{Sid: "AC" + strings.Repeat("9", 32), AuthToken: "token-one"}, 401, 20003},
		{"empty token", rec1 + ".json", Account{Sid: acct1.Sid}, 401, 20003},
		{"another account's path", rec2 + ".json", acct1, 404, 20404},
		{"another account's recording", rec1 + "/" + sid('1') + ".json", acct2, 404, 20404},
		{"own recording under own path", rec2 + "/" + sid('a') + ".json", acct2, 200, 0},
		{"other's recording under own path", rec2 + "/" + sid('1') + ".json", acct2, 404, 20404},
		{"unknown path needs auth first", "/2010-04-01/Accounts/" + acct1.Sid + "/Nope.json", noAuth, 401, 20003},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do(t, "GET", tt.path, tt.as)
			if tt.code != 0 {
				wantError(t, w, tt.status, tt.code)
				if tt.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
					t.Error("no WWW-Authenticate challenge")
				}
				return
			}
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
		})
	}
}

func TestAPIAccountSeesOnlyItsRecordings(t *testing.T) {
	f := newFixture(t, Options{})
	w := f.do(t, "GET", rec2+".json", acct2)
	list := decode[struct{ Recordings []recordingJSON }](t, w)
	if len(list.Recordings) != 1 || list.Recordings[0].Sid != sid('a') {
		t.Errorf("acct2 lists %+v, want only %s", list.Recordings, sid('a'))
	}
}

func TestAPIUnknownPaths(t *testing.T) {
	f := newFixture(t, Options{})
	for _, p := range []string{
		"/2010-04-01/Accounts/" + acct1.Sid + "/Calls.json",
		"/2010-04-01/Accounts/" + acct1.Sid + ".json",
		"/2010-04-01/Accounts.json",
		"/2010-04-01/Accounts/" + acct1.Sid + "/Recordings/" + sid('9') + ".json",
		"/2010-04-01/Accounts/" + acct1.Sid + "/Recordings/RE123.json",
		"/2010-04-01/Accounts/" + acct1.Sid + "/Recordings/" + sid('1') + ".txt",
		"/2010-04-01/Accounts/" + acct1.Sid + "/Recordings/" + sid('1') + "/Transcriptions.json",
	} {
		t.Run(p, func(t *testing.T) {
			wantError(t, f.do(t, "GET", p, acct1), 404, 20404)
		})
	}
	// A method the resource does not have is 405/20004, with Allow.
	w := f.do(t, "POST", "/2010-04-01/Accounts/"+acct1.Sid+"/Recordings/"+sid('1')+".json", acct1)
	wantError(t, w, 405, 20004)
	if got := w.Header().Get("Allow"); got != "GET, DELETE" {
		t.Errorf("Allow %q, want GET, DELETE", got)
	}
	w = f.do(t, "PUT", "/2010-04-01/Accounts/"+acct1.Sid+"/Recordings.json", acct1)
	wantError(t, w, 405, 20004)
	if got := w.Header().Get("Allow"); got != "GET" {
		t.Errorf("Allow %q, want GET", got)
	}
}

func TestAPIBadParameters(t *testing.T) {
	f := newFixture(t, Options{})
	for _, q := range []string{"PageSize=0", "PageSize=1001", "PageSize=two", "Page=-1", "Page=x",
		"DateCreated=yesterday", "DateCreated%3C=2026-13-01", "DateCreated%3E=03/04/2026"} {
		t.Run(q, func(t *testing.T) {
			wantError(t, f.do(t, "GET", rec1+".json?"+q, acct1), 400, 20001)
		})
	}
}

// pageBody is a list response as twilio-node reads it.
type pageBody struct {
	FirstPageURI    string          `json:"first_page_uri"`
	NextPageURI     *string         `json:"next_page_uri"`
	PreviousPageURI *string         `json:"previous_page_uri"`
	URI             string          `json:"uri"`
	Page            int             `json:"page"`
	PageSize        int             `json:"page_size"`
	Start           int             `json:"start"`
	End             int             `json:"end"`
	Recordings      []recordingJSON `json:"recordings"`
}

// twilio-node's Page.META_KEYS: every other key of a page is its records.
var metaKeys = []string{"end", "first_page_uri", "last_page_uri", "next_page_uri", "num_pages", "page", "page_size", "previous_page_uri", "start", "total", "uri"}

func TestAPIPagingFollowsNextPageURI(t *testing.T) {
	f := newFixture(t, Options{})
	var got []string
	var pages []pageBody
	next := rec1 + ".json?PageSize=2"
	for next != "" {
		w := f.do(t, "GET", next, acct1)
		if w.Code != 200 {
			t.Fatalf("GET %s: %d %s", next, w.Code, w.Body)
		}
		raw := decode[map[string]json.RawMessage](t, w)
		var records []string
		for k := range raw {
			if !slices.Contains(metaKeys, k) {
				records = append(records, k)
			}
		}
		if len(records) != 1 || records[0] != "recordings" {
			t.Fatalf("non-meta keys %v, want just recordings (twilio-node's Page.loadPage)", records)
		}
		p := decode[pageBody](t, w)
		pages = append(pages, p)
		for _, r := range p.Recordings {
			got = append(got, r.Sid)
		}
		next = ""
		if p.NextPageURI != nil {
			next = *p.NextPageURI // as twilio-node does: the URI alone, no params added
		}
		if len(pages) > 5 {
			t.Fatal("paging does not end")
		}
	}
	want := []string{sid('5'), sid('4'), sid('3'), sid('2'), sid('1')}
	if !slices.Equal(got, want) {
		t.Errorf("followed pages list %v, want newest first %v", got, want)
	}
	if len(pages) != 3 {
		t.Fatalf("%d pages, want 3", len(pages))
	}
	for i, p := range pages {
		if p.Page != i || p.PageSize != 2 || p.Start != 2*i || p.End != 2*i+len(p.Recordings)-1 {
			t.Errorf("page %d: page %d page_size %d start %d end %d", i, p.Page, p.PageSize, p.Start, p.End)
		}
		if p.FirstPageURI != rec1+".json?PageSize=2&Page=0" {
			t.Errorf("page %d: first_page_uri %q", i, p.FirstPageURI)
		}
		if (p.PreviousPageURI == nil) != (i == 0) {
			t.Errorf("page %d: previous_page_uri %v", i, p.PreviousPageURI)
		}
	}
	if p := pages[1]; p.URI != *pages[0].NextPageURI || !strings.Contains(p.URI, "PageToken=PA"+sid('4')) {
		t.Errorf("page 1: uri %q, next of page 0 %q", p.URI, *pages[0].NextPageURI)
	}
	// previous_page_uri leads back to the page before.
	w := f.do(t, "GET", *pages[2].PreviousPageURI, acct1)
	if p := decode[pageBody](t, w); p.Page != 1 || len(p.Recordings) != 2 || p.Recordings[0].Sid != sid('3') {
		t.Errorf("previous of page 2: page %d %+v", p.Page, p.Recordings)
	}
	// Page without a token counts from the start.
	w = f.do(t, "GET", rec1+".json?PageSize=2&Page=2", acct1)
	if p := decode[pageBody](t, w); len(p.Recordings) != 1 || p.Recordings[0].Sid != sid('1') || p.NextPageURI != nil {
		t.Errorf("Page=2: %+v", p)
	}
	// Beyond the end: an empty page, [] not null.
	w = f.do(t, "GET", rec1+".json?PageSize=2&Page=7", acct1)
	if !strings.Contains(w.Body.String(), `"recordings":[]`) {
		t.Errorf("Page=7: %s", w.Body)
	}
}

func TestAPIListFilters(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct {
		query string
		want  []string
	}{
		{"CallSid=" + callA, []string{sid('2'), sid('1')}},
		{"CallSid=" + callA + "&PageSize=1", []string{sid('2')}},
		{"DateCreated=2026-03-04", []string{sid('5'), sid('4'), sid('3'), sid('2'), sid('1')}},
		{"DateCreated=2026-03-05", nil},
		{"DateCreated%3E=2026-03-04T10:02:00Z", []string{sid('5'), sid('4'), sid('3')}},
		{"DateCreated%3C=2026-03-04T10:01:00Z", []string{sid('2'), sid('1')}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			p := decode[pageBody](t, f.do(t, "GET", rec1+".json?"+tt.query, acct1))
			var got []string
			for _, r := range p.Recordings {
				got = append(got, r.Sid)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// The filters stay in the paging URIs.
	p := decode[pageBody](t, f.do(t, "GET", rec1+".json?CallSid="+callA+"&PageSize=1", acct1))
	if p.NextPageURI == nil || !strings.HasPrefix(*p.NextPageURI, rec1+".json?CallSid="+callA+"&PageSize=1&Page=1&PageToken=PA") {
		t.Errorf("next_page_uri %v", p.NextPageURI)
	}
}

func TestAPIFetchRecording(t *testing.T) {
	f := newFixture(t, Options{})
	w := f.do(t, "GET", rec1+"/"+sid('2')+".json", acct1)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	raw := decode[map[string]any](t, w)
	want := map[string]any{
		"sid": sid('2'), "account_sid": acct1.Sid, "call_sid": callA, "conference_sid": nil, "api_version": "2010-04-01",
		"duration": "2", "status": "completed", "channels": float64(1), "source": "RecordVerb", "price": nil, "price_unit": "USD",
		"date_created": "Wed, 04 Mar 2026 10:01:00 +0000", "start_time": "Wed, 04 Mar 2026 10:01:00 +0000",
		"uri": rec1 + "/" + sid('2') + ".json", "media_url": "https://texml.test" + rec1 + "/" + sid('2'),
		"error_code": nil, "encryption_details": nil,
	}
	for k, v := range want {
		if raw[k] != v {
			t.Errorf("%s = %#v, want %#v", k, raw[k], v)
		}
	}
	if _, ok := raw["date_updated"].(string); !ok {
		t.Errorf("date_updated %#v", raw["date_updated"])
	}
}

func TestAPIRecordingWithoutSidecar(t *testing.T) {
	f := newFixture(t, Options{})
	writeWAV(t, f.dir, sid('b'), 3)
	r := decode[recordingJSON](t, f.do(t, "GET", rec1+"/"+sid('b')+".json", acct1))
	if r.Duration != "3" || r.AccountSid != acct1.Sid || r.CallSid != nil || r.Status != "completed" || r.Channels != 1 {
		t.Errorf("described from the WAV: %+v", r)
	}
	// Being written: the writer's placeholder sizes.
	fh, err := os.Create(signaling.RecordingPath(f.dir, sid('c')))
	if err != nil {
		t.Fatal(err)
	}
	w := audio.NewWAVWriter(fh)
	if err := w.Write(make([]int16, 160)); err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r = decode[recordingJSON](t, f.do(t, "GET", rec1+"/"+sid('c')+".json", acct1))
	if r.Status != "in-progress" || r.Duration != "-1" {
		t.Errorf("in progress: %+v", r)
	}
	wantError(t, f.do(t, "GET", rec1+"/"+sid('c'), acct1), 404, 20404)
}

func TestAPIRecordingMedia(t *testing.T) {
	for _, mediaAuth := range []bool{false, true} {
		f := newFixture(t, Options{MediaAuth: mediaAuth})
		want, err := os.ReadFile(signaling.RecordingPath(f.dir, sid('3')))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{rec1 + "/" + sid('3'), rec1 + "/" + sid('3') + ".wav"} {
			w := f.do(t, "GET", p, acct1)
			if body, _ := io.ReadAll(w.Body); w.Code != 200 || w.Header().Get("Content-Type") != "audio/x-wav" || string(body) != string(want) {
				t.Errorf("MediaAuth %v: GET %s: %d %q, %d bytes; want the WAV file", mediaAuth, p, w.Code, w.Header().Get("Content-Type"), len(body))
			}
			w = f.do(t, "GET", p, noAuth)
			if mediaAuth {
				wantError(t, w, 401, 20003)
			} else if w.Code != 200 {
				t.Errorf("public media: GET %s without credentials: %d", p, w.Code)
			}
		}
		// Public or not, a recording is found only under its own account.
		wantError(t, f.do(t, "GET", rec2+"/"+sid('3')+".wav", noAuth), map[bool]int{false: 404, true: 401}[mediaAuth], map[bool]int{false: 20404, true: 20003}[mediaAuth])
		w := f.do(t, "GET", rec1+"/"+sid('3')+".mp3", acct1)
		wantError(t, w, 404, 20404)
		if !strings.Contains(w.Body.String(), "WAV only") {
			t.Errorf(".mp3: %s", w.Body)
		}
		// The resource itself always needs credentials.
		wantError(t, f.do(t, "GET", rec1+"/"+sid('3')+".json", noAuth), 401, 20003)
		wantError(t, f.do(t, "DELETE", rec1+"/"+sid('3'), noAuth), 401, 20003)
	}
}

func TestAPIDeleteRecording(t *testing.T) {
	f := newFixture(t, Options{})
	wantError(t, f.do(t, "DELETE", rec1+"/"+sid('a')+".json", acct1), 404, 20404) // acct2's
	wantError(t, f.do(t, "DELETE", rec2+"/"+sid('3')+".json", acct2), 404, 20404)
	for _, p := range []string{rec1 + "/" + sid('3') + ".json", rec1 + "/" + sid('4')} {
		if w := f.do(t, "DELETE", p, acct1); w.Code != http.StatusNoContent || w.Body.Len() != 0 {
			t.Fatalf("DELETE %s: %d %s", p, w.Code, w.Body)
		}
		wantError(t, f.do(t, "GET", p, acct1), 404, 20404)
		wantError(t, f.do(t, "DELETE", p, acct1), 404, 20404)
	}
	for _, name := range []string{sid('3') + ".wav", sid('3') + ".json", sid('4') + ".wav", sid('4') + ".json"} {
		if _, err := os.Stat(filepath.Join(f.dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want it removed", name, err)
		}
	}
	p := decode[pageBody](t, f.do(t, "GET", rec1+".json", acct1))
	if len(p.Recordings) != 3 {
		t.Errorf("%d recordings left, want 3", len(p.Recordings))
	}
}

func TestAPIBodyIsCapped(t *testing.T) {
	f := newFixture(t, Options{})
	var read error
	h := New(Options{Accounts: []Account{acct1}, RecordingsDir: f.dir})
	s := h.(*server)
	s.mux.HandleFunc("POST /2010-04-01/Accounts/{AccountSid}/Echo", func(w http.ResponseWriter, r *http.Request) {
		read = r.ParseForm()
		w.WriteHeader(204)
	})
	r := httptest.NewRequest("POST", "/2010-04-01/Accounts/"+acct1.Sid+"/Echo", strings.NewReader("A="+strings.Repeat("x", MaxBody)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(acct1.Sid, acct1.AuthToken)
	h.ServeHTTP(httptest.NewRecorder(), r)
	if read == nil {
		t.Errorf("a body over %d bytes was read whole", MaxBody)
	}
}

func TestRFC2822(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))
	if got := rfc2822(at); got != "Fri, 02 Jan 2026 02:04:05 +0000" {
		t.Errorf("rfc2822 = %q", got)
	}
}
