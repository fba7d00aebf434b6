package fetcher

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		base, ref string
		want      string
		wantErr   error
	}{
		{"https://a.com/app/menu.xml", "next.xml", "https://a.com/app/next.xml", nil},
		{"https://a.com/app/menu.xml?x=1", "/top", "https://a.com/top", nil},
		{"https://a.com/app/menu.xml", "?Digits=1", "https://a.com/app/menu.xml?Digits=1", nil},
		{"https://a.com/app/menu.xml", "../up#rt=500", "https://a.com/up#rt=500", nil},
		{"https://a.com/app/menu.xml#ct=100", "", "https://a.com/app/menu.xml", nil},
		{"https://a.com/app/", "  step2  ", "https://a.com/app/step2", nil},
		{"https://a.com/app/x", "http://b.org/y?z=%41", "http://b.org/y?z=%41", nil},
		{"https://a.com/app/x", "//cdn.example/c.mp3", "https://cdn.example/c.mp3", nil},
		{"file:///a/b/menu.xml", "next.xml", "file:///a/b/next.xml", nil},
		{"file:///a/b/menu.xml", "/x.xml", "file:///x.xml", nil},
		{"file:///a/b/menu.xml", "?a=1", "file:///a/b/menu.xml?a=1", nil},
		{"file:///a/b/menu.xml?a=1", "../c/d.xml", "file:///a/c/d.xml", nil},
		{"file:///a/b/menu.xml", "https://x.com/y", "https://x.com/y", nil},
		{"/a/b/menu.xml", "next.xml", "file:///a/b/next.xml", nil},
		{"https://a.com/x", "file:///etc/passwd.txt", "", ErrCrossScheme},
		{"https://a.com/x", "FILE:///etc/x.xml", "", ErrCrossScheme},
		{"https://a.com/x", "http://[::1", "", ErrBadURL},
		{"", "next.xml", "", ErrBadURL},
	}
	for _, tt := range tests {
		t.Run(tt.base+" + "+tt.ref, func(t *testing.T) {
			got, err := Resolve(tt.base, tt.ref)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Resolve error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Resolve = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestFileURL(t *testing.T) {
	got, err := FileURL("/srv/apps/my app/menu#1.xml")
	if err != nil || got != "file:///srv/apps/my%20app/menu%231.xml" {
		t.Errorf("FileURL = %q, %v", got, err)
	}
	if _, err := FileURL(""); !errors.Is(err, ErrBadURL) {
		t.Errorf("FileURL(\"\") error = %v, want ErrBadURL", err)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	got, err = FileURL("sub/x.xml")
	if want := "file://" + filepath.ToSlash(filepath.Join(dir, "sub/x.xml")); err != nil || got != want {
		t.Errorf("FileURL(relative) = %q, %v; want %q", got, err, want)
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFetchFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"app/menu.xml":   "<Response><Redirect>next.xml</Redirect></Response>",
		"app/next.xml":   "<Response><Say>next</Say></Response>",
		"app/page.HTML":  "<Response/>",
		"app/hello.txt":  "hello",
		"app/beep.mp3":   "ID3",
		"app/beep.wav":   "RIFF",
		"app/data.json":  "{}",
		"app/big.xml":    strings.Repeat("x", 2048),
		"app/dir.xml/ok": "",
	})
	f := New(Options{MaxBody: 1024})
	defer f.Close()
	menu, err := FileURL(filepath.Join(dir, "app/menu.xml"))
	if err != nil {
		t.Fatal(err)
	}
	sibling := func(name string) string {
		u, err := Resolve(menu, name)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}

	tests := []struct {
		name     string
		url      string
		wantKind Kind
		wantCT   string
		wantBody string
		wantCode int
		wantStat int
	}{
		{"document", menu, TwiML, "text/xml", "<Response><Redirect>next.xml</Redirect></Response>", 0, 0},
		{"sibling via Resolve", sibling("next.xml"), TwiML, "text/xml", "<Response><Say>next</Say></Response>", 0, 0},
		{"query ignored", sibling("next.xml?Digits=1&x=%20"), TwiML, "text/xml", "<Response><Say>next</Say></Response>", 0, 0},
		{"fragment stripped", sibling("next.xml#rt=100"), TwiML, "text/xml", "<Response><Say>next</Say></Response>", 0, 0},
		{"html upper-case extension", sibling("page.HTML"), TwiML, "text/xml", "<Response/>", 0, 0},
		{"text", sibling("hello.txt"), Text, "text/plain", "hello", 0, 0},
		{"mp3", sibling("beep.mp3"), Audio, "audio/mpeg", "ID3", 0, 0},
		{"wav", sibling("beep.wav"), Audio, "audio/wav", "RIFF", 0, 0},
		{"unknown extension", sibling("data.json"), 0, "", "", CodeContentType, 0},
		{"missing", sibling("nope.xml"), 0, "", "", CodeHTTPRetrieval, 404},
		{"directory", sibling("dir.xml"), 0, "", "", CodeHTTPRetrieval, 404},
		{"too large", sibling("big.xml"), 0, "", "", CodeHTTPRetrieval, 0},
		{"remote host", "file://example.com/app/menu.xml", 0, "", "", CodeHTTPRetrieval, 0},
		{"plain absolute path", filepath.Join(dir, "app/hello.txt"), Text, "text/plain", "hello", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := f.Fetch(context.Background(), Request{URL: tt.url})
			if tt.wantCode != 0 {
				var fe *Error
				if !errors.As(err, &fe) || fe.Code != tt.wantCode || fe.Status != tt.wantStat {
					t.Fatalf("Fetch error = %v, want code %d status %d", err, tt.wantCode, tt.wantStat)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if res.Kind != tt.wantKind || res.ContentType != tt.wantCT || string(res.Body) != tt.wantBody || res.Status != 200 {
				t.Errorf("got kind %v ct %q status %d body %q", res.Kind, res.ContentType, res.Status, res.Body)
			}
			if strings.Contains(res.URL, "#") {
				t.Errorf("Response.URL %q keeps its fragment", res.URL)
			}
		})
	}

	t.Run("relative plain path", func(t *testing.T) {
		t.Chdir(filepath.Join(dir, "app"))
		res, err := f.Fetch(context.Background(), Request{URL: "hello.txt"})
		if err != nil || string(res.Body) != "hello" {
			t.Fatalf("Fetch = %v, %v", res, err)
		}
		if want, _ := FileURL(filepath.Join(dir, "app/hello.txt")); res.URL != want {
			t.Errorf("URL = %q, want %q", res.URL, want)
		}
	})
	t.Run("DenyFiles", func(t *testing.T) {
		g := New(Options{DenyFiles: true})
		_, err := g.Fetch(context.Background(), Request{URL: menu})
		if !errors.Is(err, ErrFilesDisabled) {
			t.Fatalf("Fetch error = %v, want ErrFilesDisabled", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := f.Fetch(ctx, Request{URL: menu})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Fetch error = %v, want context.Canceled", err)
		}
	})
}
