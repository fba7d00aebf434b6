package fetcher

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Twilio error codes a fetch can fail with. The interpreter passes the code
// to the fallback URL as ErrorCode, so each failure must map to exactly one.
const (
	// CodeHTTPRetrieval covers 4xx/5xx replies, read and total timeouts, TLS
	// failures, oversized bodies, unusable URLs and unreadable files.
	CodeHTTPRetrieval = 11200
	// CodeConnection means the TCP connection could not be made.
	CodeConnection = 11205
	// CodeBadHost means the host name could not be resolved.
	CodeBadHost = 11210
	// CodeTooManyRedirects means the redirect chain was longer than allowed.
	CodeTooManyRedirects = 11215
	// CodeContentType means the reply was neither TwiML, audio nor text.
	CodeContentType = 12300
)

// Sentinel causes carried in Error.Err, so callers can tell failures with the
// same Twilio code apart using errors.Is.
var (
	// ErrHTTPStatus is the cause of an 11200 for a non-2xx reply.
	ErrHTTPStatus = errors.New("unsuccessful HTTP status")
	// ErrReadTimeout is the cause when the server was silent for longer than
	// the read timeout, before or while sending its reply.
	ErrReadTimeout = errors.New("read timeout")
	// ErrTotalTimeout is the cause when all attempts together ran out of time.
	ErrTotalTimeout = errors.New("total fetch time exceeded")
	// ErrBodyTooLarge is the cause when a reply or file exceeds Options.MaxBody.
	ErrBodyTooLarge = errors.New("response body too large")
	// ErrTooManyRedirects is the cause of an 11215.
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrContentType is the cause of a 12300.
	ErrContentType = errors.New("unsupported content type")
	// ErrNoContentType is the cause of a 12300 for a reply without a
	// Content-Type header; it wraps ErrContentType.
	ErrNoContentType = fmt.Errorf("%w: missing Content-Type", ErrContentType)
	// ErrBadURL is the cause when a URL cannot be parsed or fetched at all.
	ErrBadURL = errors.New("invalid URL")
	// ErrFilesDisabled is the cause when Options.DenyFiles rejects a file URL.
	ErrFilesDisabled = errors.New("file URLs are disabled")
	// ErrCrossScheme is returned by Resolve when a reference in a document
	// fetched over HTTP points at a local file.
	ErrCrossScheme = errors.New("file reference from a remote document")
)

// Error is a failed fetch with its Twilio error code.
type Error struct {
	Code   int    // one of the Code* constants
	URL    string // the document URL that failed (no fragment, no merged GET params); report it as ErrorUrl
	Status int    // HTTP status when the server replied, else 0 (404/403 for files)
	Err    error  // underlying cause
	// Redirects are the redirects followed before the failure, in order;
	// URL is then the last Location.
	Redirects []Redirect
}

// Error formats the failure with its code, URL, status and cause.
func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	var b strings.Builder
	b.WriteString("fetch ")
	b.WriteString(Redact(e.URL))
	b.WriteString(": error ")
	b.WriteString(strconv.Itoa(e.Code))
	if e.Status != 0 {
		b.WriteString(" (status ")
		b.WriteString(strconv.Itoa(e.Status))
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause so errors.Is and errors.As see through
// the Twilio code.
func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// retryClass is a set of failure kinds, used both for the rp policy and to
// label an attempt's failure.
type retryClass uint8

const (
	retryConnect retryClass = 1 << iota // ct: no connection (refused, unreachable, connect or TLS setup failure)
	retryRead                           // rt: connected, but the server went silent
	retry4xx                            // 4xx: a client-error status
	retry5xx                            // 5xx: a server-error status
	retryOther                          // any other transport failure; only "all" retries it

	retryAll = retryConnect | retryRead | retry4xx | retry5xx | retryOther
)

// classifyTransport turns a transport or body-read error into a Twilio code
// and a retry class. The order matters: the caller's own cancellation and the
// total budget must win over whatever error the transport happened to report
// for them, since neither may be retried.
func classifyTransport(caller, total, attempt context.Context, err error) (int, retryClass, error) {
	if caller.Err() != nil {
		return CodeHTTPRetrieval, 0, context.Cause(caller)
	}
	if total.Err() != nil {
		return CodeHTTPRetrieval, 0, fmt.Errorf("%w: %w", ErrTotalTimeout, err)
	}
	if errors.Is(context.Cause(attempt), ErrReadTimeout) {
		return CodeHTTPRetrieval, retryRead, fmt.Errorf("%w: %w", ErrReadTimeout, err)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		// A definite "no such host" will not change on retry; a resolver
		// timeout might.
		if dnsErr.IsTimeout || dnsErr.IsTemporary {
			return CodeBadHost, retryConnect, err
		}
		return CodeBadHost, 0, err
	}
	if errors.Is(err, ErrDeniedAddress) {
		return CodeConnection, 0, err // the policy will not change on retry
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return CodeConnection, retryConnect, err
	}
	if isTLSError(err) {
		return CodeHTTPRetrieval, retryConnect, err
	}
	return CodeHTTPRetrieval, retryOther, err
}

// isTLSError reports whether err comes from the TLS handshake, which Twilio
// reports as 11200 but which, like a refused connection, happens before any
// request reaches the application.
func isTLSError(err error) bool {
	var (
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
		verErr   *tls.CertificateVerificationError
		authErr  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		certErr  x509.CertificateInvalidError
	)
	return errors.As(err, &recErr) || errors.As(err, &alertErr) || errors.As(err, &verErr) ||
		errors.As(err, &authErr) || errors.As(err, &hostErr) || errors.As(err, &certErr)
}

// statusClass labels a non-2xx status for the retry policy.
func statusClass(status int) retryClass {
	switch {
	case status >= 400 && status < 500:
		return retry4xx
	case status >= 500 && status < 600:
		return retry5xx
	}
	return 0
}

// Redact returns u with the password of its user information replaced
// by "xxxxx" (https://user:xxxxx@host/…), for logs and error messages:
// Twilio apps put HTTP Basic credentials in their URLs. A string that is
// not a URL with a password is returned as it is.
func Redact(u string) string {
	if !strings.Contains(u, "@") {
		return u // the common case, without parsing
	}
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	if _, has := p.User.Password(); !has {
		return u
	}
	return p.Redacted()
}
