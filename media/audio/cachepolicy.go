package audio

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// heuristicCap bounds the freshness given to a response that has a
// Last-Modified date but no explicit lifetime. RFC 9111 section 4.2.2 suggests
// 10 % of the document's age; the cap keeps an updated prompt from
// sounding stale for more than an hour.
const heuristicCap = time.Hour

// cachePolicy is what a response's headers allow (RFC 9111).
type cachePolicy struct {
	noStore      bool          // must not be kept at all
	noCache      bool          // may be kept, but revalidated before every use
	lifetime     time.Duration // freshness lifetime, 0 if none
	age          time.Duration // age already accrued upstream (Age header)
	etag         string
	lastModified string
}

// validators reports whether the response can be revalidated cheaply.
func (p cachePolicy) validators() bool { return p.etag != "" || p.lastModified != "" }

// parseCachePolicy reads Cache-Control, Pragma, Expires, Date, Age, ETag
// and Last-Modified. texml is one cache shared by every call, so s-maxage
// wins over max-age; "private" is ignored because the audio is played to
// callers, never handed to another client.
func parseCachePolicy(h http.Header, now time.Time) cachePolicy {
	p := cachePolicy{etag: h.Get("ETag"), lastModified: h.Get("Last-Modified")}
	maxAge, sMaxAge := -1, -1
	cc := h.Values("Cache-Control")
	for _, line := range cc {
		for _, d := range strings.Split(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			val = strings.Trim(strings.TrimSpace(val), `"`)
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store":
				p.noStore = true
			case "no-cache":
				// With field names it only restricts those headers;
				// treating it as plain no-cache errs on the safe side.
				p.noCache = true
			case "max-age":
				maxAge = deltaSeconds(val)
			case "s-maxage":
				sMaxAge = deltaSeconds(val)
			}
		}
	}
	if len(cc) == 0 && strings.Contains(strings.ToLower(h.Get("Pragma")), "no-cache") {
		p.noCache = true // HTTP/1.0 servers (RFC 9111 section 5.4)
	}
	if a := deltaSeconds(h.Get("Age")); a > 0 {
		p.age = time.Duration(a) * time.Second
	}
	date := now
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		date = d
	}
	switch {
	case sMaxAge >= 0:
		p.lifetime = time.Duration(sMaxAge) * time.Second
	case maxAge >= 0:
		p.lifetime = time.Duration(maxAge) * time.Second
	case h.Get("Expires") != "":
		// An unparsable Expires ("0", "-1") means already expired.
		if e, err := http.ParseTime(h.Get("Expires")); err == nil && e.After(date) {
			p.lifetime = e.Sub(date)
		}
	case p.lastModified != "":
		if lm, err := http.ParseTime(p.lastModified); err == nil && date.After(lm) {
			p.lifetime = min(date.Sub(lm)/10, heuristicCap)
		}
	}
	return p
}

// deltaSeconds parses a non-negative count of seconds, -1 when invalid.
// Values past 2^31 saturate, as RFC 9111 section 1.2.2 requires.
func deltaSeconds(s string) int {
	if s == "" {
		return -1
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 1<<31 - 1
		}
		return -1
	}
	return int(min(n, 1<<31-1))
}
