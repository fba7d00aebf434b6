// Package redistest runs a redis-server of a test's own: on a free port
// of the loopback interface (never the machine's 6379, which may hold
// someone's data), in a temporary directory, persisting nothing, and
// stopped when the test ends. Tests that need Redis to go away and come
// back mid-call use Stop and Restart.
//
// Without redis-server on PATH the test is skipped, except under CI=true,
// where a missing server is a broken CI setup and fails the test.
package redistest

import (
	"bufio"
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
	"time"
)

// Server is one redis-server run by a test.
type Server struct {
	// URL is the redis:// URL of the server; it stays the same across
	// Stop and Restart.
	URL string

	t    testing.TB
	bin  string
	dir  string
	args []string
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd  // nil while stopped
	exited chan error // cmd.Wait's result, once it exits
}

// startTimeout bounds how long a redis-server may take to answer PING.
const startTimeout = 10 * time.Second

// Start runs a redis-server for t and stops it when t ends. args are
// more options for the server (e.g. "--cluster-enabled", "yes").
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is not installed; CI must install it (.ci/run): %v", err)
		}
		t.Skipf("redis-server is not installed (apt-get install redis-server): %v", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), args: args}
	t.Cleanup(s.Stop)
	// The free port is found by binding it and letting it go, so another
	// process may take it before redis-server does: try a few.
	for range 3 {
		if s.port, err = freePort(); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		if err = s.start(); err == nil {
			s.URL = fmt.Sprintf("redis://127.0.0.1:%d", s.port)
			return s
		}
	}
	t.Fatalf("redistest: %v", err)
	return nil
}

// Stop stops the server, as a crash or a failover would, and waits for
// it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	// SIGKILL rather than SIGTERM: Redis going away mid-call is what
	// the callers test, and a kill is the quickest and the least polite.
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd, s.exited = nil, nil
}

// Restart starts the stopped server again on the same port, empty (it
// persists nothing), and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	// The port was free a moment ago; a server just killed leaves no
	// listener behind, and Redis sets SO_REUSEADDR.
	var err error
	for range 20 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart: %v", err)
}

// start runs redis-server on s.port and waits for it to answer PING.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	logPath := filepath.Join(s.dir, "redis.log")
	args := append([]string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "no",
		"--logfile", logPath,
		"--daemonize", "no",
	}, s.args...)
	cmd := exec.Command(s.bin, args...)
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(startTimeout)
	for {
		if ping(s.port) == nil {
			s.cmd, s.exited = cmd, exited
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("redis-server on port %d exited: %v: %s", s.port, err, tail(logPath))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on port %d did not answer within %v: %s", s.port, startTimeout, tail(logPath))
		}
	}
}

// ping sends PING and expects an answer: readiness without a client
// library.
func ping(port int) error {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	// A server with a password answers -NOAUTH: it is up all the same.
	if line = strings.TrimSpace(line); line != "+PONG" && !strings.HasPrefix(line, "-NOAUTH") {
		return errors.New("PING answered " + line)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the end of the server's log, for a failure message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}
