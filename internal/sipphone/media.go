package sipphone

import (
	"errors"
	"net"
	"time"
)

// media returns where to send RTP and in which codec; to is nil until
// the other side's SDP says, or while it holds.
func (c *Call) media() (to *net.UDPAddr, codec Codec, dtmf int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remote, c.codec, c.dtmf
}

// setMedia points the call's RTP at the other side's SDP: its address,
// and the telephone-event payload type both sides use (the offer's,
// RFC 3264 §6.1).
func (c *Call) setMedia(s session, codec Codec, dtmf int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remote, c.codec, c.dtmf = s.addr, codec, dtmf
	c.in.dtmfPT.Store(int32(dtmf))
}

// Talk sends samples (8 kHz) as 20 ms packets of the negotiated codec in
// real time; it returns when they are sent or the call ends. With nowhere
// to send yet it still takes the time the audio lasts, as talking does.
func (c *Call) Talk(samples []int16) {
	to, codec, _ := c.media()
	if to == nil {
		sleep(c.ctx, time.Duration(len(samples))*time.Second/Rate)
		return
	}
	c.out.audio(c.ctx, to, codec, samples)
}

// Tone sends a sine at freq (Hz) for d.
func (c *Call) Tone(freq float64, d time.Duration) { c.Talk(ToneSamples(freq, d)) }

// Silence sends d of digital silence, as a phone without silence
// suppression does while its user listens.
func (c *Call) Silence(d time.Duration) { c.Talk(make([]int16, int(d.Seconds()*Rate))) }

// Listen sends silence until the call ends or max passes.
func (c *Call) Listen(max time.Duration) {
	deadline := time.Now().Add(max)
	for !c.Ended() && time.Now().Before(deadline) {
		c.Silence(100 * time.Millisecond)
	}
}

// DTMF presses keys (0-9, *, #, A-D) as RFC 4733 events in the call's
// RTP stream, with the negotiated telephone-event payload type.
func (c *Call) DTMF(digits string) error {
	to, _, pt := c.media()
	switch {
	case pt < 0:
		return errors.New("sipphone: no telephone-event payload type was negotiated")
	case to == nil:
		return errors.New("sipphone: no media address to send the keys to")
	}
	c.out.dtmf(c.ctx, to, uint8(pt), digits)
	return nil
}

// SendRaw writes one datagram from the call's RTP socket to the other
// side's media address, for packets no phone would send.
func (c *Call) SendRaw(b []byte) error {
	to, _, _ := c.media()
	if to == nil {
		return errors.New("sipphone: no media address")
	}
	_, err := c.conn.WriteToUDP(b, to)
	return err
}

// RemoteMedia is the other side's RTP address from its SDP; nil until
// known.
func (c *Call) RemoteMedia() *net.UDPAddr {
	to, _, _ := c.media()
	return to
}

// Codec is the codec the call sends.
func (c *Call) Codec() Codec {
	_, codec, _ := c.media()
	return codec
}

// Audio is a copy of the audio received so far, decoded from PCMU and
// PCMA packets by their payload types.
func (c *Call) Audio() []int16 {
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	return append([]int16(nil), c.in.samples...)
}

// Packets is how many audio packets arrived so far.
func (c *Call) Packets() int {
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	return c.in.packets
}

// ReceivedDigits are the RFC 4733 events received so far, one per event
// (packets with the same RTP timestamp are one event).
func (c *Call) ReceivedDigits() string {
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	return string(c.in.digits)
}

// VoiceAfter returns when the first packet carrying sound (not silence)
// arrived after t, and false when none has.
func (c *Call) VoiceAfter(t time.Time) (time.Time, bool) {
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	for _, at := range c.in.voiced {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// LastVoice returns when the last packet carrying sound arrived, and
// false when none has.
func (c *Call) LastVoice() (time.Time, bool) {
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	if n := len(c.in.voiced); n > 0 {
		return c.in.voiced[n-1], true
	}
	return time.Time{}, false
}
