package fetcher

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testToken = "test-auth-token"

// server starts a loopback server torn down with the test.
func server(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// requestURL rebuilds the URL a request was made to, as a webhook
// validator behind no proxy would.
func requestURL(r *http.Request) string {
	return "http://" + r.Host + r.URL.RequestURI()
}

// checkSignature verifies the Twilio signature of r, returning a complaint.
func checkSignature(r *http.Request) string {
	var params url.Values
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			return err.Error()
		}
		params = r.PostForm
	}
	if !ValidateSignature(testToken, requestURL(r), params, r.Header.Get(HeaderTwilioSignature)) {
		return "bad signature on " + r.Method + " " + requestURL(r)
	}
	return ""
}

func fetchErr(t *testing.T, err error) *Error {
	t.Helper()
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not *Error", err, err)
	}
	return fe
}

func TestPostBodyAndSigning(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := key.Public().(ed25519.PublicKey)
	now := time.Unix(1700000000, 0)
	var problems []string
	var mu sync.Mutex
	complain := func(s string) {
		mu.Lock()
		problems = append(problems, s)
		mu.Unlock()
	}
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		if r.Method != http.MethodPost {
			complain("method " + r.Method)
		}
		if ct := r.Header.Get("Content-Type"); ct != formContentType {
			complain("content type " + ct)
		}
		if s := checkSignature(r); s != "" {
			complain(s)
		}
		if r.PostForm.Get("Digits") != "1#" || r.PostForm.Get("CallSid") != "CA1" {
			complain("form " + r.PostForm.Encode())
		}
		if r.URL.RawQuery != "step=2" {
			complain("query " + r.URL.RawQuery)
		}
		ts := r.Header.Get(HeaderTelnyxTimestamp)
		if ts != "1700000000" || !VerifyEd25519(pub, ts, body, r.Header.Get(HeaderTelnyxSignature)) {
			complain("telnyx signature")
		}
		if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "texml/") {
			complain("user agent " + ua)
		}
		if r.Header.Get("X-Extra") != "yes" {
			complain("extra header missing")
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.Header().Set("X-Reply", "1")
		io.WriteString(w, "<Response/>")
	})
	f := New(Options{AuthToken: testToken, SigningKey: key, Now: func() time.Time { return now }})
	defer f.Close()
	res, err := f.Fetch(context.Background(), Request{
		URL:    srv.URL + "/voice?step=2#rc=0",
		Params: url.Values{"CallSid": {"CA1"}, "Digits": {"1#"}},
		Header: http.Header{"x-extra": {"yes"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	want := srv.URL + "/voice?step=2"
	if res.URL != want || res.RequestURL != want || res.Status != 200 || res.Kind != TwiML ||
		res.ContentType != "text/xml" || string(res.Body) != "<Response/>" || res.Header.Get("X-Reply") != "1" {
		t.Errorf("unexpected response %+v", res)
	}
}

func TestGetMergesQuery(t *testing.T) {
	var gotQuery, sigProblem string
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		gotQuery = r.URL.RawQuery
		sigProblem = checkSignature(r)
		if r.ContentLength > 0 || r.Header.Get("Content-Type") != "" {
			sigProblem += " GET carried a body"
		}
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, "<Response/>")
	})
	f := New(Options{AuthToken: testToken})
	defer f.Close()
	tests := []struct {
		path, wantQuery string
		params          url.Values
	}{
		{"/doc?foo=1&Digits=9", "foo=1&Digits=9&CallSid=CA1&Digits=1", url.Values{"Digits": {"1"}, "CallSid": {"CA1"}}},
		{"/doc", "CallSid=CA1", url.Values{"CallSid": {"CA1"}}},
		{"/doc?", "CallSid=CA1", url.Values{"CallSid": {"CA1"}}},
		{"/doc?a=1", "a=1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, err := f.Fetch(context.Background(), Request{URL: srv.URL + tt.path, Method: "get", Params: tt.params})
			if err != nil {
				t.Fatal(err)
			}
			if gotQuery != tt.wantQuery {
				t.Errorf("server saw query %q, want %q", gotQuery, tt.wantQuery)
			}
			if sigProblem != "" {
				t.Error(sigProblem)
			}
			if res.URL != srv.URL+tt.path {
				t.Errorf("URL = %q, want the document URL without merged params", res.URL)
			}
			if !strings.HasSuffix(res.RequestURL, tt.wantQuery) {
				t.Errorf("RequestURL = %q, want it to end in %q", res.RequestURL, tt.wantQuery)
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	type seen struct {
		method, path, form, cookie, sigProblem string
	}
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			var mu sync.Mutex
			var hops []seen
			srv := server(t, func(w http.ResponseWriter, r *http.Request) {
				s := seen{method: r.Method, path: r.URL.RequestURI(), sigProblem: checkSignature(r)}
				s.form = r.PostForm.Encode()
				if c, err := r.Cookie("sess"); err == nil {
					s.cookie = c.Value
				}
				mu.Lock()
				hops = append(hops, s)
				mu.Unlock()
				switch r.URL.Path {
				case "/start":
					http.SetCookie(w, &http.Cookie{Name: "sess", Value: "abc", Path: "/"})
					w.Header().Set("Location", "mid?hop=1#ignored")
					w.WriteHeader(code)
				case "/mid":
					w.Header().Set("Location", "/end")
					w.WriteHeader(code)
				default:
					w.Header().Set("Content-Type", "text/xml")
					io.WriteString(w, "<Response/>")
				}
			})
			f := New(Options{AuthToken: testToken})
			defer f.Close()
			res, err := f.Fetch(context.Background(), Request{
				URL: srv.URL + "/start", Params: url.Values{"Digits": {"5"}}, Jar: NewJar(),
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(hops) != 3 {
				t.Fatalf("hops = %+v", hops)
			}
			wantMethod, wantForm := http.MethodGet, ""
			if code == 307 || code == 308 {
				wantMethod, wantForm = http.MethodPost, "Digits=5"
			}
			for i, h := range hops {
				if h.sigProblem != "" {
					t.Errorf("hop %d: %s", i, h.sigProblem)
				}
				if i == 0 {
					continue
				}
				if h.method != wantMethod || h.form != wantForm {
					t.Errorf("hop %d: %s form %q, want %s form %q", i, h.method, h.form, wantMethod, wantForm)
				}
				if h.cookie != "abc" {
					t.Errorf("hop %d: cookie %q not carried", i, h.cookie)
				}
			}
			if hops[1].path != "/mid?hop=1" {
				t.Errorf("second hop path %q", hops[1].path)
			}
			if res.URL != srv.URL+"/end" || res.RequestURL != srv.URL+"/end" {
				t.Errorf("final URL %q / %q", res.URL, res.RequestURL)
			}
			want := []Redirect{
				{Method: http.MethodPost, URL: srv.URL + "/start", Status: code, Location: srv.URL + "/mid?hop=1"},
				{Method: wantMethod, URL: srv.URL + "/mid?hop=1", Status: code, Location: srv.URL + "/end"},
			}
			if !reflect.DeepEqual(res.Redirects, want) {
				t.Errorf("Redirects = %+v, want %+v", res.Redirects, want)
			}
		})
	}
}

// TestRedirectsReported: the hops a fetch followed are reported on success
// and on failure, so a trace can show where a document came from; GET
// params merged into the query are not part of a hop's URL.
func TestRedirectsReported(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/old":
			http.Redirect(w, r, "/gone", http.StatusFound)
		case "/doc":
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, "<Response/>")
		default:
			http.NotFound(w, r)
		}
	})
	f := New(Options{})
	defer f.Close()
	params := url.Values{"CallSid": {"CA1"}}

	res, err := f.Fetch(context.Background(), Request{URL: srv.URL + "/doc", Method: "GET", Params: params})
	if err != nil {
		t.Fatal(err)
	}
	if res.Redirects != nil {
		t.Errorf("no redirect: Redirects = %+v", res.Redirects)
	}

	_, err = f.Fetch(context.Background(), Request{URL: srv.URL + "/old", Method: "GET", Params: params})
	fe := fetchErr(t, err)
	want := []Redirect{{Method: http.MethodGet, URL: srv.URL + "/old", Status: http.StatusFound, Location: srv.URL + "/gone"}}
	if fe.Status != http.StatusNotFound || fe.URL != srv.URL+"/gone" || !reflect.DeepEqual(fe.Redirects, want) {
		t.Errorf("error %v: Redirects = %+v, want %+v", err, fe.Redirects, want)
	}
}

func TestRedirectLimit(t *testing.T) {
	var hits atomic.Int32
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		hits.Add(1)
		if limit, _ := strconv.Atoi(r.URL.Query().Get("limit")); n < limit {
			http.Redirect(w, r, "/?limit="+r.URL.Query().Get("limit")+"&n="+strconv.Itoa(n+1), http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, "<Response/>")
	})
	f := New(Options{})
	defer f.Close()
	tests := []struct {
		limit    int
		wantCode int
		wantHits int32
	}{
		{MaxRedirects, 0, MaxRedirects + 1},
		{MaxRedirects + 1, CodeTooManyRedirects, MaxRedirects + 1},
		{1000, CodeTooManyRedirects, MaxRedirects + 1},
	}
	for _, tt := range tests {
		hits.Store(0)
		_, err := f.Fetch(context.Background(), Request{URL: srv.URL + "/?limit=" + strconv.Itoa(tt.limit), Method: "GET"})
		if tt.wantCode == 0 {
			if err != nil {
				t.Errorf("limit %d: %v", tt.limit, err)
			}
		} else if fe := fetchErr(t, err); fe.Code != tt.wantCode || !errors.Is(err, ErrTooManyRedirects) {
			t.Errorf("limit %d: %v", tt.limit, err)
		}
		if hits.Load() != tt.wantHits {
			t.Errorf("limit %d: %d requests, want %d", tt.limit, hits.Load(), tt.wantHits)
		}
	}
}

func TestCookieJarAcrossFetches(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if c, err := r.Cookie("visits"); err == nil {
			n, _ := strconv.Atoi(c.Value)
			http.SetCookie(w, &http.Cookie{Name: "visits", Value: strconv.Itoa(n + 1)})
			io.WriteString(w, c.Value)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "visits", Value: "1"})
		io.WriteString(w, "none")
	})
	f := New(Options{})
	defer f.Close()
	jar := NewJar()
	var got []string
	for range 3 {
		res, err := f.Fetch(context.Background(), Request{URL: srv.URL + "/", Jar: jar})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(res.Body))
	}
	if strings.Join(got, ",") != "none,1,2" {
		t.Errorf("bodies = %v, want none,1,2", got)
	}
	res, err := f.Fetch(context.Background(), Request{URL: srv.URL + "/", Jar: NewJar()})
	if err != nil || string(res.Body) != "none" {
		t.Errorf("a new call's jar leaked cookies: %v %v", res, err)
	}
}

func TestContentTypes(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		// A nil entry stops net/http from sniffing a type.
		w.Header()["Content-Type"] = nil
		if ct := r.URL.Query().Get("ct"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		io.WriteString(w, "body")
	})
	tests := []struct {
		ct       string
		wantKind Kind
		wantMT   string
		wantCode int
	}{
		{"text/xml", TwiML, "text/xml", 0},
		{"text/xml; charset=utf-8", TwiML, "text/xml", 0},
		{"application/xml", TwiML, "application/xml", 0},
		{"TEXT/HTML; charset=ISO-8859-1", TwiML, "text/html", 0},
		{"text/xml; charset=", TwiML, "text/xml", 0},
		{"audio/mpeg", Audio, "audio/mpeg", 0},
		{"audio/wav", Audio, "audio/wav", 0},
		{"audio/x-wav", Audio, "audio/x-wav", 0},
		{"audio/aiff", Audio, "audio/aiff", 0},
		{"audio/x-aifc", Audio, "audio/x-aifc", 0},
		{"audio/gsm", Audio, "audio/gsm", 0},
		{"audio/ulaw", Audio, "audio/ulaw", 0},
		{"audio/basic", Audio, "audio/basic", 0},
		{"text/plain; charset=utf-8", Text, "text/plain", 0},
		{"", 0, "", CodeContentType},
		{"application/json", 0, "", CodeContentType},
		{"image/png", 0, "", CodeContentType},
		{"audio/", 0, "", CodeContentType},
		{"not a type", 0, "", CodeContentType},
	}
	f := New(Options{})
	defer f.Close()
	for _, tt := range tests {
		t.Run(tt.ct, func(t *testing.T) {
			res, err := f.Fetch(context.Background(), Request{URL: srv.URL + "/?ct=" + url.QueryEscape(tt.ct)})
			if tt.wantCode != 0 {
				if fe := fetchErr(t, err); fe.Code != tt.wantCode || fe.Status != 200 || !errors.Is(err, ErrContentType) {
					t.Errorf("got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Kind != tt.wantKind || res.ContentType != tt.wantMT || string(res.Body) != "body" {
				t.Errorf("got kind %v type %q body %q", res.Kind, res.ContentType, res.Body)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Has("chunked") {
			// Flushing before writing forces chunked encoding: no Content-Length.
			w.(http.Flusher).Flush()
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		io.WriteString(w, strings.Repeat("x", n))
	})
	f := New(Options{MaxBody: 1024})
	defer f.Close()
	tests := []struct {
		query  string
		wantOK bool
	}{
		{"n=1024", true},
		{"n=1024&chunked", true},
		{"n=1025", false},
		{"n=5000&chunked", false},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			res, err := f.Fetch(context.Background(), Request{URL: srv.URL + "/?" + tt.query})
			if tt.wantOK {
				if err != nil || len(res.Body) != 1024 {
					t.Errorf("Fetch = %v", err)
				}
				return
			}
			if fe := fetchErr(t, err); fe.Code != CodeHTTPRetrieval || !errors.Is(err, ErrBodyTooLarge) {
				t.Errorf("got %v", err)
			}
		})
	}
}

func TestRawSpaceInQueryIsEncoded(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query().Get("b")
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, "<Response/>")
	}))
	defer srv.Close()
	resp, err := New(Options{}).Fetch(context.Background(), Request{URL: srv.URL + "/menu?a=1&b=two words", Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if got != "two words" || !strings.Contains(resp.RequestURL, "two%20words") {
		t.Errorf("server saw b=%q, request URL %q", got, resp.RequestURL)
	}
}
