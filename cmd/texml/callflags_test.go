package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
)

// flagApp is a loopback TwiML app that records the parameters of every request.
type flagApp struct {
	mu   sync.Mutex
	got  map[string]url.Values // path → parameters of its last request
	meth map[string]string     // path → method of its last request
	docs map[string]string     // path → TwiML; "/moved" redirects to "/voice"
}

func newFlagApp(t *testing.T, docs map[string]string) (*flagApp, *httptest.Server) {
	t.Helper()
	a := &flagApp{got: map[string]url.Values{}, meth: map[string]string{}, docs: docs}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, srv
}

func (a *flagApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	a.mu.Lock()
	a.got[r.URL.Path] = r.Form
	a.meth[r.URL.Path] = r.Method
	a.mu.Unlock()
	if r.URL.Path == "/moved" {
		http.Redirect(w, r, "/voice", http.StatusFound)
		return
	}
	doc, ok := a.docs[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	_, _ = io.WriteString(w, doc)
}

func (a *flagApp) params(path string) url.Values {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.got[path]
}

func TestCallFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"--param", "FromState"}, "want NAME=VALUE"},
		{[]string{"--param", "=TX"}, "NAME before = is empty"},
		{[]string{"--param", "From State=TX"}, "spaces"},
		{[]string{"--param", "From=+1555"}, "use --from"},
		{[]string{"--param", "CallStatus=completed"}, "cannot be replaced"},
		{[]string{"--public-url", "ftp://example.com"}, "--public-url"},
		{[]string{"--public-url", "example.com"}, "--public-url"},
		{[]string{"--public-url", "https://example.com/?x=1"}, "--public-url"},
		{[]string{"--direction", "outbound"}, "--direction"},
		{[]string{"--send-digits", "12"}, "only with --direction outbound-api"},
		{[]string{"--direction", "outbound-api", "--send-digits", "1x"}, "--send-digits"},
		{[]string{"--dialect", "telnyx"}, `--dialect "telnyx"`},
		{[]string{"--connection-id", "42"}, "only with --dialect texml"},
	}
	for _, tt := range tests {
		args := append([]string{"call", "../../fixtures/apps/hello.xml"}, tt.args...)
		if code, _, stderr := texml(t, args...); code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("texml %q: exit %d, stderr %q; want 2 and %q", args, code, stderr, tt.want)
		}
	}
}

// TestCallParamAndPublicURL: --param goes with every request and wins over
// the parameters derived from the numbers; --public-url is the base of
// RecordingUrl.
func TestCallParamAndPublicURL(t *testing.T) {
	a, srv := newFlagApp(t, map[string]string{
		"/voice": `<Response><Record maxLength="5" action="/done"/></Response>`,
		"/done":  `<Response/>`,
	})
	code, out, stderr := texml(t, "call", srv.URL+"/voice", "--from", "+14155551234", "--to", "+442071234567",
		"--param", "FromState=TX", "--param", "SipHeader_X-Id=a=b", "--param", "Empty=",
		"--public-url", "https://public.example/", "--input", "audio:2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := map[string]string{"FromState": "TX", "CallerState": "TX", "FromCountry": "US", "CallerCountry": "US",
		"ToCountry": "GB", "CalledCountry": "GB", "SipHeader_X-Id": "a=b", "Empty": ""}
	for _, path := range []string{"/voice", "/done"} {
		p := a.params(path)
		for k, v := range want {
			if got, ok := p[k]; !ok || len(got) != 1 || got[0] != v {
				t.Errorf("%s: %s = %q, want [%q]", path, k, got, v)
			}
		}
	}
	if u := a.params("/done").Get("RecordingUrl"); !strings.HasPrefix(u, "https://public.example/2010-04-01/Accounts/AC") {
		t.Errorf("RecordingUrl %q does not start with the --public-url", u)
	}
	// The user's own parameters and the derived ones are not repeated on
	// every request line; the verb's are.
	if strings.Contains(out, "SipHeader_X-Id") || strings.Contains(out, "FromCountry") || !strings.Contains(out, "RecordingUrl=https://public.example/") {
		t.Errorf("transcript:\n%s", out)
	}
}

func TestCallPublicURLDefault(t *testing.T) {
	a, srv := newFlagApp(t, map[string]string{
		"/voice": `<Response><Record maxLength="5" action="/done"/></Response>`,
		"/done":  `<Response/>`,
	})
	if code, _, stderr := texml(t, "call", srv.URL+"/voice", "--input", "audio:2"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if u := a.params("/done").Get("RecordingUrl"); !strings.HasPrefix(u, "http://localhost:8080/2010-04-01/") {
		t.Errorf("RecordingUrl %q, want the default base http://localhost:8080", u)
	}
}

// TestCallRedirectHopShown: the document fetched through a 302 says so in
// the transcript and in the JSON trace.
func TestCallRedirectHopShown(t *testing.T) {
	_, srv := newFlagApp(t, map[string]string{"/voice": `<Response><Say>moved here</Say></Response>`})
	code, out, stderr := texml(t, "call", srv.URL+"/moved")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := "→ POST " + srv.URL + "/moved (302) → " + srv.URL + "/voice (200)"; !strings.Contains(out, want) {
		t.Errorf("transcript lacks %q:\n%s", want, out)
	}

	code, out, stderr = texml(t, "call", srv.URL+"/moved", "--trace", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var ev struct {
		Event     string `json:"event"`
		Status    int    `json:"status"`
		Redirects []struct {
			Method, URL, Location string
			Status                int
		} `json:"redirects"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Event != "request" || ev.Status != 200 || len(ev.Redirects) != 1 {
		t.Fatalf("first event %+v", ev)
	}
	if h := ev.Redirects[0]; h.Method != "POST" || h.URL != srv.URL+"/moved" || h.Status != 302 || h.Location != srv.URL+"/voice" {
		t.Errorf("hop %+v", h)
	}
}

// TestCallSilentWithoutTerminal: with stdin that is not a terminal (here
// /dev/null, a character device) and no --input, the caller stays silent:
// nothing is asked and stdin is not read.
func TestCallSilentWithoutTerminal(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Fatalf("%s taken for a terminal", os.DevNull)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(r) || isTerminal(strings.NewReader("")) {
		t.Fatal("a pipe or a reader taken for a terminal")
	}

	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"call", "../../fixtures/apps/hello.xml"}, null, &out, &errb)
	if code != 0 || errb.Len() != 0 {
		t.Fatalf("exit %d, stderr %q; want 0 and nothing asked", code, errb.String())
	}
	sc := bufio.NewScanner(&out)
	var silent bool
	for sc.Scan() {
		if strings.Contains(sc.Text(), "caller:") {
			t.Errorf("the caller did something: %s", sc.Text())
		}
		silent = silent || strings.Contains(sc.Text(), `Gather collected digits ""`)
	}
	if !silent {
		t.Errorf("the Gather did not time out:\n%s", out.String())
	}
}

// TestCallOutboundAPI: --direction outbound-api places the call to --to;
// the app runs on the callee that answers (with the --input), with
// Direction=outbound-api, or never runs when the callee is busy.
func TestCallOutboundAPI(t *testing.T) {
	a, srv := newFlagApp(t, map[string]string{
		"/voice": `<Response><Gather numDigits="1" action="/done"><Say>Press 1</Say></Gather></Response>`,
		"/done":  `<Response><Say>Thanks</Say></Response>`,
	})
	code, out, stderr := texml(t, "call", srv.URL+"/voice", "--direction", "outbound-api", "--to", "+15551234567",
		"--input", "dtmf:1", "--send-digits", "9")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	p := a.params("/voice")
	if p.Get("Direction") != "outbound-api" || p.Get("CallStatus") != "in-progress" || p.Get("To") != "+15551234567" {
		t.Errorf("voice request %v", p)
	}
	if a.params("/done").Get("Digits") != "1" || !strings.Contains(out, "status completed") {
		t.Errorf("Digits %q; transcript:\n%s", a.params("/done").Get("Digits"), out)
	}

	b, srv2 := newFlagApp(t, map[string]string{"/voice": `<Response/>`})
	code, out, stderr = texml(t, "call", srv2.URL+"/voice", "--direction", "outbound-api", "--to", "sip:bob@example.com",
		"--callee", "sip:bob@example.com=ring:3,busy")
	if code != 0 || !strings.Contains(out, "status busy") || b.params("/voice") != nil {
		t.Errorf("busy callee: exit %d, fetched %v; transcript:\n%s%s", code, b.params("/voice"), out, stderr)
	}
}

// TestCallDialect: --dialect texml runs the simulated call with Telnyx's
// rules: the Gather action with the app's method, ApiVersion v2/texml,
// ConnectionId and CallerId.
func TestCallDialect(t *testing.T) {
	a, srv := newFlagApp(t, map[string]string{
		"/voice": `<Response><Gather numDigits="1" action="/done"/></Response>`,
		"/done":  `<Response/>`,
	})
	code, _, stderr := texml(t, "call", srv.URL+"/voice", "--dialect", "texml", "--method", "GET",
		"--connection-id", "42", "--input", "dtmf:1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	a.mu.Lock()
	method := a.meth["/done"]
	a.mu.Unlock()
	p := a.params("/done")
	if method != "GET" || p.Get("Digits") != "1" || p.Get("ApiVersion") != "v2/texml" ||
		p.Get("ConnectionId") != "42" || p.Get("CallerId") != "+15005550006" {
		t.Errorf("Gather action: %s %v", method, p)
	}
}
