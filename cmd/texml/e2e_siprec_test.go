package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/texml/texml/internal/sipphone"
	"github.com/texml/texml/media"
	"github.com/texml/texml/signaling"
)

// rtpSink counts the RTP packets that reach one UDP port and keeps their
// audio (PCMU), as the recording server's media side.
type rtpSink struct {
	conn *net.UDPConn
	mu   sync.Mutex
	n    int
	pcm  []int16
	done chan struct{}
}

func newRTPSink(t *testing.T) *rtpSink {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &rtpSink{conn: c, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 2048)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if n < 12 || buf[0]>>6 != 2 || buf[1]&0x7f != 0 {
				continue
			}
			frame := make([]int16, n-12)
			media.PCMU.Decode(frame, buf[12:n])
			s.mu.Lock()
			s.n++
			s.pcm = append(s.pcm, frame...)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); <-s.done })
	return s
}

func (s *rtpSink) port() int { return s.conn.LocalAddr().(*net.UDPAddr).Port }

func (s *rtpSink) got() (int, []int16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, append([]int16(nil), s.pcm...)
}

// sippSRS runs fixtures/sipp/siprec_srs.xml: SIPp as the session
// recording server, over TCP, answering with RTP ports rtp1 and rtp2.
func sippSRS(t *testing.T, rtp1, rtp2 int) (addr string, wait func() (string, error)) {
	t.Helper()
	return sippSRSScenario(t, "siprec_srs.xml", rtp1, rtp2)
}

// sippSRSScenario is sippSRS with another scenario of fixtures/sipp.
func sippSRSScenario(t *testing.T, scenario string, rtp1, rtp2 int) (addr string, wait func() (string, error)) {
	t.Helper()
	needTool(t, "sipp")
	port := freePort(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, "sipp",
		"-sf", filepath.Join("..", "..", "fixtures", "sipp", scenario), "-t", "t1",
		"-m", "1", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-mp", strconv.Itoa(freePort(t)),
		"-key", "rtp1", strconv.Itoa(rtp1), "-key", "rtp2", strconv.Itoa(rtp2),
		"-timeout", "40s", "-timeout_error", "-nostdin", "-trace_err", "-error_file", filepath.Join(dir, "errors.log"))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cancel(); <-done })
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	// texml's INVITE must not come before SIPp listens.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIPp does not listen on %s:\n%s", addr, out.String())
		}
	}
	return addr, func() (string, error) {
		err := <-done
		done <- err
		errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
		return out.String() + string(errs), err
	}
}

// TestSiprecSIPp records a real call with <Start><Siprec> to SIPp as the
// session recording server (RFC 7866), named by a connector of the
// --config file: SIPp takes the INVITE only with Require: siprec,
// +sip.src and the multipart SDP + RFC 7865 metadata body; the caller's
// 1000 Hz tone reaches the stream labelled 1 and the 440 Hz prompt it
// hears the stream labelled 2; <Stop><Siprec name> sends the BYE; the
// statusCallback gets siprec-started and siprec-stopped
// (https://www.twilio.com/docs/voice/twiml/siprec). A second noun names
// an unknown connector: siprec-failed, and the call goes on.
func TestSiprecSIPp(t *testing.T) {
	in, out := newRTPSink(t), newRTPSink(t)
	srs, wait := sippSRS(t, in.port(), out.port())
	tone, err := os.ReadFile(ulawToneWAV(t, 440, 3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(t, map[string]string{
		"/voice": `<Response><Start><Siprec name="rec" connectorName="srs" statusCallback="/sr"><Parameter name="agent" value="7"/></Siprec>` +
			`<Siprec name="lost" connectorName="nowhere" statusCallback="/lost"/></Start>` +
			`<Play>/tone.wav</Play><Stop><Siprec name="rec"/></Stop><Pause length="1"/><Hangup/></Response>`,
		"/tone.wav": string(tone),
		"/sr":       ``,
		"/lost":     ``,
	})
	cfg := filepath.Join(t.TempDir(), "texml.yaml")
	if err := os.WriteFile(cfg, []byte("siprec_connectors:\n  srs: sip:srs@"+srs+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, a.srv.URL+"/voice", "--config", cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 10*time.Second, func(c *sipphone.Call) {
		c.Talk(sipphone.ToneSamples(1000, 3*time.Second))
		c.Listen(6 * time.Second)
	})
	if c.FinalCode() != 200 || !c.RemoteHangup() {
		t.Fatalf("answer %d, texml hung up %v", c.FinalCode(), c.RemoteHangup())
	}
	if o, err := wait(); err != nil {
		t.Fatalf("SIPp (the recording server) failed: %v\n%s", err, o)
	}
	nIn, pcmIn := in.got()
	nOut, pcmOut := out.got()
	t.Logf("RTP packets: stream 1 (inbound) %d, stream 2 (outbound) %d", nIn, nOut)
	if nIn < 100 || nOut < 100 {
		t.Errorf("RTP packets: inbound %d, outbound %d; want ~150 each (3 s)", nIn, nOut)
	}
	if !sipphone.HasTone(pcmIn, 1000) {
		t.Errorf("stream 1 (what the caller says) lacks the caller's 1000 Hz tone (dominant %.0f Hz)", sipphone.DominantFreq(pcmIn))
	}
	if !sipphone.HasTone(pcmOut, 440) {
		t.Errorf("stream 2 (what the caller hears) lacks the 440 Hz prompt (dominant %.0f Hz)", sipphone.DominantFreq(pcmOut))
	}
	time.Sleep(300 * time.Millisecond)
	if m, _ := in.got(); m != nIn {
		t.Errorf("RTP still reaches the recording server after the BYE: %d more packets", m-nIn)
	}

	var events []string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		events = nil
		for _, p := range a.requests("/sr") {
			events = append(events, p.Get("SiprecEvent")+"/"+p.Get("SiprecName"))
			if !strings.HasPrefix(p.Get("SiprecSid"), "SR") || p.Get("CallSid") == "" {
				t.Errorf("callback %v: want SiprecSid SR… and CallSid", p)
			}
		}
		if len(events) >= 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Join(events, ",") != "siprec-started/rec,siprec-stopped/rec" {
		t.Errorf("statusCallback events %v, want siprec-started then siprec-stopped", events)
	}
	lost, ok := a.waitRequest(t, "/lost", 5*time.Second)
	if !ok || lost.Get("SiprecEvent") != "siprec-failed" || !strings.Contains(lost.Get("SiprecError"), "unknown SIPREC connector") {
		t.Errorf("unknown connector's callback %v, want siprec-failed with the reason", lost)
	}
}

// TestSiprecSIPpDigest records a call to SIPp as a recording server that
// challenges the INVITE (fixtures/sipp/siprec_srs_auth.xml: 401, then
// verifyauth): a connector given as a mapping with username and password
// answers the challenge once (RFC 3261 §22.2) and the session runs; a
// plain connector has no credentials, and the 401 is siprec-failed with
// SiprecErrorCode 401; a wrong password is refused with SIPp's 403
// (TestSiprecDigest in signaling checks that a second challenge is not
// answered).
func TestSiprecSIPpDigest(t *testing.T) {
	for _, tc := range []struct {
		name      string
		connector string // the YAML of the connector; %s is SIPp's address
		want      string // SiprecEvent[:SiprecErrorCode] of each callback
	}{
		{"credentials", "{uri: 'sip:srs@%s', username: rec, password: s3cret}", "siprec-started,siprec-stopped"},
		{"no credentials", "'sip:srs@%s'", "siprec-failed:401"},
		{"wrong password", "{uri: 'sip:srs@%s', username: rec, password: nope}", "siprec-failed:403"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, out := newRTPSink(t), newRTPSink(t)
			srs, wait := sippSRSScenario(t, "siprec_srs_auth.xml", in.port(), out.port())
			a := newApp(t, map[string]string{
				"/voice": `<Response><Start><Siprec name="rec" connectorName="srs" statusCallback="/sr"><Parameter name="agent" value="7"/></Siprec></Start>` +
					`<Pause length="2"/><Stop><Siprec name="rec"/></Stop><Pause length="1"/><Hangup/></Response>`,
				"/sr": ``,
			})
			cfg := filepath.Join(t.TempDir(), "texml.yaml")
			if err := os.WriteFile(cfg, []byte("siprec_connectors:\n  srs: "+fmt.Sprintf(tc.connector, srs)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			s := startServe(t, a.srv.URL+"/voice", "--config", cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 10*time.Second, func(c *sipphone.Call) {
				c.Talk(sipphone.ToneSamples(1000, 2*time.Second))
				c.Listen(3 * time.Second)
			})
			if c.FinalCode() != 200 || !c.RemoteHangup() {
				t.Fatalf("answer %d, texml hung up %v", c.FinalCode(), c.RemoteHangup())
			}
			var events []string
			waitFor(t, 5*time.Second, "the statusCallback's events", func() bool {
				events = nil
				for _, p := range a.requests("/sr") {
					e := p.Get("SiprecEvent")
					if code := p.Get("SiprecErrorCode"); code != "" {
						e += ":" + code
					}
					events = append(events, e)
				}
				return len(events) >= strings.Count(tc.want, ",")+1
			})
			if strings.Join(events, ",") != tc.want {
				t.Errorf("statusCallback events %v, want %s", events, tc.want)
			}
			if tc.want != "siprec-started,siprec-stopped" {
				return // SIPp waits for what will not come; the cleanup ends it
			}
			if o, err := wait(); err != nil {
				t.Fatalf("SIPp (the recording server) failed: %v\n%s", err, o)
			}
			if n, pcm := in.got(); n < 50 || !sipphone.HasTone(pcm, 1000) {
				t.Errorf("stream 1: %d RTP packets, dominant %.0f Hz; want the caller's 1000 Hz tone", n, sipphone.DominantFreq(pcm))
			}
		})
	}
}

// TestSiprecConfigErrors: a siprec_connectors entry that is not a sip:
// URI (plain, or a mapping's uri), a mapping with an unknown field or
// half the credentials, stops texml serve with a message that names it.
func TestSiprecConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, err string }{
		{"siprec_connectors:\n  rec: http://recorder.example.com\n", `siprec_connectors["rec"]`},
		{"siprec_connectors:\n  rec: 'sip:'\n", `siprec_connectors["rec"]`},
		{"siprec_connector:\n  rec: sip:srs@example.com\n", "siprec_connector"},
		{"siprec_connectors:\n  rec: {uri: sip:srs@example.com, user: u, password: p}\n", "field user"},
		{"siprec_connectors:\n  rec: {uri: sip:srs@example.com, username: u}\n", `siprec_connectors["rec"]: want both username and password`},
		{"siprec_connectors:\n  rec: {uri: 'http://x', username: u, password: p}\n", `siprec_connectors["rec"]`},
		{"siprec_connectors:\n  rec: [sip:srs@example.com]\n", "want a sip: URI or a mapping"},
	} {
		path := filepath.Join(t.TempDir(), "texml.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := buildService(serveArgs(t, "/dev/null", "--config", path), slog.New(slog.DiscardHandler))
		if err == nil {
			s.close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %v, want an error about %q", tc.yaml, err, tc.err)
		}
	}
}

// TestSiprecConnectorForms: a siprec_connectors entry is a plain sip:
// URI, or a mapping of uri, username and password (the credentials for
// the recording server's digest challenge, RFC 3261 §22).
func TestSiprecConnectorForms(t *testing.T) {
	const y = "siprec_connectors:\n  plain: sip:srs@192.0.2.1:5080;transport=tcp\n" +
		"  auth:\n    uri: sip:rec@192.0.2.2\n    username: texml\n    password: s3cret\n  nouser: {uri: sip:srs@192.0.2.3}\n"
	var fc fileConfig
	dec := yaml.NewDecoder(strings.NewReader(y))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil {
		t.Fatal(err)
	}
	got, err := (&serveFlags{file: fc}).siprecConnectors()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]signaling.SiprecConnector{
		"plain":  {URI: "sip:srs@192.0.2.1:5080;transport=tcp"},
		"auth":   {URI: "sip:rec@192.0.2.2", Username: "texml", Password: "s3cret"},
		"nouser": {URI: "sip:srs@192.0.2.3"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("connectors %+v, want %+v", got, want)
	}
}
