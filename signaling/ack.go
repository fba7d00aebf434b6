package signaling

import (
	"errors"
	"fmt"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Why a 2xx stopped being retransmitted without its ACK.
var (
	// errNoAck: the transaction ended (Timer L, 64*T1) with no ACK. The
	// dialog stands, but the session SHOULD end with a BYE (RFC 3261
	// §13.3.1.4).
	errNoAck = errors.New("no ACK for our 2xx")
	// errCallOver: the call ended while the 2xx waited for its ACK.
	errCallOver = errors.New("call over before the ACK")
)

// pendingAck is a re-INVITE's 2xx waiting for its ACK. ACKs for 2xx are
// requests of their own (a new branch), which sipgo hands to OnAck, so
// the ACK is matched to the re-INVITE by CSeq.
type pendingAck struct {
	cseq uint32
	ch   chan *sip.Request // gets the ACK; closed when a newer re-INVITE takes the slot
}

// expectAck makes the re-INVITE with CSeq cseq the one waiting for an ACK.
// A UAC sends no new INVITE before it has ACKed the last 2xx (RFC 3261
// §14.1), so one slot is enough: a newer re-INVITE means the older ACK
// was sent, and the older waiter stops (its channel closes).
func (l *Leg) expectAck(cseq uint32) <-chan *sip.Request {
	ch := make(chan *sip.Request, 1)
	l.mu.Lock()
	if old := l.ack; old != nil {
		close(old.ch)
	}
	l.ack = &pendingAck{cseq: cseq, ch: ch}
	l.mu.Unlock()
	return ch
}

// forgetAck gives up waiting for the ACK of the re-INVITE with cseq.
func (l *Leg) forgetAck(cseq uint32) {
	l.mu.Lock()
	if l.ack != nil && l.ack.cseq == cseq {
		l.ack = nil
	}
	l.mu.Unlock()
}

// takeAck hands an ACK to the re-INVITE that waits for it, and reports
// whether one did; the ACK of the first INVITE goes to the dialog instead.
func (l *Leg) takeAck(req *sip.Request) bool {
	cseq := req.CSeq()
	if cseq == nil {
		return false
	}
	l.mu.Lock()
	p := l.ack
	if p == nil || p.cseq != cseq.SeqNo {
		l.mu.Unlock()
		return false
	}
	l.ack = nil
	l.mu.Unlock()
	p.ch <- req // buffered, and the slot is cleared: the only send
	return true
}

// retransmit2xx sends res, a 2xx already sent once on tx, again until its
// ACK arrives on acks (RFC 3261 §13.3.1.4): after T1, then at intervals
// doubling up to T2. It is the mechanism of sipgo's RespondSDP for the
// first INVITE (dialog_server.go): a transaction in the Accepted state
// passes each 2xx the TU gives it to the transport (RFC 6026 §7.1); here
// the intervals double, as the RFC says, where RespondSDP's stay at T2.
// It returns the ACK; nil and no error when a newer re-INVITE took over
// (acks closed); errNoAck when the transaction ends first (Timer L);
// errCallOver when stop closes first.
func retransmit2xx(tx sip.ServerTransaction, res *sip.Response, acks <-chan *sip.Request, stop <-chan struct{}, t1, t2 time.Duration) (*sip.Request, error) {
	interval := t1
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		select {
		case ack, ok := <-acks:
			if !ok {
				return nil, nil
			}
			return ack, nil
		case <-timer.C:
			if err := tx.Respond(res); err != nil {
				select {
				case <-tx.Done():
					return nil, errNoAck
				default:
				}
				return nil, fmt.Errorf("retransmitting 2xx: %w", err)
			}
			interval = min(2*interval, t2)
			timer.Reset(interval)
		case <-tx.Done():
			return nil, errNoAck
		case <-stop:
			return nil, errCallOver
		}
	}
}
