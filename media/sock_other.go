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

// shardIO is not used where there is no io_uring.
type shardIO struct{}

func newShardIO() (*shardIO, error)    { return nil, errors.ErrUnsupported }
func (io *shardIO) usable() bool       { return false }
func (io *shardIO) receive([]*Session) {}
func (io *shardIO) flush()             {}
func (io *shardIO) close()             {}
func (io *shardIO) failure() error     { return nil }
func (s *Session) ringed() bool        { return false }

// txIO is empty: every send is a call of its own.
type txIO struct{ io *shardIO }

// errQueued is never returned here.
var errQueued = errors.New("media: send queued")
