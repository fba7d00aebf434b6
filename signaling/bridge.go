package signaling

import (
	"context"
	"fmt"

	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media"
)

// EarlyMedia implements interpreter.Leg: 183 Session Progress with our SDP
// answer (RFC 3261 §13.2.1 allows the answer in a reliable or unreliable
// provisional response; RFC 3959's early-session model is not needed for
// one-way ringback), then media flows before the 200 OK.
func (l *Leg) EarlyMedia(context.Context) error {
	if l.dlg == nil {
		return nil // an outbound leg is answered already
	}
	l.mu.Lock()
	if l.answered || l.early || l.offer == nil {
		// Nothing to do, or a delayed offer: without the caller's SDP
		// there is no answer to put in a 183; the caller hears nothing
		// until our 200 OK carries our offer.
		l.mu.Unlock()
		return nil
	}
	l.version++
	body := Answer(l.offer, l.srv.cfg.PublicIP, l.sess.LocalAddr().Port, l.sid, l.version)
	l.early = true
	l.mu.Unlock()
	if l.dialogCtx().Err() != nil {
		return interpreter.ErrHangup
	}
	if err := l.dlg.Respond(183, "Session Progress", body, sip.NewHeader("Content-Type", "application/sdp")); err != nil {
		return fmt.Errorf("183 Session Progress: %w", err)
	}
	// Media flows: what follows (a Dial ringing with answerOnBridge) waits
	// on the callee, not on us.
	l.slot.setupOver()
	l.mu.Lock()
	l.sess.Hold(l.offer.Hold)
	l.mu.Unlock()
	return nil
}

// Ringback implements interpreter.Leg: the country's ring cadence,
// generated locally, until stop or another sound.
func (l *Leg) Ringback(tone string) func() {
	return l.sess.SetOutput(media.Ringback(tone))
}

// Bridge implements interpreter.Leg with media.Bridge: payloads relayed as
// they are between legs of one codec, transcoded between PCMU and PCMA,
// RFC 4733 events passed through.
func (l *Leg) Bridge(peer interpreter.Leg) (func(), error) {
	p, ok := peer.(*Leg)
	if !ok {
		return nil, fmt.Errorf("signaling: cannot bridge a SIP leg to a %T", peer)
	}
	return media.Bridge(l.sess, p.sess), nil
}
