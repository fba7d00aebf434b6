package sipphone

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Incoming is an INVITE the phone received, with the call it may become.
// A handler (Phone.OnInvite, or Phone.Answer's Behaviour) scripts the
// answer with Ring, Progress, Authorize, Reject and Accept on the INVITE's
// own goroutine; the test reads what happened from any goroutine. A
// retried INVITE (after a digest challenge) is an Incoming of its own.
type Incoming struct {
	p    *Phone
	req  *sip.Request // the INVITE as received; read only
	dlg  *sipgo.DialogServerSession
	call *Call
	done chan struct{} // closed when the handler is done and the call over

	mu       sync.Mutex
	codec    Codec  // forced by SetCodec; "" takes the offer's first
	sdp      []byte // our SDP for this INVITE, once negotiated
	code     int    // final response sent
	canceled bool
	acked    bool
	err      error
}

// Request is the INVITE as received; treat it as read only.
func (in *Incoming) Request() *sip.Request { return in.req }

// RequestURI is the INVITE's request URI.
func (in *Incoming) RequestURI() sip.Uri { return in.req.Recipient }

// From is the address of the INVITE's From header.
func (in *Incoming) From() sip.Uri { return in.req.From().Address }

// To is the address of the INVITE's To header.
func (in *Incoming) To() sip.Uri { return in.req.To().Address }

// Header is the value of the INVITE's first header called name; "" when
// there is none.
func (in *Incoming) Header(name string) string {
	if h := in.req.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// XHeaders are the INVITE's X- headers, by name as received.
func (in *Incoming) XHeaders() map[string]string {
	out := map[string]string{}
	for _, h := range in.req.Headers() {
		if strings.HasPrefix(strings.ToLower(h.Name()), "x-") {
			out[h.Name()] = h.Value()
		}
	}
	return out
}

// Offer is the INVITE's SDP; empty for a delayed offer.
func (in *Incoming) Offer() []byte { return in.req.Body() }

// Call is the call this INVITE is or may become. Its RTP socket is open
// from the start: it can play early media after Progress, and it ends
// when the INVITE is rejected or canceled, or the answered call ends.
func (in *Incoming) Call() *Call { return in.call }

// Code is the final response sent to the INVITE: 487 when a CANCEL ended
// it, 0 while there is none.
func (in *Incoming) Code() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.code
}

// Canceled reports whether the caller sent CANCEL before the answer.
func (in *Incoming) Canceled() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.canceled
}

// Acked reports whether the ACK for our 2xx came.
func (in *Incoming) Acked() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.acked
}

// Ack is the ACK for our 2xx; nil until it came.
func (in *Incoming) Ack() *sip.Request {
	in.call.mu.Lock()
	defer in.call.mu.Unlock()
	return in.call.ack
}

// Err is the first error the phone met while answering (a response that
// could not be sent, no ACK, no common codec); nil when all went well.
func (in *Incoming) Err() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

func (in *Incoming) fail(err error) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.err == nil {
		in.err = err
	}
	return err
}

// Done is closed when the handler has returned and the call is over.
func (in *Incoming) Done() <-chan struct{} { return in.done }

// Wait waits up to d for Done and reports whether it came.
func (in *Incoming) Wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-in.done:
		return true
	case <-t.C:
		return false
	}
}

// SetCodec makes the answer use codec c; an offer without it gets 488.
func (in *Incoming) SetCodec(c Codec) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.codec = c
}

// Ring sends 180 Ringing.
func (in *Incoming) Ring() error { return in.respond(180, "Ringing", nil) }

// Progress sends 183 Session Progress with our SDP answer, so that the
// call's media flows before the answer (early media). An offer without a
// common codec gets 488 instead.
func (in *Incoming) Progress() error {
	sdp, err := in.negotiate()
	if err != nil {
		return err
	}
	if len(in.req.Body()) == 0 {
		sdp = nil // a delayed offer: our offer goes in the 2xx
	}
	return in.respond(183, "Session Progress", sdp)
}

// Reject sends the final response code (486, 603, 404…).
func (in *Incoming) Reject(code int) error { return in.respond(code, reason(code), nil) }

// Accept answers 200 OK with our SDP and waits for the ACK; the call is
// up when it returns without error.
func (in *Incoming) Accept() (*Call, error) {
	sdp, err := in.negotiate()
	if err != nil {
		return in.call, err
	}
	c := in.call
	in.setCode(200)
	if err := in.dlg.RespondSDP(sdp); err != nil {
		return c, in.fail(fmt.Errorf("sipphone: 200 OK: %w", err))
	}
	in.mu.Lock()
	in.acked = true
	in.mu.Unlock()
	c.mu.Lock()
	c.answered = time.Now()
	c.mu.Unlock()
	return c, nil
}

// negotiate builds our SDP once: the answer to the offer, or for a
// delayed offer our own offer (the answer comes in the ACK).
func (in *Incoming) negotiate() ([]byte, error) {
	in.mu.Lock()
	sdp, force := in.sdp, in.codec
	in.mu.Unlock()
	if sdp != nil {
		return sdp, nil
	}
	ours := []Codec{PCMU, PCMA}
	if force != "" {
		ours = []Codec{force}
	}
	c := in.call
	if len(in.req.Body()) == 0 {
		c.mu.Lock()
		c.local.codecs, c.local.dtmf = ours, 101
		sdp = []byte(c.local.String())
		c.mu.Unlock()
		c.in.dtmfPT.Store(101)
	} else {
		var err error
		if sdp, err = c.answerOffer(in.req.Body(), ours); err != nil {
			_ = in.respond(488, reason(488), nil)
			return nil, in.fail(fmt.Errorf("sipphone: offer: %w", err))
		}
	}
	in.mu.Lock()
	in.sdp = sdp
	in.mu.Unlock()
	return sdp, nil
}

// respond sends a response to the INVITE; a final non-2xx one waits for
// its ACK (sipgo's WriteResponse).
func (in *Incoming) respond(code int, reason string, body []byte, headers ...sip.Header) error {
	if len(body) > 0 {
		headers = append(headers, sip.NewHeader("Content-Type", "application/sdp"))
	}
	if code >= 200 {
		in.setCode(code)
	}
	if err := in.dlg.Respond(code, reason, body, headers...); err != nil {
		return in.fail(fmt.Errorf("sipphone: %d %s: %w", code, reason, err))
	}
	return nil
}

func (in *Incoming) setCode(code int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.code == 0 {
		in.code = code
	}
	in.call.mu.Lock()
	in.call.final = in.code
	in.call.mu.Unlock()
}

// reason is the reason phrase of a status code (RFC 3261 §21).
func reason(code int) string {
	if r, ok := reasons[code]; ok {
		return r
	}
	return "Rejected"
}

var reasons = map[int]string{
	100: "Trying", 180: "Ringing", 200: "OK", 202: "Accepted",
	401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 407: "Proxy Authentication Required",
	408: "Request Timeout", 480: "Temporarily Unavailable", 486: "Busy Here", 487: "Request Terminated",
	488: "Not Acceptable Here", 500: "Server Internal Error", 503: "Service Unavailable", 600: "Busy Everywhere",
	603: "Decline", 604: "Does Not Exist Anywhere",
}

// errNoFinal is recorded when a handler returns without a final response.
var errNoFinal = errors.New("sipphone: the handler sent no final response (500 sent)")
