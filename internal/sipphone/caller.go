package sipphone

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// CallOptions shape a call the phone places.
type CallOptions struct {
	// Codecs are offered in this order; nil offers PCMU alone.
	Codecs []Codec
	// DTMFType is the telephone-event payload type offered; 0 means 101.
	DTMFType uint8
	// NoDTMF offers no telephone-event at all.
	NoDTMF bool
	// DelayedOffer sends the INVITE without SDP: the 2xx carries the
	// other side's offer and the ACK our answer (RFC 3261 §13.2.1).
	DelayedOffer bool
	// Headers are added to the INVITE (X- headers, for instance).
	Headers map[string]string
	// From is the user part of the From header; empty: the phone's name.
	From string
	// FromName is the From header's display name (with From).
	FromName string
	// Username and Password answer a digest challenge (401 or 407).
	Username, Password string
	// TCP sends the INVITE over TCP.
	TCP bool
}

// Call places a call to target (host:port) for user, with an SDP offer
// per o, and returns when the INVITE has its final response: answered
// (FinalCode 2xx, media flowing, ACK sent) or not (the call is over and
// FinalCode says why). Cancelling ctx before the answer sends CANCEL; the
// other side's 487 is the final code then. After the answer ctx no
// longer matters: the call lasts until either side hangs up or the phone
// closes. Failures to send are reported to the test with Errorf, so Call
// may run on any goroutine.
func (p *Phone) Call(ctx context.Context, target, user string, o CallOptions) *Call {
	c, ok := p.newCall()
	if !ok {
		return p.failedCall()
	}
	if o.Codecs == nil {
		o.Codecs = []Codec{PCMU}
	}
	c.local.codecs = o.Codecs
	if !o.NoDTMF {
		c.local.dtmf = 101
		if o.DTMFType != 0 {
			c.local.dtmf = int(o.DTMFType)
		}
	}
	c.in.dtmfPT.Store(int32(c.local.dtmf))
	req, err := p.invite(target, user, o)
	if err == nil && o.TCP && p.ln == nil {
		err = errors.New("a call over TCP needs a phone made WithTCP: the other side's requests come back over TCP")
	}
	if err != nil {
		p.tb.Errorf("sipphone: INVITE to %s: %v", target, err)
		c.finish()
		return c
	}
	if !o.DelayedOffer {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody([]byte(c.local.String()))
	}
	began := time.Now()
	sess, err := p.dialogUA(req.Transport()).WriteInvite(ctx, req)
	if err != nil {
		p.tb.Errorf("sipphone: INVITE to %s: %v", target, err)
		c.finish()
		return c
	}
	err = sess.WaitAnswer(ctx, sipgo.AnswerOptions{Username: o.Username, Password: o.Password, OnResponse: c.onResponse})
	c.mu.Lock()
	c.answerDelay = time.Since(began)
	if r := sess.InviteResponse; r != nil && !r.IsProvisional() {
		c.final, c.response = int(r.StatusCode), r
	}
	if err != nil && c.final == 0 {
		c.err = err
	}
	c.mu.Unlock()
	if err != nil {
		_ = sess.Close()
		c.finish()
		return c
	}
	c.established(sess, o.DelayedOffer)
	return c
}

// failedCall is an ended call for a phone that could not place one.
func (p *Phone) failedCall() *Call {
	c := &Call{p: p, done: make(chan struct{}), in: newReceiver(), dtmf: -1}
	c.ctx, c.stop = context.WithCancel(context.Background())
	c.stop()
	close(c.done)
	return c
}

// invite builds the INVITE request, without its body.
func (p *Phone) invite(target, user string, o CallOptions) (*sip.Request, error) {
	host, portText, err := net.SplitHostPort(target)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, err
	}
	uri := sip.Uri{Scheme: "sip", User: user, Host: host, Port: port}
	req := sip.NewRequest(sip.INVITE, uri)
	if o.TCP {
		req.SetTransport("TCP")
	}
	if o.From != "" {
		from := &sip.FromHeader{DisplayName: o.FromName, Address: sip.Uri{Scheme: "sip", User: o.From, Host: "127.0.0.1"}}
		from.Params.Add("tag", sip.GenerateTagN(16))
		req.AppendHeader(from)
	}
	names := make([]string, 0, len(o.Headers))
	for k := range o.Headers {
		names = append(names, k)
	}
	slices.Sort(names) // a stable order, for readable traces
	for _, k := range names {
		req.AppendHeader(sip.NewHeader(k, o.Headers[k]))
	}
	return req, nil
}

// onResponse records each response to the INVITE as it comes; a 1xx with
// SDP starts early media.
func (c *Call) onResponse(r *sip.Response) error {
	if !r.IsProvisional() || r.StatusCode == 100 {
		return nil
	}
	c.mu.Lock()
	c.provisional = append(c.provisional, int(r.StatusCode))
	c.progress = append(c.progress, r)
	c.mu.Unlock()
	if len(r.Body()) > 0 {
		c.applyAnswer(r.Body())
	}
	return nil
}

// applyAnswer follows the other side's SDP answer to our offer: the first
// of our codecs it lists, our telephone-event payload type if it kept it.
func (c *Call) applyAnswer(body []byte) bool {
	s, err := parseSDP(body)
	if err != nil {
		c.p.tb.Errorf("sipphone: SDP answer: %v\n%s", err, body)
		return false
	}
	c.mu.Lock()
	local := c.local
	c.mu.Unlock()
	codec, ok := pick(s.codecs, local.codecs)
	if !ok {
		c.p.tb.Errorf("sipphone: the SDP answer has none of our codecs %v:\n%s", local.codecs, body)
		return false
	}
	dtmf := -1
	if s.dtmf >= 0 && s.dtmf == local.dtmf {
		dtmf = s.dtmf
	}
	c.setMedia(s, codec, dtmf)
	return true
}

// pick is the first codec of listed that we also speak (ours).
func pick(listed, ours []Codec) (Codec, bool) {
	for _, c := range listed {
		if slices.Contains(ours, c) {
			return c, true
		}
	}
	return "", false
}

// established takes the answered call: media towards the answer (or,
// for a delayed offer, an answer to the 2xx's offer sent in the ACK),
// the dialog registered for the other side's requests, the ACK.
func (c *Call) established(sess *sipgo.DialogClientSession, delayed bool) {
	res := sess.InviteResponse
	c.mu.Lock()
	c.dlg = sess
	c.target = sess.InviteRequest.Recipient
	if ct := res.Contact(); ct != nil {
		c.target = *ct.Address.Clone()
	}
	c.mu.Unlock()
	ack := sip.NewRequest(sip.ACK, *c.target.Clone())
	if delayed {
		body, err := c.answerOffer(res.Body(), c.local.codecs)
		if err != nil {
			c.p.tb.Errorf("sipphone: the 2xx to a delayed offer: %v", err)
		} else {
			ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			ack.SetBody(body)
		}
	} else {
		c.applyAnswer(res.Body())
	}
	c.p.register("uac", sess.ID, c)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if err := sess.WriteAck(ctx, ack); err != nil {
		c.p.tb.Errorf("sipphone: ACK: %v", err)
	}
	c.mu.Lock()
	c.answered = time.Now()
	c.mu.Unlock()
	c.watch(sess.Context().Done())
}

// answerOffer follows the other side's offer and builds our answer: the
// first of its codecs that is one of ours, its telephone-event payload
// type, the direction that mirrors its own.
func (c *Call) answerOffer(body []byte, ours []Codec) ([]byte, error) {
	s, err := parseSDP(body)
	if err != nil {
		return nil, err
	}
	codec, ok := pick(s.codecs, ours)
	if !ok {
		return nil, errNoCodec
	}
	c.setMedia(s, codec, s.dtmf)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.local.codecs, c.local.dtmf, c.local.direction = []Codec{codec}, s.dtmf, mirror(s.direction)
	return []byte(c.local.String()), nil
}
