// Package fetcher retrieves TwiML/TeXML documents, audio and text for a call
// the way Twilio and Telnyx do: form-encoded POST or query-merged GET, per-URL
// connection overrides (#ct=..&rt=..&tt=..&rc=..&rp=..), retries, browser-like
// redirects and cookies, request signing, Content-Type dispatch, and Twilio
// error codes on failure. It also serves file: URLs so an application can run
// from a directory of documents.
//
// Choices where the platform documentation leaves room:
//
//   - Redirects: 301, 302, 303, 307 and 308 are followed, at most
//     MaxRedirects times (then 11215). On 301/302/303 a POST becomes a GET
//     without the form parameters, as browsers do; 307/308 repeat the POST.
//     Every hop is signed afresh and uses the call's cookie jar.
//   - Timeouts: rt is the longest silence allowed between sending the request
//     and the first reply bytes and between later reads, as Twilio defines
//     it, not a cap on the whole transfer; tt caps the whole fetch, retries
//     and redirects included.
//   - Retries: rc extra attempts (default 1) for the failure classes in the
//     comma-separated rp (default ct: connection and TLS setup failures).
//     Retries wait Options.RetryDelay, stay within tt, and never follow the
//     caller's own cancellation. A definite DNS "no such host" is not
//     retried; a resolver timeout is.
//   - Content types: a 2xx reply without a Content-Type fails with 12300, as
//     does any type other than XML/HTML, audio/* or text/plain.
//   - Files: the query string of a file: URL is ignored when reading (a file
//     cannot branch on it), the Kind comes from the extension, and no
//     signature headers are sent. Resolve refuses to turn a reference in a
//     remote document into a file: URL.
package fetcher

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strings"
	"time"
)

// Request is one HTTP(S) or file fetch made on behalf of a call.
type Request struct {
	URL    string         // absolute http, https or file URL, or a plain path; may carry a #ct=..&rt=..&rc=..&rp=.. fragment
	Method string         // "GET" or "POST" (case-insensitive); "" means POST
	Params url.Values     // POST: form body; GET: appended to the URL's existing query
	Jar    http.CookieJar // per-call cookie jar; may be nil
	Header http.Header    // extra headers; may be nil
	// Signing, when set, signs this request instead of the Fetcher's
	// Options.AuthToken and SigningKey: the server signs each call's
	// requests the way its application's platform does.
	Signing *Signing
}

// Signing is how a request is signed: X-Twilio-Signature with AuthToken
// (https://www.twilio.com/docs/usage/security#validating-requests),
// Telnyx-Signature-Ed25519 and Telnyx-Timestamp with Key
// (https://developers.telnyx.com/api-reference/callbacks/texml-call-initiated),
// either, both or, when both are empty, neither.
type Signing struct {
	AuthToken string
	Key       ed25519.PrivateKey
}

// Response is a successful fetch.
type Response struct {
	URL         string      // document URL after redirects, fragment stripped; relative references resolve against it
	RequestURL  string      // URL of the last request as sent (GET params merged), fragment stripped; what its signature covered
	Status      int         // HTTP status (200 for files)
	ContentType string      // media type without parameters, lower case
	Kind        Kind        // how the platform treats the body
	Body        []byte      // the whole body, at most Options.MaxBody bytes
	Header      http.Header // response headers of the last hop
	Redirects   []Redirect  // the redirects followed to get here, in order; nil when none
}

// Redirect is one redirect a fetch followed, so that a person reading a
// trace can see that the document came from another URL.
type Redirect struct {
	Method   string // the method of the request that was redirected
	URL      string // the URL that answered with the redirect, without merged GET params
	Status   int    // 301, 302, 303, 307 or 308
	Location string // the absolute URL requested next
}

// Options configure a Fetcher; zero values take the documented defaults.
type Options struct {
	AuthToken      string             // when set, X-Twilio-Signature on every HTTP request
	SigningKey     ed25519.PrivateKey // when set, Telnyx-Signature-Ed25519 and Telnyx-Timestamp on every HTTP request
	ConnectTimeout time.Duration      // default for ct; default 5 s
	ReadTimeout    time.Duration      // default for rt: silence allowed before the reply and between its packets; default 15 s
	TotalTimeout   time.Duration      // default for tt: all attempts and hops of one fetch; default 15 s, or ReadTimeout if larger
	MaxBody        int64              // largest body accepted; default 4 MiB; larger fails with 11200
	UserAgent      string             // default "texml/<module version>"
	Now            func() time.Time   // clock for Telnyx-Timestamp; default time.Now
	Transport      http.RoundTripper  // optional; default a pooled transport; a custom one ignores ct (rt and tt still apply)
	RetryDelay     time.Duration      // pause before each retry; default 100 ms; negative means none
	DenyFiles      bool               // refuse file: URLs and plain paths, for deployments serving only remote apps
	// Deny decides which addresses may be connected to (11205 with
	// ErrDeniedAddress otherwise); nil is DenyAddress: no link-local or
	// cloud metadata address. AllowAll turns the policy off.
	Deny     func(netip.Addr) error
	AllowAll bool
}

// Defaults applied by New to zero Options fields.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultReadTimeout    = 15 * time.Second
	DefaultTotalTimeout   = 15 * time.Second
	DefaultMaxBody        = 4 << 20
	DefaultRetryDelay     = 100 * time.Millisecond
	// MaxRedirects is how many redirects one fetch follows before failing
	// with 11215, the same limit browsers and net/http use.
	MaxRedirects = 10
)

// Fetcher performs fetches for many calls concurrently over one connection
// pool. It is safe for concurrent use.
type Fetcher struct {
	transport  http.RoundTripper
	authToken  string
	signingKey ed25519.PrivateKey
	defaults   overrides
	maxBody    int64
	userAgent  string
	now        func() time.Time
	retryDelay time.Duration
	denyFiles  bool
}

// connectTimeoutKey carries a fetch's ct override to the dialer, which only
// sees the request context.
type connectTimeoutKey struct{}

// New builds a Fetcher from o, filling in defaults.
func New(o Options) *Fetcher {
	f := &Fetcher{
		authToken:  o.AuthToken,
		signingKey: o.SigningKey,
		maxBody:    o.MaxBody,
		userAgent:  o.UserAgent,
		now:        o.Now,
		retryDelay: o.RetryDelay,
		denyFiles:  o.DenyFiles,
		defaults: overrides{
			connect: o.ConnectTimeout,
			read:    o.ReadTimeout,
			total:   o.TotalTimeout,
			retries: defaultRetries,
			policy:  defaultRetryClass,
		},
	}
	if f.defaults.connect <= 0 {
		f.defaults.connect = DefaultConnectTimeout
	}
	if f.defaults.read <= 0 {
		f.defaults.read = DefaultReadTimeout
	}
	if f.defaults.total <= 0 {
		f.defaults.total = max(DefaultTotalTimeout, f.defaults.read)
	}
	if f.maxBody <= 0 {
		f.maxBody = DefaultMaxBody
	}
	if f.userAgent == "" {
		f.userAgent = "texml/" + moduleVersion()
	}
	if f.now == nil {
		f.now = time.Now
	}
	switch {
	case f.retryDelay == 0:
		f.retryDelay = DefaultRetryDelay
	case f.retryDelay < 0:
		f.retryDelay = 0
	}
	f.transport = o.Transport
	if f.transport == nil {
		dialer := &net.Dialer{KeepAlive: 30 * time.Second}
		if !o.AllowAll {
			deny := o.Deny
			if deny == nil {
				deny = DenyAddress
			}
			dialer.Control = control(deny)
		}
		f.transport = newTransport(f.defaults.connect, dialer.DialContext)
	}
	return f
}

// dialFunc is the signature of net.Dialer.DialContext.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// newTransport builds the shared pool. The connect timeout is applied in
// DialContext per fetch, so a #ct= override affects only its own request.
func newTransport(defaultConnect time.Duration, dial dialFunc) *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ct := defaultConnect
			if v, ok := ctx.Value(connectTimeoutKey{}).(time.Duration); ok && v > 0 {
				ct = v
			}
			dctx, cancel := context.WithTimeout(ctx, ct)
			defer cancel()
			return dial(dctx, network, addr)
		},
		ForceAttemptHTTP2: true,
		// A voice server's documents mostly come from one app host, and a
		// burst of calls fetches hundreds at once: connections past the
		// per-host idle limit are closed after one use and dialed again
		// by the next burst (6% of texml's CPU at 1,500 calls/s with 64).
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    1024,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    defaultConnect,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// moduleVersion reports this module's version from the build info, so the
// User-Agent tracks releases without a hand-maintained constant.
func moduleVersion() string {
	const module = "github.com/texml/texml"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if bi.Main.Path == module && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == module && d.Version != "" {
			return d.Version
		}
	}
	return "dev"
}

// Close releases idle pooled connections. The Fetcher stays usable.
func (f *Fetcher) Close() {
	if c, ok := f.transport.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// NewJar returns an empty cookie jar for one call. No public-suffix list is
// needed because the jar lives for a single call and only ever holds
// cookies set by that call's own application servers.
func NewJar() http.CookieJar {
	jar, err := cookiejar.New(nil)
	if err != nil {
		// cookiejar.New cannot fail without options; a nil jar just means
		// no cookies, which Fetch accepts.
		return nil
	}
	return jar
}

// Fetch retrieves r.URL. HTTP(S) URLs follow the platform's rules
// (https://www.twilio.com/docs/voice/twiml#twilios-request-to-your-application);
// file: URLs and plain paths read a local file (see
// fetchFile). Every error is an *Error carrying a Twilio code; a cancelled
// ctx yields an *Error whose cause is the context's, and is never retried.
func (f *Fetcher) Fetch(ctx context.Context, r Request) (*Response, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	raw := strings.TrimSpace(r.URL)
	if raw == "" {
		return nil, &Error{Code: CodeHTTPRetrieval, Err: fmt.Errorf("%w: empty URL", ErrBadURL)}
	}
	if !hasScheme(raw) {
		// A plain path is taken literally: '#' and '?' are valid in file
		// names and FileURL escapes them.
		fu, err := FileURL(raw)
		if err != nil {
			return nil, &Error{Code: CodeHTTPRetrieval, URL: raw, Err: err}
		}
		raw = fu
	}
	base, fragment := cutFragment(raw)
	u, err := url.Parse(base)
	if err != nil {
		return nil, &Error{Code: CodeHTTPRetrieval, URL: base, Err: fmt.Errorf("%w: %w", ErrBadURL, err)}
	}
	switch {
	case isHTTP(u.Scheme):
		if u.Host == "" {
			return nil, &Error{Code: CodeHTTPRetrieval, URL: base, Err: fmt.Errorf("%w: no host", ErrBadURL)}
		}
		// Apps write URLs with raw spaces (action="/menu?name=two words");
		// a browser sends them percent-encoded, and so do we: a raw space
		// would make an invalid request line. The path is escaped by
		// String; the query keeps its other characters as written.
		u.RawQuery = strings.ReplaceAll(u.RawQuery, " ", "%20")
		return f.fetchHTTP(ctx, r, u.String(), parseOverrides(fragment, f.defaults))
	case strings.EqualFold(u.Scheme, "file"):
		return f.fetchFile(ctx, base, u)
	}
	return nil, &Error{Code: CodeHTTPRetrieval, URL: base, Err: fmt.Errorf("%w: unsupported scheme %q", ErrBadURL, u.Scheme)}
}
