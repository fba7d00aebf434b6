package fetcher

import (
	"testing"
	"time"
)

func TestParseOverrides(t *testing.T) {
	def := overrides{connect: 5 * time.Second, read: 15 * time.Second, total: 15 * time.Second, retries: 1, policy: retryConnect}
	ms := time.Millisecond
	tests := []struct {
		frag string
		want overrides
	}{
		{"", def},
		{"section-2", def},
		{"ct=2000&rt=5000&tt=9000&rc=3&rp=all", overrides{2000 * ms, 5000 * ms, 9000 * ms, 3, retryAll}},
		{"ct=1&rt=99999&tt=0&rc=-4", overrides{100 * ms, 15000 * ms, 100 * ms, 0, retryConnect}},
		{"ct=20000&rc=9", overrides{10000 * ms, def.read, def.total, 5, retryConnect}},
		{"rp=5xx,ct", overrides{def.connect, def.read, def.total, 1, retry5xx | retryConnect}},
		{"rp=4XX%2Crt", overrides{def.connect, def.read, def.total, 1, retry4xx | retryRead}},
		{"rp=bogus", def},
		{"rt=abc&ct=&e=ashburn&sni=y", def},
		{"rt=300;bad&rc=2", overrides{def.connect, def.read, def.total, 2, retryConnect}},
	}
	for _, tt := range tests {
		t.Run(tt.frag, func(t *testing.T) {
			if got := parseOverrides(tt.frag, def); got != tt.want {
				t.Errorf("parseOverrides(%q) = %+v, want %+v", tt.frag, got, tt.want)
			}
		})
	}
}

func TestCutFragment(t *testing.T) {
	base, frag := cutFragment("https://a/b?c=1#rt=100&rc=0")
	if base != "https://a/b?c=1" || frag != "rt=100&rc=0" {
		t.Errorf("cutFragment = %q, %q", base, frag)
	}
	base, frag = cutFragment("https://a/b")
	if base != "https://a/b" || frag != "" {
		t.Errorf("cutFragment without fragment = %q, %q", base, frag)
	}
}
