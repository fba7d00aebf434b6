package sipphone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// requestTimeout bounds each request the phone sends in a dialog (BYE,
// INFO, re-INVITE) and its wait for the final response.
const requestTimeout = 5 * time.Second

// dialog is what a call needs of sipgo's client and server dialog
// sessions, which both implement it.
type dialog interface {
	Context() context.Context
	Bye(ctx context.Context) error
	Do(ctx context.Context, req *sip.Request) (*sip.Response, error)
	WriteRequest(req *sip.Request) error
	Close() error
}

var (
	_ dialog = (*sipgo.DialogClientSession)(nil)
	_ dialog = (*sipgo.DialogServerSession)(nil)
)

// Call is one call of a Phone, placed with Phone.Call or received
// (Incoming.Call). Its RTP socket records what arrives from the start;
// it talks, presses keys, sends requests in the dialog and hangs up. Its
// methods are safe from any goroutine; the call is over when Done is
// closed, and what it recorded is final then.
type Call struct {
	p    *Phone
	conn *net.UDPConn
	out  *sender
	in   *receiver
	// rxDone is closed when the receive goroutine has read its last
	// packet (finish closes the socket).
	rxDone chan struct{}

	// ctx ends with the call: talking stops.
	ctx  context.Context
	stop context.CancelFunc
	done chan struct{} // closed when the call is over and its media stopped

	mu          sync.Mutex
	dlg         dialog
	target      sip.Uri       // the other side's Contact: in-dialog requests go there
	response    *sip.Response // the final response to our INVITE (caller)
	remote      *net.UDPAddr  // where our RTP goes; nil until known
	codec       Codec
	dtmf        int         // telephone-event payload type we send; -1 for none
	local       description // our SDP as last sent
	final       int
	err         error // why a placed call got no final response
	provisional []int
	progress    []*sip.Response // the provisional responses themselves
	answerDelay time.Duration
	answered    time.Time // ACK sent or received
	ended       time.Time
	bye         *sip.Request // the other side's BYE
	ack         *sip.Request // the other side's ACK to our 2xx (received calls)
	requests    []*sip.Request
	refer       *ReferReply // how REFERs are answered; nil: 200 like any request
	notified    []int       // the responses to our NOTIFYs, in order
}

// newCall opens the RTP socket and starts recording; ok is false when
// the phone is closing or no socket could be had (reported to the test).
func (p *Phone) newCall() (*Call, bool) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		p.tb.Errorf("sipphone: RTP socket: %v", err)
		return nil, false
	}
	if !p.enter() {
		conn.Close()
		return nil, false
	}
	c := &Call{p: p, conn: conn, out: newSender(conn), in: newReceiver(), rxDone: make(chan struct{}),
		done: make(chan struct{}), dtmf: -1, codec: PCMU}
	c.ctx, c.stop = context.WithCancel(context.Background())
	c.local = description{version: 1, port: conn.LocalAddr().(*net.UDPAddr).Port, dtmf: -1}
	go func() {
		defer p.wg.Done()
		defer close(c.rxDone)
		c.in.run(conn)
	}()
	return c, true
}

// watch ends the call when its dialog ends (a BYE either way, a CANCEL,
// a rejection) or the phone closes.
func (c *Call) watch(dialogDone <-chan struct{}) {
	if !c.p.enter() {
		c.finish()
		return
	}
	go func() {
		defer c.p.wg.Done()
		select {
		case <-dialogDone:
		case <-c.p.closing:
		}
		c.finish()
	}()
}

// finish stops the media and marks the call over. It runs once, on the
// goroutine that owns the call's end.
func (c *Call) finish() {
	c.mu.Lock()
	c.ended = time.Now()
	dlg := c.dlg
	c.mu.Unlock()
	c.stop()
	c.conn.Close()
	<-c.rxDone
	c.p.forget(c)
	if dlg != nil {
		_ = dlg.Close()
	}
	close(c.done)
}

// FinalCode is the final response to the INVITE: the one received for a
// placed call, the one sent for a received call (0 while there is none).
func (c *Call) FinalCode() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.final
}

// Err is why a placed call got no final response (unreachable, no
// response in time); nil when one came.
func (c *Call) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Provisional lists the provisional responses (180, 183…) to a placed
// call's INVITE, in order; 100 Trying is not among them.
func (c *Call) Provisional() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.provisional...)
}

// ProvisionalResponses are the provisional responses to a placed call's
// INVITE as received, in order (Provisional's codes, with their headers
// and SDP); treat them as read only.
func (c *Call) ProvisionalResponses() []*sip.Response {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*sip.Response(nil), c.progress...)
}

// Response is the final response to a placed call's INVITE; nil for a
// received call or when none came.
func (c *Call) Response() *sip.Response {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.response
}

// AnswerDelay is the time from sending the INVITE to its final response.
func (c *Call) AnswerDelay() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answerDelay
}

// Duration is how long the call has been up, from the ACK to its end, or
// to now while it lasts; 0 for a call never answered.
func (c *Call) Duration() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.answered.IsZero():
		return 0
	case c.ended.IsZero():
		return time.Since(c.answered)
	}
	return c.ended.Sub(c.answered)
}

// Done is closed when the call is over (hung up either way, rejected or
// canceled) and its media has stopped.
func (c *Call) Done() <-chan struct{} { return c.done }

// Ended reports whether the call is over.
func (c *Call) Ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// WaitEnd waits up to d for the call to end and reports whether it did.
func (c *Call) WaitEnd(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.done:
		return true
	case <-t.C:
		return false
	}
}

// RemoteHangup reports whether the other side's BYE ended the call.
func (c *Call) RemoteHangup() bool { return c.Bye() != nil }

// Bye is the BYE the other side sent; nil when none came.
func (c *Call) Bye() *sip.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bye
}

// Hangup sends BYE and waits for its answer; the call is over when it
// returns. It is nil when the call had already ended. Before a received
// call is answered use Incoming.Reject instead.
func (c *Call) Hangup() error {
	c.mu.Lock()
	dlg, answered := c.dlg, !c.answered.IsZero()
	c.mu.Unlock()
	if c.Ended() {
		return nil
	}
	if !answered || dlg == nil {
		return errors.New("sipphone: hangup of a call that is not answered")
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	err := dlg.Bye(ctx)
	if err != nil && dlg.Context().Err() == nil {
		return fmt.Errorf("sipphone: BYE: %w", err)
	}
	<-c.done
	return nil
}

// HangupAfter waits up to d for the other side to end the call and
// hangs up if it has not: a caller who listens, then gives up.
func (c *Call) HangupAfter(d time.Duration) error {
	if c.WaitEnd(d) {
		return nil
	}
	return c.Hangup()
}

// Requests are the requests the other side sent in the dialog, apart
// from ACK and BYE (re-INVITE, INFO, UPDATE…), in order.
func (c *Call) Requests() []*sip.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*sip.Request(nil), c.requests...)
}

// Request sends a request in the dialog (INFO, OPTIONS, a re-INVITE…)
// with an optional body and returns the final response.
func (c *Call) Request(method sip.RequestMethod, contentType string, body []byte) (*sip.Response, error) {
	return c.request(method, contentType, body)
}

// request is Request with extra headers.
func (c *Call) request(method sip.RequestMethod, contentType string, body []byte, headers ...sip.Header) (*sip.Response, error) {
	c.mu.Lock()
	dlg, target := c.dlg, c.target
	c.mu.Unlock()
	if dlg == nil {
		return nil, errors.New("sipphone: no dialog")
	}
	req := sip.NewRequest(method, *target.Clone())
	if contentType != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	}
	for _, h := range headers {
		req.AppendHeader(h)
	}
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	res, err := dlg.Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("sipphone: %s: %w", method, err)
	}
	return res, nil
}

// Reinvite offers the media again with direction (sendonly to hold,
// sendrecv to resume, inactive), ACKs a 2xx, follows its answer and
// returns the final response (RFC 3264 §8.4).
func (c *Call) Reinvite(direction string) (*sip.Response, error) {
	c.mu.Lock()
	c.local.version++
	c.local.direction = direction
	offer := c.local.String()
	dlg, target := c.dlg, c.target
	c.mu.Unlock()
	res, err := c.Request(sip.INVITE, "application/sdp", []byte(offer))
	if err != nil || !res.IsSuccess() {
		return res, err
	}
	if err := dlg.WriteRequest(sip.NewRequest(sip.ACK, *target.Clone())); err != nil {
		return res, fmt.Errorf("sipphone: ACK of the re-INVITE: %w", err)
	}
	if s, err := parseSDP(res.Body()); err == nil {
		c.mu.Lock()
		c.remote = s.addr
		c.mu.Unlock()
	}
	return res, nil
}
