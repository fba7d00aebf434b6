package signaling

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media"
	"github.com/texml/texml/verbs"
)

// invite is an INVITE to user@texml.test from "name" <sip:+15550001111@pbx>.
func invite(user, name string) *sip.Request {
	req := sip.NewRequest(sip.INVITE, sip.Uri{User: user, Host: "texml.test"})
	req.AppendHeader(&sip.FromHeader{DisplayName: name, Address: sip.Uri{User: "+15550001111", Host: "pbx.test"}, Params: sip.NewParams()})
	return req
}

func TestRoutesValidateDialect(t *testing.T) {
	seed := base64.StdEncoding.EncodeToString(make([]byte, ed25519.SeedSize))
	for _, tt := range []struct {
		name    string
		def     verbs.Dialect
		app     App
		wantErr string
	}{
		{"twiml", verbs.TwiML, App{VoiceURL: "http://a/v"}, ""},
		{"texml route", verbs.TwiML, App{VoiceURL: "http://a/v", Dialect: "texml", ConnectionID: "1", SigningKey: seed}, ""},
		{"texml server", verbs.TeXML, App{VoiceURL: "http://a/v", ConnectionID: "1"}, ""},
		{"unknown dialect", verbs.TwiML, App{VoiceURL: "http://a/v", Dialect: "laml"}, `dialect "laml"`},
		{"key on twiml", verbs.TwiML, App{VoiceURL: "http://a/v", SigningKey: seed}, "signing_key signs TeXML requests"},
		{"connection on twiml", verbs.TeXML, App{VoiceURL: "http://a/v", Dialect: "twiml", ConnectionID: "1"}, "connection_id is a TeXML application's id"},
		{"bad key", verbs.TeXML, App{VoiceURL: "http://a/v", SigningKey: "AAAA"}, "3 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &Routes{Dialect: tt.def, Routes: []Route{{Match: "*", App: tt.app}}}
			err := r.Validate()
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestRoutesConfig: each route's call follows its dialect, sends its
// connection id and is signed with its key, the route's own or the
// server's; a TwiML route keeps the fetcher's signing.
func TestRoutesConfig(t *testing.T) {
	own := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	server := ed25519.NewKeyFromSeed([]byte(strings.Repeat("s", ed25519.SeedSize)))
	r := &Routes{AccountSid: "AC1", SigningKey: server, Routes: []Route{
		{Match: "telnyx", App: App{VoiceURL: "http://a/t", VoiceMethod: "GET", Dialect: "texml", ConnectionID: "77",
			SigningKey: base64.StdEncoding.EncodeToString(own.Seed())}},
		{Match: "server-key", App: App{VoiceURL: "http://a/s", Dialect: "texml"}},
		{Match: "*", App: App{VoiceURL: "http://a/w"}},
	}}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		user, url  string
		dialect    verbs.Dialect
		connection string
		key        ed25519.PrivateKey // nil: no Signing (the fetcher's)
		callerID   string
	}{
		{"telnyx", "http://a/t", verbs.TeXML, "77", own, "Ann"},
		{"server-key", "http://a/s", verbs.TeXML, "", server, "Ann"},
		{"+15551234567", "http://a/w", verbs.TwiML, "", nil, ""},
	} {
		cfg, err := r.Route(invite(tt.user, "Ann"))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.URL != tt.url || cfg.Dialect != tt.dialect || cfg.ConnectionID != tt.connection || cfg.CallerID != tt.callerID ||
			cfg.From != "+15550001111" || cfg.AccountSid != "AC1" {
			t.Errorf("%s: %+v", tt.user, cfg)
		}
		switch {
		case tt.key == nil && cfg.Signing != nil:
			t.Errorf("%s: signing %+v, want the fetcher's", tt.user, cfg.Signing)
		case tt.key != nil && (cfg.Signing == nil || !cfg.Signing.Key.Equal(tt.key) || cfg.Signing.AuthToken != ""):
			t.Errorf("%s: signing %+v, want Ed25519 only with %x", tt.user, cfg.Signing, tt.key.Seed())
		}
	}
	app, ok := r.Application("77")
	if !ok || app.URL != "http://a/t" || app.Method != "GET" || app.Dialect != verbs.TeXML || app.ConnectionID != "77" || !app.Signing.Key.Equal(own) {
		t.Errorf("Application(77) = %+v, %v", app, ok)
	}
	for _, id := range []string{"", "78"} {
		if _, ok := r.Application(id); ok {
			t.Errorf("Application(%q) found an application", id)
		}
	}
}

func TestCodecParams(t *testing.T) {
	for _, tt := range []struct {
		name      string
		dialect   verbs.Dialect
		offer     *Offer
		codec, hz string
	}{
		{"texml pcma", verbs.TeXML, &Offer{Codec: media.PCMA}, "PCMA", "8000"},
		{"texml delayed offer", verbs.TeXML, nil, "", ""},
		{"twiml", verbs.TwiML, &Offer{Codec: media.PCMU}, "", ""},
	} {
		cfg := interpreter.Config{Dialect: tt.dialect}
		codecParams(&cfg, tt.offer)
		if got := cfg.ExtraParams.Get("Codec"); got != tt.codec || cfg.ExtraParams.Get("SamplingRate") != tt.hz {
			t.Errorf("%s: Codec %q SamplingRate %q, want %q %q", tt.name, got, cfg.ExtraParams.Get("SamplingRate"), tt.codec, tt.hz)
		}
	}
}
