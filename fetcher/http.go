package fetcher

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const formContentType = "application/x-www-form-urlencoded"

// drainLimit bounds how much of an unwanted body (redirect or error page) is
// read so the connection can go back to the pool; larger bodies cost a
// reconnect instead of unbounded reading.
const drainLimit = 4 << 10

// hop is one request of a redirect chain.
type hop struct {
	method string
	url    string     // exactly as sent and signed, no fragment
	params url.Values // POST form; nil for GET
	body   []byte     // encoded params for POST
}

// reply is what one successful exchange got back.
type reply struct {
	status      int
	header      http.Header
	body        []byte // read only for 2xx
	kind        Kind
	contentType string
}

// fetchHTTP runs the redirect chain of one fetch. Redirects are followed by
// hand rather than by http.Client so each hop can be re-signed, counted
// against 11215, and given its own retries within the one tt budget.
//
// On 301, 302 and 303 a POST becomes a GET without a body, as browsers do:
// the form parameters are not carried over, because the platform's documented
// model is a browser and that is what application frameworks expect after a
// post/redirect/get. 307 and 308 repeat the same method and body.
func (f *Fetcher) fetchHTTP(caller context.Context, r Request, base string, ov overrides) (*Response, error) {
	method, err := normalizeMethod(r.Method)
	if err != nil {
		return nil, &Error{Code: CodeHTTPRetrieval, URL: base, Err: err}
	}
	if key := f.signing(r).Key; key != nil && len(key) != ed25519.PrivateKeySize {
		return nil, &Error{Code: CodeHTTPRetrieval, URL: base, Err: fmt.Errorf("invalid Ed25519 signing key length %d", len(key))}
	}
	// A call that is already gone must not start a request, nor a dial that
	// the transport would finish in the background.
	if caller.Err() != nil {
		return nil, &Error{Code: CodeHTTPRetrieval, URL: base, Err: context.Cause(caller)}
	}
	total, cancel := context.WithTimeoutCause(caller, ov.total, ErrTotalTimeout)
	defer cancel()

	h := hop{method: method, url: base}
	if method == http.MethodGet {
		h.url = mergeQuery(base, r.Params)
	} else {
		h.params = r.Params
		h.body = []byte(r.Params.Encode())
	}
	docURL := base
	var hops []Redirect
	fail := func(e *Error) (*Response, error) {
		e.Redirects = hops
		return nil, e
	}
	for redirects := 0; ; redirects++ {
		// Sign what will be on the wire: net/http re-serialises the URL, and
		// for odd input (a raw space, say) that differs from the string given.
		wire, err := url.Parse(h.url)
		if err != nil {
			return fail(&Error{Code: CodeHTTPRetrieval, URL: docURL, Err: fmt.Errorf("%w: %w", ErrBadURL, err)})
		}
		h.url = wire.String()

		rep, ferr := f.exchange(caller, total, r, h, ov, docURL)
		if ferr != nil {
			return fail(ferr)
		}
		switch {
		case isRedirect(rep.status):
			if redirects >= MaxRedirects {
				return fail(&Error{Code: CodeTooManyRedirects, URL: docURL, Status: rep.status,
					Err: fmt.Errorf("%w: more than %d", ErrTooManyRedirects, MaxRedirects)})
			}
			next, err := redirectTarget(h.url, rep.header.Get("Location"))
			if err != nil {
				return fail(&Error{Code: CodeHTTPRetrieval, URL: docURL, Status: rep.status, Err: err})
			}
			hops = append(hops, Redirect{Method: h.method, URL: docURL, Status: rep.status, Location: next})
			if h.method == http.MethodPost && rep.status != http.StatusTemporaryRedirect && rep.status != http.StatusPermanentRedirect {
				h = hop{method: http.MethodGet}
			}
			h.url = next
			docURL = next
		case rep.status < 200 || rep.status > 299:
			return fail(&Error{Code: CodeHTTPRetrieval, URL: docURL, Status: rep.status,
				Err: fmt.Errorf("%w: %d %s", ErrHTTPStatus, rep.status, http.StatusText(rep.status))})
		default:
			return &Response{
				URL:         docURL,
				RequestURL:  h.url,
				Status:      rep.status,
				ContentType: rep.contentType,
				Kind:        rep.kind,
				Body:        rep.body,
				Header:      rep.header,
				Redirects:   hops,
			}, nil
		}
	}
}

// exchange sends one hop, retrying per the rc/rp overrides. Retries share
// the tt budget with everything else, and a cancelled caller is never retried.
func (f *Fetcher) exchange(caller, total context.Context, r Request, h hop, ov overrides, docURL string) (*reply, *Error) {
	for attempt := 0; ; attempt++ {
		rep, ferr, class := f.attempt(caller, total, r, h, ov, docURL)
		if class == 0 || attempt >= ov.retries || ov.policy&class == 0 {
			return rep, ferr
		}
		if !pause(total, f.retryDelay) {
			if caller.Err() != nil {
				return nil, &Error{Code: CodeHTTPRetrieval, URL: docURL, Err: context.Cause(caller)}
			}
			// Out of tt: the last attempt's failure says more than a timeout.
			return rep, ferr
		}
	}
}

// attempt makes a single request. It returns either a reply (any status) or
// an *Error, plus the retry class of the failure (0 when not retryable, which
// includes every 2xx and redirect).
func (f *Fetcher) attempt(caller, total context.Context, r Request, h hop, ov overrides, docURL string) (*reply, *Error, retryClass) {
	actx, cancel := context.WithCancelCause(total)
	defer cancel(nil)
	// Until the request is written, allow for connecting too; from then on
	// rt is the longest silence tolerated, as the platform defines it.
	wd := newWatchdog(ov.connect+ov.read, ov.read, cancel)
	defer wd.stop()

	ctx := context.WithValue(actx, connectTimeoutKey{}, ov.connect)
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { wd.kick() },
	})
	var body io.Reader = http.NoBody
	if h.method == http.MethodPost {
		body = bytes.NewReader(h.body)
	}
	req, err := http.NewRequestWithContext(ctx, h.method, h.url, body)
	if err != nil {
		return nil, &Error{Code: CodeHTTPRetrieval, URL: docURL, Err: fmt.Errorf("%w: %w", ErrBadURL, err)}, 0
	}
	f.decorate(req, r, h)

	resp, err := f.transport.RoundTrip(req)
	if err != nil {
		code, class, cause := classifyTransport(caller, total, actx, err)
		return nil, &Error{Code: code, URL: docURL, Err: cause}, class
	}
	defer resp.Body.Close()
	wd.kick()
	if r.Jar != nil {
		if cookies := resp.Cookies(); len(cookies) > 0 {
			r.Jar.SetCookies(req.URL, cookies)
		}
	}
	rep := &reply{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.CopyN(io.Discard, wd.reader(resp.Body), drainLimit)
		return rep, nil, statusClass(resp.StatusCode)
	}

	kind, mt, err := ClassifyContentType(resp.Header.Get("Content-Type"))
	if err != nil {
		return nil, &Error{Code: CodeContentType, URL: docURL, Status: resp.StatusCode, Err: err}, 0
	}
	if resp.ContentLength > f.maxBody {
		return nil, &Error{Code: CodeHTTPRetrieval, URL: docURL, Status: resp.StatusCode,
			Err: fmt.Errorf("%w: Content-Length %d", ErrBodyTooLarge, resp.ContentLength)}, 0
	}
	data, err := io.ReadAll(io.LimitReader(wd.reader(resp.Body), f.maxBody+1))
	if err != nil {
		code, class, cause := classifyTransport(caller, total, actx, err)
		return nil, &Error{Code: code, URL: docURL, Status: resp.StatusCode, Err: cause}, class
	}
	if int64(len(data)) > f.maxBody {
		return nil, &Error{Code: CodeHTTPRetrieval, URL: docURL, Status: resp.StatusCode,
			Err: fmt.Errorf("%w: over %d bytes", ErrBodyTooLarge, f.maxBody)}, 0
	}
	rep.body, rep.kind, rep.contentType = data, kind, mt
	return rep, nil, 0
}

// decorate sets the headers of one hop. Caller headers go first so the
// platform's own (content type, signatures) cannot be overridden by them.
func (f *Fetcher) decorate(req *http.Request, r Request, h hop) {
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", f.userAgent)
	}
	if h.method == http.MethodPost {
		req.Header.Set("Content-Type", formContentType)
	}
	sign := f.signing(r)
	if sign.AuthToken != "" {
		req.Header.Set(HeaderTwilioSignature, Signature(sign.AuthToken, h.url, h.params))
	}
	if sign.Key != nil {
		ts := strconv.FormatInt(f.now().Unix(), 10)
		req.Header.Set(HeaderTelnyxTimestamp, ts)
		req.Header.Set(HeaderTelnyxSignature, SignEd25519(sign.Key, ts, h.body))
	}
	if r.Jar != nil {
		for _, c := range r.Jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
	}
}

// signing is how r is signed: its own Signing, or the Fetcher's.
func (f *Fetcher) signing(r Request) Signing {
	if r.Signing != nil {
		return *r.Signing
	}
	return Signing{AuthToken: f.authToken, Key: f.signingKey}
}

func normalizeMethod(m string) (string, error) {
	switch strings.ToUpper(strings.TrimSpace(m)) {
	case "", http.MethodPost:
		return http.MethodPost, nil
	case http.MethodGet:
		return http.MethodGet, nil
	}
	return "", fmt.Errorf("unsupported method %q: only GET and POST", m)
}

// mergeQuery appends params to the URL's query, keeping whatever query the
// application already put there, as the platform does for GET.
func mergeQuery(base string, params url.Values) string {
	if len(params) == 0 {
		return base
	}
	enc := params.Encode()
	switch {
	case strings.HasSuffix(base, "?"), strings.HasSuffix(base, "&"):
		return base + enc
	case strings.Contains(base, "?"):
		return base + "&" + enc
	}
	return base + "?" + enc
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// redirectTarget resolves a Location header against the URL just requested.
// Only http(s) targets are followed: a redirect to file: or another scheme
// is the "redirect to an invalid URL" case of 11200.
func redirectTarget(current, location string) (string, error) {
	location = strings.TrimSpace(location)
	if location == "" {
		return "", fmt.Errorf("%w: redirect without Location", ErrBadURL)
	}
	b, err := url.Parse(current)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	next, err := b.Parse(location)
	if err != nil {
		return "", fmt.Errorf("%w: redirect Location: %w", ErrBadURL, err)
	}
	if !isHTTP(next.Scheme) || next.Host == "" {
		return "", fmt.Errorf("%w: redirect to %q", ErrBadURL, location)
	}
	next.Fragment, next.RawFragment = "", ""
	return next.String(), nil
}

// pause waits d unless ctx ends first, reporting whether it waited it out.
func pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// watchdog cancels an attempt after a stretch of silence. Each kick restarts
// the countdown; time.Timer is safe to reset from the transport's goroutines
// and the reader's at once, and a late kick after firing only re-cancels an
// already cancelled context.
type watchdog struct {
	timer *time.Timer
	idle  time.Duration
}

func newWatchdog(first, idle time.Duration, cancel context.CancelCauseFunc) *watchdog {
	return &watchdog{idle: idle, timer: time.AfterFunc(first, func() { cancel(ErrReadTimeout) })}
}

func (w *watchdog) kick() { w.timer.Reset(w.idle) }

func (w *watchdog) stop() { w.timer.Stop() }

// reader wraps a body so every chunk received restarts the countdown.
func (w *watchdog) reader(r io.Reader) io.Reader { return &kickReader{r: r, w: w} }

type kickReader struct {
	r io.Reader
	w *watchdog
}

func (k *kickReader) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if n > 0 {
		k.w.kick()
	}
	return n, err
}
