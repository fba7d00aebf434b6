package signaling

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// nonceTTL is how long a nonce is good for. A client that reuses an
// older one for a refresh gets a new challenge with stale=true and
// answers it without asking its user (RFC 2617 §3.2.1).
const nonceTTL = 5 * time.Minute

// nonces issues and checks stateless nonces: the issue time and an HMAC
// of it, so that the registrar keeps no per-challenge state (a REGISTER
// flood cannot grow memory). The price is that a captured REGISTER can be
// replayed until its nonce goes stale; digest protects the password, not
// the request (RFC 3261 §26.3.2.1 asks for TLS for that).
type nonces struct{ secret []byte }

func (n nonces) issue(now time.Time) string {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(now.UnixNano()))
	return hex.EncodeToString(ts[:]) + hex.EncodeToString(n.mac(ts[:]))
}

// check reports whether nonce is ours (valid) and still fresh at now.
func (n nonces) check(nonce string, now time.Time) (valid, fresh bool) {
	raw, err := hex.DecodeString(nonce)
	if err != nil || len(raw) != 8+16 {
		return false, false
	}
	if !hmac.Equal(raw[8:], n.mac(raw[:8])) {
		return false, false
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(raw[:8])))
	age := now.Sub(issued)
	return true, age >= -time.Minute && age <= nonceTTL
}

func (n nonces) mac(ts []byte) []byte {
	m := hmac.New(sha256.New, n.secret)
	m.Write(ts)
	return m.Sum(nil)[:16]
}

// digestHeaders are the header names and status of one kind of digest
// challenge: a registrar's (RFC 3261 §22.2: 401, WWW-Authenticate,
// Authorization) or a proxy's (§22.3: 407, Proxy-Authenticate,
// Proxy-Authorization). texml challenges a REGISTER as the registrar and
// a client's INVITE as the proxy it plays for the call: a softphone
// answers a 401 to an INVITE only with its credentials for the callee's
// domain, and most keep its "proxy" credentials for 407.
type digestHeaders struct {
	code                     int
	reason                   string
	challenge, authorization string
}

var (
	registrarAuth = digestHeaders{401, "Unauthorized", "WWW-Authenticate", "Authorization"}
	proxyAuth     = digestHeaders{407, "Proxy Authentication Required", "Proxy-Authenticate", "Proxy-Authorization"}
)

// authenticate checks the request's digest credentials for identity
// (RFC 3261 §22.4, RFC 2617 with qop=auth) in the headers of kind: nil
// when they are good, else the response to send: a challenge (401 or
// 407) when there are none or the nonce is stale or not ours, 403 for an
// unknown identity, a username that is not the identity, or a wrong
// password (§10.3 steps 3 and 4). An unknown identity is told apart only
// once the client answers a challenge, so that probing without a
// password learns nothing.
func (r *Registrar) authenticate(req *sip.Request, identity string, now time.Time, kind digestHeaders) *sip.Response {
	h := req.GetHeader(kind.authorization)
	if h == nil {
		return r.challenge(req, now, false, kind)
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil || cred.Realm != r.realm {
		return r.challenge(req, now, false, kind)
	}
	valid, fresh := r.nonces.check(cred.Nonce, now)
	if !valid {
		return r.challenge(req, now, false, kind)
	}
	password, known := r.clients[identity]
	if !known || cred.Username != identity {
		r.log.Info(string(req.Method)+" forbidden", "identity", identity, "username", cred.Username,
			"source", req.Source(), "known", known, "sip_call_id", callID(req))
		return sip.NewResponseFromRequest(req, 403, "Forbidden", nil)
	}
	if alg := strings.ToUpper(cred.Algorithm); alg != "" && alg != "MD5" {
		return r.challenge(req, now, false, kind)
	}
	chal := &digest.Challenge{Realm: r.realm, Nonce: cred.Nonce, Opaque: cred.Opaque, Algorithm: cred.Algorithm}
	if cred.QOP != "" {
		chal.QOP = []string{cred.QOP}
	}
	// The digest covers the method (RFC 2617 §3.2.2.2, A2): credentials
	// computed for a REGISTER do not pass for an INVITE.
	want, err := digest.Digest(chal, digest.Options{Method: string(req.Method), URI: cred.URI,
		Username: identity, Password: password, Cnonce: cred.Cnonce, Count: cred.Nc})
	if err != nil || subtle.ConstantTimeCompare([]byte(want.Response), []byte(cred.Response)) != 1 {
		r.log.Info(string(req.Method)+" forbidden: wrong password", "identity", identity,
			"source", req.Source(), "sip_call_id", callID(req))
		return sip.NewResponseFromRequest(req, 403, "Forbidden", nil)
	}
	if !fresh {
		// The right password on an old nonce: a new one, no prompt.
		return r.challenge(req, now, true, kind)
	}
	return nil
}

// callID is the request's Call-ID, for logs.
func callID(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// challenge is a 401 or 407 with a fresh nonce (RFC 3261 §22.2, §22.3;
// MD5 with qop=auth, as every softphone supports).
func (r *Registrar) challenge(req *sip.Request, now time.Time, stale bool, kind digestHeaders) *sip.Response {
	chal := digest.Challenge{Realm: r.realm, Nonce: r.nonces.issue(now), Algorithm: "MD5", QOP: []string{"auth"}, Stale: stale}
	res := sip.NewResponseFromRequest(req, kind.code, kind.reason, nil)
	res.AppendHeader(sip.NewHeader(kind.challenge, chal.String()))
	return res
}
