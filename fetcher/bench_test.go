package fetcher

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func benchmarkServer(b *testing.B) *httptest.Server {
	body := []byte(`<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/menu" numDigits="1"><Say>Press 1.</Say></Gather></Response>`)
	return server(b, func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "text/xml")
		w.Write(body)
	})
}

func benchmarkRequest(srv *httptest.Server) Request {
	return Request{URL: srv.URL + "/voice", Params: url.Values{
		"CallSid": {"CA0123456789abcdef0123456789abcdef"}, "AccountSid": {"AC0123456789abcdef0123456789abcdef"},
		"From": {"+14155550100"}, "To": {"+14155550199"}, "CallStatus": {"in-progress"}, "Direction": {"inbound"},
		"ApiVersion": {"2010-04-01"}, "Digits": {"1"},
	}}
}

func BenchmarkFetchLoopback(b *testing.B) {
	srv := benchmarkServer(b)
	f := New(Options{AuthToken: testToken})
	defer f.Close()
	req := benchmarkRequest(srv)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Fetch(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFetchLoopbackParallel(b *testing.B) {
	srv := benchmarkServer(b)
	f := New(Options{AuthToken: testToken})
	defer f.Close()
	req := benchmarkRequest(srv)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.Fetch(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
