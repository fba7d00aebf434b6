// Package kamailiotest runs a Kamailio SIP proxy of a test's own in front
// of the test's SIP backends (texml nodes): on a free UDP port of the
// loopback interface, with its configuration, pid file and log in a
// temporary directory, and stopped when the test ends. The proxy spreads
// new calls round-robin over the backends with Kamailio's dispatcher
// module and record-routes them, so that every in-dialog request of
// either side crosses it too; kamailio.cfg says how, line by line.
//
// Without kamailio installed the test is skipped, except under CI=true,
// where a missing proxy is a broken CI setup and fails the test.
package kamailiotest

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"
)

// Proxy is one kamailio run by a test.
type Proxy struct {
	// Addr is the host:port the proxy listens on (UDP): where test
	// phones send their calls.
	Addr string

	dir     string
	logPath string

	stopOnce sync.Once
	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd.Wait has returned
	waitErr  error         // cmd.Wait's result, once exited is closed
}

// Relay is one request the proxy relayed, as its log line tells it.
type Relay struct {
	Method     string // INVITE, ACK, BYE, …
	RequestURI string
	// Dest is where the request went: the backend the dispatcher picked
	// for an INVITE, the Request-URI (the other side's Contact) for an
	// in-dialog request. A CANCEL follows its INVITE's branch: its Dest
	// is only its Request-URI, the proxy's own.
	Dest string
}

//go:embed kamailio.cfg
var configText string

var config = template.Must(template.New("kamailio.cfg").Parse(configText))

// startTimeout bounds how long kamailio may take to answer the probe.
const startTimeout = 10 * time.Second

// Start runs kamailio for t, dispatching new calls round-robin over
// backends (host:port, UDP), and stops it when t ends.
func Start(t testing.TB, backends ...string) *Proxy {
	t.Helper()
	bin, err := lookPath()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kamailio is not installed; CI must install it (.ci/run): %v", err)
		}
		t.Skipf("kamailio is not installed (apt-get install kamailio): %v", err)
	}
	if len(backends) == 0 {
		t.Fatal("kamailiotest: no backends")
	}
	dir := t.TempDir()
	var list strings.Builder
	for _, b := range backends {
		if _, _, err := net.SplitHostPort(b); err != nil {
			t.Fatalf("kamailiotest: backend %q: want host:port: %v", b, err)
		}
		// Set 1, the one the configuration dispatches over.
		fmt.Fprintf(&list, "1 sip:%s\n", b)
	}
	listFile := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(listFile, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// The free port is found by binding it and letting it go, so another
	// process may take it before kamailio does: try a few.
	for range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("kamailiotest: %v", err)
		}
		p := &Proxy{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir,
			logPath: filepath.Join(dir, "kamailio.log")}
		if err = p.start(bin, port, listFile); err == nil {
			t.Cleanup(func() {
				p.stop()
				if t.Failed() {
					t.Logf("kamailio log:\n%s", p.tail(40))
				}
			})
			return p
		}
		t.Logf("kamailiotest: %v", err)
	}
	t.Fatal("kamailiotest: kamailio did not start")
	return nil
}

// lookPath finds kamailio on PATH or where Debian installs it: /usr/sbin
// is not on every user's PATH.
func lookPath() (string, error) {
	bin, err := exec.LookPath("kamailio")
	if err == nil {
		return bin, nil
	}
	if _, serr := os.Stat("/usr/sbin/kamailio"); serr == nil {
		return "/usr/sbin/kamailio", nil
	}
	return "", err
}

// start writes the configuration for port, runs kamailio and waits until
// it answers OPTIONS.
func (p *Proxy) start(bin string, port int, listFile string) error {
	var cfg bytes.Buffer
	if err := config.Execute(&cfg, struct {
		Port     int
		ListFile string
	}{port, listFile}); err != nil {
		return err
	}
	cfgPath := filepath.Join(p.dir, "kamailio.cfg")
	if err := os.WriteFile(cfgPath, cfg.Bytes(), 0o644); err != nil {
		return err
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(bin,
		"-f", cfgPath,
		"-DD",                 // in the foreground, still with its worker processes
		"-E",                  // log to stderr: the log file
		"-m", "16", "-M", "4", // MB of shared and per-process memory, not the default 64 and 8
		"-P", filepath.Join(p.dir, "kamailio.pid"),
		"-Y", p.dir, // runtime directory, instead of /run/kamailio
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	deadline := time.Now().Add(startTimeout)
	for n := 0; ; n++ {
		if probe(p.Addr, n) == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("kamailio on port %d exited: %v: %s", port, p.waitErr, p.tail(20))
		default:
		}
		if time.Now().After(deadline) {
			p.stop()
			return fmt.Errorf("kamailio on port %d did not answer OPTIONS within %v: %s", port, startTimeout, p.tail(20))
		}
		// Until kamailio binds the port, the probe's ICMP "unreachable"
		// ends its wait at once: do not spin.
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills kamailio with all its workers and waits for its main
// process to exit.
func (p *Proxy) stop() {
	p.stopOnce.Do(func() {
		select {
		case <-p.exited:
		default:
			// SIGKILL rather than SIGTERM: kamailio takes over a second to
			// shut down politely, and a test's proxy keeps nothing.
			kill(p.cmd)
			<-p.exited
		}
	})
}

// Relayed lists the requests the proxy has relayed so far, in order.
func (p *Proxy) Relayed() []Relay {
	// Only whole lines: kamailio may be writing the last one.
	log := p.Log()
	log = log[:strings.LastIndexByte(log, '\n')+1]
	var rs []Relay
	for _, line := range strings.Split(log, "\n") {
		_, rest, ok := strings.Cut(line, "kamailiotest-relay ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 3 {
			continue
		}
		r := Relay{Method: f[0], RequestURI: f[1], Dest: f[2]}
		if r.Dest == "<null>" { // no destination URI: the Request-URI is it
			r.Dest = r.RequestURI
		}
		rs = append(rs, r)
	}
	return rs
}

// Log is what kamailio has logged so far.
func (p *Proxy) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// tail returns the last n lines of the log, for a failure message.
func (p *Proxy) tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Log(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// probe sends OPTIONS to addr and waits briefly for a 200: the proxy is
// up and running its script. n makes each probe its own transaction.
func probe(addr string, n int) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	local := c.LocalAddr().String()
	msg := fmt.Sprintf("OPTIONS sip:%[1]s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[2]s;branch=z9hG4bK-kamailiotest-%[3]d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:probe@%[2]s>;tag=kamailiotest\r\n"+
		"To: <sip:%[1]s>\r\n"+
		"Call-ID: kamailiotest-%[3]d@%[2]s\r\n"+
		"CSeq: 1 OPTIONS\r\n"+
		"Content-Length: 0\r\n\r\n", addr, local, n)
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 4096)
	m, err := c.Read(buf)
	if err != nil {
		return err
	}
	if status, _, _ := strings.Cut(string(buf[:m]), "\r\n"); !strings.HasPrefix(status, "SIP/2.0 200 ") {
		return errors.New("OPTIONS answered " + status)
	}
	return nil
}

// freePort finds a UDP port free on 127.0.0.1 a moment ago.
func freePort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}
