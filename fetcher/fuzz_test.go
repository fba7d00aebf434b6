package fetcher

import (
	"context"
	"net/url"
	"testing"
)

// The fuzz targets only assert that hostile input never panics; their seed
// corpus runs with the ordinary tests.

func FuzzResolve(f *testing.F) {
	f.Add("https://a.com/x/y.xml?q=1#ct=1", "../z?b=2")
	f.Add("file:///a/b.xml", "/c.xml")
	f.Add("C:\\x\\y.xml", "z.xml")
	f.Add("%zz", "http://[::1")
	f.Fuzz(func(t *testing.T, base, ref string) {
		_, _ = Resolve(base, ref)
	})
}

func FuzzSignature(f *testing.F) {
	f.Add("https://u:p@[::1]:443/x?y#z", "k", "v")
	f.Add("http://a:80", "", "")
	f.Add("://", "a\x00", "\xff")
	f.Fuzz(func(t *testing.T, u, k, v string) {
		params := url.Values{k: {v, k}}
		sig := Signature("token", u, params)
		if !ValidateSignature("token", u, params, sig) {
			t.Fatalf("signature of %q does not validate", u)
		}
		_ = parseOverrides(u, overrides{})
	})
}

func FuzzFetchURL(f *testing.F) {
	f.Add("http://[::1]:0/#rt=abc", "get")
	f.Add("file://host/x.xml", "")
	f.Add("mailto:x@y", "DELETE")
	f.Add("#", "post")
	f.Add("file:", "")
	fetcher := New(Options{DenyFiles: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // never touch the network: only parsing and validation run
	f.Fuzz(func(t *testing.T, raw, method string) {
		_, err := fetcher.Fetch(ctx, Request{URL: raw, Method: method})
		if err == nil {
			t.Fatalf("Fetch(%q) succeeded with a cancelled context", raw)
		}
		if _, ok := err.(*Error); !ok {
			t.Fatalf("Fetch(%q) returned %T, want *Error", raw, err)
		}
	})
}
