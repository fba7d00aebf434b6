package sim

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/texml/texml/fetcher"
)

type slowFetcher struct {
	d   time.Duration
	err error
}

func (s slowFetcher) Fetch(context.Context, fetcher.Request) (*fetcher.Response, error) {
	time.Sleep(s.d)
	return &fetcher.Response{}, s.err
}

func TestFetchTimeoutTakesVirtualTime(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		advance bool
	}{
		{"ok", nil, false},
		{"read timeout", fmt.Errorf("fetch: %w", fetcher.ErrReadTimeout), true},
		{"total timeout", &fetcher.Error{Code: fetcher.CodeHTTPRetrieval, Err: fetcher.ErrTotalTimeout}, true},
		{"refused", fmt.Errorf("connection refused"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leg := New(Options{})
			before := leg.Now()
			_, _ = leg.Fetcher(slowFetcher{60 * time.Millisecond, tc.err}).Fetch(context.Background(), fetcher.Request{})
			moved := leg.Now().Sub(before)
			if tc.advance && moved < 60*time.Millisecond {
				t.Errorf("the clock moved %v, want the 60 ms the timed-out fetch took", moved)
			}
			if !tc.advance && moved != 0 {
				t.Errorf("the clock moved %v, want 0", moved)
			}
		})
	}
}
