package media

import (
	"errors"
	"sync/atomic"
)

// Play makes src what the session sends, replacing (and interrupting)
// whatever played before; the switch happens at the next packet. The
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
	p := &playback{src: src, ch: make(chan error, 1)}
	if old := s.play.Swap(p); old != nil {
		old.finish(ErrInterrupted)
	}
	// end() may have swapped the slot empty just before our Swap: then
	// nobody else will finish p.
	if s.ended.Load() && s.play.CompareAndSwap(p, nil) {
		p.finish(ErrClosed)
	}
	return p.ch
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
	if !p.state.CompareAndSwap(playIdle, playReading) {
		return 0, errFinished
	}
	n, err := p.src.Read(frame)
	if p.state.CompareAndSwap(playReading, playIdle) {
		return n, err
	}
	// Somebody finished the playback meanwhile; deliver for them.
	want := p.state.Swap(playDone)
	if want == playWantClosed {
		p.ch <- ErrClosed
	} else {
		p.ch <- ErrInterrupted
	}
	return 0, errFinished
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
