package stream

import (
	"github.com/texml/texml/media"
)

// playout is the app's audio waiting to be played, in order, with its
// marks in place: a mark is echoed once the audio queued before it has
// played, or at once when a clear drops that audio
// (https://www.twilio.com/docs/voice/media-streams/websocket-messages#send-a-mark-message).
// It is guarded by the Stream's mu.
type playout struct {
	q     []segment
	bytes int // µ-law bytes queued (one per sample)
	max   int // bytes allowed in q

	received, played, discarded int // in samples
}

// segment is one app media message's audio, or one mark.
type segment struct {
	audio []byte
	mark  string
	isMk  bool
}

// Next implements the player the interpreter hands a leg: it fills
// frame with the next 20 ms of the app's audio and reports whether there
// was any; a frame the queue could fill only in part ends in silence.
// It never blocks (one short lock), so the pacer may call it; marks
// reached are echoed from the writer's goroutine.
func (s *Stream) Next(frame []int16) bool {
	var buf [media.FrameSamples]byte
	s.mu.Lock()
	p := &s.play
	n := 0
	for len(p.q) > 0 {
		h := &p.q[0]
		if h.isMk {
			// Everything before the mark is in this frame or played.
			s.echo(h.mark)
			p.q = p.q[1:]
			continue
		}
		if n == len(buf) {
			break
		}
		k := copy(buf[n:], h.audio)
		h.audio = h.audio[k:]
		n += k
		p.bytes -= k
		if len(h.audio) == 0 {
			p.q = p.q[1:]
		}
	}
	p.played += n
	s.mu.Unlock()
	if n == 0 {
		return false
	}
	s.playCodec.Decode(frame, buf[:n])
	clear(frame[n:])
	return true
}

// echo queues the mark's echo; s.mu is held.
func (s *Stream) echo(name string) {
	s.marks++
	s.queue(ctrlMsg{kind: ctrlMark, name: name, at: s.cfg.Now()})
}

// addAudio queues the app's audio for playing; what does not fit under
// MaxPlayout is discarded.
func (s *Stream) addAudio(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &s.play
	p.received += len(b)
	if room := p.max - p.bytes; len(b) > room {
		p.discarded += len(b) - max(room, 0)
		b = b[:max(room, 0)]
	}
	if len(b) == 0 {
		return
	}
	p.q = append(p.q, segment{audio: b})
	p.bytes += len(b)
}

// addMark puts a mark after the audio queued so far; with nothing
// queued, the audio before it has played already, and it is echoed now.
func (s *Stream) addMark(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.play.q) == 0 {
		s.echo(name)
		return
	}
	s.play.q = append(s.play.q, segment{mark: name, isMk: true})
}

// clearAudio drops the queued audio and returns how many samples it
// dropped and the marks that were queued among it, in order, for the
// caller to echo (echoMarks) once it has told of the clear: the clear
// comes before its marks' echoes in the stream's events.
func (s *Stream) clearAudio() (dropped int, marks []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &s.play
	for _, sg := range p.q {
		if sg.isMk {
			marks = append(marks, sg.mark)
		}
	}
	dropped = p.bytes
	p.discarded += dropped
	p.q, p.bytes = nil, 0
	return dropped, marks
}

// echoMarks echoes marks at once, in order.
func (s *Stream) echoMarks(marks []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range marks {
		s.echo(m)
	}
}
