package verbs

import (
	"os"
	"testing"
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
