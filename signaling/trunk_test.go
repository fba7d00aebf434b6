package signaling

import (
	"strings"
	"testing"
)

func TestTrunksRoute(t *testing.T) {
	tr := &Trunks{
		Deny: ExampleDeny,
		Trunks: []Trunk{
			{Name: "uk", Match: []string{"+44*"}, Deny: []string{"+4470*"}, URI: "sip:uk.example.net:5070;transport=tcp"},
			{Name: "default", URI: "sip:127.0.0.1"},
		},
	}
	if err := tr.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		number, trunk, err string
	}{
		{"+442071234567", "uk", ""},
		{"+15551230000", "default", ""},
		{"+19005550000", "", "deny list"},
		{"+447000000000", "", "denied by uk"},
		{"+8816000000", "", "deny list"},
	}
	for _, tc := range tests {
		got, err := tr.Route(tc.number)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.number, err, tc.err)
			}
			continue
		}
		if err != nil || got.Name != tc.trunk {
			t.Errorf("%s: trunk %v (%v), want %s", tc.number, got, err, tc.trunk)
		}
	}
	u := tr.Trunks[0].requestURI("+442071234567")
	if u.User != "+442071234567" || u.Host != "uk.example.net" || u.Port != 5070 {
		t.Errorf("request URI %s", u.String())
	}
	if tp, _ := u.UriParams.Get("transport"); tp != "tcp" {
		t.Errorf("transport %q", tp)
	}
}

func TestTrunksInvalid(t *testing.T) {
	for _, tr := range []Trunks{
		{Trunks: []Trunk{{URI: "not a uri"}}},
		{Trunks: []Trunk{{URI: "sip:host;transport=tls"}}},
		{Trunks: []Trunk{{URI: "sip:host", Match: []string{"[+1"}}}},
		{Deny: []string{""}},
	} {
		if err := tr.Validate(); err == nil {
			t.Errorf("%+v: no error", tr)
		}
	}
	var none *Trunks
	if _, err := none.Route("+15551230000"); err == nil || !strings.Contains(err.Error(), "no trunk") {
		t.Errorf("no trunks: %v", err)
	}
}
