package fetcher

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// ErrDeniedAddress is the cause of an 11205 when the address a URL's host
// resolves to is one the fetcher must not reach (DenyAddress).
var ErrDeniedAddress = errors.New("address refused by the fetch policy")

// metadataAddrs are cloud instance-metadata services outside the
// link-local ranges: AWS's IPv6 endpoint and Alibaba Cloud's.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"),
}

// DenyAddress is the default policy on where documents, audio and
// callbacks may be fetched from: a URL taken from an API request or a
// document (Url, StatusCallback, action, Play) must not reach the cloud
// instance-metadata service, which hands out the machine's credentials,
// nor anything else link-local (169.254.0.0/16 and fe80::/10, where the
// AWS, GCP and Azure metadata endpoints live; RFC 3927, RFC 4291). Loopback
// and private addresses stay allowed: a self-hosted app usually lives
// there. It returns nil for an address that may be reached.
func DenyAddress(a netip.Addr) error {
	a = a.Unmap()
	if a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified() || a.IsMulticast() {
		return fmt.Errorf("%w: %s is link-local, multicast or unspecified", ErrDeniedAddress, a)
	}
	for _, m := range metadataAddrs {
		if a == m {
			return fmt.Errorf("%w: %s is a cloud metadata service", ErrDeniedAddress, a)
		}
	}
	return nil
}

// control applies policy to every connection the fetcher's dialer makes,
// after name resolution: the address checked is the one connected to, so
// a host name that resolves (or is re-bound) to a refused address is
// refused too. Through an HTTP proxy (HTTP_PROXY) only the proxy's
// address is checked.
func control(policy func(netip.Addr) error) func(network, address string, c syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %q", ErrDeniedAddress, address)
		}
		return policy(ap.Addr())
	}
}
