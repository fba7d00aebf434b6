package conformance

import (
	"context"
	"strings"
	"testing"
	"time"
)

// minScenarios is the size the suite must not fall below.
const minScenarios = 400

func TestScenarios(t *testing.T) {
	all, err := Load("../fixtures/conformance")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < minScenarios {
		t.Errorf("%d scenarios, want at least %d", len(all), minScenarios)
	}
	seen := map[string]bool{}
	for _, s := range all {
		if seen[s.Name] {
			t.Errorf("duplicate scenario name %q (%s)", s.Name, s.file)
		}
		seen[s.Name] = true
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := Run(ctx, s)
			if err != nil {
				t.Fatalf("%s: %v", s.file, err)
			}
			if errs := Check(s, out); len(errs) > 0 {
				t.Errorf("%s (%s, %s):\n%s\n%s", s.Name, s.file, s.Ref, strings.TrimSpace(s.Description), strings.Join(errs, "\n"))
			}
		})
	}
}
