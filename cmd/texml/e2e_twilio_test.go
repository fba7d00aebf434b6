package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// twilioDir is the test-only Node package whose scenario.js drives the
// REST API with the official twilio npm package, pinned in its
// package.json; .ci/run installs it there with npm ci.
var twilioDir = filepath.Join("..", "..", "tests", "twilio")

// twilioNode runs tests/twilio/scenario.js against one service's REST API
// with one account's credentials.
type twilioNode struct {
	base, account, token string
}

// needTwilioNode checks that node and the twilio package are there: a
// test without them skips, except in CI (CI=true), where it fails, as
// with needTool.
func needTwilioNode(t *testing.T) {
	t.Helper()
	needTool(t, "node")
	if _, err := os.Stat(filepath.Join(twilioDir, "node_modules", "twilio", "package.json")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the twilio npm package is not installed in tests/twilio (CI runs npm ci there in .ci/run): %v", err)
		}
		t.Skip("the twilio npm package is not installed: run npm ci in tests/twilio")
	}
}

// newTwilioNode runs scenarios against s's REST API as account.
func newTwilioNode(s *service, account, token string) twilioNode {
	return twilioNode{base: "http://" + s.httpLn.Addr().String(), account: account, token: token}
}

// restException is the library's RestException as scenario.js reports it.
type restException struct {
	Status   int    `json:"status"`
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"moreInfo"`
}

// run runs one scenario with params ("key=value") and returns its result,
// or the RestException the library threw; any other failure fails t.
func (n twilioNode) run(t *testing.T, scenario string, params ...string) (json.RawMessage, *restException) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{"scenario.js", scenario}, params...)...)
	cmd.Dir = twilioDir
	// The library reads TWILIO_EDGE, TWILIO_REGION and more from the
	// environment; only ours reach it.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TWILIO_") && !strings.HasPrefix(kv, "TEXML_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TEXML_API_URL="+n.base, "TWILIO_ACCOUNT_SID="+n.account, "TWILIO_AUTH_TOKEN="+n.token)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.Bytes(), nil
	case errors.As(err, &exit) && exit.ExitCode() == 2:
		var out struct {
			RestException *restException `json:"restException"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || out.RestException == nil {
			t.Fatalf("node scenario.js %s: %q: %v", scenario, stdout.String(), err)
		}
		return nil, out.RestException
	}
	t.Fatalf("node scenario.js %s %s: %v\n%s%s", scenario, strings.Join(params, " "), err, stdout.String(), stderr.String())
	return nil, nil
}

// do runs a scenario that must succeed and decodes its result into out.
func (n twilioNode) do(t *testing.T, out any, scenario string, params ...string) {
	t.Helper()
	res, rest := n.run(t, scenario, params...)
	if rest != nil {
		t.Fatalf("%s: RestException %+v", scenario, *rest)
	}
	t.Logf("%s: %s", scenario, res)
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatalf("%s: %v in %s", scenario, err, res)
	}
}

// twilioConfig writes a --config file for a service under test: its
// routes send each user to a path of app, and its trunks are trunks (YAML
// list items, may be empty).
func twilioConfig(t *testing.T, app string, routes map[string]string, trunks string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("routes:\n")
	for _, user := range slices.Sorted(maps.Keys(routes)) {
		fmt.Fprintf(&b, "  - match: %q\n    app: {voice_url: %q}\n", user, app+routes[user])
	}
	if trunks != "" {
		b.WriteString("trunks:\n" + trunks)
	}
	p := filepath.Join(t.TempDir(), "texml.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// twilioAccount and twilioToken are the tests' API credentials.
const twilioAccount, twilioToken = "AC0123456789abcdef0123456789abcdef", "twilio-node-secret"

// TestTwilioNode drives `texml serve`'s REST API with the official twilio
// npm package, changed only in its base URL: errors, recordings and list
// paging, a queue member dequeued, conference participants muted and
// removed, each with real calls from the SIP test phone. One service runs
// every scenario; they run side by side.
func TestTwilioNode(t *testing.T) {
	needTwilioNode(t)
	docs := map[string]string{
		"/voice":        `<Response><Hangup/></Response>`,
		"/queue":        `<Response><Enqueue action="/queue-action">support</Enqueue></Response>`,
		"/queue-action": `<Response><Hangup/></Response>`,
		"/dequeued":     `<Response><Say>You were taken out of the queue.</Say><Hangup/></Response>`,
		"/room":         `<Response><Dial action="/room-left"><Conference beep="false">room</Conference></Dial></Response>`,
		"/room-left":    `<Response><Hangup/></Response>`,
		"/room2":        `<Response><Dial><Conference beep="false" statusCallback="/room2-events" statusCallbackEvent="announcement">room2</Conference></Dial></Response>`,
		"/room2-events": `<Response/>`,
		"/announce":     `<Response><Say>Welcome to the call.</Say></Response>`,
	}
	// Five recordings of one second each, one after the other: enough
	// for three pages of two.
	const recordings = 5
	for i := range recordings {
		docs[fmt.Sprintf("/rec%d", i)] = fmt.Sprintf(`<Response><Record maxLength="1" playBeep="false" action="/rec%d"/></Response>`, i+1)
	}
	docs[fmt.Sprintf("/rec%d", recordings)] = `<Response><Hangup/></Response>`
	a := newApp(t, docs)
	cfg := twilioConfig(t, a.srv.URL, map[string]string{"rec": "/rec0", "queue": "/queue", "room": "/room", "room2": "/room2"}, "")
	s := startServe(t, a.srv.URL+"/voice", "--account-sid", twilioAccount, "--auth-token", twilioToken, "--config", cfg)
	node := newTwilioNode(s, twilioAccount, twilioToken)

	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		var got struct{ WrongToken, UnknownRecording restException }
		node.do(t, &got, "errors")
		for _, c := range []struct {
			name         string
			got          restException
			status, code int
		}{
			{"wrong token", got.WrongToken, 401, 20003},
			{"unknown recording", got.UnknownRecording, 404, 20404},
		} {
			if c.got.Status != c.status || c.got.Code != c.code || c.got.MoreInfo != fmt.Sprintf("https://www.twilio.com/docs/errors/%d", c.code) {
				t.Errorf("%s: RestException %+v, want status %d code %d", c.name, c.got, c.status, c.code)
			}
		}
	})
	t.Run("recordings", func(t *testing.T) {
		t.Parallel()
		twilioRecordings(t, a, s, node, recordings)
	})
	t.Run("queue", func(t *testing.T) {
		t.Parallel()
		twilioQueue(t, a, s, node)
	})
	t.Run("conference", func(t *testing.T) {
		t.Parallel()
		twilioConference(t, a, s, node)
	})
	t.Run("queue-admin", func(t *testing.T) {
		t.Parallel()
		type queue struct {
			Sid, FriendlyName string
			MaxSize           int
		}
		var got struct {
			Created, Updated queue
			Duplicate, Gone  restException
			Listed           []string
			Removed          bool
		}
		node.do(t, &got, "queue-admin", "name=billing")
		if got.Created.FriendlyName != "billing" || got.Created.MaxSize != 20 || got.Updated.FriendlyName != "billing-renamed" ||
			got.Updated.MaxSize != 30 || got.Updated.Sid != got.Created.Sid || !slices.Contains(got.Listed, "billing-renamed") {
			t.Errorf("create/update/list: %+v", got)
		}
		if got.Duplicate.Status != 400 || !got.Removed || got.Gone.Status != 404 || got.Gone.Code != 20404 {
			t.Errorf("duplicate %+v, removed %v, then fetch %+v", got.Duplicate, got.Removed, got.Gone)
		}
	})
	t.Run("participant-create", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		host := sipphone.New(t).Call(ctx, s.sipAddr, "room2", sipphone.CallOptions{})
		if host.FinalCode() != 200 {
			t.Fatalf("room2 caller: answer %d", host.FinalCode())
		}
		go host.Listen(15 * time.Second)
		defer func() { _ = host.Hangup() }()
		agent := sipphone.New(t)
		agent.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) { c.Listen(10 * time.Second) }})
		var got struct {
			Created struct{ CallSid, Status string }
			Listed  []string
		}
		node.do(t, &got, "participant-create", "name=room2", "to="+agent.URI("agent"), "from=+15550001000", "announce="+a.srv.URL+"/announce")
		if !strings.HasPrefix(got.Created.CallSid, "CA") || got.Created.Status != "queued" || !slices.Contains(got.Listed, got.Created.CallSid) {
			t.Errorf("participants.create(): %+v, then list %v", got.Created, got.Listed)
		}
		if p, ok := a.waitRequest(t, "/room2-events", 15*time.Second); !ok || p.Get("StatusCallbackEvent") != "announcement-end" {
			t.Errorf("conferences.update({announceUrl}): room callback %v, want announcement-end", p)
		}
	})
}

// twilioRecording is the part of a RecordingInstance the tests check.
type twilioRecording struct {
	Sid, AccountSid, CallSid, Status, Source, Duration string
	Channels                                           int
}

// twilioRecordings: a call makes n recordings; list({pageSize: 2}) and
// page()/nextPage() see them all, then one is listed, fetched and
// deleted.
func twilioRecordings(t *testing.T, a *app, s *service, node twilioNode, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := sipphone.New(t).Call(ctx, s.sipAddr, "rec", sipphone.CallOptions{})
	if c.FinalCode() != 200 {
		t.Fatalf("rec: answer %d", c.FinalCode())
	}
	c.Tone(440, time.Duration(n+3)*time.Second) // ends when texml hangs up after the last Record
	if _, ok := a.waitRequest(t, fmt.Sprintf("/rec%d", n), 5*time.Second); !ok || !c.WaitEnd(5*time.Second) {
		_ = c.Hangup()
		t.Fatalf("the %d Records did not end the call", n)
	}
	call, _ := a.request("/rec0")
	last, _ := a.request(fmt.Sprintf("/rec%d", n)) // the last Record's action
	var made []string                              // newest first, as listed
	for i := n; i >= 1; i-- {
		p, _ := a.request(fmt.Sprintf("/rec%d", i))
		made = append(made, p.Get("RecordingSid"))
	}

	var pg struct {
		All   []string
		Pages [][]string
	}
	node.do(t, &pg, "paging", "resource=recordings", "pageSize=2")
	if !slices.Equal(pg.All, made) {
		t.Errorf("list({pageSize: 2}) = %v, want %v", pg.All, made)
	}
	if len(pg.Pages) != 3 || len(pg.Pages[0]) != 2 || len(pg.Pages[2]) != 1 || !slices.Equal(slices.Concat(pg.Pages...), made) {
		t.Errorf("page({pageSize: 2}) then nextPage() = %v, want %v in pages of 2", pg.Pages, made)
	}

	var got struct {
		Listed       []twilioRecording
		Fetched      twilioRecording
		Removed      bool
		After        []string
		FetchRemoved restException
	}
	node.do(t, &got, "recordings", "call="+call.Get("CallSid"))
	if len(got.Listed) != n || got.Listed[0].Sid != made[0] {
		t.Fatalf("recordings.list({callSid}) = %+v, want %v", got.Listed, made)
	}
	want := twilioRecording{Sid: made[0], AccountSid: twilioAccount, CallSid: call.Get("CallSid"), Status: "completed", Source: "RecordVerb", Duration: last.Get("RecordingDuration"), Channels: 1}
	if got.Fetched != want {
		t.Errorf("fetch() = %+v, want %+v", got.Fetched, want)
	}
	if !got.Removed || !slices.Equal(got.After, made[1:]) {
		t.Errorf("remove() = %v, then list() = %v, want true then %v", got.Removed, got.After, made[1:])
	}
	if got.FetchRemoved.Status != 404 || got.FetchRemoved.Code != 20404 {
		t.Errorf("fetch() after remove(): %+v, want 404/20404", got.FetchRemoved)
	}
}

// twilioQueue: a caller waits in a queue; the list shows it with one
// caller, members.list() shows the caller, and updating the Front member
// with a url dequeues it into that document, which hangs up.
func twilioQueue(t *testing.T, a *app, s *service, node twilioNode) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := sipphone.New(t).Call(ctx, s.sipAddr, "queue", sipphone.CallOptions{})
	if c.FinalCode() != 200 {
		t.Fatalf("queue: answer %d", c.FinalCode())
	}
	go c.Listen(20 * time.Second)
	defer func() { _ = c.Hangup() }()
	p, _ := a.waitRequest(t, "/queue", 5*time.Second)
	sid := p.Get("CallSid")

	type queue struct {
		Sid, FriendlyName string
		CurrentSize       int
	}
	type member struct {
		CallSid, QueueSid string
		Position          int
	}
	var got struct {
		Queue    queue
		Members  []member
		Dequeued member
	}
	node.do(t, &got, "queue", "name=support", "url="+a.srv.URL+"/dequeued", "method=POST")
	if got.Queue.FriendlyName != "support" || got.Queue.CurrentSize != 1 || !strings.HasPrefix(got.Queue.Sid, "QU") {
		t.Errorf("queues.list() then fetch(): %+v, want support with one caller", got.Queue)
	}
	wantMember := member{CallSid: sid, QueueSid: got.Queue.Sid, Position: 1}
	if len(got.Members) != 1 || got.Members[0] != wantMember {
		t.Errorf("members.list() = %+v, want [%+v]", got.Members, wantMember)
	}
	if got.Dequeued != wantMember {
		t.Errorf("members('Front').update() = %+v, want %+v", got.Dequeued, wantMember)
	}
	d, ok := a.waitRequest(t, "/dequeued", 5*time.Second)
	if !ok || d.Get("CallSid") != sid || d.Get("QueueResult") != "redirected" || d.Get("QueueSid") != got.Queue.Sid {
		t.Errorf("the dequeue url got %v (requested: %v), want CallSid %s with QueueResult=redirected", d, ok, sid)
	}
	if !c.WaitEnd(10*time.Second) || !c.RemoteHangup() {
		t.Error("the dequeued caller's document did not hang up")
	}
}

// twilioConference: two callers in a room; the room is listed in
// progress with both, one is muted (and fetched muted), the other removed,
// whose Dial then ends with its action.
func twilioConference(t *testing.T, a *app, s *service, node twilioNode) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var calls []*sipphone.Call
	for i := range 2 {
		c := sipphone.New(t).Call(ctx, s.sipAddr, "room", sipphone.CallOptions{})
		if c.FinalCode() != 200 {
			t.Fatalf("room caller %d: answer %d", i, c.FinalCode())
		}
		go c.Listen(20 * time.Second)
		defer func() { _ = c.Hangup() }()
		calls = append(calls, c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(a.requests("/room")) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	reqs := a.requests("/room")
	if len(reqs) != 2 {
		t.Fatalf("the room document was requested %d times, want 2", len(reqs))
	}
	mute, remove := reqs[0].Get("CallSid"), reqs[1].Get("CallSid")

	type participant struct {
		CallSid, ConferenceSid string
		Muted, Hold            bool
	}
	var got struct {
		Rooms []struct {
			Sid, FriendlyName, Status string
		}
		Listed  []participant
		Muted   participant
		Fetched participant
		Removed bool
		After   []string
	}
	node.do(t, &got, "conference", "name=room", "participants=2", "mute="+mute, "remove="+remove)
	if len(got.Rooms) != 1 || got.Rooms[0].FriendlyName != "room" || got.Rooms[0].Status != "in-progress" {
		t.Fatalf("conferences.list({status: 'in-progress', friendlyName: 'room'}) = %+v, want the room", got.Rooms)
	}
	room := got.Rooms[0].Sid
	var listed []string
	for _, p := range got.Listed {
		listed = append(listed, p.CallSid)
		if p.ConferenceSid != room || p.Muted {
			t.Errorf("participants.list(): %+v, want unmuted in %s", p, room)
		}
	}
	slices.Sort(listed)
	if !slices.Equal(listed, slices.Sorted(slices.Values([]string{mute, remove}))) {
		t.Errorf("participants.list() = %v, want %s and %s", listed, mute, remove)
	}
	wantMuted := participant{CallSid: mute, ConferenceSid: room, Muted: true}
	if got.Muted != wantMuted || got.Fetched != wantMuted {
		t.Errorf("update({muted: true}) = %+v, then fetch() = %+v, want %+v", got.Muted, got.Fetched, wantMuted)
	}
	if !got.Removed || !slices.Equal(got.After, []string{mute}) {
		t.Errorf("remove() = %v, then participants.list() = %v, want true then [%s]", got.Removed, got.After, mute)
	}
	left, ok := a.waitRequest(t, "/room-left", 5*time.Second)
	if !ok || left.Get("CallSid") != remove {
		t.Errorf("the removed participant's Dial action got %v (requested: %v), want CallSid %s", left, ok, remove)
	}
	if !calls[1].WaitEnd(5*time.Second) || !calls[1].RemoteHangup() {
		t.Error("the removed participant's call did not end after its Dial action's Hangup")
	}
	if calls[0].Ended() {
		t.Error("the muted participant's call ended too")
	}
}
