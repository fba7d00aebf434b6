package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// clientsConfig writes a --config file with the clients alice and bob
// and returns the flags that load it.
func clientsConfig(t *testing.T) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "texml.yaml")
	cfg := "realm: texml.test\nclients:\n" +
		"  - {identity: alice, password: alice-pw}\n" +
		"  - {identity: bob, password: bob-pw}\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--config", path}
}

var aliceCreds = sipphone.RegisterOptions{Username: "alice", Password: "alice-pw", Expires: 300 * time.Second}

// registerPhone registers ph as alice with texml, failing the test unless
// texml answers 200.
func registerPhone(ctx context.Context, t *testing.T, ph *sipphone.Phone, addr string, o sipphone.RegisterOptions) {
	t.Helper()
	res, err := ph.Register(ctx, addr, "alice", o)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER alice: %v %v", res, err)
	}
}

// TestDialClientRegisteredPhone: the test phone registers as alice (a
// wrong password first: 403), the caller's app dials
// <Client>alice</Client> with a <Parameter> and a callerId, the phone
// answers, and audio crosses the bridge both ways: the caller's 880 Hz
// reaches the client, the client's 660 Hz reaches the caller (not 440: the ringback has it).
func TestDialClientRegisteredPhone(t *testing.T) {
	t.Parallel()
	a := newApp(t, map[string]string{
		"/voice": `<Response><Dial action="/dialed" callerId="+15557654321"><Client><Identity>alice</Identity>` +
			`<Parameter name="Ticket" value="42"/></Client></Dial></Response>`,
		"/dialed": `<Response><Hangup/></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice", clientsConfig(t)...)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	client := sipphone.New(t, sipphone.WithName("alice-softphone"))
	if res, err := client.Register(ctx, s.sipAddr, "alice", sipphone.RegisterOptions{Username: "alice", Password: "nope"}); err != nil || res.StatusCode != 403 {
		t.Fatalf("REGISTER with a wrong password: %v %v, want 403", res, err)
	}
	registerPhone(ctx, t, client, s.sipAddr, aliceCreds)
	heard := make(chan []int16, 1)
	client.Answer(sipphone.Behaviour{Ring: 200 * time.Millisecond, Then: func(c *sipphone.Call) {
		c.Tone(660, 2500*time.Millisecond)
		c.WaitEnd(10 * time.Second)
		heard <- c.Audio()
	}})

	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 5*time.Second, func(c *sipphone.Call) {
		time.Sleep(1500 * time.Millisecond) // through the ringing to the bridge
		c.Talk(sipphone.ToneSamples(880, 1500*time.Millisecond))
	})
	if c.FinalCode() != 200 {
		t.Fatalf("caller got %d, want 200", c.FinalCode())
	}
	p := waitRequest(t, a, "/dialed", 20*time.Second)
	if p.Get("DialCallStatus") != "completed" {
		t.Errorf("DialCallStatus=%q, want completed (params %v)", p.Get("DialCallStatus"), p)
	}
	if d, _ := strconv.Atoi(p.Get("DialCallDuration")); d < 1 {
		t.Errorf("DialCallDuration=%q, want at least 1", p.Get("DialCallDuration"))
	}
	in := client.Incoming()[0]
	if got := in.From().User; got != "+15557654321" {
		t.Errorf("the client saw From %q, want the callerId", got)
	}
	if got := in.Header("X-Ticket"); got != "42" {
		t.Errorf("X-Ticket=%q, want 42 from the <Parameter>", got)
	}
	if got := toneFrames(c.Audio(), 660); got < 40 {
		t.Errorf("the caller heard the client's 660 Hz in %d frames, want at least 40", got)
	}
	select {
	case audio := <-heard:
		if got := toneFrames(audio, 880); got < 40 {
			t.Errorf("the client heard the caller's 880 Hz in %d frames, want at least 40 of the 75 sent", got)
		}
	case <-time.After(15 * time.Second):
		t.Error("the client's call did not end")
	}
}

// TestDialClientTwoRegistrations: alice is registered from two phones,
// one of them as if behind NAT (its Contact a private address that is
// not its own); both ring, the one that answers is bridged and the other
// gets CANCEL.
func TestDialClientTwoRegistrations(t *testing.T) {
	t.Parallel()
	a := newApp(t, map[string]string{
		"/voice":  `<Response><Dial action="/dialed"><Client>alice</Client></Dial></Response>`,
		"/dialed": `<Response><Hangup/></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice", clientsConfig(t)...)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	desk := sipphone.New(t, sipphone.WithName("desk"))
	desk.Answer(sipphone.Behaviour{RingForever: true})
	mobile := sipphone.New(t, sipphone.WithName("mobile"))
	mobile.Answer(sipphone.Behaviour{Ring: time.Second})
	registerPhone(ctx, t, desk, s.sipAddr, aliceCreds)
	nat := aliceCreds
	nat.Contact = "sip:alice@192.168.77.5:5060"
	registerPhone(ctx, t, mobile, s.sipAddr, nat)

	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 4*time.Second, nil)
	if c.FinalCode() != 200 {
		t.Fatalf("caller got %d, want 200", c.FinalCode())
	}
	p := waitRequest(t, a, "/dialed", 20*time.Second)
	if p.Get("DialCallStatus") != "completed" {
		t.Errorf("DialCallStatus=%q, want completed (params %v)", p.Get("DialCallStatus"), p)
	}
	ringing := desk.Next(5 * time.Second)
	if !ringing.Wait(10*time.Second) || !ringing.Canceled() || ringing.Code() != 487 {
		t.Errorf("the phone that did not answer: canceled %v, final %d; want CANCEL and 487", ringing.Canceled(), ringing.Code())
	}
	answered := mobile.Next(5 * time.Second)
	if answered.Code() != 200 || answered.RequestURI().Host != "192.168.77.5" {
		u := answered.RequestURI()
		t.Errorf("the NATed phone: final %d, request URI %s; want 200 on its registered contact", answered.Code(), u.String())
	}
}

// TestDialClientNotRegistered: a configured client with no registration
// is no-answer at once (SIP 480 inside, see signaling.dialClient for why;
// DialSipResponseCode is only sent for <Sip>, as Twilio does), and a
// client that is not configured at all fails.
func TestDialClientNotRegistered(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ client, status string }{
		{"alice", "no-answer"},
		{"carol", "failed"},
	} {
		t.Run(tc.client, func(t *testing.T) {
			t.Parallel()
			a := newApp(t, map[string]string{
				"/voice":  `<Response><Dial action="/dialed" timeout="20"><Client>` + tc.client + `</Client></Dial></Response>`,
				"/dialed": `<Response><Hangup/></Response>`,
			})
			s := startServe(t, a.srv.URL+"/voice", clientsConfig(t)...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			began := time.Now()
			callTexml(ctx, t, sipphone.New(t), s.sipAddr, 10*time.Second, nil)
			p := waitRequest(t, a, "/dialed", 5*time.Second)
			if p.Get("DialCallStatus") != tc.status || p.Has("DialCallDuration") {
				t.Errorf("DialCallStatus=%q, want %s and no DialCallDuration (params %v)", p.Get("DialCallStatus"), tc.status, p)
			}
			if d := time.Since(began); d > 8*time.Second {
				t.Errorf("the Dial took %v: it must not ring out its timeout", d)
			}
		})
	}
}

// TestClientPlacesCall: the test phone, registered as alice, calls a
// number through texml. Its INVITE is challenged (407): with a wrong
// password it gets 403 and the app hears nothing; with the right one the
// app's request has From=client:alice and To the number, as a Twilio
// Client call's does.
func TestClientPlacesCall(t *testing.T) {
	t.Parallel()
	a := newApp(t, map[string]string{"/voice": `<Response><Say>Hello</Say></Response>`})
	s := startServe(t, a.srv.URL+"/voice", clientsConfig(t)...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ph := sipphone.New(t, sipphone.WithName("alice-softphone"))
	registerPhone(ctx, t, ph, s.sipAddr, aliceCreds)

	c := ph.Call(ctx, s.sipAddr, "+15551230000", sipphone.CallOptions{From: "alice", Username: "alice", Password: "nope"})
	if c.FinalCode() != 403 {
		t.Fatalf("a call with a wrong password: %d (%v), want 403", c.FinalCode(), c.Err())
	}
	if _, ok := a.request("/voice"); ok {
		t.Fatal("the app was requested for a call with a wrong password")
	}
	c = ph.Call(ctx, s.sipAddr, "+15551230000", sipphone.CallOptions{From: "alice", Username: "alice", Password: "alice-pw"})
	if c.FinalCode() != 200 {
		t.Fatalf("a call with the right password: %d (%v), want 200", c.FinalCode(), c.Err())
	}
	_ = c.HangupAfter(time.Second)
	p := waitRequest(t, a, "/voice", 5*time.Second)
	if p.Get("From") != "client:alice" || p.Get("Caller") != "client:alice" || p.Get("To") != "+15551230000" {
		t.Errorf("From=%q Caller=%q To=%q, want client:alice twice and +15551230000", p.Get("From"), p.Get("Caller"), p.Get("To"))
	}
}

// TestDialClientBaresip: baresip, a real softphone, registers with
// texml as alice (digest auth), auto-answers the Dial and plays a 660 Hz
// sine (ausine) while recording what it hears (sndfile); the caller
// talks 880 Hz. The call is answered and bridged, and audio crosses both
// ways.
func TestDialClientBaresip(t *testing.T) {
	t.Parallel()
	needTool(t, "baresip")
	modules := "/usr/lib/baresip/modules"
	for _, m := range []string{"g711", "ausine", "aubridge", "sndfile", "account", "menu"} {
		if _, err := os.Stat(filepath.Join(modules, m+".so")); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("baresip module %s: %v", m, err)
			}
			t.Skipf("baresip module %s: %v", m, err)
		}
	}
	a := newApp(t, map[string]string{
		"/voice":  `<Response><Dial action="/dialed" callerId="+15557654321"><Client>alice</Client></Dial></Response>`,
		"/dialed": `<Response><Hangup/></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice", clientsConfig(t)...)
	snd := startBaresip(t, s.sipAddr, modules)

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 5*time.Second, func(c *sipphone.Call) {
		time.Sleep(1500 * time.Millisecond)
		c.Talk(sipphone.ToneSamples(880, 1500*time.Millisecond))
	})
	if c.FinalCode() != 200 {
		t.Fatalf("caller got %d, want 200", c.FinalCode())
	}
	p := waitRequest(t, a, "/dialed", 20*time.Second)
	if p.Get("DialCallStatus") != "completed" {
		t.Errorf("DialCallStatus=%q, want completed (params %v)", p.Get("DialCallStatus"), p)
	}
	if d, _ := strconv.Atoi(p.Get("DialCallDuration")); d < 1 {
		t.Errorf("DialCallDuration=%q, want at least 1", p.Get("DialCallDuration"))
	}
	if got := toneFrames(c.Audio(), 660); got < 40 {
		t.Errorf("the caller heard baresip's 660 Hz in %d frames, want at least 40", got)
	}
	// baresip closes its recording when the call ends (texml's BYE).
	var heard []int16
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if heard = readDump(t, snd, "-dec.wav"); toneFrames(heard, 880) >= 40 {
			break
		}
	}
	t.Logf("tone frames: the caller heard 660 Hz in %d, baresip 880 Hz in %d", toneFrames(c.Audio(), 660), toneFrames(heard, 880))
	if got := toneFrames(heard, 880); got < 40 {
		t.Errorf("baresip heard the caller's 880 Hz in %d frames, want at least 40 of the 75 sent", got)
	}
}

// startBaresip runs baresip headless with a config directory of its own:
// alice's account at texml with auto-answer, a 660 Hz sine as the
// microphone, the speaker a bridge to nowhere, and every call's audio
// dumped to WAV files in the returned directory. It returns once texml
// has accepted the registration; the process is killed at cleanup. With
// dial, baresip also calls that SIP URI once it started (its menu
// module's /dial command).
func startBaresip(t *testing.T, texml, modules string, dial ...string) (sndDir string) {
	t.Helper()
	dir, sndDir := t.TempDir(), t.TempDir()
	port := freePort(t)
	rtp := 19000 + (port%9)*100 // below the ranges of serveArgs
	config := fmt.Sprintf(`poll_method epoll
sip_listen 127.0.0.1:%d
sip_transports udp
audio_player aubridge,nil
audio_source ausine,660
audio_alert aubridge,nil
ausrc_srate 48000
ausrc_channels 2
rtp_ports %d-%d
module_path %s
module g711.so
module ausine.so
module aubridge.so
module sndfile.so
module_app account.so
module_app menu.so
snd_path %s
`, port, rtp, rtp+98, modules, sndDir)
	account := fmt.Sprintf("<sip:alice@%s>;auth_pass=alice-pw;answermode=auto;regint=300\n", texml)
	for name, body := range map[string]string{"config": config, "accounts": account} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := &logBuffer{}
	args := []string{"-f", dir, "-t", "60"}
	for _, uri := range dial {
		args = append(args, "-e", "/dial "+uri)
	}
	cmd := exec.Command("baresip", args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("baresip output:\n%s", out.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if strings.Contains(out.String(), "200 OK") && strings.Contains(out.String(), "binding]") {
			return sndDir
		}
		select {
		case <-done:
			t.Fatalf("baresip exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip did not register with texml within 10 s:\n%s", out.String())
		}
	}
}

// readDump reads the samples of the WAV file in dir whose name ends with
// suffix (baresip's sndfile dumps: 16-bit mono PCM); nil when there is
// none. The data chunk's size is not trusted: the file may still be open.
func readDump(t *testing.T, dir, suffix string) []int16 {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if len(names) == 0 {
		return nil
	}
	data, err := os.ReadFile(names[0])
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(data), "data")
	if i < 0 || len(data) < i+8 {
		return nil
	}
	pcm := data[i+8:]
	s := make([]int16, len(pcm)/2)
	for k := range s {
		s[k] = int16(uint16(pcm[2*k]) | uint16(pcm[2*k+1])<<8)
	}
	return s
}

// TestClientsConfigErrors: a bad clients: section stops texml serve with
// a message that names the problem.
func TestClientsConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, err string }{
		{"clients:\n  - {identity: alice}\n", "password"},
		{"clients:\n  - {identity: alice, password: a}\n  - {identity: alice, password: b}\n", "twice"},
		{"clients:\n  - {identity: 'al ice', password: a}\n", "identity"},
		{"realm: example.com\n", "no clients"},
		{"clients:\n  - {identity: alice, pasword: a}\n", "pasword"},
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
