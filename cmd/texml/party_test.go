package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/sim"
)

func TestParseParty(t *testing.T) {
	file := filepath.Join(t.TempDir(), "agent.xml")
	fileURL, err := target(file)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		v    string
		want party
	}{
		{"agent@5000=http://app.test/agent", party{name: "agent", at: 5 * time.Second, url: "http://app.test/agent"}},
		{"bob=https://app.test/room?x=1&y=2", party{name: "bob", url: "https://app.test/room?x=1&y=2"}},
		{"a-1_B@0=" + file, party{name: "a-1_B", url: fileURL}},
		{"agent@250=http://app.test/a;from=+15550001111;to=+15005550002;method=get;sid=CA0123456789abcdef0123456789abcdef",
			party{name: "agent", at: 250 * time.Millisecond, url: "http://app.test/a", from: "+15550001111", to: "+15005550002",
				method: "GET", sid: "CA0123456789abcdef0123456789abcdef"}},
		{"agent=http://app.test/a;input=dtmf:1;input=hangup@20000;callee=+15551230000=ring:2,answer;dial-outcome=busy",
			party{name: "agent", url: "http://app.test/a", leg: sim.Options{
				Inputs:   []sim.Input{{Action: sim.DTMF, Keys: "1"}, {Action: sim.Hangup, At: 20 * time.Second, Timed: true}},
				Callees:  []sim.Callee{mustCallee(t, "+15551230000=ring:2,answer")},
				Outcomes: []sim.Outcome{{Status: "busy"}},
			}}},
	}
	for _, tc := range tests {
		got, err := parseParty(tc.v)
		if err != nil {
			t.Errorf("parseParty(%q): %v", tc.v, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseParty(%q) =\n%+v\nwant\n%+v", tc.v, got, tc.want)
		}
	}
}

func mustCallee(t *testing.T, v string) sim.Callee {
	t.Helper()
	c, err := sim.ParseCallee(v)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParsePartyErrors(t *testing.T) {
	tests := []struct{ v, want string }{
		{"agent", "want NAME[@MS]=TARGET"},
		{"=agent.xml", "NAME before = is empty"},
		{"@5000=agent.xml", "NAME before = is empty"},
		{"ag ent=agent.xml", "only letters, digits"},
		{"agent:1=agent.xml", "only letters, digits"},
		{"agent@5s=agent.xml", "@5s is not a whole number of milliseconds"},
		{"agent@-1=agent.xml", "not a whole number"},
		{"agent@=agent.xml", "not a whole number"},
		{"agent@5000=", "no TARGET"},
		{"agent@5000=;input=silence", "no TARGET"},
		{"agent=a.xml;input", `"input" is not KEY=VALUE`},
		{"agent=a.xml;input=keys:1", "want dtmf:KEYS"},
		{"agent=a.xml;callee=nobody", "callee"},
		{"agent=a.xml;dial-outcome=ringing", "unknown status"},
		{"agent=a.xml;method=PUT", "GET or POST"},
		{"agent=a.xml;from=", "from is empty"},
		{"agent=a.xml;to=+1;to=+2", "to given twice"},
		{"agent=a.xml;sid=CA12", "want CA and 32 hex digits"},
		{"agent=a.xml;voice=alice", `unknown setting "voice"`},
	}
	for _, tc := range tests {
		_, err := parseParty(tc.v)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--party") {
			t.Errorf("parseParty(%q): error %v, want one with %q", tc.v, err, tc.want)
		}
	}
	if _, err := parties([]string{"a=x.xml", "b=x.xml", "a@1=y.xml"}); err == nil || !strings.Contains(err.Error(), "already named a") {
		t.Errorf("two parties named a: error %v", err)
	}
	// The command says so and exits 2.
	const sid = "CA0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--party", "agent@soon=x.xml"}, "not a whole number"},
		{[]string{"--party", "a=x.xml;sid=" + sid, "--party", "b=x.xml;sid=" + sid}, "CallSid " + sid + " already taken"},
	} {
		args := append([]string{"call", "../../fixtures/apps/hello.xml"}, tc.args...)
		if code, _, stderr := texml(t, args...); code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("texml %q: exit %d, stderr %q; want 2 and %q", args, code, stderr, tc.want)
		}
	}
}

// writeApp writes documents into a temporary folder.
func writeApp(t *testing.T, docs map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range docs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestCallPartyQueue: the caller waits in a queue; an agent --party dials
// it five seconds later and talks for twenty; the caller's Enqueue action
// then says the call was bridged.
func TestCallPartyQueue(t *testing.T) {
	dir := writeApp(t, map[string]string{
		"voice.xml":  `<Response><Enqueue action="queued.xml">support</Enqueue></Response>`,
		"queued.xml": `<Response><Say>Thanks for waiting</Say></Response>`,
		"agent.xml":  `<Response><Dial><Queue>support</Queue></Dial></Response>`,
	})
	agent := "agent@5000=" + filepath.Join(dir, "agent.xml") + ";input=hangup@20000"
	code, out, stderr := texml(t, "call", filepath.Join(dir, "voice.xml"), "--party", agent)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	out = regexp.MustCompile(`(CA|QU)[0-9a-f]{32}`).ReplaceAllString(out, "${1}…")
	for _, want := range []string{
		"[   0.00s] Enqueue support: position 1 of 1\n",
		"[   5.00s] agent: → POST file://",
		"[   5.00s] agent: Dial Queue:support (ring 30s, in parallel)\n",
		"[   5.00s] queue support: taken by agent CA… (agent)\n",
		"[   5.00s] agent:   Queue:support | connected to the caller\n",
		"[  25.00s] agent: caller: hangup@20000\n",
		"[  25.00s] agent:   Queue:support | disconnected from the caller after 20s (caller-hangup)\n",
		"/queued.xml (200) QueueResult=bridged QueueSid=QU… QueueTime=5\n",
		`[  25.00s] Say (man, en-US): "Thanks for waiting"`,
		"call ended: status completed, reason end-of-document, duration 26s (virtual call length 26.1s)\n" +
			"agent: call ended: status completed, reason caller-hangup, duration 20s (called at 5.0s, ended at 25.0s)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}

	// JSON: the agent's events carry "caller", the main caller's none.
	code, out, stderr = texml(t, "call", filepath.Join(dir, "voice.xml"), "--party", agent, "--trace", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	callers := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		c, _ := ev["caller"].(string)
		callers[c]++
		if ev["event"] == "bridge" && (c != "agent" || ev["t_ms"] != 5000.0) {
			t.Errorf("bridge %v; want the agent's at 5000", ev)
		}
	}
	if len(callers) != 2 || callers[""] == 0 || callers["agent"] == 0 {
		t.Errorf("events by caller %v", callers)
	}
}

// TestCallPartyConference: five members of one room, the main caller and
// four parties, each calling two seconds after the last and staying ten.
func TestCallPartyConference(t *testing.T) {
	dir := writeApp(t, map[string]string{
		"room.xml": `<Response><Dial><Conference>standup</Conference></Dial></Response>`,
	})
	room := filepath.Join(dir, "room.xml")
	args := []string{"call", room, "--input", "hangup@10000"}
	names := []string{"bob", "carol", "dave", "erin"}
	for i, n := range names {
		args = append(args, "--party", n+"@"+[]string{"2000", "4000", "6000", "8000"}[i]+"="+room+";input=hangup@10000")
	}
	code, out, stderr := texml(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// Everyone joins the same conference.
	sids := map[string]bool{}
	for _, m := range regexp.MustCompile(`conference standup: joined (CF[0-9a-f]{32})`).FindAllStringSubmatch(out, -1) {
		sids[m[1]] = true
	}
	if n := strings.Count(out, "conference standup: joined"); n != 5 || len(sids) != 1 {
		t.Errorf("%d joins into %d conferences; want 5 into 1:\n%s", n, len(sids), out)
	}
	for i, n := range names {
		at := 2 * (i + 1)
		for _, want := range []string{
			n + ": in the conference's mix: in\n",
			n + ": conference standup: left (caller-hangup)\n",
			n + ": call ended: status completed, reason caller-hangup, duration 10s",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("transcript lacks %q:\n%s", want, out)
			}
		}
		if want := fmt.Sprintf("[%7.2fs] %s: → POST ", float64(at), n); !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "call ended: status completed, reason caller-hangup, duration 10s") {
		t.Errorf("main caller's end:\n%s", out)
	}
}
