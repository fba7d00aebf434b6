package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// apiDo sends an API request with Basic credentials (none when user is
// "") and returns the status and body.
func apiDo(t *testing.T, method, u, user, pass string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// TestAPIRecordingsEndToEnd: a caller's <Record> is listed, fetched,
// downloaded and deleted through the REST API with the serve flags'
// credentials.
func TestAPIRecordingsEndToEnd(t *testing.T) {
	const account, token = "AC0123456789abcdef0123456789abcdef", "e2e-secret"
	a := newApp(t, map[string]string{
		"/voice": `<Response><Record action="/rec" timeout="10" finishOnKey="#" playBeep="false"/></Response>`,
		"/rec":   `<Response><Hangup/></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice", "--account-sid", account, "--auth-token", token)
	voice := speak(t, sentence)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	callTexml(ctx, t, sipphone.New(t), s.sipAddr, 8*time.Second, func(c *sipphone.Call) {
		c.Silence(200 * time.Millisecond)
		c.Talk(voice)
		if err := c.DTMF("#"); err != nil {
			t.Error(err)
		}
		c.Listen(3 * time.Second)
	})
	p, ok := a.waitRequest(t, "/rec", 5*time.Second)
	if !ok || p.Get("RecordingSid") == "" {
		t.Fatalf("action %v (requested %v), want a recording", p, ok)
	}
	sid := p.Get("RecordingSid")
	base := "http://" + s.httpLn.Addr().String() + "/2010-04-01/Accounts/" + account

	if code, body := apiDo(t, "GET", base+"/Recordings.json", account, "wrong"); code != 401 || !strings.Contains(string(body), `"code":20003`) {
		t.Errorf("wrong token: %d %s", code, body)
	}
	code, body := apiDo(t, "GET", base+"/Recordings.json?PageSize=20", account, token)
	if code != 200 {
		t.Fatalf("list: %d %s", code, body)
	}
	var list struct {
		Recordings  []map[string]any `json:"recordings"`
		NextPageURI *string          `json:"next_page_uri"`
		PageSize    int              `json:"page_size"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Recordings) != 1 || list.Recordings[0]["sid"] != sid || list.NextPageURI != nil || list.PageSize != 20 {
		t.Fatalf("list %s, want the one recording %s", body, sid)
	}
	code, body = apiDo(t, "GET", base+"/Recordings/"+sid+".json", account, token)
	var got map[string]any
	if err := json.Unmarshal(body, &got); code != 200 || err != nil {
		t.Fatalf("fetch: %d %s %v", code, body, err)
	}
	want := map[string]any{"sid": sid, "account_sid": account, "call_sid": p.Get("CallSid"), "duration": p.Get("RecordingDuration"),
		"status": "completed", "source": "RecordVerb", "channels": float64(1), "media_url": p.Get("RecordingUrl")}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	// RecordingUrl is public by default, as Twilio's media is.
	w := fetchRecording(t, p.Get("RecordingUrl"), ".wav")
	if d := w.duration(); d < time.Second {
		t.Errorf("media: %v of audio", d)
	}
	if code, body := apiDo(t, "DELETE", base+"/Recordings/"+sid+".json", account, token); code != 204 {
		t.Errorf("delete: %d %s", code, body)
	}
	if code, body := apiDo(t, "GET", p.Get("RecordingUrl"), "", ""); code != 404 || !strings.Contains(string(body), `"code":20404`) {
		t.Errorf("media after delete: %d %s", code, body)
	}
}
