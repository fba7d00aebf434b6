package media

import (
	"slices"
	"sync"
)

// TapSent adds k to the receivers of what the session sends the party:
// one 20 ms frame per packet time, decoded from the very payload that
// goes out (a prompt, a bridge peer's audio, a mix, silence), so that a
// fork of the call's outbound track hears what the party hears
// (<Start><Stream track="outbound_track">,
// https://www.twilio.com/docs/voice/twiml/stream#track). A packet time
// that carries a telephone event gives a silent frame. Nothing is
// delivered while the session is held, since nothing is sent.
//
// Write runs on the pacer goroutine that sends the session's packets,
// shared with other calls: it must not block, and must copy what it
// keeps. untap is idempotent; a Write in progress may complete after it
// returns.
func (s *Session) TapSent(k Sink) (untap func()) {
	if k == nil {
		return func() {}
	}
	t := &tap{k: k}
	s.editSentTaps(func(all []*tap) []*tap { return append(all, t) })
	var once sync.Once
	return func() {
		once.Do(func() {
			s.editSentTaps(func(all []*tap) []*tap {
				return slices.DeleteFunc(all, func(x *tap) bool { return x == t })
			})
		})
	}
}

// editSentTaps publishes a new set of sent-audio taps, copied on write
// as the receiving taps are, so that the send path pays one atomic load
// per packet when nobody listens.
func (s *Session) editSentTaps(edit func([]*tap) []*tap) {
	s.tapMu.Lock()
	defer s.tapMu.Unlock()
	var cur []*tap
	if p := s.sentTap.Load(); p != nil {
		cur = *p
	}
	next := edit(slices.Clone(cur))
	if len(next) == 0 {
		s.sentTap.Store(nil)
		return
	}
	s.sentTap.Store(&next)
}

// tapSent hands the packet about to be sent to the sent-audio taps,
// decoded. It runs on the pacer goroutine that owns s.tx, whose frame
// buffer it borrows once the payload is encoded.
func (s *Session) tapSent(taps []*tap, pr *peer, pkt packet) {
	frame := s.tx.frame[:]
	if pkt.pt == pr.codec.PayloadType && pkt.n == FrameSamples {
		pr.law.decode(frame, s.tx.buf[rtpHeaderLen:rtpHeaderLen+FrameSamples])
	} else {
		clear(frame) // a telephone event: no audio
	}
	for _, t := range taps {
		t.k.Write(frame)
	}
}
