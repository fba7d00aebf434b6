package main

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// silenceSender sends one µ-law silence packet every 20 ms on each
// registered call, from a single goroutine (like a media gateway would),
// so that texml receives media too.
type silenceSender struct {
	mu    sync.Mutex
	peers map[*net.UDPConn]*silencePeer
	quit  chan struct{}
	once  sync.Once
}

// silencePeer is one call's outgoing stream: where it goes and its RTP
// sequence number and timestamp.
type silencePeer struct {
	to  netip.AddrPort
	seq uint16
	ts  uint32
}

// newSilenceSender returns a sender with no calls; run starts it.
func newSilenceSender() *silenceSender {
	return &silenceSender{peers: map[*net.UDPConn]*silencePeer{}, quit: make(chan struct{})}
}

// add starts sending on c to texml's media address to.
func (s *silenceSender) add(c *net.UDPConn, to *net.UDPAddr) {
	s.mu.Lock()
	s.peers[c] = &silencePeer{to: to.AddrPort(), seq: uint16(len(s.peers) * 7919)}
	s.mu.Unlock()
}

// remove stops sending on c; removing twice is harmless.
func (s *silenceSender) remove(c *net.UDPConn) {
	s.mu.Lock()
	delete(s.peers, c)
	s.mu.Unlock()
}

// stop ends run; it is idempotent.
func (s *silenceSender) stop() { s.once.Do(func() { close(s.quit) }) }

// run sends one packet per call every 20 ms until stop or ctx ends.
func (s *silenceSender) run(ctx context.Context) {
	pkt := make([]byte, 12+samplesPerPkt)
	for i := 12; i < len(pkt); i++ {
		pkt[i] = 0xFF // µ-law silence
	}
	t := time.NewTicker(ptime)
	defer t.Stop()
	h := rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x5eed}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.quit:
			return
		case <-t.C:
		}
		s.mu.Lock()
		for c, p := range s.peers {
			h.SequenceNumber, h.Timestamp = p.seq, p.ts
			if _, err := h.MarshalTo(pkt[:12]); err == nil {
				_, _ = c.WriteToUDPAddrPort(pkt, p.to)
			}
			p.seq++
			p.ts += samplesPerPkt
		}
		s.mu.Unlock()
	}
}
