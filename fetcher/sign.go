package fetcher

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Header names the platform signs requests with.
const (
	HeaderTwilioSignature = "X-Twilio-Signature"
	HeaderTelnyxSignature = "Telnyx-Signature-Ed25519"
	HeaderTelnyxTimestamp = "Telnyx-Timestamp"
)

// Signature computes Twilio's X-Twilio-Signature for a request to fullURL
// (scheme, host, optional port, path and query, no fragment) carrying the
// POST form params. The signed string is the URL followed by every parameter
// name and value, names in byte order and repeated names' values in byte
// order; for GET requests pass nil params because they are already in the URL.
func Signature(authToken, fullURL string, params url.Values) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(fullURL))
	if len(params) > 0 {
		names := make([]string, 0, len(params))
		for name := range params {
			names = append(names, name)
		}
		sort.Strings(names)
		var values []string
		for _, name := range names {
			values = append(values[:0], params[name]...)
			sort.Strings(values)
			for _, v := range values {
				mac.Write([]byte(name))
				mac.Write([]byte(v))
			}
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ValidateSignature reports whether sig is the Twilio signature of a request
// to fullURL with the POST form params (nil for GET). Because the platform is
// not consistent about writing the scheme's default port, the URL is also
// tried with ":443"/":80" added when absent and removed when present. Every
// candidate is compared in constant time.
func ValidateSignature(authToken, fullURL string, params url.Values, sig string) bool {
	ok := false
	for _, candidate := range portVariants(fullURL) {
		want := Signature(authToken, candidate, params)
		if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) == 1 {
			ok = true
		}
	}
	return ok
}

// portVariants returns fullURL plus, for http and https, the same string with
// the default port toggled. It edits the authority in place rather than
// re-serialising a parsed URL, since re-encoding the path or query would
// change the signed bytes.
func portVariants(fullURL string) []string {
	out := []string{fullURL}
	scheme, rest, ok := strings.Cut(fullURL, "://")
	if !ok {
		return out
	}
	var port string
	switch strings.ToLower(scheme) {
	case "https":
		port = "443"
	case "http":
		port = "80"
	default:
		return out
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	userinfo := ""
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, authority = authority[:at+1], authority[at+1:]
	}
	host, hasPort := splitHostPort(authority)
	switch {
	case !hasPort:
		out = append(out, scheme+"://"+userinfo+host+":"+port+tail)
	case authority == host+":"+port:
		out = append(out, scheme+"://"+userinfo+host+tail)
	}
	return out
}

// splitHostPort separates "host:port" or "[v6]:port" without validating
// either part; the host keeps its brackets.
func splitHostPort(authority string) (host string, hasPort bool) {
	colon := strings.LastIndexByte(authority, ':')
	if colon < 0 || colon < strings.LastIndexByte(authority, ']') {
		return authority, false
	}
	return authority[:colon], true
}

// SignEd25519 returns the base64 Ed25519 signature of "<timestamp>|<body>",
// the message Telnyx signs its webhooks with. It returns "" if key is not a
// valid private key, rather than panicking as ed25519.Sign would.
func SignEd25519(key ed25519.PrivateKey, timestamp string, body []byte) string {
	if len(key) != ed25519.PrivateKeySize {
		return ""
	}
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, telnyxMessage(timestamp, body)))
}

// VerifyEd25519 reports whether sig (base64) is a valid Ed25519 signature of
// "<timestamp>|<body>" under pub. Malformed keys or signatures yield false.
// Checking that the timestamp is recent is left to the caller, who knows
// what clock skew to allow.
func VerifyEd25519(pub ed25519.PublicKey, timestamp string, body []byte, sig string) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, telnyxMessage(timestamp, body), raw)
}

func telnyxMessage(timestamp string, body []byte) []byte {
	msg := make([]byte, 0, len(timestamp)+1+len(body))
	msg = append(msg, timestamp...)
	msg = append(msg, '|')
	return append(msg, body...)
}

// ParseSigningKey decodes an Ed25519 signing key written as base64: a
// 32-byte seed or a 64-byte private key, as Go's crypto/ed25519 and most
// tools write them. "" is no key (nil).
func ParseSigningKey(v string) (ed25519.PrivateKey, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("signing key: not base64: %w", err)
	}
	switch len(b) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case ed25519.PrivateKeySize:
		return ed25519.PrivateKey(b), nil
	}
	return nil, fmt.Errorf("signing key: %d bytes; want a 32-byte seed or a 64-byte private key", len(b))
}
