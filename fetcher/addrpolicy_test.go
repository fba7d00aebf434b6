package fetcher

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

func TestDenyAddress(t *testing.T) {
	tests := []struct {
		addr   string
		denied bool
	}{
		{"169.254.169.254", true}, // AWS, GCP, Azure metadata
		{"169.254.1.1", true},
		{"fe80::1", true},
		{"fd00:ec2::254", true},
		{"100.100.100.200", true},
		{"::ffff:169.254.169.254", true},
		{"0.0.0.0", true},
		{"224.0.0.1", true},
		{"127.0.0.1", false},
		{"::1", false},
		{"10.0.0.5", false},
		{"192.168.1.10", false},
		{"93.184.216.34", false},
		{"2001:db8::1", false},
	}
	for _, tc := range tests {
		err := DenyAddress(netip.MustParseAddr(tc.addr))
		if (err != nil) != tc.denied || (err != nil && !errors.Is(err, ErrDeniedAddress)) {
			t.Errorf("DenyAddress(%s) = %v, want denied %v", tc.addr, err, tc.denied)
		}
	}
}

// A URL whose host is a refused address fails with 11205 at once, without
// a retry, and a custom policy applies after name resolution.
func TestFetchRefusesDeniedAddress(t *testing.T) {
	f := New(Options{RetryDelay: -1})
	_, err := f.Fetch(context.Background(), Request{URL: "http://169.254.169.254/latest/meta-data/", Method: "GET"})
	var fe *Error
	if !errors.As(err, &fe) || fe.Code != CodeConnection || !errors.Is(err, ErrDeniedAddress) {
		t.Fatalf("metadata fetch: %v, want 11205 with ErrDeniedAddress", err)
	}
	loopback := New(Options{RetryDelay: -1, Deny: func(a netip.Addr) error {
		if a.IsLoopback() {
			return ErrDeniedAddress
		}
		return nil
	}})
	_, err = loopback.Fetch(context.Background(), Request{URL: "http://localhost:1/", Method: "GET"})
	if !errors.Is(err, ErrDeniedAddress) {
		t.Errorf("localhost under a policy refusing loopback: %v", err)
	}
}
