package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
	"github.com/texml/texml/interpreter"
)

// sippCallee runs SIPp as the party texml dials: a UAS scenario from
// fixtures/sipp on a free port, echoing RTP back (-rtp_echo) so that audio
// crossing the bridge comes back to the caller. wait returns SIPp's
// output and its error once the scenario ends.
func sippCallee(t *testing.T, scenario string) (addr string, wait func() (string, error)) {
	t.Helper()
	return sippCalleeN(t, scenario, 1)
}

// sippCalleeN is sippCallee for calls calls; extra are more SIPp
// arguments (e.g. -key, or -trace_msg to check what texml sent).
func sippCalleeN(t *testing.T, scenario string, calls int, extra ...string) (addr string, wait func() (string, error)) {
	t.Helper()
	needTool(t, "sipp")
	port := freePort(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, "sipp",
		"-sf", filepath.Join("..", "..", "fixtures", "sipp", scenario),
		"-m", strconv.Itoa(calls), "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-mp", strconv.Itoa(freePort(t)),
		"-rtp_echo", "-timeout", "40s", "-timeout_error", "-nostdin",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"))
	cmd.Args = append(cmd.Args, extra...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cancel(); <-done })
	return fmt.Sprintf("127.0.0.1:%d", port), func() (string, error) {
		err := <-done
		done <- err
		errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
		return out.String() + string(errs), err
	}
}

// TestDialSIPpCallee dials SIPp through texml: the Go phone calls texml,
// whose app dials SIPp with <Sip> (or <Number> through --sip-trunk), and
// the Dial action gets what happened.
func TestDialSIPpCallee(t *testing.T) {
	tests := []struct {
		name, scenario, noun string
		attrs                string
		hold                 time.Duration // the caller hangs up after this
		tone                 bool          // the caller sends a tone and must hear it echoed across the bridge
		star                 bool          // the caller presses * once bridged
		answerAfter          time.Duration // the caller's 200 OK comes no sooner (answerOnBridge)
		status, sipCode      string
		minDuration          int
		maxDuration          int  // when set, DialCallDuration is at most this (timeLimit)
		whisper              bool // the noun's url runs /whisper on SIPp's leg before the bridge
	}{
		{name: "answer-pcmu", scenario: "callee_answer.xml", hold: 4 * time.Second, tone: true, status: "completed", sipCode: "200", minDuration: 2},
		{name: "answer-pcma-transcoded", scenario: "callee_answer_pcma.xml", hold: 4 * time.Second, tone: true, status: "completed", sipCode: "200", minDuration: 2},
		{name: "busy", scenario: "callee_486.xml", hold: 10 * time.Second, status: "busy", sipCode: "486"},
		{name: "decline", scenario: "callee_603.xml", hold: 10 * time.Second, status: "failed", sipCode: "603"},
		{name: "not-found", scenario: "callee_404.xml", hold: 10 * time.Second, status: "failed", sipCode: "404"},
		{name: "unavailable", scenario: "callee_480.xml", hold: 10 * time.Second, status: "no-answer", sipCode: "480"},
		{name: "ring-timeout-cancel", scenario: "callee_ring_cancel.xml", attrs: ` timeout="5"`, hold: 15 * time.Second, status: "no-answer", sipCode: "487"},
		{name: "early-media-then-answer", scenario: "callee_183_answer.xml", hold: 5 * time.Second, tone: true, status: "completed", sipCode: "200", minDuration: 2},
		{name: "digest-auth", scenario: "callee_auth.xml", noun: `<Sip username="alice" password="secret">sip:callee@%s</Sip>`, hold: 3 * time.Second, status: "completed", sipCode: "200", minDuration: 1},
		{name: "digest-auth-bye", scenario: "callee_auth_bye.xml", noun: `<Sip username="alice" password="secret">sip:callee@%s</Sip>`, hold: 3 * time.Second, status: "completed", sipCode: "200", minDuration: 1},
		{name: "number-via-trunk", scenario: "callee_answer.xml", noun: "trunk", hold: 3 * time.Second, status: "completed", minDuration: 1},
		{name: "caller-hangs-up-while-ringing", scenario: "callee_ring_cancel.xml", attrs: ` timeout="20"`, hold: 2 * time.Second, status: "canceled"},
		{name: "answer-on-bridge", scenario: "callee_183_answer.xml", attrs: ` answerOnBridge="true"`, hold: 4 * time.Second, tone: true, status: "completed", sipCode: "200", minDuration: 1, answerAfter: 1800 * time.Millisecond},
		{name: "hangup-on-star", scenario: "callee_answer.xml", attrs: ` hangupOnStar="true"`, hold: 10 * time.Second, star: true, status: "completed", sipCode: "200", minDuration: 1},
		{name: "time-limit", scenario: "callee_answer.xml", attrs: ` timeLimit="2"`, hold: 10 * time.Second, status: "completed", sipCode: "200", minDuration: 2, maxDuration: 3},
		{name: "whisper", scenario: "callee_answer.xml", noun: `<Sip url="/whisper">sip:callee@%s</Sip>`, hold: 5 * time.Second, status: "completed", sipCode: "200", minDuration: 1, whisper: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			callee, wait := sippCallee(t, tc.scenario)
			noun := fmt.Sprintf("<Sip>sip:callee@%s</Sip>", callee)
			var extra []string
			switch {
			case tc.noun == "trunk":
				noun = "<Number>+15551230000</Number>"
				extra = []string{"--sip-trunk", "sip:" + callee}
			case tc.noun != "":
				noun = fmt.Sprintf(tc.noun, callee)
			}
			a := newApp(t, map[string]string{
				"/voice":   `<Response><Dial action="/dialed"` + tc.attrs + `>` + noun + `</Dial></Response>`,
				"/dialed":  `<Response><Hangup/></Response>`,
				"/whisper": `<Response><Say>A call for you.</Say></Response>`,
			})
			s := startServe(t, a.srv.URL+"/voice", extra...)
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			var act func(c *sipphone.Call)
			switch {
			case tc.tone:
				act = func(c *sipphone.Call) {
					time.Sleep(1500 * time.Millisecond) // through the ringing (and early media) to the bridge
					c.Talk(sipphone.ToneSamples(880, 1500*time.Millisecond))
				}
			case tc.star:
				act = func(c *sipphone.Call) {
					time.Sleep(1500 * time.Millisecond)
					if err := c.DTMF("*"); err != nil {
						t.Error(err)
					}
				}
			}
			c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, tc.hold, act)
			if c.FinalCode() != 200 {
				t.Fatalf("caller got %d, want 200", c.FinalCode())
			}
			if c.AnswerDelay() < tc.answerAfter {
				t.Errorf("the caller was answered after %v, want no sooner than the callee (%v)", c.AnswerDelay(), tc.answerAfter)
			}
			if tc.star && c.Duration() > 5*time.Second {
				t.Errorf("the call lasted %v after * (hangupOnStar drops the callee and the action hangs up)", c.Duration())
			}
			p := waitRequest(t, a, "/dialed", 20*time.Second)
			if got := p.Get("DialCallStatus"); got != tc.status {
				t.Errorf("DialCallStatus=%q, want %q (params %v)", got, tc.status, p)
			}
			if tc.sipCode != "" && tc.noun != "trunk" && p.Get("DialSipResponseCode") != tc.sipCode {
				t.Errorf("DialSipResponseCode=%q, want %s", p.Get("DialSipResponseCode"), tc.sipCode)
			}
			if tc.noun != "trunk" && p.Get("DialSipCallId") == "" {
				t.Errorf("DialSipCallId missing for a <Sip> Dial (params %v)", p)
			}
			if tc.scenario == "callee_486.xml" && p.Get("DialSipHeader_X-Reason") != "busy-test" {
				t.Errorf("DialSipHeader_X-Reason=%q, want the callee's X-Reason header busy-test", p.Get("DialSipHeader_X-Reason"))
			}
			if d, _ := strconv.Atoi(p.Get("DialCallDuration")); d < tc.minDuration || tc.maxDuration > 0 && d > tc.maxDuration {
				t.Errorf("DialCallDuration=%q, want at least %d (and at most %d)", p.Get("DialCallDuration"), tc.minDuration, tc.maxDuration)
			}
			if w, ok := a.request("/whisper"); ok != tc.whisper || tc.whisper && w.Get("Direction") != "outbound-dial" {
				t.Errorf("whisper requested %v (%v), want %v, on the dialed leg", ok, w, tc.whisper)
			}
			if tc.tone {
				// The caller also hears ringback before the bridge: count
				// only the frames where the 880 Hz it sent dominates.
				if got := toneFrames(c.Audio(), 880); got < 40 {
					t.Errorf("the caller heard its 880 Hz tone echoed back across the bridge in %d frames, want at least 40 of the 75 sent", got)
				}
			}
			if out, err := wait(); err != nil {
				t.Errorf("SIPp callee: %v\n%s", err, out)
			}
		})
	}
}

// toneFrames counts the 20 ms frames of s that are not silent and whose
// power is mostly at freq.
func toneFrames(s []int16, freq float64) int {
	n := 0
	toneWindows(s, freq, func(float64, float64) { n++ })
	return n
}

// toneWindows calls f with Goertzel's power at freq and the mean square
// of each 20 ms frame of s that is not silent and whose power is mostly
// at freq.
func toneWindows(s []int16, freq float64, f func(g, ms float64)) {
	for i := 0; i+160 <= len(s); i += 160 {
		win := s[i : i+160]
		var sum float64
		for _, v := range win {
			x := float64(v) / 32768
			sum += x * x
		}
		if ms, g := sum/160, sipphone.Goertzel(win, freq); ms > 1e-4 && g >= ms/2 {
			f(g, ms)
		}
	}
}

// waitRequest waits until the app received path and returns its params.
func waitRequest(t *testing.T, a *app, path string, within time.Duration) url.Values {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if p, ok := a.request(path); ok {
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	t.Fatalf("%s was not requested within %v (requests: %v)", path, within, a.path)
	return nil
}

// TestDialFailuresNoLeak places 1,000 outbound legs of each failure kind
// straight through the server's Dialer (the interpreter's seam) and checks
// that goroutines, file descriptors and RTP ports come back to where they
// were: a busy callee (SIPp answering 486 to every INVITE), one that is
// not found (404: failed), a callee that rings until we CANCEL, and a
// number no trunk allows.
func TestDialFailuresNoLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("4,000 dials")
	}
	needTool(t, "sipp")
	const n = 1000
	kinds := []struct {
		name, scenario string
		cancelAfter    time.Duration
		want           interpreter.ProgressKind
		code           int
	}{
		{"busy", "callee_486.xml", 0, interpreter.Failed, 486},
		{"not-found", "callee_404.xml", 0, interpreter.Failed, 404},
		{"canceled", "callee_ring_cancel.xml", 20 * time.Millisecond, interpreter.Failed, 487},
		{"no-route", "", 0, 0, 0},
	}
	a := newApp(t, map[string]string{"/voice": `<Response><Hangup/></Response>`})
	s := startServe(t, a.srv.URL+"/voice", "--rtp-ports", "28000-29998")
	baseG, baseFD := settle()
	for _, k := range kinds {
		var target interpreter.Target
		var wait func() (string, error)
		if k.scenario != "" {
			callee, w := sippCalleeN(t, k.scenario, n)
			wait = w
			target = interpreter.Target{Kind: interpreter.SIPTarget, Addr: "sip:callee@" + callee, From: "+15550001111", Timeout: 30 * time.Second}
		} else {
			target = interpreter.Target{Kind: interpreter.NumberTarget, Addr: "+15551230000", From: "+15550001111"}
		}
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 50)
		for i := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				target := target
				target.CallSid = fmt.Sprintf("CA%032d", i)
				done := make(chan interpreter.Progress, 8)
				att, err := s.sip.Dial(context.Background(), target, func(p interpreter.Progress) {
					if p.Kind == interpreter.Failed || p.Kind == interpreter.Ended {
						done <- p
					}
				})
				key := "error"
				if err == nil {
					if k.cancelAfter > 0 {
						time.Sleep(k.cancelAfter)
						att.Cancel()
					}
					select {
					case p := <-done:
						key = fmt.Sprintf("%s %d", p.Kind, p.Code)
					case <-time.After(40 * time.Second):
						key = "no final progress"
					}
				} else if !errors.Is(err, interpreter.ErrNoRoute) {
					key = err.Error()
				}
				mu.Lock()
				got[key]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		want := "error"
		if k.scenario != "" {
			want = fmt.Sprintf("%s %d", k.want, k.code)
		}
		if got[want] != n {
			t.Errorf("%s: outcomes %v, want %d × %q", k.name, got, n, want)
		}
		if wait != nil {
			if out, err := wait(); err != nil {
				t.Errorf("%s: SIPp: %v\n%s", k.name, err, tail(out, 30))
			}
		}
	}
	s.fetch.Close()
	a.srv.CloseClientConnections()
	// A failed INVITE transaction lives on until Timer D (32 s over UDP)
	// when the callee retransmitted its final response.
	checkNoLeaks(t, s, baseG, baseFD, 40*time.Second)
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
