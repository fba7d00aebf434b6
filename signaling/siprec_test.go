package signaling

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/interpreter/legtest"
	"github.com/texml/texml/verbs"
)

// fakeSRS is a session recording server written out by hand on loopback
// TCP (the SIPREC INVITE is too large for UDP: RFC 3261 §18.1.1): it
// shows the test each SIP message, answers as told, and counts the RTP
// packets that reach each of its two media ports.
type fakeSRS struct {
	t    *testing.T
	ln   net.Listener
	in   chan srsMsg
	rtp  [2]*net.UDPConn
	got  [2]atomic.Int64
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn []net.Conn
}

// srsMsg is a request and the connection it came on.
type srsMsg struct {
	req  *sip.Request
	conn net.Conn
}

func newFakeSRS(t *testing.T) *fakeSRS {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSRS{t: t, ln: ln, in: make(chan srsMsg, 16)}
	for i := range s.rtp {
		if s.rtp[i], err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			t.Fatal(err)
		}
		s.wg.Add(1)
		go s.count(i)
	}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conn {
			c.Close()
		}
		s.mu.Unlock()
		s.rtp[0].Close()
		s.rtp[1].Close()
		s.wg.Wait()
	})
	return s
}

func (s *fakeSRS) uri() string { return fmt.Sprintf("sip:srs@%s", s.ln.Addr()) }

func (s *fakeSRS) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conn = append(s.conn, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go s.read(c)
	}
}

// read parses the SIP messages of one connection, framed by
// Content-Length (RFC 3261 §18.3).
func (s *fakeSRS) read(c net.Conn) {
	defer s.wg.Done()
	r := bufio.NewReader(c)
	for {
		var head strings.Builder
		n := 0
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.TrimSpace(line) == "" {
				if head.Len() == 0 {
					continue // keep-alive CRLF
				}
				break
			}
			head.WriteString(line)
			if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
				n, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		msg, err := sip.ParseMessage(append([]byte(head.String()+"\r\n"), body...))
		if req, ok := msg.(*sip.Request); ok && err == nil {
			s.in <- srsMsg{req, c}
		}
	}
}

func (s *fakeSRS) count(i int) {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, err := s.rtp[i].Read(buf)
		if err != nil {
			return
		}
		if n >= 12 && buf[0]>>6 == 2 {
			s.got[i].Add(1)
		}
	}
}

// next returns the next request of method, dropping others.
func (s *fakeSRS) next(method sip.RequestMethod) srsMsg {
	s.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m := <-s.in:
			if m.req.Method == method {
				return m
			}
		case <-deadline:
			s.t.Fatalf("no %s reached the recording server", method)
			return srsMsg{}
		}
	}
}

// reply answers m; a 2xx to the INVITE gets a To tag, a Contact and
// body as SDP.
func (s *fakeSRS) reply(m srsMsg, code int, body string) {
	res := sip.NewResponseFromRequest(m.req, code, "X", nil)
	if code >= 200 && m.req.Method == sip.INVITE {
		res.To().Params.Add("tag", "srs1")
	}
	if code == 200 && m.req.Method == sip.INVITE {
		ct := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "srs", Host: "127.0.0.1", Port: s.ln.Addr().(*net.TCPAddr).Port}}
		ct.Address.UriParams = sip.NewParams()
		ct.Address.UriParams.Add("transport", "tcp")
		res.AppendHeader(ct)
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.SetBody([]byte(body))
	}
	if _, err := m.conn.Write([]byte(res.String())); err != nil {
		s.t.Error(err)
	}
}

// answer is the server's SDP: recvonly on its two RTP ports.
func (s *fakeSRS) answer() string {
	var b strings.Builder
	b.WriteString("v=0\r\no=srs 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n")
	for i := range s.rtp {
		fmt.Fprintf(&b, "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=label:%d\r\na=recvonly\r\n", s.rtp[i].LocalAddr().(*net.UDPAddr).Port, i+1)
	}
	return b.String()
}

// bye sends the server's BYE in the dialog of the INVITE inv, on its
// connection.
func (s *fakeSRS) bye(inv srsMsg) {
	theirTag, _ := inv.req.From().Params.Get("tag")
	ct := inv.req.Contact().Address
	msg := fmt.Sprintf("BYE %s SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bK-srsbye\r\nFrom: <%s>;tag=srs1\r\nTo: <%s>;tag=%s\r\nCall-ID: %s\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		ct.String(), s.ln.Addr(), inv.req.To().Address.String(), inv.req.From().Address.String(), theirTag, inv.req.CallID().Value())
	if _, err := inv.conn.Write([]byte(msg)); err != nil {
		s.t.Error(err)
	}
}

// TestSiprec checks Leg.Siprec on a real SIP leg against a hand-written
// recording server over loopback: the INVITE's shape (RFC 7866: Require:
// siprec, +sip.src, a multipart body of SDP with two labelled sendonly
// streams and RFC 7865 metadata), RTP on both answered ports, and each
// way the session ends, with its RTP ports given back.
func TestSiprec(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  string // how it ends: stop, srs-bye, refuse
	}{
		{name: "stopped by the call", end: "stop"},
		{name: "the server hangs up", end: "srs-bye"},
		{name: "the server refuses", end: "refuse"},
		{name: "stopped while it rings", end: "cancel"},
		{name: "stopped before any answer", end: "silent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goroutineBaseline(t) // the session's goroutines end with it
			srs := newFakeSRS(t)
			h := newSIPHarness(t, func(c *Config) {
				c.SiprecConnectors = map[string]SiprecConnector{"rec": {URI: srs.uri()}}
				c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
			})
			leg, ctx, _ := h.Start(t, []legtest.Act{{At: 0, Kind: legtest.Talk, For: 3 * time.Second}})
			ports := h.srv.cfg.Media.Ports
			before := ports.InUse()
			started := make(chan struct{})
			ended := make(chan error, 1)
			stop, err := leg.Siprec(ctx, interpreter.SiprecSpec{
				Connector: "rec", Inbound: true, Outbound: true, Sid: "SR1", CallSid: "CA1", AccountSid: "AC1",
				Params:  []verbs.Param{{Name: "agent", Value: "a&b"}},
				Started: func() { close(started) }, Ended: func(err error) { ended <- err },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			if ports.InUse() != before+2 {
				t.Errorf("%d RTP ports in use, want %d: one per stream", ports.InUse(), before+2)
			}
			m := srs.next(sip.INVITE)
			inv := m.req
			body := string(inv.Body())
			t.Logf("INVITE: %d bytes, body %d (over TCP: %s)", len(inv.String()), len(body), inv.Via().Transport)
			for _, want := range []string{"m=audio", "a=label:1", "a=label:2", "a=sendonly", "application/rs-metadata+xml",
				"Content-Disposition: recording-session", "<recording xmlns=\"urn:ietf:params:xml:ns:recording:1\"",
				"<texml:callSid>CA1</texml:callSid>", `<texml:parameter name="agent">a&amp;b</texml:parameter>`, "<label>1</label>", "<send>", "<recv>"} {
				if !strings.Contains(body, want) {
					t.Errorf("INVITE body lacks %q:\n%s", want, body)
				}
			}
			if n := strings.Count(body, "m=audio"); n != 2 {
				t.Errorf("%d m-lines, want 2", n)
			}
			if h := inv.GetHeader("Require"); h == nil || h.Value() != "siprec" {
				t.Errorf("Require: %v, want siprec", h)
			}
			if ct := inv.Contact(); ct == nil || !ct.Params.Has("+sip.src") {
				t.Errorf("Contact %v lacks +sip.src", ct)
			}
			if ct := inv.ContentType(); ct == nil || !strings.HasPrefix(ct.Value(), "multipart/mixed;boundary=") {
				t.Errorf("Content-Type %v", ct)
			}
			if tc.end == "cancel" || tc.end == "silent" {
				if tc.end == "cancel" {
					srs.reply(m, 180, "")
					time.Sleep(100 * time.Millisecond) // the 180 reaches the transaction first
				}
				stopped := make(chan struct{})
				go func() { stop(); close(stopped) }()
				if tc.end == "cancel" {
					c := srs.next(sip.CANCEL)
					srs.reply(c, 200, "")
					srs.reply(m, 487, "")
				}
				select {
				case <-stopped:
				case <-time.After(3 * time.Second):
					t.Fatal("stop did not return")
				}
				select {
				case err := <-ended:
					t.Errorf("Ended(%v) after stop", err)
				default:
				}
				if ports.InUse() != before {
					t.Errorf("%d RTP ports in use after stop, want %d", ports.InUse(), before)
				}
				return
			}
			if tc.end == "refuse" {
				srs.reply(m, 488, "")
				select {
				case err := <-ended:
					var se *interpreter.SiprecError
					if !errors.As(err, &se) || se.Code != 488 {
						t.Errorf("Ended(%v), want the server's 488", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("no Ended after the refusal")
				}
				stop()
				if ports.InUse() != before {
					t.Errorf("%d RTP ports in use after the refusal, want %d", ports.InUse(), before)
				}
				return
			}
			srs.reply(m, 200, srs.answer())
			srs.next(sip.ACK)
			select {
			case <-started:
			case <-time.After(5 * time.Second):
				t.Fatal("Started was not called")
			}
			time.Sleep(time.Second)
			in, out := srs.got[0].Load(), srs.got[1].Load()
			if in < 25 || out < 25 {
				t.Errorf("RTP packets: inbound stream %d, outbound %d; want ~50 each in a second", in, out)
			}
			switch tc.end {
			case "stop":
				stopped := make(chan struct{})
				go func() { stop(); close(stopped) }()
				srs.reply(srs.next(sip.BYE), 200, "")
				select {
				case <-stopped:
				case <-time.After(5 * time.Second):
					t.Fatal("stop did not return once the BYE was answered")
				}
				select {
				case err := <-ended:
					t.Errorf("Ended(%v) after stop", err)
				default:
				}
			case "srs-bye":
				srs.bye(m)
				select {
				case err := <-ended:
					if err != nil {
						t.Errorf("Ended(%v), want nil for the server's BYE", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("no Ended after the server's BYE")
				}
				stop()
			}
			if ports.InUse() != before {
				t.Errorf("%d RTP ports in use after the session, want %d", ports.InUse(), before)
			}
			n := srs.got[0].Load()
			time.Sleep(200 * time.Millisecond)
			if srs.got[0].Load() != n {
				t.Error("RTP still flows after the session ended")
			}
		})
	}
}

// TestSiprecUnknownConnector checks that a connectorName that is neither
// configured nor a sip: URI fails at once, with nothing left open.
func TestSiprecUnknownConnector(t *testing.T) {
	h := newSIPHarness(t)
	leg, ctx, _ := h.Start(t, nil)
	before := h.srv.cfg.Media.Ports.InUse()
	_, err := leg.Siprec(ctx, interpreter.SiprecSpec{Connector: "nope", Inbound: true})
	if !errors.Is(err, interpreter.ErrUnknownConnector) {
		t.Fatalf("Siprec: %v, want ErrUnknownConnector", err)
	}
	if h.srv.cfg.Media.Ports.InUse() != before {
		t.Error("a port was left open")
	}
}

// challenge answers the INVITE m with a digest challenge (RFC 3261
// §22.2): 401 with WWW-Authenticate, or 407 with Proxy-Authenticate.
func (s *fakeSRS) challenge(m srsMsg, code int) {
	chal := digest.Challenge{Realm: "srs.test", Nonce: "n0nce", Algorithm: "MD5", QOP: []string{"auth"}}
	res := sip.NewResponseFromRequest(m.req, code, "Unauthorized", nil)
	res.To().Params.Add("tag", "srs1")
	h := "WWW-Authenticate"
	if code == 407 {
		h = "Proxy-Authenticate"
	}
	res.AppendHeader(sip.NewHeader(h, chal.String()))
	if _, err := m.conn.Write([]byte(res.String())); err != nil {
		s.t.Error(err)
	}
}

// checkDigest reports whether req answers challenge's 401/407 with the
// credentials user:pass (RFC 3261 §22.4, RFC 2617 with qop=auth).
func checkDigest(req *sip.Request, code int, user, pass string) error {
	name := "Authorization"
	if code == 407 {
		name = "Proxy-Authorization"
	}
	h := req.GetHeader(name)
	if h == nil {
		return fmt.Errorf("no %s header", name)
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	chal := &digest.Challenge{Realm: "srs.test", Nonce: "n0nce", Algorithm: "MD5", QOP: []string{cred.QOP}}
	want, err := digest.Digest(chal, digest.Options{Method: string(sip.INVITE), URI: cred.URI,
		Username: user, Password: pass, Cnonce: cred.Cnonce, Count: cred.Nc})
	if err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	if cred.Username != user || cred.Realm != "srs.test" || cred.Response != want.Response {
		return fmt.Errorf("credentials %+v do not answer the challenge for %s", cred, user)
	}
	return nil
}

// TestSiprecDigest checks the answer to a recording server's digest
// challenge (RFC 3261 §22): with the connector's credentials the INVITE
// goes again once, CSeq one up, with Authorization (401) or
// Proxy-Authorization (407), and the session starts; without
// credentials, or challenged a second time, the challenge is the
// session's failure, as any refusal is.
func TestSiprecDigest(t *testing.T) {
	for _, tc := range []struct {
		name       string
		code       int // the challenge
		user, pass string
		twice      bool // the server challenges the answer too
		cancel     bool // stopped while the answered INVITE rings
		wantErr    int  // the SiprecError code; 0: the session starts
	}{
		{name: "401 answered", code: 401, user: "rec", pass: "s3cret"},
		{name: "401 answered, then canceled", code: 401, user: "rec", pass: "s3cret", cancel: true},
		{name: "407 answered", code: 407, user: "rec", pass: "s3cret"},
		{name: "no credentials", code: 401, wantErr: 401},
		{name: "no credentials, 407", code: 407, wantErr: 407},
		{name: "challenged twice", code: 401, user: "rec", pass: "wrong", twice: true, wantErr: 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			goroutineBaseline(t) // the session's goroutines end with it
			srs := newFakeSRS(t)
			h := newSIPHarness(t, func(c *Config) {
				c.SiprecConnectors = map[string]SiprecConnector{"rec": {URI: srs.uri(), Username: tc.user, Password: tc.pass}}
			})
			leg, ctx, _ := h.Start(t, []legtest.Act{{At: 0, Kind: legtest.Talk, For: 3 * time.Second}})
			ports := h.srv.cfg.Media.Ports
			before := ports.InUse()
			started := make(chan struct{})
			ended := make(chan error, 1)
			stop, err := leg.Siprec(ctx, interpreter.SiprecSpec{Connector: "rec", Inbound: true, Outbound: true, Sid: "SR1",
				Started: func() { close(started) }, Ended: func(err error) { ended <- err }})
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			first := srs.next(sip.INVITE)
			if first.req.GetHeader("Authorization") != nil || first.req.GetHeader("Proxy-Authorization") != nil {
				t.Error("the first INVITE has credentials before any challenge")
			}
			srs.challenge(first, tc.code)
			if tc.user == "" {
				checkSiprecError(t, ended, tc.wantErr)
				stop()
				if ports.InUse() != before {
					t.Errorf("%d RTP ports in use after the refusal, want %d", ports.InUse(), before)
				}
				return
			}
			again := srs.next(sip.INVITE)
			if err := checkDigest(again.req, tc.code, tc.user, tc.pass); err != nil {
				t.Error(err)
			}
			if got, want := again.req.CSeq().SeqNo, first.req.CSeq().SeqNo+1; got != want {
				t.Errorf("the INVITE with credentials has CSeq %d, want %d", got, want)
			}
			if again.req.CallID().Value() != first.req.CallID().Value() || !strings.Contains(string(again.req.Body()), "a=label:2") {
				t.Error("the INVITE with credentials is not the same request (Call-ID, body)")
			}
			if tc.cancel {
				// The CANCEL matches the INVITE with credentials: its
				// Via branch and CSeq number (RFC 3261 §9.1).
				srs.reply(again, 180, "")
				time.Sleep(100 * time.Millisecond)
				stopped := make(chan struct{})
				go func() { stop(); close(stopped) }()
				c := srs.next(sip.CANCEL)
				if b1, _ := c.req.Via().Params.Get("branch"); c.req.CSeq().SeqNo != again.req.CSeq().SeqNo || b1 != branch(again.req) {
					t.Errorf("CANCEL CSeq %d branch %s, want the INVITE's %d %s", c.req.CSeq().SeqNo, b1, again.req.CSeq().SeqNo, branch(again.req))
				}
				srs.reply(c, 200, "")
				srs.reply(again, 487, "")
				select {
				case <-stopped:
				case <-time.After(3 * time.Second):
					t.Fatal("stop did not return")
				}
				return
			}
			if tc.twice {
				srs.challenge(again, tc.code)
				checkSiprecError(t, ended, tc.wantErr)
				select {
				case m := <-srs.in:
					if m.req.Method == sip.INVITE {
						t.Error("a third INVITE: the challenge is answered only once")
					}
				case <-time.After(300 * time.Millisecond):
				}
				return
			}
			srs.reply(again, 200, srs.answer())
			srs.next(sip.ACK)
			select {
			case <-started:
			case <-time.After(5 * time.Second):
				t.Fatal("Started was not called")
			}
			time.Sleep(300 * time.Millisecond)
			if srs.got[0].Load() == 0 || srs.got[1].Load() == 0 {
				t.Errorf("RTP packets: %d, %d; want some on both streams", srs.got[0].Load(), srs.got[1].Load())
			}
			stopped := make(chan struct{})
			go func() { stop(); close(stopped) }()
			bye := srs.next(sip.BYE)
			if bye.req.CSeq().SeqNo <= again.req.CSeq().SeqNo {
				t.Errorf("BYE CSeq %d, want above the INVITE's %d", bye.req.CSeq().SeqNo, again.req.CSeq().SeqNo)
			}
			srs.reply(bye, 200, "")
			select {
			case <-stopped:
			case <-time.After(5 * time.Second):
				t.Fatal("stop did not return once the BYE was answered")
			}
			if ports.InUse() != before {
				t.Errorf("%d RTP ports in use after the session, want %d", ports.InUse(), before)
			}
		})
	}
}

// checkSiprecError waits for Ended with a SiprecError of code.
func checkSiprecError(t *testing.T, ended <-chan error, code int) {
	t.Helper()
	select {
	case err := <-ended:
		var se *interpreter.SiprecError
		if !errors.As(err, &se) || se.Code != code {
			t.Errorf("Ended(%v), want the server's %d", err, code)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no Ended after the %d", code)
	}
}

// branch is the Via branch of req.
func branch(req *sip.Request) string {
	b, _ := req.Via().Params.Get("branch")
	return b
}
