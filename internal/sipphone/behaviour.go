package sipphone

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Behaviour is a scripted callee, for Phone.Answer. In order: a digest
// challenge (Challenge), 180 Ringing or 183 with early media for Ring
// (RingForever: until the caller's CANCEL, which gets 487), then Reject's
// code or 200 OK; once answered, Then runs, and the phone hangs up
// HangupAfter the answer or waits for the caller's BYE. The zero value
// rings once and answers at once, in the first codec offered.
type Behaviour struct {
	// Challenge, when set, answers INVITEs without valid credentials
	// with a digest challenge (401, or 407 for a proxy) and wrong ones
	// with 403 Forbidden.
	Challenge *Credentials
	// Ring is how long to ring before the final response.
	Ring time.Duration
	// RingForever rings until the caller cancels.
	RingForever bool
	// EarlyMedia, when not 0, is the frequency (Hz) of a tone played as
	// early media after 183 Session Progress (with SDP) while ringing.
	EarlyMedia float64
	// Reject, when not 0, is the final response instead of 200 OK.
	Reject int
	// Codec, when set, is the only codec the answer may use; an offer
	// without it gets 488.
	Codec Codec
	// Then runs once the call is up (after the ACK), on the INVITE's
	// goroutine: talk, play a tone, press keys, listen.
	Then func(c *Call)
	// HangupAfter, when not 0, sends BYE that long after the answer
	// (Then first). Otherwise the phone waits for the caller's BYE.
	HangupAfter time.Duration
}

// Credentials are what a digest challenge (RFC 3261 §22.4, RFC 2617
// with qop=auth) expects.
type Credentials struct {
	Realm, Username, Password string
	// Proxy challenges as a proxy: 407 with Proxy-Authenticate.
	Proxy bool
}

// run plays the behaviour on one INVITE.
func (b Behaviour) run(in *Incoming) {
	c := in.Call()
	if b.Challenge != nil && !in.Authorize(*b.Challenge) {
		return
	}
	if b.Codec != "" {
		in.SetCodec(b.Codec)
	}
	ring := b.Ring
	if b.RingForever {
		ring = 24 * time.Hour // the CANCEL (or the phone closing) ends it
	}
	if b.EarlyMedia != 0 {
		if in.Progress() != nil {
			return
		}
		c.Tone(b.EarlyMedia, ring) // returns early if the call ends
	} else {
		if in.Ring() != nil {
			return
		}
		sleep(c.ctx, ring)
	}
	if c.ctx.Err() != nil {
		return // canceled
	}
	if b.Reject != 0 {
		_ = in.Reject(b.Reject)
		return
	}
	if _, err := in.Accept(); err != nil {
		return
	}
	hangup := time.Now().Add(b.HangupAfter)
	if b.Then != nil {
		b.Then(c)
	}
	if b.HangupAfter == 0 || c.WaitEnd(time.Until(hangup)) {
		return // the caller's BYE, or the phone closing, ends it
	}
	if err := c.Hangup(); err != nil {
		_ = in.fail(err)
	}
}

// Authorize checks the INVITE's digest credentials against cr. Without
// them, or with a nonce the phone did not issue, it sends a challenge;
// with wrong ones 403 Forbidden. It reports whether the INVITE may go on.
func (in *Incoming) Authorize(cr Credentials) bool {
	ok, code, challenge := in.p.authorize(in.req, cr)
	switch {
	case ok:
		return true
	case challenge != nil:
		_ = in.respond(code, reason(code), nil, challenge)
	default:
		_ = in.Reject(code)
	}
	return false
}

// authorize checks req's digest credentials against cr (RFC 3261 §22.4,
// for req's method). When they are not valid it returns the answer: a
// fresh challenge (401, or 407 for a proxy) when none or stale ones came,
// 403 Forbidden for wrong ones (challenge nil).
func (p *Phone) authorize(req *sip.Request, cr Credentials) (ok bool, code int, challenge sip.Header) {
	ask, answer, code := "WWW-Authenticate", "Authorization", 401
	if cr.Proxy {
		ask, answer, code = "Proxy-Authenticate", "Proxy-Authorization", 407
	}
	if h := req.GetHeader(answer); h != nil {
		creds, err := digest.ParseCredentials(h.Value())
		if chal := p.challenge(creds, err); chal != nil {
			want, err := digest.Digest(chal, digest.Options{Method: string(req.Method), URI: creds.URI,
				Username: cr.Username, Password: cr.Password, Cnonce: creds.Cnonce, Count: creds.Nc})
			if err == nil && creds.Username == cr.Username && creds.Response == want.Response {
				return true, 0, nil
			}
			return false, 403, nil
		}
	}
	chal := &digest.Challenge{Realm: cr.Realm, Nonce: nonce(), Algorithm: "MD5", QOP: []string{"auth"}}
	p.issue(chal)
	return false, code, sip.NewHeader(ask, chal.String())
}

// nonce is a fresh random nonce.
func nonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
