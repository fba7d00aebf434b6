package media

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
)

// Sending DTMF. Sender timing, in 20 ms packet times:
//
//	tone:  5 packets, durations 160, 320, ... 800 (100 ms)
//	end:   3 packets with E set and duration 800 (RFC 4733 section 2.5.1.4:
//	       the end is retransmitted because nothing else tells the
//	       receiver the key was released)
//	gap:   2 packets of silence before the next digit
//	'w':   25 packets of silence (500 ms), 'W': 50 (1 s)
//
// When the peer did not negotiate telephone-event, the same schedule is
// played in-band as dual tones (ITU-T Q.23 frequencies): 100 ms of tone
// and 100 ms of silence per digit.
const (
	dtmfToneTicks  = 5
	dtmfEndPackets = 3
	dtmfGapTicks   = 2
	dtmfShortPause = 25
	dtmfLongPause  = 50
	dtmfAmplitude  = 7000 // ≈ -10 dBm0 per tone in 16-bit linear
)

// SendDTMF sends digits (0-9 * # A-D; 'w' pauses 500 ms, 'W' 1 s) as RFC
// 4733 events, or as in-band tones if the peer did not offer
// telephone-event. The playback is paused meanwhile and resumes after.
// SendDTMF blocks until the last packet has been sent, the context ends
// (the digit being sent is still terminated properly), or the session
// ends (ErrClosed). Concurrent calls are sent one after the other. While
// the session is on hold nothing is sent and SendDTMF waits.
func (s *Session) SendDTMF(ctx context.Context, digits string) error {
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if _, ok := dtmfEvent(c); !ok && c != 'w' && c != 'W' {
			return fmt.Errorf("media: DTMF digit %q in %q: invalid", c, digits)
		}
	}
	if digits == "" {
		return nil
	}
	select {
	case s.dtmfSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrClosed
	}
	defer func() { <-s.dtmfSem }()
	job := &dtmfJob{digits: strings.Clone(digits), done: make(chan error, 1)}
	s.dtmfReq.Store(job)
	select {
	case err := <-job.done:
		return err
	case <-ctx.Done():
		job.canceled.Store(true)
		return ctx.Err()
	case <-s.done:
		return ErrClosed
	}
}

// dtmfJob is one SendDTMF call. SendDTMF hands it over through an atomic
// pointer; from then on only the pacer advances it.
type dtmfJob struct {
	digits   string
	canceled atomic.Bool
	done     chan error

	started bool
	pt      uint8 // telephone-event payload type; 0: in-band
	i       int   // current element of digits
	phase   int
	t       int    // packets sent in this phase
	start   uint32 // RTP timestamp of the current event
	endDur  uint16 // duration reported by the end packets
}

const (
	phaseTone = iota
	phaseEnd
	phaseGap
)

func (j *dtmfJob) finish(err error) {
	select {
	case j.done <- err:
	default:
	}
}

func (j *dtmfJob) next()      { j.i, j.phase, j.t = j.i+1, phaseTone, 0 }
func (j *dtmfJob) over() bool { return j.i >= len(j.digits) }
func (j *dtmfJob) lastDigit() bool {
	return j.i == len(j.digits)-1
}

// packet describes the payload the tick just wrote into the buffer.
type packet struct {
	n      int
	pt     uint8
	marker bool
	ts     uint32
}

// dtmfStep writes this tick's packet of the job. ok is false when the job
// had nothing left to send; the caller then finishes it and plays audio.
func (s *Session) dtmfStep(pr *peer) (pkt packet, ok bool) {
	j := s.tx.job
	if !j.started {
		// Fixed for the whole job, so that a re-INVITE in the middle
		// does not switch an event between RFC 4733 and in-band.
		j.started, j.pt = true, pr.dtmfPT
	}
	for !j.over() {
		c := j.digits[j.i]
		if c == 'w' || c == 'W' {
			pkt, ok = s.pauseStep(pr, c)
		} else {
			pkt, ok = s.digitStep(pr, c)
		}
		if ok {
			return pkt, true
		}
	}
	return packet{}, false
}

// pauseStep sends one packet of silence of a 'w' or 'W'.
func (s *Session) pauseStep(pr *peer, c byte) (packet, bool) {
	j := s.tx.job
	pause := dtmfShortPause
	if c == 'W' {
		pause = dtmfLongPause
	}
	if j.canceled.Load() {
		j.i = len(j.digits)
		return packet{}, false
	}
	if j.t++; j.t >= pause {
		j.next()
	}
	return s.silencePacket(pr), true
}

// digitStep sends the next packet of a digit: tone, end or gap.
func (s *Session) digitStep(pr *peer, c byte) (packet, bool) {
	tx := &s.tx
	j := tx.job
	if j.canceled.Load() && j.phase != phaseEnd {
		if j.phase != phaseTone || j.t == 0 || j.pt == 0 {
			j.i = len(j.digits) // nothing sounding at the far end
			return packet{}, false
		}
		// Terminate the event that is sounding at the far end.
		j.endDur = uint16(j.t * FrameSamples)
		j.phase, j.t = phaseEnd, 0
	}
	ev, _ := dtmfEvent(c)
	payload := tx.buf[rtpHeaderLen:]
	switch j.phase {
	case phaseTone:
		if j.t == 0 {
			j.start = tx.ts
		}
		j.t++
		pkt := packet{n: eventLen, pt: j.pt, marker: j.t == 1, ts: j.start}
		if j.pt == 0 {
			toneFrame(tx.frame[:], ev, (j.t-1)*FrameSamples)
			pr.law.encode(payload, tx.frame[:])
			pkt = packet{n: FrameSamples, pt: pr.codec.PayloadType, ts: tx.ts}
		} else {
			// RFC 4733 section 2.5.1.2: the duration so far, from the start.
			putEvent(payload, ev, false, uint16(j.t*FrameSamples))
		}
		if j.t == dtmfToneTicks {
			j.endDur = dtmfToneTicks * FrameSamples
			j.phase, j.t = phaseEnd, 0
			if j.pt == 0 { // in-band: the tone simply stops
				j.phase = phaseGap
				if j.lastDigit() {
					j.i = len(j.digits)
				}
			}
		}
		return pkt, true
	case phaseEnd:
		j.t++
		putEvent(payload, ev, true, j.endDur)
		if j.t == dtmfEndPackets {
			j.phase, j.t = phaseGap, 0
			if j.canceled.Load() || j.lastDigit() {
				j.i = len(j.digits) // no gap after the last digit
			}
		}
		return packet{n: eventLen, pt: j.pt, ts: j.start}, true
	default: // phaseGap
		gap := dtmfGapTicks
		if j.pt == 0 {
			gap += dtmfEndPackets
		}
		if j.t++; j.t >= gap {
			j.next()
		}
		return s.silencePacket(pr), true
	}
}

// silencePacket writes a packet of silence at the current timestamp.
func (s *Session) silencePacket(pr *peer) packet {
	fillSilence(s.tx.buf[rtpHeaderLen:], pr.law)
	return packet{n: FrameSamples, pt: pr.codec.PayloadType, ts: s.tx.ts}
}

// dtmfTones are the ITU-T Q.23 row and column frequencies per event code.
var dtmfTones = [16][2]float64{
	{941, 1336}, {697, 1209}, {697, 1336}, {697, 1477},
	{770, 1209}, {770, 1336}, {770, 1477}, {852, 1209},
	{852, 1336}, {852, 1477}, {941, 1209}, {941, 1477},
	{697, 1633}, {770, 1633}, {852, 1633}, {941, 1633},
}

// toneFrame writes samples [off, off+len(frame)) of the dual tone of ev.
func toneFrame(frame []int16, ev uint8, off int) {
	f := dtmfTones[ev&0xF]
	w1 := 2 * math.Pi * f[0] / SampleRate
	w2 := 2 * math.Pi * f[1] / SampleRate
	for i := range frame {
		n := float64(off + i)
		frame[i] = int16(dtmfAmplitude * (math.Sin(w1*n) + math.Sin(w2*n)))
	}
}
