package signaling

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/emiago/sipgo/sip"
)

// DefaultHoldKeepalive is MediaConfig.HoldKeepalive when it is zero.
const DefaultHoldKeepalive = 30 * time.Second

// errPeerGone: a held call's keepalive went unanswered.
var errPeerGone = errors.New("the peer does not answer in-dialog OPTIONS while on hold")

// keepalive is the OPTIONS loop of a held call.
type keepalive struct {
	stop context.CancelFunc
	done chan struct{}
}

// holdKeepalive returns the keepalive interval, or 0 when disabled.
func (m *MediaConfig) holdKeepalive() time.Duration {
	switch {
	case m.HoldKeepalive < 0:
		return 0
	case m.HoldKeepalive == 0:
		return DefaultHoldKeepalive
	}
	return m.HoldKeepalive
}

// watchPeer starts the keepalive when no RTP is expected from the peer (on
// hold, or it offered recvonly): the inactivity timer is stopped then, so
// a peer that vanished would leave the call up for ever. It stops the
// keepalive when RTP is expected again. l.mu is held.
func (l *Leg) watchPeer(quiet bool) {
	every := l.m.holdKeepalive()
	switch {
	case quiet && l.ka == nil && every > 0 && l.byeDone == nil:
		ctx, stop := context.WithCancel(l.gone)
		l.ka = &keepalive{stop: stop, done: make(chan struct{})}
		go l.keepalive(ctx, every, l.ka.done)
	case !quiet && l.ka != nil:
		l.ka.stop() // the loop ends on its own; nobody waits for it here
		l.ka = nil
	}
}

// stopKeepalive ends the keepalive, if any, and waits for its loop.
func (l *Leg) stopKeepalive() {
	l.mu.Lock()
	ka := l.ka
	l.ka = nil
	l.mu.Unlock()
	if ka != nil {
		ka.stop()
		<-ka.done
	}
}

// keepalive sends an in-dialog OPTIONS every interval until ctx ends. Any
// answer but 408 or 481 shows the peer is there (RFC 3261 §11: a UA that
// does not know OPTIONS in a dialog still answers it); no answer within
// the interval, 408 or 481 (the peer forgot the dialog) ends the call.
func (l *Leg) keepalive(ctx context.Context, every time.Duration, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := l.ping(ctx, every)
		if ctx.Err() != nil {
			return // stopped meanwhile: the answer no longer matters
		}
		if err != nil {
			l.log.Warn("held call: keepalive failed; hanging up", "err", err)
			l.end(fmt.Errorf("%w: %w", errPeerGone, err))
			return
		}
	}
}

// ping sends one OPTIONS in the dialog and waits up to timeout for the
// final answer.
func (l *Leg) ping(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req := sip.NewRequest(sip.OPTIONS, l.dlg.InviteRequest.Contact().Address)
	res, err := l.dlg.Do(ctx, req)
	if err != nil {
		return err
	}
	if res.StatusCode == 408 || res.StatusCode == 481 {
		return fmt.Errorf("OPTIONS: %d %s", res.StatusCode, res.Reason)
	}
	return nil
}
