package interpreter_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
)

// ivr is a five-document IVR: welcome menu, department menu, account
// entry, confirmation with a Redirect, goodbye.
var ivr = map[string]string{
	"/voice": `<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Say voice="Polly.Joanna">Welcome to Example Corp.</Say>
  <Gather numDigits="1" action="/menu" timeout="5">
    <Say>For sales press 1. For support press 2.</Say>
    <Pause length="1"/>
  </Gather>
  <Redirect>/voice</Redirect>
</Response>`,
	"/menu": `<Response>
  <Gather action="/account" finishOnKey="#" timeout="7">
    <Say>Enter your account number, then press pound.</Say>
  </Gather>
  <Say>We did not get that.</Say>
  <Redirect>/menu</Redirect>
</Response>`,
	"/account": `<Response>
  <Say>Thank you. One moment while we look that up.</Say>
  <Pause length="2"/>
  <Redirect method="POST">/confirm</Redirect>
</Response>`,
	"/confirm": `<Response>
  <Say>Your account is in good standing.</Say>
  <Redirect>/goodbye</Redirect>
</Response>`,
	"/goodbye": `<Response><Say>Goodbye.</Say><Hangup/></Response>`,
}

var ivrInputs = []string{"dtmf:1", "dtmf:1234#"}

func ivrOptions(b *testing.B) sim.Options {
	var o sim.Options
	for _, v := range ivrInputs {
		in, err := sim.ParseInput(v)
		if err != nil {
			b.Fatal(err)
		}
		o.Inputs = append(o.Inputs, in)
	}
	return o
}

// runIVR runs one call; it reports failures with Errorf because it also
// runs on RunParallel's goroutines, where FailNow is not allowed.
func runIVR(b *testing.B, f interpreter.Fetcher, base string, o sim.Options) {
	leg := sim.New(o)
	call := interpreter.New(leg, f, nil, interpreter.Config{URL: base + "/voice", Clock: leg})
	if res := call.Run(context.Background()); res.Reason != "hangup-verb" {
		b.Errorf("call ended with %s (%v)", res.Reason, res.Err)
	}
}

// BenchmarkIVRCallOverhead is the interpreter's own cost per call: five
// documents parsed and run, with the HTTP round trips replaced by a map.
func BenchmarkIVRCallOverhead(b *testing.B) {
	docs := map[string]string{}
	for p, d := range ivr {
		docs["http://app.test"+p] = d
	}
	f := &mapFetcher{docs: docs}
	o := ivrOptions(b)
	b.ReportAllocs()
	for b.Loop() {
		runIVR(b, f, "http://app.test", o)
	}
}

// mapFetcher is fakeFetcher without the request log, so that a benchmark
// measures the interpreter and not a growing slice.
type mapFetcher struct{ docs map[string]string }

func (f *mapFetcher) Fetch(_ context.Context, r fetcher.Request) (*fetcher.Response, error) {
	return &fetcher.Response{URL: r.URL, Status: 200, Kind: fetcher.TwiML, Body: []byte(f.docs[r.URL])}, nil
}

func ivrServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		d, ok := ivr[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, d)
	}))
}

// BenchmarkIVRCallLoopback runs the same call against a loopback HTTP app
// with the real fetcher (signing on), one call at a time.
func BenchmarkIVRCallLoopback(b *testing.B) {
	srv := ivrServer()
	defer srv.Close()
	f := fetcher.New(fetcher.Options{AuthToken: "secret"})
	defer f.Close()
	o := ivrOptions(b)
	b.ReportAllocs()
	for b.Loop() {
		runIVR(b, f, srv.URL, o)
	}
}

// BenchmarkIVRCallLoopbackParallel runs calls concurrently on all cores;
// ns/op is the inverse of throughput (run with -benchtime=10000x for the
// "10,000 calls" figure in docs/benchmarks.md).
func BenchmarkIVRCallLoopbackParallel(b *testing.B) {
	srv := ivrServer()
	defer srv.Close()
	f := fetcher.New(fetcher.Options{AuthToken: "secret"})
	defer f.Close()
	o := ivrOptions(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			runIVR(b, f, srv.URL, o)
		}
	})
}
