package signaling

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media"
	"github.com/texml/texml/media/audio"
	"github.com/texml/texml/media/tts"
)

// The tests of this package run a real Server on loopback UDP and talk to
// it with peer, a SIP user agent written out by hand: it sends exactly the
// messages a test asks for (no ACK, a late ACK, a BYE before the answer)
// and shows every message it receives, retransmissions included.

// docs is a fake app: TwiML documents by URL path.
type docs struct {
	mu      sync.Mutex
	byPath  map[string]string
	fetches atomic.Int32
}

func (d *docs) Fetch(_ context.Context, r fetcher.Request) (*fetcher.Response, error) {
	d.fetches.Add(1)
	path := r.URL
	if i := strings.Index(path, "://app"); i >= 0 {
		path = path[i+len("://app"):]
	}
	d.mu.Lock()
	body, ok := d.byPath[path]
	d.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no document at %s", r.URL)
	}
	return &fetcher.Response{URL: r.URL, RequestURL: r.URL, Status: 200, ContentType: "text/xml", Kind: fetcher.TwiML, Body: []byte(body)}, nil
}

// routeAll sends every call to http://app/voice.
type routeAll struct{}

func (routeAll) Route(*sip.Request) (interpreter.Config, error) {
	return interpreter.Config{URL: "http://app/voice", Method: "POST"}, nil
}

// quietSynth "speaks" 50 ms of near-silence per character.
type quietSynth struct{}

func (quietSynth) Synthesize(_ context.Context, r tts.Request) ([]int16, error) {
	return make([]int16, 400*len(r.Text)), nil
}

// testServer is a Server on loopback UDP with its own port range.
type testServer struct {
	*Server
	ports *media.Ports
	app   *docs
	addr  *net.UDPAddr
	peers []*peer // closed after the server, so that they answer its last BYEs
}

// freePortRange finds n even RTP ports in a row, free now, away from the
// ranges of the e2e tests (20000-27999) and the load scripts (30000+).
func freePortRange(t *testing.T, n int) (int, int) {
	t.Helper()
	for range 50 {
		lo := 28000 + 2*rand.IntN(900)
		hi := lo + 2*(n-1)
		ok := true
		for p := lo; p <= hi && ok; p += 2 {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
			if err != nil {
				ok = false
				continue
			}
			c.Close()
		}
		if ok {
			return lo, hi
		}
	}
	t.Fatal("no free RTP port range")
	return 0, 0
}

// newTestServer serves the app voice (the document at /voice, and more at
// other paths) with rtpPorts ports; mod may change the configuration.
func newTestServer(t *testing.T, voice string, rtpPorts int, mod func(*Config)) *testServer {
	t.Helper()
	lo, hi := freePortRange(t, rtpPorts)
	ports, err := media.NewPorts("127.0.0.1", lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	pacer := media.NewPacer(media.PacerOptions{})
	app := &docs{byPath: map[string]string{"/voice": voice}}
	sounds := audio.NewCache(app, audio.CacheOptions{})
	cfg := Config{
		PublicIP: net.IPv4(127, 0, 0, 1), Router: routeAll{}, Fetcher: app,
		Media: MediaConfig{Ports: ports, Pacer: pacer, Synth: quietSynth{}, Audio: sounds,
			RecordingsDir: t.TempDir(), InactivityTimeout: 10 * time.Second},
	}
	if testing.Verbose() {
		cfg.Logger = testLogger(t)
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeUDP(conn) }()
	ts := &testServer{Server: srv, ports: ports, app: app, addr: conn.LocalAddr().(*net.UDPAddr)}
	t.Cleanup(func() {
		// Let the peers' last requests (an ACK) reach the server first: one
		// that sipgo reads during Close gets a new socket, which nobody
		// closes then.
		time.Sleep(50 * time.Millisecond)
		_ = srv.Close()
		_ = sounds.Close()
		pacer.Close()
		conn.Close()
		for _, p := range ts.peers {
			p.close()
		}
	})
	return ts
}

// testLogger shows the server's log under go test -v.
func testLogger(*testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// registered is how many calls the server can find by dialog ID.
func (s *testServer) registered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// goroutineBaseline returns a check that the goroutines started since are
// gone (after the cleanups registered later have run: register it first).
func goroutineBaseline(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines, %d before the test:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// peer is a hand-written SIP UA on loopback UDP.
type peer struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
	in   chan sip.Message
	// auto answers texml's in-dialog requests (BYE, OPTIONS) with 200
	// when set; tests that want silence clear it.
	auto atomic.Bool
	done chan struct{}
}

// newPeer starts a peer of s; it lives as long as s.
func newPeer(t *testing.T, s *testServer) *peer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, conn: conn, to: s.addr, in: make(chan sip.Message, 256), done: make(chan struct{})}
	p.auto.Store(true)
	go p.read()
	s.peers = append(s.peers, p)
	return p
}

func (p *peer) close() {
	p.conn.Close()
	<-p.done
}

func (p *peer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func (p *peer) read() {
	defer close(p.done)
	buf := make([]byte, 65535)
	for {
		n, err := p.conn.Read(buf)
		if err != nil {
			return
		}
		msg, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		if req, ok := msg.(*sip.Request); ok && p.auto.Load() && (req.Method == sip.BYE || req.Method == sip.OPTIONS) {
			p.reply(req, 200, "OK", "")
		}
		select {
		case p.in <- msg:
		default:
		}
	}
}

// send writes one message; \n becomes \r\n and Content-Length is filled.
func (p *peer) send(head, body string) {
	p.t.Helper()
	body = strings.ReplaceAll(body, "\n", "\r\n")
	head = strings.ReplaceAll(strings.TrimLeft(head, "\n"), "\n", "\r\n")
	msg := head + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
	if _, err := p.conn.WriteToUDP([]byte(msg), p.to); err != nil {
		p.t.Fatal(err)
	}
}

// reply answers req.
func (p *peer) reply(req *sip.Request, code int, reason, body string) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if body != "" {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.SetBody([]byte(body))
	}
	_, _ = p.conn.WriteToUDP([]byte(res.String()), p.to)
}

// next returns the next message that match accepts, dropping others, or
// fails the test after d.
func (p *peer) next(d time.Duration, what string, match func(sip.Message) bool) sip.Message {
	p.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case m := <-p.in:
			if match(m) {
				return m
			}
		case <-timeout:
			p.t.Fatalf("no %s within %v", what, d)
			return nil
		}
	}
}

// response returns the next response with code to method.
func (p *peer) response(d time.Duration, method sip.RequestMethod, code int) *sip.Response {
	p.t.Helper()
	return p.next(d, fmt.Sprintf("%d to %s", code, method), func(m sip.Message) bool {
		r, ok := m.(*sip.Response)
		return ok && r.StatusCode == code && r.CSeq().MethodName == method
	}).(*sip.Response)
}

// final returns the next final response to method.
func (p *peer) final(d time.Duration, method sip.RequestMethod) *sip.Response {
	p.t.Helper()
	return p.next(d, "final response to "+string(method), func(m sip.Message) bool {
		r, ok := m.(*sip.Response)
		return ok && r.StatusCode >= 200 && r.CSeq().MethodName == method
	}).(*sip.Response)
}

// request returns the next request of method.
func (p *peer) request(d time.Duration, method sip.RequestMethod) *sip.Request {
	p.t.Helper()
	return p.next(d, string(method), func(m sip.Message) bool {
		r, ok := m.(*sip.Request)
		return ok && r.Method == method
	}).(*sip.Request)
}

// quiet checks that nothing accepted by match arrives within d.
func (p *peer) quiet(d time.Duration, what string, match func(sip.Message) bool) {
	p.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case m := <-p.in:
			if match(m) {
				p.t.Errorf("unexpected %s:\n%s", what, m)
			}
		case <-timeout:
			return
		}
	}
}

// call is one dialog of the peer.
type call struct {
	p       *peer
	callID  string
	fromTag string
	toTag   string // texml's, from its first response with one
	cseq    int
	branch  string // of the last request sent
	invBr   string // of the last INVITE, for the ACK of an error response and CANCEL
	rtp     *net.UDPConn
}

func (p *peer) newCall() *call {
	rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { rtp.Close() })
	return &call{p: p, callID: fmt.Sprintf("call-%x", rand.Uint64()), fromTag: fmt.Sprintf("%x", rand.Uint32()), rtp: rtp}
}

// offer is a plain phone's SDP offer: PCMU and telephone-event, plus
// extra lines.
func (c *call) offer(extra ...string) string {
	port := c.rtp.LocalAddr().(*net.UDPAddr).Port
	lines := []string{"v=0", "o=peer 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
		fmt.Sprintf("m=audio %d RTP/AVP 0 101", port), "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000"}
	return strings.Join(append(lines, extra...), "\n") + "\n"
}

// headers builds the start line and headers of a request in the dialog.
func (c *call) headers(method sip.RequestMethod, cseq int, newBranch bool, ctype string) string {
	if newBranch {
		c.branch = fmt.Sprintf("z9hG4bK-%x", rand.Uint64())
	}
	to := fmt.Sprintf("<sip:test@%s>", c.p.to)
	if c.toTag != "" {
		to += ";tag=" + c.toTag
	}
	h := fmt.Sprintf("%s sip:test@%s SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=%s\nFrom: <sip:peer@127.0.0.1:%d>;tag=%s\nTo: %s\nCall-ID: %s\nCSeq: %d %s\nContact: <sip:peer@127.0.0.1:%d>\nMax-Forwards: 70\n",
		method, c.p.to, c.p.port(), c.branch, c.p.port(), c.fromTag, to, c.callID, cseq, method, c.p.port())
	if ctype != "" {
		h += "Content-Type: " + ctype + "\n"
	}
	return h
}

// invite sends an INVITE (a re-INVITE once the dialog has texml's tag)
// with body, which may be empty (a delayed offer).
func (c *call) invite(body string) {
	c.cseq++
	ctype := ""
	if body != "" {
		ctype = "application/sdp"
	}
	c.p.send(c.headers(sip.INVITE, c.cseq, true, ctype), body)
	c.invBr = c.branch
}

// ack acknowledges a final response to the INVITE with CSeq cseq: a 2xx
// (new branch) or an error response (the INVITE's branch).
func (c *call) ack(res *sip.Response, body string) {
	if tag, ok := res.To().Params.Get("tag"); ok && c.toTag == "" {
		c.toTag = tag
	}
	ctype := ""
	if body != "" {
		ctype = "application/sdp"
	}
	if !res.IsSuccess() {
		c.branch = c.invBr
	}
	c.p.send(c.headers(sip.ACK, int(res.CSeq().SeqNo), res.IsSuccess(), ctype), body)
}

// send sends another request in the dialog.
func (c *call) send(method sip.RequestMethod, ctype, body string) {
	if method != sip.CANCEL {
		c.cseq++
		c.p.send(c.headers(method, c.cseq, true, ctype), body)
		return
	}
	// CANCEL: the INVITE's CSeq number and branch, no To tag.
	tag := c.toTag
	c.toTag = ""
	c.branch = c.invBr
	c.p.send(c.headers(sip.CANCEL, c.cseq, false, ""), "")
	c.toTag = tag
}

// answered sends the INVITE, waits for the 200 and ACKs it.
func (c *call) answered(offer string) *sip.Response {
	c.p.t.Helper()
	c.invite(offer)
	res := c.p.response(5*time.Second, sip.INVITE, 200)
	c.ack(res, "")
	return res
}

// ringing sends the INVITE and waits for the 180, which carries texml's
// tag.
func (c *call) ringing(offer string) {
	c.p.t.Helper()
	c.invite(offer)
	res := c.p.response(5*time.Second, sip.INVITE, 180)
	c.toTag, _ = res.To().Params.Get("tag")
}
