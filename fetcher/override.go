package fetcher

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// overrides are the effective connection settings of one fetch: the
// Fetcher's defaults, replaced key by key by a URL's #ct=..&rt=.. fragment.
type overrides struct {
	connect time.Duration // ct: TCP connect timeout
	read    time.Duration // rt: silence allowed before and between reply packets
	total   time.Duration // tt: budget for every attempt and redirect hop
	retries int           // rc: extra attempts after the first
	policy  retryClass    // rp: which failures are retried
}

// Limits Twilio documents for fragment values. They apply to the fragment
// only: the operator's Options may go beyond them.
const (
	minOverrideMS     = 100
	maxConnectMS      = 10000
	maxReadMS         = 15000
	maxTotalMS        = 15000
	maxRetries        = 5
	defaultRetries    = 1
	defaultRetryClass = retryConnect
)

// cutFragment splits a raw URL at its first '#'. Working on the raw string
// instead of a parsed URL keeps the part before it byte-for-byte as the
// application wrote it, which is what the signature must cover.
func cutFragment(raw string) (base, fragment string) {
	base, fragment, _ = strings.Cut(raw, "#")
	return base, fragment
}

// parseOverrides applies a connection-override fragment to def. Unknown keys
// (e, sni, or an ordinary page anchor) and malformed values are ignored, so a
// typo degrades to the defaults rather than failing the call.
func parseOverrides(fragment string, def overrides) overrides {
	o := def
	if fragment == "" {
		return o
	}
	// ParseQuery reports the first bad pair but still returns the good ones.
	vals, _ := url.ParseQuery(fragment)
	if v, ok := intValue(vals, "ct"); ok {
		o.connect = millis(clamp(v, minOverrideMS, maxConnectMS))
	}
	if v, ok := intValue(vals, "rt"); ok {
		o.read = millis(clamp(v, minOverrideMS, maxReadMS))
	}
	if v, ok := intValue(vals, "tt"); ok {
		o.total = millis(clamp(v, minOverrideMS, maxTotalMS))
	}
	if v, ok := intValue(vals, "rc"); ok {
		o.retries = clamp(v, 0, maxRetries)
	}
	if raw := vals.Get("rp"); raw != "" {
		if p := parsePolicy(raw); p != 0 {
			o.policy = p
		}
	}
	return o
}

// parsePolicy reads a comma-separated rp value such as "ct,5xx". Unknown
// entries are skipped; a value with no known entry yields 0 so the caller
// keeps the default instead of silently disabling retries.
func parsePolicy(raw string) retryClass {
	var p retryClass
	for _, part := range strings.Split(raw, ",") {
		switch strings.ToLower(strings.TrimSpace(part)) {
		case "ct":
			p |= retryConnect
		case "rt":
			p |= retryRead
		case "4xx":
			p |= retry4xx
		case "5xx":
			p |= retry5xx
		case "all":
			p |= retryAll
		}
	}
	return p
}

func intValue(vals url.Values, key string) (int, bool) {
	s := strings.TrimSpace(vals.Get(key))
	if s == "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false
	}
	return n, true
}

func clamp(v, lo, hi int) int {
	return min(max(v, lo), hi)
}

func millis(n int) time.Duration {
	return time.Duration(n) * time.Millisecond
}
