package main

import (
	"io"
	"strings"
	"testing"
)

// TestSTTFlags checks --stt-url, --stt-token and --stt-header: headers
// from the flag and from TEXML_STT_HEADER (one a line) are collected,
// a malformed one or a URL that is not ws:// or wss:// is refused.
func TestSTTFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     string
		args    []string
		want    map[string]string
		wantErr string
	}{
		{name: "headers", env: "X-Region: eu\n\nX-Model: phone", args: []string{"--stt-header", "X-Api-Key: k1", "--stt-token", "t"},
			want: map[string]string{"X-Region": "eu", "X-Model": "phone", "X-Api-Key": "k1", "Authorization": "Bearer t"}},
		{name: "bad header", args: []string{"--stt-header", "no colon"}, wantErr: "Name: value"},
		{name: "bad env header", env: "X-Bad Name: v", wantErr: "TEXML_STT_HEADER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TEXML_STT_HEADER", tc.env)
			var f serveFlags
			fs := newServeFlagSet(&f)
			fs.SetOutput(io.Discard)
			err := fs.Parse(append([]string{"--stt-url", "ws://127.0.0.1:9/stt"}, tc.args...))
			if err == nil && len(f.envErrs) > 0 {
				err = f.envErrs[0]
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cloudSTT(&f); err != nil {
				t.Fatal(err)
			}
			got := map[string]string(f.sttHeaders)
			if f.sttToken != "" {
				got["Authorization"] = "Bearer " + f.sttToken
			}
			if len(got) != len(tc.want) {
				t.Fatalf("headers %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("header %s: %q, want %q", k, got[k], v)
				}
			}
		})
	}
	f := serveFlags{sttURL: "https://stt.example.com"}
	if _, err := cloudSTT(&f); err == nil || !strings.Contains(err.Error(), "--stt-url") {
		t.Errorf("an https --stt-url: %v", err)
	}
}
