package signaling

import (
	"strconv"

	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/verbs"
)

// Calls placed by a client. A softphone registered as one of the
// `clients:` places calls by sending texml an INVITE from its identity
// (From: sip:alice@texml-host). On Twilio such a call, from a Voice SDK
// client, reaches the app with From=client:alice and Caller=client:alice
// (https://www.twilio.com/docs/voice/twiml, the request parameters), and
// apps built for Twilio Client trust that: "From starts with client:"
// means one of our own agents, who may dial any number with our caller
// ID (Twilio error 13214, https://www.twilio.com/docs/api/errors/13214:
// a client leg needs a callerId to dial out). So the From of an INVITE
// is believed only once the phone proved it with the identity's
// password: texml challenges it as a proxy does (407, RFC 3261 §22.3),
// with the registrar's realm and nonces.

// AuthenticateCaller checks an INVITE that claims to come from a client
// identity (its From user is one of the configured clients): identity is
// that client when the request carries good Proxy-Authorization
// credentials for it; otherwise res is the response to send, 407 with a
// challenge or 403. An INVITE from anyone else is not a client's call:
// identity "" and res nil, no challenge, so that trunks and SIP peers
// are served as before. A probe can tell configured identities from
// others this way (only theirs are challenged), which REGISTER does not
// reveal; that is the price of leaving trunks unchallenged.
//
// Like the registrar's, the nonces are stateless: a captured INVITE can
// be replayed until its nonce is stale (RFC 3261 §26.3.2.1 asks for TLS
// against that).
func (r *Registrar) AuthenticateCaller(req *sip.Request) (identity string, res *sip.Response) {
	from := req.From()
	if r == nil || from == nil || !r.Known(from.Address.User) {
		return "", nil
	}
	identity = from.Address.User
	if res := r.authenticate(req, identity, r.now(), proxyAuth); res != nil {
		return "", res
	}
	return identity, nil
}

// authenticateClient answers an INVITE from a client identity that has
// not (yet) proved it and returns false; true lets the call go on, with
// the identity when it is a client's (see AuthenticateCaller). It runs
// before the call has an RTP port, a dialog or a CallSid: a challenged
// INVITE holds nothing but its call slot, which onInvite's deferred
// leave returns, and sipgo's INVITE server transaction absorbs the ACK
// of the 407 or 403 (RFC 3261 §17.2.1), retransmitting it over UDP
// after the handler returns.
func (s *Server) authenticateClient(req *sip.Request, tx sip.ServerTransaction) (identity string, ok bool) {
	identity, res := s.cfg.Registrar.AuthenticateCaller(req)
	if res == nil {
		return identity, true
	}
	// A 407 is part of every client call's setup, but it does refuse
	// this INVITE: counted, so that a flood of unanswered challenges
	// shows.
	s.cfg.Metrics.rejected(strconv.Itoa(res.StatusCode))
	if err := tx.Respond(res); err != nil {
		s.log.Debug("INVITE challenge not sent", "sip_call_id", callID(req), "err", err)
	}
	return "", false
}

// clientCaller makes the call of an authenticated client the app's
// client call: From (and with it Caller, which mirrors From) is
// client:IDENTITY, as on Twilio; To stays the dialed number or URI, and
// Direction inbound. A client: From is no E.164 number, so it has no
// FromCountry or FromState (interpreter/geo.go). TeXML apps keep the
// SIP URI: Telnyx documents no client: parties (a TeXML REST call to a
// client: To is refused likewise, api/callcreate.go).
func clientCaller(cfg *interpreter.Config, identity string) {
	if identity == "" || cfg.Dialect == verbs.TeXML {
		return
	}
	cfg.From = "client:" + identity
}
