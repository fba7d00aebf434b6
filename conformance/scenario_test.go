package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadRejectsRefWithoutPublicURL(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "private.yaml")
	doc := "name: cites-a-private-section\nref: \"Gather action params (private notes 3.4)\"\napp:\n  /voice: <Response/>\n"
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir)
	if err == nil {
		t.Fatal("Load accepted a ref without an https:// URL")
	}
	for _, want := range []string{file, "cites-a-private-section", "https://"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
