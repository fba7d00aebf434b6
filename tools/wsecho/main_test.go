package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestEchoMsg(t *testing.T) {
	for _, tc := range []struct{ sid, payload string }{
		{"MZ0123abcd", "//8A"},
		{`MZ"odd\`, base64.StdEncoding.EncodeToString([]byte{0x7f, 0xff, 0, 1})},
	} {
		sid, _ := json.Marshal(tc.sid)
		var m msg
		if err := json.Unmarshal(echoMsg(nil, sid, []byte(tc.payload)), &m); err != nil {
			t.Fatalf("%q: %v", tc.sid, err)
		}
		if m.Event != "media" || m.StreamSid != tc.sid || m.Media.Payload != tc.payload {
			t.Errorf("%q: got %+v", tc.sid, m)
		}
	}
}

func TestBase64Text(t *testing.T) {
	for _, tc := range []struct {
		s  string
		ok bool
	}{
		{"", true},
		{"//8A+w==", true},
		{`ab"c`, false},
		{`ab\u0041`, false},
		{"ab cd", false},
	} {
		if got := base64Text([]byte(tc.s)); got != tc.ok {
			t.Errorf("base64Text(%q) = %v", tc.s, got)
		}
	}
}

func TestMediaPayload(t *testing.T) {
	for _, tc := range []struct {
		msg, payload string
		ok           bool
	}{
		{`{"event":"media","sequenceNumber":"3","streamSid":"MZ1","media":{"track":"inbound","chunk":"1","timestamp":"20","payload":"//8A+w=="}}`, "//8A+w==", true},
		{`{"event":"media","streamSid":"MZ1","media":{"payload":""}}`, "", true},
		{`{"event":"start","streamSid":"MZ1","start":{"payload":"AAAA"}}`, "", false},
		{`{"event":"media","media":{"payload":"ab\u0041"}}`, "", false},
		{`{"event":"media","media":{"payload":"AAAA`, "", false},
		{`{ "event": "media", "media": {"payload": "AAAA"}}`, "", false}, // another spelling: the decoder's
	} {
		p, ok := mediaPayload([]byte(tc.msg))
		if ok != tc.ok || string(p) != tc.payload {
			t.Errorf("%s: %q %v", tc.msg, p, ok)
		}
	}
}

// texmlSide dials the app as texml does and sends connected, start and n
// media messages; it returns what came back within a short wait.
func texmlSide(ctx context.Context, t *testing.T, url, sid string, n int) []msg {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	send := func(v any) {
		b, _ := json.Marshal(v)
		if err := c.Write(ctx, websocket.MessageText, b); err != nil {
			t.Error(err)
		}
	}
	send(map[string]any{"event": "connected", "protocol": "Call", "version": "1.0.0"})
	send(map[string]any{"event": "start", "sequenceNumber": "1", "streamSid": sid, "start": map[string]any{"streamSid": sid}})
	for i := range n {
		p := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("frame %d", i)))
		send(map[string]any{"event": "media", "streamSid": sid, "media": map[string]any{"track": "inbound", "payload": p}})
	}
	var got []msg
	rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	for len(got) < n {
		_, data, err := c.Read(rctx)
		if err != nil {
			break
		}
		var m msg
		if err := json.Unmarshal(data, &m); err != nil {
			t.Error(err)
		}
		got = append(got, m)
	}
	// Gone without a close handshake, which a stalled app would hold
	// for seconds.
	return got
}

// The first connection stalls, the next ones echo every payload in
// order on their stream; /reset?stall=2 makes the next two stall; the
// exit closes the stalled ones and prints the counters.
func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sctx, stop := context.WithCancel(ctx)
	var out strings.Builder
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := serve(sctx, ln, 1, &out); err != nil {
			t.Error(err)
		}
	}()
	url := "ws://" + ln.Addr().String() + "/echo"
	if got := texmlSide(ctx, t, url, "MZstalled", 3); len(got) != 0 {
		t.Errorf("the stalled connection sent %d messages", len(got))
	}
	got := texmlSide(ctx, t, url, "MZecho", 5)
	if len(got) != 5 {
		t.Fatalf("%d echoes, want 5", len(got))
	}
	for i, m := range got {
		want := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("frame %d", i)))
		if m.Event != "media" || m.StreamSid != "MZecho" || m.Media.Payload != want {
			t.Errorf("echo %d: %+v", i, m)
		}
	}
	get := func(path string) string {
		res, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	// The echoing connection's handler counts its last echo and ends
	// after its peer has gone; wait for it, so that the counts after
	// the reset are the later connections' only.
	for i := 0; !strings.Contains(get("/stats"), "(stalled 1, open 1)"); i++ {
		if i == 200 {
			t.Fatalf("stats: %s", get("/stats"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := get("/reset?stall=2"); got != "reset\n" {
		t.Fatalf("/reset answered %q", got)
	}
	for _, sid := range []string{"MZstalled2", "MZstalled3"} {
		if got := texmlSide(ctx, t, url, sid, 2); len(got) != 0 {
			t.Errorf("%s, one of the first two connections after /reset?stall=2, sent %d messages", sid, len(got))
		}
	}
	if got := texmlSide(ctx, t, url, "MZecho2", 2); len(got) != 2 {
		t.Errorf("the third connection after /reset?stall=2 echoed %d messages, want 2", len(got))
	}
	stop()
	wg.Wait()
	want := "wsecho: connections 3 (stalled 2, open 0), start 3, stop 0, media in 2, media out 2"
	if !strings.HasPrefix(out.String(), want) {
		t.Errorf("printed %q, want %q…", out.String(), want)
	}
}
