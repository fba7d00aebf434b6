package signaling

import (
	"errors"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The ways an INVITE is refused: no room (503), an offer we cannot take
// (488, 400), and the caller's BYE before our answer (487).

// retryAfter is the Retry-After of our 503s (RFC 3261 §21.5.4): calls
// end within seconds and free their ports, so the caller (or its proxy,
// which may try another server at once) comes back then.
const retryAfter = 5 * time.Second

// unavailable answers an INVITE we have no room for: draining, at
// MaxCalls or MaxSetup, or no free RTP port.
func (s *Server) unavailable(tx sip.ServerTransaction, req *sip.Request) {
	s.cfg.Metrics.rejected("503")
	res := sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil)
	res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(int(retryAfter/time.Second))))
	_ = tx.Respond(res)
}

// badOffer answers an INVITE whose offer ParseOffer refused, and returns
// the status code: 488 with a Warning that says why (RFC 3261 §20.43:
// 302 incompatible transport, 305 incompatible media format) when we
// speak nothing offered, 400 when the SDP does not parse.
func (s *Server) badOffer(tx sip.ServerTransaction, req *sip.Request, err error) int {
	var res *sip.Response
	switch {
	case errors.Is(err, ErrSRTP):
		res = sip.NewResponseFromRequest(req, 488, "Not Acceptable Here: SRTP not supported", nil)
		res.AppendHeader(sip.NewHeader("Warning", `302 texml "Incompatible transport protocol: secure RTP (RTP/SAVP) is not supported, offer RTP/AVP"`))
	case errors.Is(err, ErrNoCodec):
		res = sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil)
		res.AppendHeader(sip.NewHeader("Warning", `305 texml "Incompatible media format: offer PCMU or PCMA audio"`))
	default:
		res = sip.NewResponseFromRequest(req, 400, "Bad Request: "+err.Error(), nil)
	}
	_ = tx.Respond(res)
	return res.StatusCode
}

// refuse claims the INVITE's final response for one other than our 2xx;
// false when a final response is already out or going out. It keeps a
// 487 for the caller's early BYE from racing the app's Reject or answer.
func (l *Leg) refuse() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.answered || l.sent2xx || l.refused {
		return false
	}
	l.refused = true
	return true
}

// terminateInvite answers the INVITE with 487 Request Terminated when the
// caller's BYE comes before our final response (RFC 3261 §15.1.2); Answer,
// Reject and Hangup then give up. It waits briefly for the 487's ACK, so
// that the transaction can retransmit the 487 before the BYE ends it.
func (l *Leg) terminateInvite() {
	if !l.refuse() {
		return
	}
	res := sip.NewResponseFromRequest(l.dlg.InviteRequest, 487, "Request Terminated", nil)
	if err := l.tx.Respond(res); err != nil {
		return // a CANCEL or a final response got there first
	}
	l.slot.setupOver()
	select {
	case <-l.tx.Acks():
	case <-l.tx.Done():
	case <-time.After(2 * sip.T1):
	}
}

// refusedInvite reports whether the INVITE got a final response other
// than our 2xx.
func (l *Leg) refusedInvite() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refused
}
