package media

import (
	"bytes"
	"sync"
	"testing"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
)

// frameOf is a 20 ms payload of one repeated code word.
func frameOf(b byte) []byte { return bytes.Repeat([]byte{b}, FrameSamples) }

func TestRelayRing(t *testing.T) {
	pop := func(r *relay) (byte, law, bool) {
		dst := make([]byte, FrameSamples)
		l, _, ok := r.pop(dst, len(dst))
		if ok && !bytes.Equal(dst, frameOf(dst[0])) {
			t.Fatalf("popped a torn frame: %v", dst)
		}
		return dst[0], l, ok
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, r *relay)
	}{
		{"overflow drops the oldest", func(t *testing.T, r *relay) {
			for i := range byte(relayFrames + 2) {
				r.push(muLaw, frameOf(i))
			}
			for i := byte(2); i < relayFrames+2; i++ {
				if b, _, ok := pop(r); !ok || b != i {
					t.Fatalf("popped %d (ok %v), want %d", b, ok, i)
				}
			}
			if _, _, ok := pop(r); ok {
				t.Fatal("more than the ring holds")
			}
		}},
		{"a partial frame waits for the rest", func(t *testing.T, r *relay) {
			r.push(muLaw, frameOf(1)[:100])
			if _, _, ok := pop(r); ok {
				t.Fatal("popped 100 bytes as a frame")
			}
			r.push(muLaw, frameOf(1)[:100])
			if b, _, ok := pop(r); !ok || b != 1 || r.n != 40 {
				t.Fatalf("popped %d (ok %v), %d left; want a frame and 40 left", b, ok, r.n)
			}
		}},
		{"a law change drops what is held", func(t *testing.T, r *relay) {
			r.push(muLaw, frameOf(1))
			r.push(aLaw, frameOf(2))
			if b, l, ok := pop(r); !ok || b != 2 || l != aLaw {
				t.Fatalf("popped %d in law %d (ok %v), want 2 in A-law", b, l, ok)
			}
			if _, _, ok := pop(r); ok {
				t.Fatal("the µ-law frame survived")
			}
		}},
		{"a long payload keeps its newest bytes", func(t *testing.T, r *relay) {
			var long []byte
			for i := range byte(6) {
				long = append(long, frameOf(i)...)
			}
			r.push(muLaw, long)
			if b, _, _ := pop(r); b != 6-relayFrames || r.n != relayCap-FrameSamples {
				t.Fatalf("popped %d with %d left", b, r.n)
			}
		}},
		{"wraps around", func(t *testing.T, r *relay) {
			r.push(muLaw, frameOf(9)[:FrameSamples/2]) // misalign the frames
			for i := range byte(50) {
				r.push(muLaw, frameOf(i)[:FrameSamples/2])
				dst := make([]byte, FrameSamples)
				if _, _, ok := r.pop(dst, len(dst)); !ok {
					t.Fatalf("round %d: nothing to pop", i)
				}
				r.push(muLaw, frameOf(i)[FrameSamples/2:])
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, &relay{}) })
	}
}

// A backlog beyond the cushion that never empties is asked to be sent
// early, once per relayCatchUpTicks packet times, and never dropped.
func TestRelayCatchUp(t *testing.T) {
	r := &relay{}
	pr := &peer{codec: PCMU, law: muLaw}
	var tx txState
	r.push(muLaw, frameOf(1)) // the cushion
	r.push(muLaw, frameOf(1)) // one frame of backlog beyond it
	asked := 0
	for tick := range 3 * relayCatchUpTicks {
		r.push(muLaw, frameOf(2))
		if _, kind := r.readPacket(pr, &tx); kind != packetAudio {
			t.Fatalf("tick %d: no audio", tick)
		}
		if tx.catchUp {
			asked++
			tx.catchUp = false
			if tick != relayCatchUpTicks-1 {
				t.Errorf("asked to catch up at tick %d, want %d", tick, relayCatchUpTicks-1)
			}
			// The session sends the backlog's frame at once.
			if _, kind := r.readPacket(pr, &tx); kind != packetAudio {
				t.Fatalf("tick %d: nothing to catch up with", tick)
			}
		}
	}
	if asked != 1 {
		t.Errorf("asked to catch up %d times, want once", asked)
	}
	if r.n != relayCushion {
		t.Errorf("%d bytes held after the backlog, want the cushion (%d)", r.n, relayCushion)
	}
	if n := tx.drained.Load(); n != 0 {
		t.Errorf("%d frames drained, want none", n)
	}
}

// A full ring drops the oldest audio, and the hearer counts it drained,
// in its Stats and in the metrics.
func TestRelayOverflowCounted(t *testing.T) {
	r := &relay{}
	pr := &peer{codec: PCMU, law: muLaw}
	reg := prometheus.NewRegistry()
	tx := txState{metrics: NewMetrics(reg)}
	for range relayFrames + 2 {
		r.push(muLaw, frameOf(1))
	}
	if _, kind := r.readPacket(pr, &tx); kind != packetAudio {
		t.Fatal("no audio")
	}
	if n := tx.drained.Load(); n != 2 {
		t.Errorf("%d frames counted drained, want the 2 that did not fit", n)
	}
	if n := gathered(t, reg)["texml_rtp_relay_drained_total"]; n != 2 {
		t.Errorf("texml_rtp_relay_drained_total %v, want 2", n)
	}
}

// A relay starts at once, but once it has run dry in the middle of a
// stream it starts again only with the cushion, so that a packet arriving
// just after its packet time is not a packet of silence followed by a
// frame too many (which the drain would drop).
func TestRelayCushion(t *testing.T) {
	r := &relay{}
	pr := &peer{codec: PCMU, law: muLaw}
	var tx txState
	if _, kind := r.readPacket(pr, &tx); kind != packetNone {
		t.Fatal("audio from an empty ring")
	}
	r.push(muLaw, frameOf(1))
	if _, kind := r.readPacket(pr, &tx); kind != packetAudio {
		t.Fatal("the first frame waited")
	}
	// A late packet: the packet time finds the ring dry.
	if _, kind := r.readPacket(pr, &tx); kind != packetNone {
		t.Fatal("audio from an empty ring")
	}
	r.push(muLaw, frameOf(2))
	if _, kind := r.readPacket(pr, &tx); kind != packetNone {
		t.Fatal("restarted without the cushion")
	}
	r.push(muLaw, frameOf(3))
	// From now on a packet late by less than a packet time is absorbed:
	// one tick finds the cushion only, the next one two frames more.
	for round := range 10 {
		if _, kind := r.readPacket(pr, &tx); kind != packetAudio {
			t.Fatalf("round %d: no audio from the cushion", round)
		}
		r.push(muLaw, frameOf(4))
		r.push(muLaw, frameOf(4))
		if _, kind := r.readPacket(pr, &tx); kind != packetAudio {
			t.Fatalf("round %d: no audio", round)
		}
	}
	if want := relayCushion + FrameSamples; r.n != want {
		t.Errorf("%d bytes held, want the cushion and the next frame (%d)", r.n, want)
	}
}

// fakeEndpoint is an Endpoint that is not a Session: the bridge reaches
// it through frames only.
type fakeEndpoint struct {
	format Format
	done   chan struct{}

	mu   sync.Mutex
	taps map[int]Sink
	next int
	out  Source
	gen  int
}

func (f *fakeEndpoint) Format() Format        { return f.format }
func (f *fakeEndpoint) Done() <-chan struct{} { return f.done }

func (f *fakeEndpoint) SetOutput(src Source) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.out = src
	f.gen++
	gen := f.gen
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.gen == gen {
			f.out = nil
		}
	}
}

func (f *fakeEndpoint) Tap(k Sink) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.taps == nil {
		f.taps = map[int]Sink{}
	}
	id := f.next
	f.next++
	f.taps[id] = k
	return func() {
		f.mu.Lock()
		delete(f.taps, id)
		f.mu.Unlock()
	}
}

func (f *fakeEndpoint) state() (taps int, out Source) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.taps), f.out
}

// A Session bridged to another kind of Endpoint: audio both ways through
// Sink.Write and Source.Read, and the bridge ends when that endpoint does.
func TestBridgeFrames(t *testing.T) {
	r := newBridgeRig(t, end{codec: PCMU}, end{codec: PCMA})
	f := &fakeEndpoint{format: Format{Codec: PCMU}, done: make(chan struct{})}
	stop := Bridge(f, r.sb)
	defer stop()
	taps, out := f.state()
	if taps != 1 || out == nil {
		t.Fatalf("the bridge took %d taps and output %v of the endpoint", taps, out)
	}
	var sink Sink
	for _, k := range f.taps {
		sink = k
	}
	fromF, fromB := toneFrames(1000, 8000, 8), toneFrames(600, 8000, 8)
	var heardB, heardF []int16
	var got []*rtp.Packet
	for i := range fromF {
		sink.Write(fromF[i])
		send(t, r.pb, r.sb, r.tb.audio(), encodeFrame(PCMA, fromB[i]))
		_, toB := r.step(t)
		got = append(got, toB)
		if !bytes.Equal(toB.Payload, encodeFrame(PCMA, fromF[i])) {
			t.Errorf("frame %d: not encoded once, in B's law", i)
		}
		heardB = append(heardB, decodeFrame(PCMA, toB.Payload)...)
		frame := make([]int16, FrameSamples)
		if n, err := out.Read(frame); n != FrameSamples || err != nil {
			t.Fatalf("Read = %d, %v", n, err)
		}
		heardF = append(heardF, frame...)
	}
	checkTone(t, "B hears the endpoint", heardB, 1000, 8000, 600, 1500, 2500)
	checkTone(t, "the endpoint hears B", heardF, 600, 8000, 1000, 1500, 2500)
	checkContinuity(t, "to B", got, 0)
	frame := make([]int16, FrameSamples)
	if n, err := out.Read(frame); n != FrameSamples || err != nil || rms(frame) != 0 {
		t.Errorf("Read of an empty relay = %d, %v, rms %.0f; want silence", n, err, rms(frame))
	}

	close(f.done)
	stop() // waits for the bridge to let go
	if taps, out := f.state(); taps != 0 || out != nil || r.sb.play.Load() != nil {
		t.Errorf("after the endpoint ended: %d taps, output %v, B's output %v", taps, out, r.sb.play.Load())
	}
}
