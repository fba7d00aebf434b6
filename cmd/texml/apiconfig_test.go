package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/texml/texml/api"
	"github.com/texml/texml/verbs"
)

func TestAPIAccountsFromConfig(t *testing.T) {
	const main, other = "AC0123456789abcdef0123456789abcdef", "ACfedcba9876543210fedcba9876543210"
	write := func(yaml string) string {
		p := filepath.Join(t.TempDir(), "texml.yaml")
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f := serveFlags{voiceURL: "http://app.test/voice", config: write("account_sid: " + main + "\nauth_token: main-secret\naccounts:\n  - sid: " + other + "\n    auth_token: other-secret\n")}
	if _, err := f.routes(); err != nil {
		t.Fatal(err)
	}
	want := []api.Account{{Sid: main, AuthToken: "main-secret"}, {Sid: other, AuthToken: "other-secret"}}
	if got := f.apiAccounts(); !slices.Equal(got, want) {
		t.Errorf("accounts %v, want %v", got, want)
	}
	// With neither flags nor file, the default account has no token and
	// so no API.
	f = serveFlags{}
	if got := f.apiAccounts(); len(got) != 1 || got[0].Sid != "AC"+strings.Repeat("0", 32) || got[0].AuthToken != "" {
		t.Errorf("no config: %v", got)
	}
	for _, bad := range []string{"accounts:\n  - sid: AC12\n    auth_token: x\n", "accounts:\n  - sid: " + other + "\n"} {
		f = serveFlags{voiceURL: "http://app.test/voice", config: write(bad)}
		if _, err := f.routes(); err == nil || !strings.Contains(err.Error(), "accounts[0]") {
			t.Errorf("%q: err %v, want one naming accounts[0]", bad, err)
		}
	}
}

// TestTexmlServeConfig: the TeXML settings of `texml serve` — --dialect,
// --signing-key, --api-key, --connection-id, and their config-file
// forms — are read, and wrong ones refused by name.
func TestTexmlServeConfig(t *testing.T) {
	write := func(yaml string) string {
		p := filepath.Join(t.TempDir(), "texml.yaml")
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const uuid = "f5586561-8ff0-4291-a51b-c7dfe4139ff9"
	f := serveFlags{voiceURL: "http://app.test/voice", dialect: "texml", connectionID: "42", apiKey: "KEY-main",
		signingKey: "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
		config:     write("accounts:\n  - sid: " + uuid + "\n    api_key: KEY-other\n")}
	r, err := f.routes()
	if err != nil {
		t.Fatal(err)
	}
	app, ok := r.Application("42")
	if !ok || app.Dialect != verbs.TeXML || app.URL != "http://app.test/voice" || app.Signing == nil || app.Signing.Key == nil {
		t.Errorf("Application(42) = %+v, %v", app, ok)
	}
	want := []api.Account{{Sid: "AC" + strings.Repeat("0", 32), APIKey: "KEY-main"}, {Sid: uuid, APIKey: "KEY-other"}}
	if got := f.apiAccounts(); !slices.Equal(got, want) {
		t.Errorf("accounts %v, want %v", got, want)
	}
	for _, tt := range []struct {
		f    serveFlags
		want string
	}{
		{serveFlags{voiceURL: "http://a/v", dialect: "laml"}, "--dialect"},
		{serveFlags{voiceURL: "http://a/v", signingKey: "nope!"}, "--signing-key"},
		{serveFlags{connectionID: "42", config: write("routes:\n  - match: '*'\n    app: {voice_url: http://a/v}\n")}, "--connection-id"},
		{serveFlags{voiceURL: "http://a/v", connectionID: "42"}, "connection_id is a TeXML application's id"},
		{serveFlags{config: write("routes:\n  - match: '*'\n    app: {voice_url: http://a/v, connection_id: '7'}\n")}, "set dialect: texml"},
		{serveFlags{voiceURL: "http://a/v", config: write("accounts:\n  - sid: " + uuid + "\n")}, "accounts[0]: want an auth_token"},
		{serveFlags{voiceURL: "http://a/v", config: write("accounts:\n  - sid: " + uuid + "\n    auth_token: t\n")}, "accounts[0]: an account with an auth_token"},
	} {
		if _, err := tt.f.routes(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err %v, want %q", tt.f, err, tt.want)
		}
	}
}
