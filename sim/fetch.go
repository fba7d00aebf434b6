package sim

import (
	"context"
	"errors"
	"time"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
)

// timedFetcher makes a fetch that timed out cost the simulated caller the
// time it took: on a real call the caller waits through a slow app's
// timeout, so the virtual clock moves by the real duration of the fetch.
// Fetches that succeed or fail fast take no virtual time, so that a
// transcript does not depend on the machine's speed.
type timedFetcher struct {
	f   interpreter.Fetcher
	clk *Clock
}

// Fetcher wraps f for a call on this leg's clock (see timedFetcher).
func (l *Leg) Fetcher(f interpreter.Fetcher) interpreter.Fetcher { return timedFetcher{f, l.clk} }

func (t timedFetcher) Fetch(ctx context.Context, r fetcher.Request) (*fetcher.Response, error) {
	began := time.Now()
	resp, err := t.f.Fetch(ctx, r)
	if errors.Is(err, fetcher.ErrReadTimeout) || errors.Is(err, fetcher.ErrTotalTimeout) {
		_ = t.clk.Sleep(context.WithoutCancel(ctx), time.Since(began))
	}
	return resp, err
}
