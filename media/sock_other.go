//go:build !(linux && (amd64 || arm64))

package media

import (
	"errors"
	"net"
	"net/netip"
)

// pollSupported: without recvmmsg every session receives on a goroutine
// of its own, and packets are sent through the net package.
const pollSupported = false

// rxBatch is not used where the pacer does not poll.
type rxBatch struct{}

func newRxBatch() *rxBatch { return nil }

func (s *Session) poll(*rxBatch) {}

// rawAddr is empty: sends go through the net package.
type rawAddr struct{}

func makeRawAddr(netip.AddrPort, int) rawAddr { return rawAddr{} }

func (s *Session) sockFamily() int { return 0 }

func (s *Session) sendFunc() func(fd uintptr) { return nil }

// write sends tx.buf[:n] to the peer.
func (s *Session) write(pr *peer, n int) error {
	_, err := s.conn.WriteToUDPAddrPort(s.tx.buf[:n], pr.addr)
	return err
}

// openSocket is not used where the pacer does not poll: Ports.Open
// returns a Socket around a *net.UDPConn instead.
func openSocket(net.IP, string, int) (*Socket, error) { return nil, errors.ErrUnsupported }

func closeFD(int) {}
