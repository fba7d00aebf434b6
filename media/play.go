package media

import (
	"errors"
	"sync/atomic"
)

// Play makes src what the session sends, replacing (and interrupting)
// whatever it sent before (a prompt, a bridge); the switch happens at the
// next packet, and once src has ended the session sends silence. The
// returned channel (buffered, written once) reports how the playback
// ended:
//
//   - nil when src returned io.EOF and the packet with its last samples
//     has been sent;
//   - ErrInterrupted when Play or StopPlay replaced it;
//   - ErrClosed when the session ended;
//   - the source's error (wrapped) if Read failed.
//
// Once the channel has a value the session no longer reads src, and never
// will: the caller may reuse or release it. Read runs on a pacer goroutine
// shared with other calls, so it must not block (decode ahead of time).
// Play(nil) is StopPlay and reports nil.
func (s *Session) Play(src Source) <-chan error {
	if src == nil {
		s.StopPlay()
		ch := make(chan error, 1)
		ch <- nil
		return ch
	}
	return s.start(src).ch
}

// PlayOwn is Play with a stop that interrupts this playback only: once a
// mix, a bridge or another prompt has replaced it, stop leaves the
// session's output alone. A prompt that a conference start interrupts
// must not silence the conference.
func (s *Session) PlayOwn(src Source) (done <-chan error, stop func()) {
	if src == nil {
		ch := make(chan error, 1)
		ch <- nil
		return ch, func() {}
	}
	p := s.start(src)
	return p.ch, func() {
		if s.play.CompareAndSwap(p, nil) {
			p.finish(ErrInterrupted)
		}
	}
}

// SetOutput implements Endpoint: it is Play for outputs that do not end
// on their own (a bridge peer, a mix), whose owner wants to take them off
// again without knocking off whatever replaced them.
func (s *Session) SetOutput(src Source) (clear func()) {
	if src == nil {
		s.StopPlay()
		return func() {}
	}
	p := s.start(src)
	return func() {
		if s.play.CompareAndSwap(p, nil) {
			p.finish(ErrInterrupted)
		}
	}
}

// start puts a playback of src in the output slot.
func (s *Session) start(src Source) *playback {
	p := &playback{src: src, ch: make(chan error, 1)}
	p.pkt, _ = src.(packetSource)
	_, p.live = src.(liveSource)
	if old := s.play.Swap(p); old != nil {
		old.finish(ErrInterrupted)
	}
	// end() may have swapped the slot empty just before our Swap: then
	// nobody else will finish p.
	if s.ended.Load() && s.play.CompareAndSwap(p, nil) {
		p.finish(ErrClosed)
	}
	return p
}

// StopPlay interrupts the current playback, if any: the next packet is
// silence.
func (s *Session) StopPlay() {
	if old := s.play.Swap(nil); old != nil {
		old.finish(ErrInterrupted)
	}
}

// playback is one Play call. Its state machine lets any goroutine finish
// it without a lock and without waiting, while guaranteeing that the
// result is reported only after the pacer has stopped reading the
// source: a finish requested during a Read is delivered by the pacer
// right after that Read returns.
type playback struct {
	src   Source
	pkt   packetSource // src's packet path, if it has one
	live  bool         // src is a liveSource
	ch    chan error
	state atomic.Int32
}

const (
	playIdle            int32 = iota // between reads
	playReading                      // the pacer is inside src.Read
	playDone                         // result delivered
	playWantInterrupted              // finish requested during a Read
	playWantClosed
)

// errFinished is read's answer for a playback that was finished: nothing
// was read and the frame is untouched.
var errFinished = errors.New("media: playback finished")

// read reads one frame unless the playback is finished.
func (p *playback) read(frame []int16) (int, error) {
	if !p.begin() {
		return 0, errFinished
	}
	n, err := p.src.Read(frame)
	if !p.endRead() {
		return 0, errFinished
	}
	return n, err
}

// begin starts a read of the source; false if the playback is finished.
func (p *playback) begin() bool { return p.state.CompareAndSwap(playIdle, playReading) }

// endRead ends a read begun by begin. False means that somebody finished
// the playback during the read: its result is delivered now, and what was
// read must not be sent.
func (p *playback) endRead() bool {
	if p.state.CompareAndSwap(playReading, playIdle) {
		return true
	}
	if p.state.Swap(playDone) == playWantClosed {
		p.ch <- ErrClosed
	} else {
		p.ch <- ErrInterrupted
	}
	return false
}

// finish reports err once; later calls do nothing. Only ErrInterrupted
// and ErrClosed may be requested while a Read is running, which is the
// case for every caller but the pacer itself.
func (p *playback) finish(err error) {
	for {
		switch st := p.state.Load(); st {
		case playIdle:
			if p.state.CompareAndSwap(playIdle, playDone) {
				p.ch <- err
				return
			}
		case playReading:
			want := playWantInterrupted
			if err == ErrClosed {
				want = playWantClosed
			}
			if p.state.CompareAndSwap(playReading, want) {
				return
			}
		default:
			return
		}
	}
}
