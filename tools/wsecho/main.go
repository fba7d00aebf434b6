// Command wsecho is the Media Streams app of texml's stream load test
// (scripts/load-streams.sh): a WebSocket server on loopback that, for
// every stream texml opens (<Connect><Stream url="ws://ADDR/echo"/>),
// sends each inbound media payload straight back as a media message of
// the stream, so that the caller hears its own packets. The payload
// string is returned as received, without decoding it: what the caller
// gets back is then exactly what texml made of its packets on the way in
// and on the way out, which rtpload -echo checks by the marks in them.
//
// -stall N makes the first N connections stall after their start
// message: they never read again (nor send), as an app that hangs does,
// and texml's writes to them back up in TCP and then in the stream's
// queue. They are held open until wsecho exits.
//
//	go run ./tools/wsecho -listen 127.0.0.1:18090 -stall 1
//
// It prints "ready" on stdout once it listens. GET /stats prints the
// counters; GET /reset?stall=N sets them to zero, counts connections from
// the first again and makes the next N stall (so that a warm-up call
// can be echoed and the measured calls still have the stalled apps). On
// SIGINT or SIGTERM it closes every connection and prints the counters
// on stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// main serves until SIGINT or SIGTERM.
func main() {
	listen := flag.String("listen", "127.0.0.1:18090", "HTTP address (loopback only)")
	stall := flag.Int("stall", 0, "the first N connections stop reading after their start message")
	rcvbuf := flag.Int("rcvbuf", 64<<10, "SO_RCVBUF of the connections in bytes, as an app across a network holds a bounded window rather than loopback's autotuned megabytes, so that a stalled connection pushes back on texml within seconds; 0 leaves the kernel's autotuning")
	flag.Parse()
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintln(os.Stderr, "wsecho: -listen must be a loopback IP address and port")
		os.Exit(2)
	}
	if *stall < 0 || *stall > 100000 {
		fmt.Fprintln(os.Stderr, "wsecho: -stall must be 0..100000")
		os.Exit(2)
	}
	if *rcvbuf < 0 {
		fmt.Fprintln(os.Stderr, "wsecho: -rcvbuf must be 0 or more")
		os.Exit(2)
	}
	lc := net.ListenConfig{}
	if *rcvbuf > 0 {
		// Set on the listener, so that the accepted connections start
		// with it (their window is scaled for it).
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, *rcvbuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsecho:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Println("ready")
	if err := serve(ctx, ln, *stall, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wsecho:", err)
		os.Exit(1)
	}
}

// serve runs the app on ln until ctx ends, then closes every connection,
// waits for their goroutines and prints the counters to w.
func serve(ctx context.Context, ln net.Listener, stall int, w io.Writer) error {
	a := newApp(stall)
	srv := &http.Server{Handler: a.mux(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	// Shutdown leaves hijacked connections (every WebSocket) alone: the
	// app's own quit ends them.
	a.stop()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err == nil {
		err = <-errc
	}
	a.wait()
	fmt.Fprint(w, a.stats().String())
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
