// Command barestack is the floor for texml's call-setup benchmarks: the
// least a Go SIP server built on the same libraries (sipgo and pion/rtp)
// does for a call that answers, plays a short prompt and hangs up. It
// answers every INVITE with 180 and a 200 OK carrying an SDP answer
// (PCMU), waits for the ACK, sends MEDIA worth of 20 ms µ-law silence
// packets to the caller's SDP address, then hangs up with BYE. There is
// no TwiML, no speech synthesis, no jitter buffer and no metrics: what
// texml costs beyond this is what its features cost. With -fetch URL it
// first POSTs the call's parameters to URL and reads the answer, as
// texml fetches the app's document before answering: the same wait on
// the app server, without anything done with the answer.
//
// It is written the way a small sipgo program would be: one goroutine per
// call (sipgo's INVITE handler) with its own RTP socket and a time.Ticker
// for the packets.
//
// Usage (scripts/load-cps.sh starts it with TARGET=barestack):
//
//	go build -o bin/barestack ./tools/barestack
//	bin/barestack -listen 127.0.0.1:15060 -media 600ms [-fetch http://127.0.0.1:18080/app]
//
// It prints "ready" once it listens, serves until SIGINT or SIGTERM, then
// prints how many calls it answered, hung up and failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
)

// counters are what the server did, printed at exit.
type counters struct {
	invites, answered, byes, failed atomic.Int64
	packets                         atomic.Int64
}

func main() {
	listen := flag.String("listen", "127.0.0.1:15060", "SIP address, UDP (loopback only)")
	media := flag.Duration("media", 600*time.Millisecond, "how much silence each call sends before the BYE")
	fetch := flag.String("fetch", "", "POST each call's parameters to this URL before answering (loopback only)")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))

	ap, err := netip.ParseAddrPort(*listen)
	if err != nil || !ap.Addr().IsLoopback() {
		fmt.Fprintln(os.Stderr, "barestack: -listen must be a loopback IP:port")
		os.Exit(2)
	}
	if *media < 0 || *media > time.Minute {
		fmt.Fprintln(os.Stderr, "barestack: -media must be 0..1m")
		os.Exit(2)
	}
	if *fetch != "" {
		u, err := url.Parse(*fetch)
		if err != nil || u.Scheme != "http" || !isLoopback(u.Hostname()) {
			fmt.Fprintln(os.Stderr, "barestack: -fetch must be an http:// URL on a loopback address")
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var c counters
	if err := serve(ctx, *listen, *media, *fetch, &c); err != nil {
		fmt.Fprintln(os.Stderr, "barestack:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "barestack: %d INVITEs, %d answered, %d hung up with BYE, %d failed, %d RTP packets sent\n",
		c.invites.Load(), c.answered.Load(), c.byes.Load(), c.failed.Load(), c.packets.Load())
}

// serve answers calls on addr until ctx ends.
func serve(ctx context.Context, addr string, media time.Duration, fetch string, c *counters) error {
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	// The same 4 MB receive buffer as texml's SIP socket (cmd/texml's
	// sipReadBuffer), so that a burst costs both servers alike.
	_ = conn.(*net.UDPConn).SetReadBuffer(4 << 20)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("barestack"))
	if err != nil {
		return err
	}
	defer ua.Close()
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		return err
	}
	cl, err := sipgo.NewClient(ua, sipgo.WithClientAddr(addr))
	if err != nil {
		return err
	}
	host, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	dlgs := sipgo.NewDialogServerCache(cl, sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "bare", Host: host, Port: port}})
	// As texml's fetcher: keep-alive connections, as many idle ones per
	// host as a burst of calls needs.
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		c.invites.Add(1)
		if fetch != "" {
			if err := fetchApp(ctx, hc, fetch, req); err != nil {
				c.failed.Add(1)
				_ = tx.Respond(sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
				return
			}
		}
		if err := call(ctx, dlgs, req, tx, host, media, c); err != nil {
			c.failed.Add(1)
		}
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = dlgs.ReadAck(req, tx) })
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) { _ = dlgs.ReadBye(req, tx) })
	go func() { _ = srv.ServeUDP(conn) }()
	fmt.Println("ready")
	<-ctx.Done()
	return nil
}

// fetchApp POSTs the call's parameters to u and reads the whole answer.
func fetchApp(ctx context.Context, hc *http.Client, u string, req *sip.Request) error {
	form := url.Values{"CallSid": {req.CallID().Value()}, "From": {req.From().Address.User}, "To": {req.To().Address.User}}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch: %s", resp.Status)
	}
	return nil
}

// isLoopback reports whether host is a loopback IP or localhost.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// call is one call, on sipgo's INVITE handler goroutine, which must not
// return before the call is over (sipgo ends the transaction then).
func call(ctx context.Context, dlgs *sipgo.DialogServerCache, req *sip.Request, tx sip.ServerTransaction,
	host string, media time.Duration, c *counters) error {
	to, err := mediaAddr(req.Body())
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return err
	}
	dlg, err := dlgs.ReadInvite(req, tx)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return err
	}
	defer dlg.Close()
	rtpConn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(host)})
	if err != nil {
		_ = dlg.Respond(503, "Service Unavailable", nil)
		return err
	}
	defer rtpConn.Close()
	_ = dlg.Respond(180, "Ringing", nil)
	answer := fmt.Sprintf("v=0\r\no=bare %d 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n",
		time.Now().UnixNano(), host, host, rtpConn.LocalAddr().(*net.UDPAddr).Port)
	if err := dlg.RespondSDP([]byte(answer)); err != nil { // 200 OK, then waits for the ACK
		return err
	}
	c.answered.Add(1)

	// MEDIA worth of 20 ms silence, one packet per tick.
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: uint32(time.Now().UnixNano())},
		Payload: make([]byte, 160)}
	for i := range pkt.Payload {
		pkt.Payload[i] = 0xFF
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < int(media/(20*time.Millisecond)); i++ {
		select {
		case <-dlg.Context().Done():
			return nil // the caller hung up first
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		b, err := pkt.Marshal()
		if err != nil {
			return err
		}
		if _, err := rtpConn.WriteToUDPAddrPort(b, to); err == nil {
			c.packets.Add(1)
		}
		pkt.SequenceNumber++
		pkt.Timestamp += 160
	}
	bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := dlg.Bye(bctx); err != nil {
		return err
	}
	c.byes.Add(1)
	return nil
}

// mediaAddr reads the connection address and port of an SDP offer.
func mediaAddr(body []byte) (netip.AddrPort, error) {
	var ip netip.Addr
	var port int
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "c=IN IP4 "); ok {
			ip, _ = netip.ParseAddr(v)
		}
		if v, ok := strings.CutPrefix(line, "m=audio "); ok {
			port, _ = strconv.Atoi(strings.Fields(v)[0])
		}
	}
	if !ip.IsValid() || port <= 0 || port > 65535 {
		return netip.AddrPort{}, errors.New("no IPv4 media address in the offer")
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}
