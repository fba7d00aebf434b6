package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestPprofFlag: --pprof serves the profiler on its own listener, and the
// main HTTP listener (/metrics, recordings) does not serve it.
func TestPprofFlag(t *testing.T) {
	s := startServe(t, "file:///nonexistent.xml", "--pprof", "127.0.0.1:0")
	if s.profAddr == nil {
		t.Fatal("--pprof: no listener")
	}
	get := func(url string) (int, string) {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := get("http://" + s.profAddr.String() + "/debug/pprof/")
	if code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof index: %d %q", code, body)
	}
	if code, _ := get("http://" + s.httpLn.Addr().String() + "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("the main HTTP listener serves /debug/pprof/: %d", code)
	}
}

// TestPprofOffByDefault: without --pprof nothing listens for it.
func TestPprofOffByDefault(t *testing.T) {
	s := startServe(t, "file:///nonexistent.xml")
	if s.prof != nil || s.profAddr != nil {
		t.Fatal("pprof served without --pprof")
	}
}
