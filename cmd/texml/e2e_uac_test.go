package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
)

// The tests of e2e_uac*_test.go dial SIPp callees that script what
// carriers and proxies do (digest challenges, redirects, Record-Route,
// answers crossing our CANCEL, long ringing) through the server's Dialer,
// the interpreter's seam, as TestDialFailuresNoLeak does. SIPp's message
// trace (-trace_msg) gives what texml sent, for the RFC 3261 checks.

// sippMsg is one message of SIPp's message trace: its start line and its
// headers, by lower-case name, in order.
type sippMsg struct {
	sent  bool // by SIPp; else received from texml
	start string
	hdr   map[string][]string
}

// method is a request's method, "" for a response.
func (m sippMsg) method() string {
	if strings.HasPrefix(m.start, "SIP/2.0 ") {
		return ""
	}
	method, _, _ := strings.Cut(m.start, " ")
	return method
}

// code is a response's status code, 0 for a request.
func (m sippMsg) code() int {
	if !strings.HasPrefix(m.start, "SIP/2.0 ") {
		return 0
	}
	c, _ := strconv.Atoi(strings.Fields(m.start)[1])
	return c
}

// ruri is a request's Request-URI.
func (m sippMsg) ruri() string { return strings.Fields(m.start + " ")[1] }

func (m sippMsg) get(name string) string {
	if v := m.hdr[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// cseq is the CSeq's number and method.
func (m sippMsg) cseq() (int, string) {
	f := strings.Fields(m.get("CSeq"))
	if len(f) != 2 {
		return -1, ""
	}
	n, _ := strconv.Atoi(f[0])
	return n, f[1]
}

// param is the value of a ;name=value parameter of header (tag, branch).
func (m sippMsg) param(header, name string) string {
	re := regexp.MustCompile(`;\s*` + name + `=([^;,>\s]+)`)
	if s := re.FindStringSubmatch(m.get(header)); s != nil {
		return s[1]
	}
	return ""
}

// routes are the URIs of every Route header, in order, whether one header
// lists several or each has its own line.
func (m sippMsg) routes() []string {
	var out []string
	for _, v := range m.hdr["route"] {
		out = append(out, regexp.MustCompile(`<[^>]+>`).FindAllString(v, -1)...)
	}
	return out
}

// sippTrace returns the SIPp arguments that write its message trace to a
// file of the test's, and a function that reads it once SIPp has ended.
func sippTrace(t *testing.T) ([]string, func() []sippMsg) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "messages.log")
	return []string{"-trace_msg", "-message_file", path}, func() []sippMsg {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("SIPp message trace: %v", err)
		}
		return parseSIPpTrace(string(data))
	}
}

// parseSIPpTrace reads SIPp's message trace: each message follows a
// dashed line and a line saying whether it was sent or received.
func parseSIPpTrace(s string) []sippMsg {
	var msgs []sippMsg
	for _, block := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n----------------------------------------------- ") {
		info, text, ok := strings.Cut(block, "\n\n")
		if !ok || !strings.Contains(info, "message") {
			continue
		}
		head, _, _ := strings.Cut(strings.TrimLeft(text, "\n"), "\n\n")
		lines := strings.Split(head, "\n")
		m := sippMsg{sent: strings.Contains(info, "sent"), start: strings.TrimSpace(lines[0]), hdr: map[string][]string{}}
		for _, l := range lines[1:] {
			if name, v, ok := strings.Cut(l, ":"); ok {
				m.hdr[strings.ToLower(strings.TrimSpace(name))] = append(m.hdr[strings.ToLower(strings.TrimSpace(name))], strings.TrimSpace(v))
			}
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// requests are the requests SIPp received with method, in order.
func requests(msgs []sippMsg, method string) []sippMsg {
	var out []sippMsg
	for _, m := range msgs {
		if !m.sent && m.method() == method {
			out = append(out, m)
		}
	}
	return out
}

// distinct drops retransmissions: requests of one transaction share the
// Via branch and CSeq.
func distinct(reqs []sippMsg) []sippMsg {
	var out []sippMsg
	seen := map[string]bool{}
	for _, r := range reqs {
		k := r.param("Via", "branch") + " " + r.get("CSeq")
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

// uacServe starts texml with config as its --config file (none when
// empty); its app is never fetched: the tests dial through its Dialer.
func uacServe(t *testing.T, config string) *service {
	t.Helper()
	a := newApp(t, map[string]string{"/voice": `<Response><Hangup/></Response>`})
	var extra []string
	if config != "" {
		path := filepath.Join(t.TempDir(), "texml.yaml")
		if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		extra = []string{"--config", path}
	}
	return startServe(t, a.srv.URL+"/voice", extra...)
}

// uacLeg is one outbound leg placed through the server's Dialer.
type uacLeg struct {
	att interpreter.Attempt
	ch  chan interpreter.Progress
}

func uacDial(t *testing.T, s *service, target interpreter.Target) *uacLeg {
	t.Helper()
	if target.From == "" {
		target.From = "+15550001111"
	}
	if target.Timeout == 0 {
		target.Timeout = 30 * time.Second
	}
	target.CallSid = "CA" + strings.Repeat("0", 31) + "1"
	l := &uacLeg{ch: make(chan interpreter.Progress, 64)}
	att, err := s.sip.Dial(context.Background(), target, func(p interpreter.Progress) { l.ch <- p })
	if err != nil {
		t.Fatalf("Dial %s: %v", target.Addr, err)
	}
	l.att = att
	t.Cleanup(att.Cancel)
	return l
}

// next waits for the next progress of one of kinds, collecting the ones
// passed over.
func (l *uacLeg) next(t *testing.T, kinds ...interpreter.ProgressKind) (interpreter.Progress, []interpreter.Progress) {
	t.Helper()
	var skipped []interpreter.Progress
	deadline := time.After(40 * time.Second)
	for {
		select {
		case p := <-l.ch:
			for _, k := range kinds {
				if p.Kind == k {
					return p, skipped
				}
			}
			skipped = append(skipped, p)
		case <-deadline:
			t.Fatalf("no %v within 40 s (got %v)", kinds, skipped)
		}
	}
}

// outcome waits for the attempt's answer or failure.
func (l *uacLeg) outcome(t *testing.T) interpreter.Progress {
	t.Helper()
	p, _ := l.next(t, interpreter.Answered, interpreter.Failed)
	return p
}

// hangUp ends an answered leg (texml sends BYE) and waits for Ended.
func (l *uacLeg) hangUp(t *testing.T) {
	t.Helper()
	l.att.Cancel()
	l.next(t, interpreter.Ended)
}

func sippDone(t *testing.T, what string, wait func() (string, error)) {
	t.Helper()
	if out, err := wait(); err != nil {
		t.Errorf("SIPp %s: %v\n%s", what, err, tail(out, 40))
	}
}

// digestParams parses the name=value pairs of a Digest credentials
// header (RFC 3261 §25.1 digest-response).
func digestParams(h string) map[string]string {
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`([a-zA-Z-]+)=("[^"]*"|[^,\s]+)`).FindAllStringSubmatch(strings.TrimPrefix(h, "Digest "), -1) {
		out[strings.ToLower(m[1])] = strings.Trim(m[2], `"`)
	}
	return out
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// TestUACTrunkProxyAuth: a trunk that challenges our INVITE with 407
// gets the INVITE again with Proxy-Authorization computed from the
// trunk's username and password (RFC 3261 §22.2, §22.3; RFC 2617 with
// qop=auth), in the same call with the next CSeq, after the 407 was ACKed
// within its own transaction (§17.1.1.3). A wrong password: the trunk's
// 403 is what the Dial fails with.
func TestUACTrunkProxyAuth(t *testing.T) {
	tests := []struct {
		name, scenario, password string
		want                     interpreter.ProgressKind
		code                     int
		invites                  int // INVITE transactions the trunk gets
	}{
		{"right-password", "callee_proxy_auth.xml", "secret", interpreter.Answered, 200, 2},
		{"wrong-password-403", "callee_proxy_auth_403.xml", "wrong", interpreter.Failed, 403, 2},
		// A trunk that challenges again: once more (a stale nonce), then
		// the Dial fails with the 407 rather than looping.
		{"wrong-password-rechallenged", "callee_proxy_auth_loop.xml", "wrong", interpreter.Failed, 407, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			trace, messages := sippTrace(t)
			callee, wait := sippCalleeN(t, tc.scenario, 1, trace...)
			s := uacServe(t, fmt.Sprintf("trunks:\n  - name: carrier\n    uri: sip:%s\n    username: alice\n    password: %s\n", callee, tc.password))
			l := uacDial(t, s, interpreter.Target{Kind: interpreter.NumberTarget, Addr: "+15551230000"})
			p := l.outcome(t)
			if p.Kind != tc.want || p.Code != tc.code {
				t.Fatalf("the Dial got %v %d (%s), want %v %d", p.Kind, p.Code, p.Reason, tc.want, tc.code)
			}
			if p.Kind == interpreter.Answered {
				l.hangUp(t)
			}
			sippDone(t, "trunk", wait)
			msgs := messages()
			// ACKs again of a retransmitted 2xx are apart: at least one
			// ACK per INVITE.
			invites, acks := distinct(requests(msgs, "INVITE")), distinct(requests(msgs, "ACK"))
			if len(invites) != tc.invites || len(acks) < tc.invites {
				t.Fatalf("SIPp got %d INVITEs and %d ACKs, want %d of each", len(invites), len(acks), tc.invites)
			}
			first := invites[0]
			if first.get("Proxy-Authorization") != "" {
				t.Errorf("the first INVITE already has Proxy-Authorization: %s", first.get("Proxy-Authorization"))
			}
			for i, inv := range invites {
				// §17.1.1.3: the ACK of a non-2xx is part of the
				// INVITE's transaction: same branch, Request-URI and
				// CSeq number.
				n, _ := inv.cseq()
				if ack := acks[i]; p.Kind != interpreter.Answered || i < len(invites)-1 {
					if m, method := ack.cseq(); m != n || method != "ACK" {
						t.Errorf("INVITE %d: the ACK of its final response has CSeq %q, want %d ACK", i+1, ack.get("CSeq"), n)
					}
					if ack.param("Via", "branch") != inv.param("Via", "branch") || ack.ruri() != inv.ruri() {
						t.Errorf("INVITE %d: its ACK (%s, branch %s) is not in its transaction (%s, branch %s)",
							i+1, ack.ruri(), ack.param("Via", "branch"), inv.ruri(), inv.param("Via", "branch"))
					}
				}
				if i == 0 {
					continue
				}
				// §22.2: the request sent again with credentials takes
				// the next CSeq; the same Call-ID and From tag keep it
				// one call for the trunk (§8.1.3.5); it is a new
				// transaction.
				prev := invites[i-1]
				if pn, _ := prev.cseq(); n != pn+1 {
					t.Errorf("INVITE %d has CSeq %q after %q, want the next number", i+1, inv.get("CSeq"), prev.get("CSeq"))
				}
				if inv.get("Call-ID") != first.get("Call-ID") || inv.param("From", "tag") != first.param("From", "tag") {
					t.Errorf("INVITE %d changed Call-ID or From tag: %q %q, then %q %q", i+1,
						first.get("Call-ID"), first.param("From", "tag"), inv.get("Call-ID"), inv.param("From", "tag"))
				}
				if inv.param("To", "tag") != "" {
					t.Errorf("INVITE %d's To has the 407's tag: %s", i+1, inv.get("To"))
				}
				if inv.param("Via", "branch") == prev.param("Via", "branch") {
					t.Errorf("INVITE %d reuses the branch %s", i+1, prev.param("Via", "branch"))
				}
				if inv.get("Authorization") != "" {
					t.Errorf("a 407 is answered with Proxy-Authorization, not Authorization: %s", inv.get("Authorization"))
				}
				d := digestParams(inv.get("Proxy-Authorization"))
				for k, want := range map[string]string{"username": "alice", "realm": "texml.test", "nonce": "texmlnonce407", "uri": inv.ruri(), "qop": "auth"} {
					if d[k] != want {
						t.Errorf("INVITE %d: Proxy-Authorization %s=%q, want %q (%s)", i+1, k, d[k], want, inv.get("Proxy-Authorization"))
					}
				}
				ha1 := md5hex("alice:texml.test:" + tc.password)
				ha2 := md5hex("INVITE:" + d["uri"])
				if want := md5hex(strings.Join([]string{ha1, d["nonce"], d["nc"], d["cnonce"], "auth", ha2}, ":")); d["response"] != want {
					t.Errorf("INVITE %d: Proxy-Authorization response=%q, want %q: the digest of the trunk's password", i+1, d["response"], want)
				}
			}
			if p.Kind == interpreter.Answered {
				n, _ := invites[len(invites)-1].cseq()
				if m, method := acks[len(invites)-1].cseq(); m != n || method != "ACK" {
					t.Errorf("the 200's ACK has CSeq %q, want %d ACK", acks[len(invites)-1].get("CSeq"), n)
				}
			}
		})
	}
}

// TestUACTrunkFromDomain: a trunk's from_domain is the host of our From
// in the INVITE it receives (carriers identify the customer by it); a
// trunk without one gets our public IP. The caller ID is From's user.
func TestUACTrunkFromDomain(t *testing.T) {
	tests := []struct{ name, number, host string }{
		{"from-domain", "+15551230000", "carrier.example.com"},
		{"public-ip", "+442071230000", "127.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			trace, messages := sippTrace(t)
			callee, wait := sippCalleeN(t, "callee_answer.xml", 1, trace...)
			s := uacServe(t, fmt.Sprintf(`trunks:
  - name: carrier
    match: ["+1555*"]
    uri: sip:%[1]s
    from_domain: carrier.example.com
  - name: other
    uri: sip:%[1]s
`, callee))
			l := uacDial(t, s, interpreter.Target{Kind: interpreter.NumberTarget, Addr: tc.number, From: "+15550001111"})
			if p := l.outcome(t); p.Kind != interpreter.Answered {
				t.Fatalf("the Dial got %v %d (%s), want answered", p.Kind, p.Code, p.Reason)
			}
			l.hangUp(t)
			sippDone(t, "trunk", wait)
			invites := distinct(requests(messages(), "INVITE"))
			if len(invites) != 1 {
				t.Fatalf("SIPp got %d INVITEs, want 1", len(invites))
			}
			from := invites[0].get("From")
			m := regexp.MustCompile(`sip:([^@>;]*)@([^>;:]+)`).FindStringSubmatch(from)
			if m == nil || m[1] != "+15550001111" || m[2] != tc.host {
				t.Errorf("From: %s, want sip:+15550001111@%s", from, tc.host)
			}
			if !strings.HasPrefix(invites[0].ruri(), "sip:"+tc.number+"@") {
				t.Errorf("Request-URI %s, want the number %s at the trunk", invites[0].ruri(), tc.number)
			}
		})
	}
}

// TestConfigDeny: the config file's top-level deny: patterns refuse a
// number whatever trunk would carry it, --sip-trunk included, before any
// INVITE; other numbers still route; a bad pattern stops the start.
func TestConfigDeny(t *testing.T) {
	const config = `deny: ["+1900*", "+449*"]
trunks:
  - name: carrier
    match: ["+1*"]
    uri: sip:127.0.0.1:9
`
	path := filepath.Join(t.TempDir(), "texml.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	f := serveFlags{voiceURL: "http://app.test/voice", config: path, sipTrunk: "sip:127.0.0.1:19"}
	if _, err := f.routes(); err != nil {
		t.Fatal(err)
	}
	trunks, err := f.trunks()
	if err != nil {
		t.Fatal(err)
	}
	for number, want := range map[string]string{
		"+19005551234":  "denied",      // the carrier's match, but denied
		"+449091234567": "denied",      // only --sip-trunk matches: denied too
		"+15551230000":  "carrier",     // allowed
		"+447700900123": "--sip-trunk", // allowed, the fallback trunk
	} {
		tr, err := trunks.Route(number)
		got := "denied"
		switch {
		case err != nil && !strings.Contains(err.Error(), "outbound deny list"):
			got = err.Error()
		case err == nil:
			got = tr.Name
		}
		if got != want {
			t.Errorf("%s: %s (err %v), want %s", number, got, err, want)
		}
	}

	// A pattern path.Match cannot parse is refused by name at load time.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(`deny: ["+1[900"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	f = serveFlags{voiceURL: "http://app.test/voice", config: bad}
	if _, err := f.routes(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.trunks(); err == nil || !strings.Contains(err.Error(), "deny") {
		t.Errorf("deny: [\"+1[900\"]: err %v, want a bad deny pattern", err)
	}

	// The running server refuses the Dial itself: no route, no INVITE.
	s := uacServe(t, config)
	_, err = s.sip.Dial(context.Background(), interpreter.Target{Kind: interpreter.NumberTarget, Addr: "+19005551234", From: "+15550001111"},
		func(p interpreter.Progress) { t.Errorf("a denied Dial reported %v", p.Kind) })
	if !errors.Is(err, interpreter.ErrNoRoute) || !strings.Contains(err.Error(), "deny") {
		t.Errorf("Dial +19005551234: err %v, want ErrNoRoute from the deny list", err)
	}
}
