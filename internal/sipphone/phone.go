// Package sipphone is a SIP phone for tests: one user agent (sipgo) on
// 127.0.0.1 that places calls (Phone.Call) and answers them (Phone.Answer,
// Phone.OnInvite), with RTP on plain UDP sockets. It encodes and decodes
// G.711 and RFC 4733 itself, apart from texml's media package, so that
// what a test hears checks texml rather than trusts it. Tests in any
// package use it: texml's end-to-end tests call texml with it, and Dial
// tests let texml call it.
//
// Every goroutine the phone starts belongs to it and has ended when the
// test's cleanup closes the phone. Waits are bounded: Next, WaitEnd and
// Incoming.Wait take a deadline.
package sipphone

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Phone is a SIP user agent for tests. Make one with New.
type Phone struct {
	tb    testing.TB
	name  string
	tcp   bool
	port  int
	ua    *sipgo.UserAgent
	udpUA sipgo.DialogUA // requests over UDP leave from the listening socket
	tcpUA sipgo.DialogUA // requests over TCP on connections of their own
	udp   net.PacketConn
	ln    net.Listener

	closing chan struct{} // closed when the phone closes
	wg      sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	vanished bool             // Vanish closed the SIP sockets
	calls    map[string]*Call // by role and dialog ID, for in-dialog requests
	incoming []*Incoming
	taken    int           // how many of incoming Next returned
	arrived  chan struct{} // closed and replaced when an INVITE arrives
	handler  func(*Incoming)
	nonces   map[string]*digest.Challenge
	regs     map[string]*registration // by registrar and user
	refer    *ReferReply              // how calls without their own reply answer REFERs (OnRefer)
}

// Option configures a Phone.
type Option func(*Phone)

// WithTCP makes the phone listen on TCP too, on the same port as UDP.
func WithTCP() Option { return func(p *Phone) { p.tcp = true } }

// WithName sets the phone's User-Agent and the user of its From header
// and Contact; the default is "texml-test-phone".
func WithName(name string) Option { return func(p *Phone) { p.name = name } }

// New starts a phone on 127.0.0.1 (a free UDP port, and TCP with
// WithTCP). It answers INVITEs with the zero Behaviour until told
// otherwise, and closes in tb's cleanup: live calls get a BYE and every
// goroutine of the phone ends.
func New(tb testing.TB, opts ...Option) *Phone {
	tb.Helper()
	p := &Phone{tb: tb, name: "texml-test-phone", closing: make(chan struct{}), calls: map[string]*Call{},
		arrived: make(chan struct{}), nonces: map[string]*digest.Challenge{}, regs: map[string]*registration{}}
	for _, o := range opts {
		o(p)
	}
	p.handler = Behaviour{}.run
	if err := p.listen(); err != nil {
		tb.Fatalf("sipphone: %v", err)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(p.name))
	if err != nil {
		tb.Fatalf("sipphone: %v", err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		tb.Fatalf("sipphone: %v", err)
	}
	// Requests over UDP leave from the listening socket, as a phone's
	// do, and Via and Contact name it, so that responses and the other
	// side's requests come back to it. Over TCP each connection has a
	// port of its own (the listener's is taken).
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.name, Host: "127.0.0.1", Port: p.port}}
	udp, err := sipgo.NewClient(ua, sipgo.WithClientAddr(p.Addr()), sipgo.WithClientConnectionAddr(p.Addr()))
	if err != nil {
		tb.Fatalf("sipphone: %v", err)
	}
	tcp, err := sipgo.NewClient(ua, sipgo.WithClientAddr(p.Addr()))
	if err != nil {
		tb.Fatalf("sipphone: %v", err)
	}
	p.ua = ua
	p.udpUA = sipgo.DialogUA{Client: udp, ContactHDR: contact}
	p.tcpUA = sipgo.DialogUA{Client: tcp, ContactHDR: contact}
	srv.OnInvite(p.guard(p.onInvite))
	srv.OnAck(p.guard(p.onAck))
	srv.OnBye(p.guard(p.onBye))
	srv.OnCancel(p.guard(p.onCancel))
	for _, m := range []sip.RequestMethod{sip.INFO, sip.OPTIONS, sip.UPDATE, sip.MESSAGE, sip.NOTIFY, sip.REFER} {
		srv.OnRequest(m, p.guard(p.onRequest))
	}
	srv.OnNoRoute(p.guard(onNoRoute))
	p.serve(func() error { return srv.ServeUDP(p.udp) })
	if p.ln != nil {
		p.serve(func() error { return srv.ServeTCP(p.ln) })
	}
	tb.Cleanup(p.close)
	if err := p.ready(); err != nil {
		tb.Fatalf("sipphone: %v", err)
	}
	return p
}

// ready waits until sipgo has taken the UDP socket into its pool: until
// then a request would not find it and would bind a socket of its own on
// the same port, and fail.
func (p *Phone) ready() error {
	tl := p.ua.TransportLayer()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := tl.GetConnection("udp", p.Addr()); err == nil {
			_, _ = c.TryClose() // Get took a reference
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the UDP listener at %s did not come up", p.Addr())
		}
		time.Sleep(time.Millisecond)
	}
}

// listen binds the UDP socket, and a TCP listener on the same port.
func (p *Phone) listen() error {
	for range 20 {
		conn, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		p.udp, p.port = conn, conn.LocalAddr().(*net.UDPAddr).Port
		if !p.tcp {
			return nil
		}
		if p.ln, err = net.Listen("tcp", p.Addr()); err == nil {
			return nil
		}
		conn.Close()
	}
	return fmt.Errorf("no port free for both UDP and TCP")
}

// serve runs one of sipgo's accept loops; it ends when the phone closes
// its socket.
func (p *Phone) serve(loop func() error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = loop()
	}()
}

// guard runs h for a request, unless the phone has closed or vanished.
// sipgo hands every request it reads to a goroutine of its own, which
// finds the connection to answer on in the user agent's pool. When that
// goroutine runs only after the listening socket has left the pool (the
// phone closed its user agent, or the socket and with it sipgo's reader),
// sipgo binds a new UDP socket to answer from, with a reader goroutine,
// and the user agent that would close it is closed already: a request
// that crossed the phone's close (texml's BYE as the test ends) leaked
// that socket and goroutine. A phone that is gone answers nothing, so
// such a request gets no answer, its transaction ends and its connection
// closes here, which ends sipgo's reader. The check is sound: the
// listening socket leaves the pool only after closed or vanished is set.
func (p *Phone) guard(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		p.mu.Lock()
		gone := p.closed || p.vanished
		p.mu.Unlock()
		if !gone {
			h(req, tx)
			return
		}
		if tx == nil {
			return
		}
		tx.Terminate()
		// Closing the phone's own listening connection does nothing in
		// sipgo (its owner closes the socket); any other connection now
		// is one that nobody else would close.
		if c, ok := tx.(interface{ Connection() sip.Connection }); ok && c.Connection() != nil {
			_ = c.Connection().Close()
		}
	}
}

// onNoRoute answers a method the phone has no handler for, as sipgo does
// by default.
func onNoRoute(req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil))
}

// Addr is the phone's SIP address, host:port.
func (p *Phone) Addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }

// URI is a SIP URI that reaches the phone as user, e.g. for a Dial
// target: sip:user@127.0.0.1:port.
func (p *Phone) URI(user string) string { return fmt.Sprintf("sip:%s@%s", user, p.Addr()) }

// Answer makes the phone answer every INVITE it receives from now on
// with behaviour b.
func (p *Phone) Answer(b Behaviour) { p.OnInvite(b.run) }

// OnInvite makes the phone hand every INVITE it receives from now on to
// f, on the INVITE's own goroutine, to answer with Incoming's methods. If
// f returns without a final response the phone sends 500. f must not
// call t.Fatal (it is not the test goroutine); Incoming.Err and the
// test's own checks report what went wrong.
func (p *Phone) OnInvite(f func(*Incoming)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.handler = f
}

// Next returns the next INVITE the phone received that Next has not
// returned yet, waiting up to d for one; the test fails (Fatal) when none
// comes. Call it from the test goroutine.
func (p *Phone) Next(d time.Duration) *Incoming {
	p.tb.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		if p.taken < len(p.incoming) {
			in := p.incoming[p.taken]
			p.taken++
			p.mu.Unlock()
			return in
		}
		arrived := p.arrived
		p.mu.Unlock()
		select {
		case <-arrived:
		case <-deadline.C:
			p.tb.Fatalf("sipphone: no INVITE at %s within %v", p.Addr(), d)
			return nil
		}
	}
}

// Incoming lists every INVITE the phone received so far, in order.
func (p *Phone) Incoming() []*Incoming {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Incoming(nil), p.incoming...)
}

// enter counts a goroutine about to start in the phone's wait group; it
// is false once the phone is closing, when none may start.
func (p *Phone) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

// register makes a call findable by the other side's in-dialog requests.
// role is "uac" for calls we placed, "uas" for calls we answered: the
// same dialog ID computed from a request differs by role.
func (p *Phone) register(role, id string, c *Call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls[role+" "+id] = c
}

// forget removes an ended call from the registry.
func (p *Phone) forget(c *Call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, v := range p.calls {
		if v == c {
			delete(p.calls, k)
		}
	}
}

// lookup finds the call an in-dialog request belongs to.
func (p *Phone) lookup(req *sip.Request) *Call {
	uac, _ := sip.DialogIDFromRequestUAC(req)
	uas, _ := sip.DialogIDFromRequestUAS(req)
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.calls["uac "+uac]; ok {
		return c
	}
	return p.calls["uas "+uas]
}

// issue remembers a digest challenge by its nonce.
func (p *Phone) issue(chal *digest.Challenge) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nonces[chal.Nonce] = chal
}

// challenge is the challenge the phone issued with the nonce of creds;
// nil when it issued none (or creds did not parse).
func (p *Phone) challenge(creds *digest.Credentials, err error) *digest.Challenge {
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nonces[creds.Nonce]
}

// closeWait bounds the wait for the phone's goroutines at close.
const closeWait = 10 * time.Second

// Vanish makes the phone disappear without a word, as a phone whose
// network went away: its SIP sockets close, nothing is sent, and requests
// to it go unanswered. The test's cleanup still ends everything else.
func (p *Phone) Vanish() {
	// First, so that a request sipgo read before the sockets closed goes
	// unanswered too (guard).
	p.mu.Lock()
	p.vanished = true
	p.mu.Unlock()
	p.udp.Close()
	if p.ln != nil {
		p.ln.Close()
	}
}

// close hangs up live calls, stops the user agent and waits for every
// goroutine the phone started.
func (p *Phone) close() {
	p.mu.Lock()
	live := map[*Call]bool{}
	for _, c := range p.calls {
		live[c] = true
	}
	p.mu.Unlock()
	var bye sync.WaitGroup
	for c := range live {
		bye.Add(1)
		go func() {
			defer bye.Done()
			_ = c.hangupQuietly()
		}()
	}
	bye.Wait()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	close(p.closing)
	p.ua.Close()
	p.udp.Close()
	if p.ln != nil {
		p.ln.Close()
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeWait):
		p.tb.Errorf("sipphone: goroutines still running %v after close", closeWait)
	}
}

// dialogUA is the dialog user agent for a transport ("UDP" or "TCP").
func (p *Phone) dialogUA(transport string) *sipgo.DialogUA {
	if strings.EqualFold(transport, "TCP") {
		return &p.tcpUA
	}
	return &p.udpUA
}
