package media

import (
	"bytes"
	"math"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
)

// bridgeRig is two far ends, A and B, each a plain UDP socket facing a
// session of its own (sa, sb) on one manual pacer. A far end sends RTP
// with send, which returns once the session has taken the packet in; every
// tick then makes each session send one packet to its far end.
type bridgeRig struct {
	tick   func(n int)
	pa, pb *capture
	sa, sb *Session
	ta, tb stream // what A and B send
}

// end configures one side of a rig.
type end struct {
	codec   Codec
	dtmfPT  uint8
	metrics *Metrics // nil: none
}

func newBridgeRig(t *testing.T, a, b end) *bridgeRig {
	t.Helper()
	p, _, tick := manualPacer(t)
	r := &bridgeRig{tick: tick, pa: newCapture(t), pb: newCapture(t)}
	r.sa = newSession(t, p, r.pa.addr(), func(c *SessionConfig) { c.Codec, c.DTMFPayloadType, c.Metrics = a.codec, a.dtmfPT, a.metrics })
	r.sb = newSession(t, p, r.pb.addr(), func(c *SessionConfig) { c.Codec, c.DTMFPayloadType, c.Metrics = b.codec, b.dtmfPT, b.metrics })
	r.ta = stream{pt: a.codec.PayloadType, ssrc: 0xA, seq: 100, ts: 1000}
	r.tb = stream{pt: b.codec.PayloadType, ssrc: 0xB, seq: 7000, ts: 90000}
	return r
}

// stream numbers a far end's packets.
type stream struct {
	pt   uint8
	ssrc uint32
	seq  uint16
	ts   uint32
}

// audio returns the header of the next 20 ms audio packet.
func (s *stream) audio() rtp.Header {
	h := rtp.Header{PayloadType: s.pt, SequenceNumber: s.seq, Timestamp: s.ts, SSRC: s.ssrc}
	s.seq++
	s.ts += FrameSamples
	return h
}

// send sends one packet from far end c to session s and waits until s has
// handed it on (Received counts a packet after its taps had it).
func send(t *testing.T, c *capture, s *Session, h rtp.Header, payload []byte) {
	t.Helper()
	want := s.Stats().Received + 1
	sendRTP(t, c.conn, s.LocalAddr(), h, payload)
	eventually(t, 2*time.Second, "the packet to be taken in", func() bool { return s.Stats().Received >= want })
}

// step ticks once and returns what each far end received.
func (r *bridgeRig) step(t *testing.T) (toA, toB *rtp.Packet) {
	t.Helper()
	r.tick(1)
	return r.pa.next(t), r.pb.next(t)
}

// toneFrames renders n frames of a sine.
func toneFrames(freq, amp float64, n int) [][]int16 {
	all := (&toneSource{freq: freq, amp: amp, total: n * FrameSamples}).render()
	out := make([][]int16, n)
	for i := range out {
		out[i] = all[i*FrameSamples : (i+1)*FrameSamples]
	}
	return out
}

func encodeFrame(c Codec, frame []int16) []byte {
	b := make([]byte, len(frame))
	c.Encode(b, frame)
	return b
}

// toneLevels returns the mean square of x at each frequency, measured
// with the DTMF detector's Goertzel filters.
func toneLevels(x []int16, freqs [4]float64) [4]float64 {
	var coef, out [4]float64
	for i, f := range freqs {
		coef[i] = 2 * math.Cos(2*math.Pi*f/SampleRate)
	}
	Goertzel4(x, out[:], coef[:])
	n := float64(len(x))
	for i := range out {
		out[i] *= 2 / (n * n)
	}
	return out
}

// checkTone asserts that x is a sine of freq at amplitude amp: the level
// at freq within 10 % of amp²/2, and at least 30 dB above the others.
func checkTone(t *testing.T, what string, x []int16, freq, amp float64, others ...float64) {
	t.Helper()
	freqs := [4]float64{freq}
	copy(freqs[1:], others)
	lv := toneLevels(x, freqs)
	if want := amp * amp / 2; lv[0] < 0.9*want || lv[0] > 1.1*want {
		t.Errorf("%s: level at %.0f Hz = %.3g, want ≈ %.3g", what, freq, lv[0], want)
	}
	for i, f := range freqs[1:] {
		if lv[i+1]*1000 > lv[0] {
			t.Errorf("%s: %.0f Hz at %.3g, too close to the tone's %.3g", what, f, lv[i+1], lv[0])
		}
	}
}

// checkContinuity asserts that pkts form one stream: one SSRC, sequence
// numbers +1, timestamps +160 (events keep the timestamp of their start,
// so only the audio packets are checked for it).
func checkContinuity(t *testing.T, what string, pkts []*rtp.Packet, eventPT uint8) {
	t.Helper()
	var lastAudio *rtp.Packet
	for i, p := range pkts {
		if i > 0 {
			prev := pkts[i-1]
			if p.SSRC != prev.SSRC {
				t.Errorf("%s: packet %d: SSRC %#x after %#x", what, i, p.SSRC, prev.SSRC)
			}
			if p.SequenceNumber != prev.SequenceNumber+1 {
				t.Errorf("%s: packet %d: seq %d after %d", what, i, p.SequenceNumber, prev.SequenceNumber)
			}
		}
		if eventPT != 0 && p.PayloadType == eventPT {
			continue
		}
		if lastAudio != nil {
			if gap := p.Timestamp - lastAudio.Timestamp; gap%FrameSamples != 0 || gap == 0 {
				t.Errorf("%s: packet %d: ts %d after %d", what, i, p.Timestamp, lastAudio.Timestamp)
			}
		}
		lastAudio = p
	}
}

// A tone from each far end reaches the other through the bridge: the
// bytes unchanged when both sides use the same law, mapped through the
// transcoding table (and still the same tone) when they do not.
func TestBridgeAudio(t *testing.T) {
	const frames = 10
	for _, tc := range []struct {
		name string
		a, b Codec
	}{
		{"PCMU relay", PCMU, PCMU},
		{"PCMA relay", PCMA, PCMA},
		{"PCMU to PCMA", PCMU, PCMA},
		{"PCMA to PCMU", PCMA, PCMU},
		{"dynamic payload types", Codec{"PCMU", 96}, Codec{"PCMU", 97}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newBridgeRig(t, end{codec: tc.a}, end{codec: tc.b})
			stop := Bridge(r.sa, r.sb)
			defer stop()
			fromA, fromB := toneFrames(1000, 8000, frames), toneFrames(600, 6000, frames)
			var heardA, heardB []int16 // decoded at the far ends
			var gotA, gotB []*rtp.Packet
			for i := range frames {
				pa, pb := encodeFrame(tc.a, fromA[i]), encodeFrame(tc.b, fromB[i])
				send(t, r.pa, r.sa, r.ta.audio(), pa)
				send(t, r.pb, r.sb, r.tb.audio(), pb)
				toA, toB := r.step(t)
				gotA, gotB = append(gotA, toA), append(gotB, toB)
				for _, c := range []struct {
					what string
					pkt  *rtp.Packet
					sent []byte
					from Codec
					to   Codec
				}{{"to B", toB, pa, tc.a, tc.b}, {"to A", toA, pb, tc.b, tc.a}} {
					if c.pkt.PayloadType != c.to.PayloadType || len(c.pkt.Payload) != FrameSamples {
						t.Fatalf("%s, frame %d: PT %d, %d bytes", c.what, i, c.pkt.PayloadType, len(c.pkt.Payload))
					}
					want := bytes.Clone(c.sent)
					transcode(want, c.from.law(), c.to.law()) // a no-op for one law
					if !bytes.Equal(c.pkt.Payload, want) {
						t.Errorf("%s, frame %d: payload differs from the relayed bytes", c.what, i)
					}
				}
				heardA = append(heardA, decodeFrame(tc.a, toA.Payload)...)
				heardB = append(heardB, decodeFrame(tc.b, toB.Payload)...)
			}
			checkTone(t, "B hears A", heardB, 1000, 8000, 600, 1500, 2500)
			checkTone(t, "A hears B", heardA, 600, 6000, 1000, 1500, 2500)
			checkContinuity(t, "to A", gotA, 0)
			checkContinuity(t, "to B", gotB, 0)
			if !gotB[0].Marker || gotB[1].Marker {
				t.Errorf("marker: %v, %v; want it on the first relayed packet only", gotB[0].Marker, gotB[1].Marker)
			}
		})
	}
}

func decodeFrame(c Codec, b []byte) []int16 {
	x := make([]int16, len(b))
	c.Decode(x, b)
	return x
}

// What B's far end hears switches prompt → bridge → prompt → silence as
// one stream, and the bridge gives way to prompts without cutting them.
func TestBridgeOutputSwitch(t *testing.T) {
	r := newBridgeRig(t, end{codec: PCMU}, end{codec: PCMU})
	relayed := map[string]bool{}
	var got []*rtp.Packet
	kind := func(p *rtp.Packet) string {
		switch {
		case bytes.Equal(p.Payload, silenceULaw()):
			return "silence"
		case relayed[string(p.Payload)]:
			return "bridge"
		}
		return "prompt"
	}
	frame := 0
	// steps ticks n times while A talks, and checks what B's far end got.
	steps := func(n int, want string) {
		t.Helper()
		for range n {
			b := bytes.Repeat([]byte{byte(0x10 + frame%0x60)}, FrameSamples) // a distinct frame each time
			frame++
			relayed[string(b)] = true
			send(t, r.pa, r.sa, r.ta.audio(), b)
			_, toB := r.step(t)
			got = append(got, toB)
			if k := kind(toB); k != want {
				t.Fatalf("packet %d: %s, want %s", len(got)-1, k, want)
			}
		}
	}
	tone := func(n int) Source { return &toneSource{freq: 440, amp: 5000, total: n * FrameSamples} }

	first := r.sb.Play(tone(2))
	steps(2, "prompt")
	if ok, err := ready(first); !ok || err != nil {
		t.Fatalf("first prompt: ready=%v err=%v", ok, err)
	}
	stop := Bridge(r.sa, r.sb)
	steps(3, "bridge")
	second := r.sb.Play(tone(2)) // interrupts the bridge's output
	steps(2, "prompt")
	steps(2, "silence") // a finished prompt leaves silence, not the bridge
	if ok, err := ready(second); !ok || err != nil {
		t.Fatalf("second prompt: ready=%v err=%v", ok, err)
	}
	stop()
	stop = Bridge(r.sa, r.sb)
	steps(2, "bridge")
	third := r.sb.Play(tone(100))
	steps(1, "prompt")
	stop() // leaves the prompt that replaced the bridge alone
	steps(1, "prompt")
	if ok, _ := ready(third); ok {
		t.Fatal("stop interrupted a prompt that was not the bridge's")
	}
	r.sb.StopPlay()
	steps(2, "silence")

	checkContinuity(t, "to B", got, 0)
	for i, p := range got {
		wantMarker := i > 0 && kind(p) != "silence" && kind(got[i-1]) != kind(p)
		if i == 0 {
			wantMarker = true
		}
		if p.Marker != wantMarker {
			t.Errorf("packet %d (%s): marker %v, want %v", i, kind(p), p.Marker, wantMarker)
		}
	}
}

// Taps: several at once, untap (idempotent), and a recorder tapping both
// bridged sessions hears both directions.
func TestTaps(t *testing.T) {
	r := newBridgeRig(t, end{codec: PCMU}, end{codec: PCMA})
	first, second, both := &recorder{}, &recorder{}, &recorder{}
	untapFirst := r.sa.Tap(first)
	defer r.sa.Tap(second)()
	defer r.sa.Tap(both)()
	defer r.sb.Tap(both)()
	defer r.sa.Tap(nil)() // nothing, and no panic
	stop := Bridge(r.sa, r.sb)
	defer stop()

	fromA, fromB := toneFrames(1000, 8000, 5), toneFrames(600, 8000, 5)
	talk := func(i int) {
		send(t, r.pa, r.sa, r.ta.audio(), encodeFrame(PCMU, fromA[i]))
		send(t, r.pb, r.sb, r.tb.audio(), encodeFrame(PCMA, fromB[i]))
		r.step(t)
	}
	for i := range 3 {
		talk(i)
	}
	untapFirst()
	untapFirst()
	for i := 3; i < 5; i++ {
		talk(i)
	}
	// Received counts a packet after its taps: no waiting needed.
	if n := len(first.Frames()); n != 3 {
		t.Errorf("untapped sink: %d frames, want 3", n)
	}
	if n := len(second.Frames()); n != 5 {
		t.Errorf("second sink: %d frames, want 5", n)
	}
	if n := len(both.Frames()); n != 10 {
		t.Fatalf("tap on both sessions: %d frames, want 10", n)
	}
	var heardA, heardB []int16 // told apart by their tones
	for _, f := range both.Frames() {
		lv := toneLevels(f, [4]float64{1000, 600})
		if lv[0] > lv[1] {
			heardA = append(heardA, f...)
		} else {
			heardB = append(heardB, f...)
		}
	}
	if len(heardA) != 5*FrameSamples || len(heardB) != 5*FrameSamples {
		t.Fatalf("tap on both: %d samples of A, %d of B, want 800 each", len(heardA), len(heardB))
	}
	checkTone(t, "A's side", heardA, 1000, 8000, 600, 1500, 2500)
	checkTone(t, "B's side", heardB, 600, 8000, 1000, 1500, 2500)
}

// stop returns both sides to silence, is idempotent, and may be called
// from several goroutines.
func TestBridgeStop(t *testing.T) {
	r := newBridgeRig(t, end{codec: PCMU}, end{codec: PCMU})
	stop := Bridge(r.sa, r.sb)
	talk := func() (toA, toB *rtp.Packet) {
		t.Helper()
		send(t, r.pa, r.sa, r.ta.audio(), bytes.Repeat([]byte{0x42}, FrameSamples))
		send(t, r.pb, r.sb, r.tb.audio(), bytes.Repeat([]byte{0x24}, FrameSamples))
		return r.step(t)
	}
	if toA, toB := talk(); toA.Payload[0] != 0x24 || toB.Payload[0] != 0x42 {
		t.Fatalf("bridged: A got %#x, B got %#x", toA.Payload[0], toB.Payload[0])
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(stop)
	}
	wg.Wait()
	stop()
	// An untapped relay would send silence too: check that neither
	// session still has it as its output.
	if r.sa.play.Load() != nil || r.sb.play.Load() != nil {
		t.Fatal("a session still sends from the bridge after stop")
	}
	for range 2 {
		if toA, toB := talk(); !bytes.Equal(toA.Payload, silenceULaw()) || !bytes.Equal(toB.Payload, silenceULaw()) {
			t.Fatalf("after stop: A got %#x, B got %#x, want silence", toA.Payload[0], toB.Payload[0])
		}
	}
}

// Closing one side ends the bridge: the other side returns to silence and
// the bridge's goroutine exits.
func TestBridgeSessionClose(t *testing.T) {
	r := newBridgeRig(t, end{codec: PCMU}, end{codec: PCMU})
	before := runtime.NumGoroutine()
	stop := Bridge(r.sa, r.sb)
	if r.sb.play.Load() == nil {
		t.Fatal("the bridge is not B's output")
	}
	_ = r.sa.Close()
	eventually(t, 2*time.Second, "B back to silence", func() bool { return r.sb.play.Load() == nil })
	// A's receive goroutine is gone too, and the bridge's own.
	eventually(t, 2*time.Second, "the goroutines to exit", func() bool { return runtime.NumGoroutine() <= before-1 })
	done := make(chan struct{})
	go func() { stop(); stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("stop blocked after a session closed")
	}
	r.tick(1)
	if p := r.pb.next(t); !bytes.Equal(p.Payload, silenceULaw()) {
		t.Errorf("B after the close: %#x, want silence", p.Payload[0])
	}
}

// Many bridges on a real pacer, ended both ways, leave no goroutine.
func TestBridgeNoGoroutineLeak(t *testing.T) {
	p := NewPacer(PacerOptions{})
	t.Cleanup(p.Close)
	const pairs = 20
	var sessions [][2]*Session
	for range pairs {
		a := newSession(t, p, nil, nil)
		b := newSession(t, p, a.LocalAddr(), nil)
		a.SetRemote(b.LocalAddr(), PCMU, 0)
		sessions = append(sessions, [2]*Session{a, b})
	}
	before := runtime.NumGoroutine()
	var stops []func()
	for _, s := range sessions {
		stops = append(stops, Bridge(s[0], s[1]))
	}
	if n := runtime.NumGoroutine(); n > before+pairs { // others may end meanwhile, none may start
		t.Errorf("%d goroutines for %d bridges, want one each", n-before, pairs)
	}
	// Each side plays into the other for a few packets.
	for _, s := range sessions {
		s[0].Play(&toneSource{freq: 500, amp: 1000, total: 1 << 20})
	}
	eventually(t, 2*time.Second, "traffic", func() bool { return sessions[pairs-1][1].Stats().Received > 3 })
	for i, s := range sessions {
		if i%2 == 0 {
			stops[i]()
		} else {
			_ = s[1].Close()
		}
	}
	// The closed sessions' receive goroutines end too, where they have
	// them (a pacer that does not read the sockets itself).
	receivers := 0
	if !p.polls() {
		receivers = pairs / 2
	}
	eventually(t, 2*time.Second, "the bridges' goroutines to exit", func() bool {
		return runtime.NumGoroutine() <= before-receivers
	})
	for _, stop := range stops {
		stop()
	}
}

// A burst from one side leaves a backlog that lasts (both sides send at
// the same rate): the hearer's session sends it early, a second packet in
// one packet time with the next sequence number and timestamp, and every
// frame the speaker sent reaches the far end, in order.
func TestBridgeCatchUp(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := newBridgeRig(t, end{codec: PCMU}, end{codec: PCMU, metrics: NewMetrics(reg)})
	stop := Bridge(r.sa, r.sb)
	defer stop()
	next := byte(1)
	say := func() { // one frame from A, numbered by its bytes
		send(t, r.pa, r.sa, r.ta.audio(), frameOf(next))
		next++
	}
	for range 3 { // a burst: two frames more than the tick takes
		say()
	}
	var got []*rtp.Packet
	caught := uint64(0)
	for range relayCatchUpTicks + 10 {
		r.tick(1)
		got = append(got, r.pb.next(t))
		if c := r.sb.Stats().CaughtUp; c > caught {
			caught = c
			got = append(got, r.pb.next(t)) // the early packet, at once
		}
		r.pa.next(t)
		say()
	}
	checkContinuity(t, "to B", got, 0)
	want := byte(1)
	for i, p := range got {
		if !bytes.Equal(p.Payload, frameOf(want)) {
			t.Fatalf("packet %d: payload %d…, want frame %d", i, p.Payload[0], want)
		}
		want++
	}
	st := r.sb.Stats()
	if st.CaughtUp != 1 || st.Drained != 0 {
		t.Errorf("caught up %d, drained %d; want 1 and 0", st.CaughtUp, st.Drained)
	}
	m := gathered(t, reg)
	if m["texml_rtp_relay_caught_up_total"] != 1 || m["texml_rtp_relay_drained_total"] != 0 {
		t.Errorf("metrics: caught up %v, drained %v; want 1 and 0", m["texml_rtp_relay_caught_up_total"], m["texml_rtp_relay_drained_total"])
	}
	// Frames said but not yet heard: the cushion and the frame said after
	// the last tick.
	if held := int(next-1) - len(got); held != 2 {
		t.Errorf("%d frames still held, want 2 (the cushion and the newest)", held)
	}
}

// Sessions playing a bridge send after the shard's reads, the others
// before; whichever pass a session is in, and however its output changes
// between ticks, it sends exactly one packet per packet time.
func TestTickOrder(t *testing.T) {
	r := newBridgeRig(t, end{codec: PCMU}, end{codec: PCMU})
	// The far ends speak first: a session sends nowhere before its peer's
	// first packet has latched the peer's address.
	send(t, r.pa, r.sa, r.ta.audio(), frameOf(1))
	send(t, r.pb, r.sb, r.tb.audio(), frameOf(2))
	step := func(what string, want sendOrder) {
		t.Helper()
		r.step(t) // one packet each
		r.pa.none(t, 30*time.Millisecond)
		r.pb.none(t, 0)
		if a, b := r.sa.tx.order, r.sb.tx.order; a != want || b != want {
			t.Errorf("%s: orders %d, %d; want %d", what, a, b, want)
		}
	}
	step("silence", sendEarly)
	r.sa.SetOutput(&toneSource{freq: 500, amp: 4000, total: 1 << 20})
	step("a prompt", sendEarly)
	stop := Bridge(r.sa, r.sb)
	step("bridged, first tick (sent early)", sendLate)
	step("bridged", sendLate)
	stop()
	step("after the bridge (sent late)", sendEarly)
	step("silence again", sendEarly)
}
