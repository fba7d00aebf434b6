package verbs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, always returns either a
// document or a *ParseError, and that every position it reports is valid.
// It is seeded with every fixture in the repository, including ones other
// packages add later.
func FuzzParse(f *testing.F) {
	root := filepath.Join("..", "fixtures")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".xml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f.Add(data, uint8(Main))
		return nil
	})
	if err != nil {
		f.Fatalf("walking %s: %v", root, err)
	}
	f.Add([]byte("<Response><Gather><Redirect>x</Redirect></Gather></Response>"), uint8(EnqueueWait))
	f.Add([]byte("<Response><Dial>1</Dial></Response>"), uint8(Whisper))
	f.Fuzz(func(t *testing.T, data []byte, kind uint8) {
		doc, err := Parse(data, Kind(kind%5))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is %T, want *ParseError", err)
			}
			if pe.Line < 1 || pe.Col < 1 || pe.Code != 12100 || doc != nil {
				t.Fatalf("bad fatal error %#v (doc %v)", pe, doc)
			}
			return
		}
		if doc == nil {
			t.Fatal("nil document without an error")
		}
		for _, d := range doc.Diagnostics {
			if d.Line < 1 || d.Col < 1 {
				t.Fatalf("diagnostic without a position: %v", d)
			}
		}
		for _, v := range doc.Verbs {
			if v == nil || v.Position().Line < 1 {
				t.Fatalf("verb without a position: %#v", v)
			}
		}
		// The byte scanner must agree with the decoder on every document
		// Parse accepts; otherwise positions come from the slow fallback.
		cs, _ := detectCharset(data)
		src := toUTF8(data, cs)
		res, _ := scan(src)
		if dec, ok := decoderRecs(src); ok && !sameRecs(res.recs, dec) {
			t.Fatalf("scanner and decoder disagree:\n%+v\n%+v", res.recs, dec)
		}
	})
}

func sameRecs(a, b []elemRec) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
