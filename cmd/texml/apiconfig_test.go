package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/texml/texml/api"
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
