package verbs

import (
	"os"
	"testing"

	"github.com/beevik/etree"
)

// BenchmarkParse measures a typical ~2 KB IVR document.
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("../fixtures/verbs/ivr-2k.xml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		doc, err := Parse(data, Main)
		if err != nil || len(doc.Diagnostics) != 0 {
			b.Fatalf("err=%v diags=%v", err, doc.Diagnostics)
		}
	}
}

// BenchmarkEtreeOnly is the floor under BenchmarkParse: etree reading the
// same document into its tree, with no conversion or validation. Parse
// cannot be faster than this while it is built on etree.
func BenchmarkEtreeOnly(b *testing.B) {
	data, err := os.ReadFile("../fixtures/verbs/ivr-2k.xml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(data); err != nil {
			b.Fatal(err)
		}
	}
}
