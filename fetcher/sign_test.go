package fetcher

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Inputs and outputs published with Twilio's request validator tests.
const (
	twilioToken = "12345"
	twilioURL   = "https://mycompany.com/myapp.php?foo=1&bar=2"
)

func twilioParams() url.Values {
	return url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+14158675309"},
		"Digits":  {"1234"},
		"From":    {"+14158675309"},
		"To":      {"+18005551212"},
	}
}

func TestSignatureKnownVectors(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		params url.Values
		want   string
	}{
		{"docs example", twilioURL, twilioParams(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{"repeated names sort values", twilioURL, url.Values{
			"Sid":        {"CA123"},
			"SidAccount": {"AC123"},
			"Digits":     {"5678", "1234"},
		}, "IK+Dwps556ElfBT0I3Rgjkr1wJU="},
		{"https with :443", strings.Replace(twilioURL, ".com", ".com:443", 1), twilioParams(), "kvajT1Ptam85bY51eRf/AJRuM3w="},
		{"http with :80", strings.Replace(strings.Replace(twilioURL, "https", "http", 1), ".com", ".com:80", 1), twilioParams(), "0ZXoZLH/DfblKGATFgpif+LLRf4="},
		{"http with :1234", strings.Replace(strings.Replace(twilioURL, "https", "http", 1), ".com", ".com:1234", 1), twilioParams(), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Signature(twilioToken, tt.url, tt.params); got != tt.want {
				t.Errorf("Signature = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSignatureIndependent recomputes the documented algorithm by hand: URL,
// then names in byte order, each repeated name's values in byte order.
func TestSignatureIndependent(t *testing.T) {
	token := "s3cr3t"
	u := "https://example.com:8443/ivr/menu?step=2"
	params := url.Values{"b": {"2", "10"}, "B": {"x"}, "a": {""}, "Digits": {"#"}}
	msg := u + "B" + "x" + "Digits" + "#" + "a" + "" + "b" + "10" + "b" + "2"
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(msg))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := Signature(token, u, params); got != want {
		t.Fatalf("Signature = %q, want %q", got, want)
	}
	// GET: nil params sign the URL alone.
	mac = hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(u))
	if got, want := Signature(token, u, nil), base64.StdEncoding.EncodeToString(mac.Sum(nil)); got != want {
		t.Fatalf("GET Signature = %q, want %q", got, want)
	}
}

func TestValidateSignature(t *testing.T) {
	httpURL := strings.Replace(twilioURL, "https", "http", 1)
	tests := []struct {
		name string
		url  string
		sig  string
		want bool
	}{
		{"exact", twilioURL, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", true},
		{"signed with :443, validated without", twilioURL, "kvajT1Ptam85bY51eRf/AJRuM3w=", true},
		{"signed without port, validated with :443", strings.Replace(twilioURL, ".com", ".com:443", 1), "RSOYDt4T1cUTdK1PDd93/VVr8B8=", true},
		{"http signed with :80, validated without", httpURL, "0ZXoZLH/DfblKGATFgpif+LLRf4=", true},
		{"http non-default port exact", strings.Replace(httpURL, ".com", ".com:1234", 1), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", true},
		// Only the scheme's default port is toggled, never an arbitrary one.
		{"https non-default port is not stripped", strings.Replace(twilioURL, ".com", ".com:1234", 1), "RSOYDt4T1cUTdK1PDd93/VVr8B8=", false},
		{"wrong signature", twilioURL, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", false},
		{"empty signature", twilioURL, "", false},
		{"other URL", twilioURL + "&x=1", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidateSignature(twilioToken, tt.url, twilioParams(), tt.sig); got != tt.want {
				t.Errorf("ValidateSignature = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPortVariants(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"https://a.com/x", []string{"https://a.com/x", "https://a.com:443/x"}},
		{"https://a.com:443/x?y=1", []string{"https://a.com:443/x?y=1", "https://a.com/x?y=1"}},
		{"http://a.com", []string{"http://a.com", "http://a.com:80"}},
		{"http://u:p@a.com:80?q", []string{"http://u:p@a.com:80?q", "http://u:p@a.com?q"}},
		{"https://[::1]/x", []string{"https://[::1]/x", "https://[::1]:443/x"}},
		{"https://[::1]:443/x", []string{"https://[::1]:443/x", "https://[::1]/x"}},
		{"https://a.com:8443/x", []string{"https://a.com:8443/x"}},
		{"ftp://a.com/x", []string{"ftp://a.com/x"}},
		{"not a url", []string{"not a url"}},
	}
	for _, tt := range tests {
		got := portVariants(tt.in)
		if strings.Join(got, " | ") != strings.Join(tt.want, " | ") {
			t.Errorf("portVariants(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEd25519RoundTrip(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	key := ed25519.NewKeyFromSeed(seed)
	pub := key.Public().(ed25519.PublicKey)
	body := []byte("CallSid=v3%3Aabc&Digits=1")
	sig := SignEd25519(key, "1700000000", body)
	if sig == "" {
		t.Fatal("SignEd25519 returned empty signature")
	}
	tests := []struct {
		name string
		pub  ed25519.PublicKey
		ts   string
		body []byte
		sig  string
		want bool
	}{
		{"valid", pub, "1700000000", body, sig, true},
		{"other timestamp", pub, "1700000001", body, sig, false},
		{"other body", pub, "1700000000", []byte("CallSid=x"), sig, false},
		{"not base64", pub, "1700000000", body, "%%%", false},
		{"short signature", pub, "1700000000", body, base64.StdEncoding.EncodeToString([]byte("short")), false},
		{"bad public key", ed25519.PublicKey{1, 2, 3}, "1700000000", body, sig, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifyEd25519(tt.pub, tt.ts, tt.body, tt.sig); got != tt.want {
				t.Errorf("VerifyEd25519 = %v, want %v", got, tt.want)
			}
		})
	}
	// The message is "<timestamp>|<body>": check against the primitive.
	raw, _ := base64.StdEncoding.DecodeString(sig)
	if !ed25519.Verify(pub, []byte("1700000000|"+string(body)), raw) {
		t.Error("signature does not cover \"<timestamp>|<body>\"")
	}
	if got := SignEd25519(ed25519.PrivateKey{1}, "1", nil); got != "" {
		t.Errorf("SignEd25519 with bad key = %q, want empty", got)
	}
}

// TestRequestSigning: a request's own Signing replaces the Fetcher's, so
// that one server signs each call as its application's platform does;
// without one, the Fetcher's Options sign it.
func TestRequestSigning(t *testing.T) {
	fkey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	rkey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, ed25519.SeedSize))
	type got struct {
		twilio        string
		telnyx, stamp string
		body          []byte
		url           string
	}
	seen := make(chan got, 1)
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen <- got{r.Header.Get(HeaderTwilioSignature), r.Header.Get(HeaderTelnyxSignature),
			r.Header.Get(HeaderTelnyxTimestamp), body, requestURL(r)}
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, "<Response/>")
	})
	f := New(Options{AuthToken: testToken, SigningKey: fkey, Now: func() time.Time { return time.Unix(1700000000, 0) }})
	defer f.Close()
	params := url.Values{"CallSid": {"CA1"}}
	for _, tt := range []struct {
		name    string
		signing *Signing
		token   string            // the X-Twilio-Signature key; "" none
		pub     ed25519.PublicKey // the Ed25519 key; nil none
	}{
		{"fetcher's", nil, testToken, fkey.Public().(ed25519.PublicKey)},
		{"ed25519 only", &Signing{Key: rkey}, "", rkey.Public().(ed25519.PublicKey)},
		{"token only", &Signing{AuthToken: "other"}, "other", nil},
		{"unsigned", &Signing{}, "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.Fetch(context.Background(), Request{URL: srv.URL + "/v", Params: params, Signing: tt.signing}); err != nil {
				t.Fatal(err)
			}
			g := <-seen
			switch {
			case tt.token == "" && g.twilio != "":
				t.Errorf("X-Twilio-Signature %q, want none", g.twilio)
			case tt.token != "" && !ValidateSignature(tt.token, g.url, params, g.twilio):
				t.Errorf("X-Twilio-Signature %q does not verify with %q", g.twilio, tt.token)
			case tt.pub == nil && (g.telnyx != "" || g.stamp != ""):
				t.Errorf("Telnyx headers %q %q, want none", g.telnyx, g.stamp)
			case tt.pub != nil && (g.stamp != "1700000000" || !VerifyEd25519(tt.pub, g.stamp, g.body, g.telnyx)):
				t.Errorf("Telnyx signature %q at %q does not verify", g.telnyx, g.stamp)
			}
		})
	}
	bad := &Signing{Key: ed25519.PrivateKey{1, 2, 3}}
	if _, err := f.Fetch(context.Background(), Request{URL: srv.URL + "/v", Signing: bad}); err == nil {
		t.Error("a request signed with a malformed key was sent")
	}
}

func TestParseSigningKey(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	want := ed25519.NewKeyFromSeed(seed)
	for _, tt := range []struct {
		in    string
		key   ed25519.PrivateKey
		error string
	}{
		{"", nil, ""},
		{base64.StdEncoding.EncodeToString(seed), want, ""},
		{" " + base64.StdEncoding.EncodeToString(want) + "\n", want, ""},
		{"not base64!", nil, "not base64"},
		{base64.StdEncoding.EncodeToString([]byte("short")), nil, "5 bytes"},
	} {
		key, err := ParseSigningKey(tt.in)
		if !bytes.Equal(key, tt.key) || (err == nil) != (tt.error == "") || (err != nil && !strings.Contains(err.Error(), tt.error)) {
			t.Errorf("ParseSigningKey(%q) = %x, %v; want %x, error %q", tt.in, key, err, tt.key, tt.error)
		}
	}
}
