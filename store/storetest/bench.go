package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/texml/texml/store"
)

// Sizes of BenchCallsList: an account's calls, and the page the REST API
// reads (50 and one more, to learn whether a next page exists).
const (
	benchCalls = 10000
	benchPage  = 51
)

// BenchCallsList measures the calls' listing as the REST API pages
// through it, on s (empty): benchCalls records in one account, then
// List of a benchPage page at a random offset (0 to benchCalls-50), and
// Get of a random record. List also reports the p50 and p99 of its
// iterations' latencies (-benchtime=2000x gives them over 2,000
// requests); each includes a clock read, some 50 ns.
func BenchCallsList(b *testing.B, s *store.Store) {
	ctx := b.Context()
	const account = "AC0123456789abcdef0123456789abcdef"
	base := time.Now().Add(-time.Hour)
	sids := make([]string, benchCalls)
	for i := range sids {
		sids[i] = fmt.Sprintf("CA%032x", i)
		r := callRecord(sids[i], account, base.Add(time.Duration(i)*100*time.Millisecond))
		r.Status, r.Answered = store.CallInProgress, r.Created.Add(5*time.Second)
		if i%2 == 0 {
			r.Status, r.End = store.CallCompleted, r.Created.Add(time.Minute)
		}
		if err := s.Calls.Put(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	b.Run("List", func(b *testing.B) {
		var lat []time.Duration
		for b.Loop() {
			offset := rng.IntN(benchCalls - benchPage + 2) // 0 to 9950: the last page has 50
			start := time.Now()
			list, err := s.Calls.List(ctx, account, offset, benchPage)
			lat = append(lat, time.Since(start))
			if err != nil || len(list) != min(benchPage, benchCalls-offset) {
				b.Fatalf("List(%d, %d) = %d records, %v", offset, benchPage, len(list), err)
			}
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	})
	b.Run("Get", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Calls.Get(ctx, sids[rng.IntN(benchCalls)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
