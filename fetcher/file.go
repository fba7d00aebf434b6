package fetcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FileURL turns a filesystem path, absolute or relative to the working
// directory, into an absolute file:///... URL, escaping characters such as
// '?' and '#' that would otherwise change its meaning.
func FileURL(path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%w: empty path", ErrBadURL)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	p := filepath.ToSlash(abs)
	// Drive-letter paths ("C:/x") need a leading slash to be a URL path.
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return (&url.URL{Scheme: "file", Path: p}).String(), nil
}

// Resolve resolves ref against base per RFC 3986, the way the platform
// resolves action and Redirect URLs against the document that contained
// them. base may be an http, https or file URL, or a plain filesystem path
// (treated as its FileURL). An absolute ref is returned as written (trimmed)
// so that its exact bytes reach the signature; a ref's fragment is kept
// because it may carry connection overrides. A file: result from an http(s)
// base is refused with ErrCrossScheme: a remote application must not be able
// to make the runtime read local files.
func Resolve(base, ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	r, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	b, err := parseBase(strings.TrimSpace(base))
	if err != nil {
		return "", err
	}
	var out *url.URL
	if r.IsAbs() {
		out = r
	} else {
		out = b.ResolveReference(r)
		// net/url keeps the base's fragment for an empty reference, but
		// RFC 3986 section 5.2.2 takes the fragment from the reference only.
		out.Fragment, out.RawFragment = r.Fragment, r.RawFragment
	}
	if isHTTP(b.Scheme) && strings.EqualFold(out.Scheme, "file") {
		return "", fmt.Errorf("%w: %s", ErrCrossScheme, ref)
	}
	if r.IsAbs() {
		return ref, nil
	}
	return out.String(), nil
}

// parseBase parses a base URL, treating a scheme-less string as a path.
func parseBase(base string) (*url.URL, error) {
	if base == "" {
		return nil, fmt.Errorf("%w: empty base URL", ErrBadURL)
	}
	if !hasScheme(base) {
		fu, err := FileURL(base)
		if err != nil {
			return nil, err
		}
		base = fu
	}
	b, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	return b, nil
}

// hasScheme reports whether raw starts with a URL scheme. One-letter schemes
// are taken as Windows drive letters, i.e. paths.
func hasScheme(raw string) bool {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case c == ':':
			return i > 1
		default:
			return false
		}
	}
	return false
}

func isHTTP(scheme string) bool {
	return strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")
}

// fetchFile serves a file: URL. The query string is ignored when choosing
// the file: applications put branching parameters in action URLs, and a
// static file cannot act on them, so "menu.xml?choice=1" reads menu.xml. The
// Kind comes from the extension because there is no server to send a
// Content-Type. Missing files report 404 and unreadable ones 403, mirroring
// what a web server would answer.
func (f *Fetcher) fetchFile(ctx context.Context, docURL string, u *url.URL) (*Response, error) {
	fail := func(code, status int, err error) (*Response, error) {
		return nil, &Error{Code: code, URL: docURL, Status: status, Err: err}
	}
	if f.denyFiles {
		return fail(CodeHTTPRetrieval, 0, ErrFilesDisabled)
	}
	if u.Host != "" && !strings.EqualFold(u.Host, "localhost") {
		return fail(CodeHTTPRetrieval, 0, fmt.Errorf("%w: remote file host %q", ErrBadURL, u.Host))
	}
	if u.Path == "" {
		return fail(CodeHTTPRetrieval, 0, fmt.Errorf("%w: no file path", ErrBadURL))
	}
	if err := ctx.Err(); err != nil {
		return fail(CodeHTTPRetrieval, 0, context.Cause(ctx))
	}
	name := filepath.FromSlash(u.Path)
	// Stat before opening: opening a FIFO would block the call indefinitely.
	info, err := os.Stat(name)
	if err != nil {
		return fail(CodeHTTPRetrieval, fileStatus(err), err)
	}
	if !info.Mode().IsRegular() {
		return fail(CodeHTTPRetrieval, http.StatusNotFound, fmt.Errorf("%s: not a regular file", name))
	}
	kind, ctype, ok := fileType(name)
	if !ok {
		return fail(CodeContentType, 0, fmt.Errorf("%w: no known type for %q", ErrContentType, filepath.Ext(name)))
	}
	if info.Size() > f.maxBody {
		return fail(CodeHTTPRetrieval, 0, fmt.Errorf("%w: %d bytes", ErrBodyTooLarge, info.Size()))
	}
	fh, err := os.Open(name)
	if err != nil {
		return fail(CodeHTTPRetrieval, fileStatus(err), err)
	}
	defer fh.Close()
	// The file may have grown since Stat, so the cap is enforced on read too.
	body, err := io.ReadAll(io.LimitReader(fh, f.maxBody+1))
	if err != nil {
		return fail(CodeHTTPRetrieval, 0, err)
	}
	if int64(len(body)) > f.maxBody {
		return fail(CodeHTTPRetrieval, 0, ErrBodyTooLarge)
	}
	return &Response{
		URL:         docURL,
		RequestURL:  docURL,
		Status:      http.StatusOK,
		ContentType: ctype,
		Kind:        kind,
		Body:        body,
		Header: http.Header{
			"Content-Type":   {ctype},
			"Content-Length": {strconv.Itoa(len(body))},
		},
	}, nil
}

// fileStatus picks the status a web server would have answered: 403 when
// access is denied, otherwise 404 (missing file, or a path through a
// non-directory, which is just as missing).
func fileStatus(err error) int {
	if errors.Is(err, fs.ErrPermission) {
		return http.StatusForbidden
	}
	return http.StatusNotFound
}
