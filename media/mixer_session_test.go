package media

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// mixParty is a Session in a mixer and the far end facing it.
type mixParty struct {
	codec Codec
	far   *capture
	s     *Session
	out   stream
}

func newMixParties(t *testing.T, p *Pacer, codecs ...Codec) []*mixParty {
	t.Helper()
	var ps []*mixParty
	for i, c := range codecs {
		far := newCapture(t)
		s := newSession(t, p, far.addr(), func(cfg *SessionConfig) { cfg.Codec = c })
		ps = append(ps, &mixParty{codec: c, far: far, s: s,
			out: stream{pt: c.PayloadType, ssrc: uint32(0xC0 + i), seq: uint16(100 * i), ts: uint32(1000 * i)}})
	}
	return ps
}

// Three calls, PCMU and PCMA, each far end sending a tone: each far end
// hears the other two and not itself, through real sessions on a manual
// pacer of two shards.
func TestMixerSessions(t *testing.T) {
	p, _, tick := manualPacer(t)
	ps := newMixParties(t, p, PCMU, PCMA, PCMU)
	x := NewMixer(MixerOptions{})
	defer x.Close()
	for _, pt := range ps {
		x.Add(pt.s, MemberOptions{})
	}
	// No sum or difference of two or three of them is another: the
	// intermodulation that companding adds must not read as an echo.
	freqs := []float64{600, 1100, 1900}
	const amp, frames = 6000, 12
	tones := make([][][]int16, len(ps))
	for i, f := range freqs {
		tones[i] = toneFrames(f, amp, frames)
	}
	heard := make([][]int16, len(ps))
	for n := range frames {
		for i, pt := range ps {
			send(t, pt.far, pt.s, pt.out.audio(), encodeFrame(pt.codec, tones[i][n]))
		}
		tick(1)
		for i, pt := range ps {
			pkt := pt.far.next(t)
			if n >= 2 { // a whole number of periods of each tone
				heard[i] = append(heard[i], decodeFrame(pt.codec, pkt.Payload)...)
			}
		}
	}
	for i := range ps {
		checkMix(t, fmt.Sprintf("party %d (%s)", i, ps[i].codec.Name), heard[i], freqs, i, amp)
	}
}

// The same on a running pacer of two shards, with the far ends sending in
// real time: the members' sessions tick on two goroutines at different
// phases, and each far end still hears the others and never itself.
func TestMixerPacer(t *testing.T) {
	if testing.Short() {
		t.Skip("real time")
	}
	p := NewPacer(PacerOptions{Shards: 2})
	t.Cleanup(p.Close)
	ps := newMixParties(t, p, PCMU, PCMA, PCMU, PCMA)
	x := NewMixer(MixerOptions{})
	defer x.Close()
	for _, pt := range ps {
		x.Add(pt.s, MemberOptions{})
	}
	freqs := []float64{600, 1100, 1900, 2300} // see TestMixerSessions
	const amp, frames = 4000, 75
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the far ends, in step
		defer wg.Done()
		tones := make([][][]int16, len(ps))
		for i, f := range freqs {
			tones[i] = toneFrames(f, amp, frames)
		}
		tk := time.NewTicker(FrameDuration)
		defer tk.Stop()
		for n := range frames {
			for i, pt := range ps {
				h := pt.out.audio()
				h.Version = 2
				b, _ := (&rtp.Packet{Header: h, Payload: encodeFrame(pt.codec, tones[i][n])}).Marshal()
				_, _ = pt.far.conn.WriteToUDP(b, pt.s.LocalAddr())
			}
			<-tk.C
		}
	}()
	wg.Wait()
	for i, pt := range ps {
		// The last second or so of what the far end got: the first
		// packets may precede the tones.
		var got []int16
		for len(pt.far.pkts) > 0 {
			pkt := pt.far.next(t)
			got = append(got, decodeFrame(pt.codec, pkt.Payload)...)
		}
		if len(got) < 50*FrameSamples {
			t.Fatalf("party %d: %d packets", i, len(got)/FrameSamples)
		}
		got = got[len(got)-50*FrameSamples:]
		var f4 [4]float64
		copy(f4[:], freqs)
		lv := toneLevels(got, f4)
		want := amp * amp / 2.0
		for j, f := range freqs {
			// Glitches where a shard woke late leave the others' tones
			// weaker; the party's own is never there.
			switch {
			case j == i && lv[j] > want/1e3:
				t.Errorf("party %d hears itself: %.0f Hz at %.3g", i, f, lv[j])
			case j != i && lv[j] < want/10:
				t.Errorf("party %d: %.0f Hz at %.3g, want ≈ %.3g", i, f, lv[j], want)
			}
		}
	}
}

// A mix, on sessions: nothing allocated per packet time, with every kind
// of member and play at once.
func TestMixerAllocs(t *testing.T) {
	p, _, _ := manualPacer(t)
	nobody := loopConn(t)
	x := NewMixer(MixerOptions{Detector: func() SpeechDetector { return levelDetector{} }})
	defer x.Close()
	x.OnSpeech(func(*Member, bool) {})
	var ss []*Session
	var ms []*Member
	for i := range 8 {
		c := PCMU
		if i%2 == 1 {
			c = PCMA
		}
		s := newSession(t, p, addrOf(nobody), func(cfg *SessionConfig) {
			cfg.Codec, cfg.InactivityTimeout = c, -1
		})
		ss = append(ss, s)
		ms = append(ms, x.Add(s, MemberOptions{}))
	}
	ms[1].Set(MemberOptions{Muted: true})
	ms[2].Set(MemberOptions{Hold: true})
	ms[3].Set(MemberOptions{Hold: true, HoldSource: constSource(3)})
	ms[4].Set(MemberOptions{Coach: ms[0]})
	ms[5].Play(constSource(100))
	x.SetHoldSource(constSource(4))
	x.Play(constSource(5), ms[6])
	n := 0
	defer x.Tap(SinkFunc(func([]int16) { n++ }))()

	buf := make([]byte, 2048)
	for i := range FrameSamples {
		buf[rtpHeaderLen+i] = byte(i)
	}
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	var seq uint16
	now := time.Now()
	packetTime := func() {
		for _, s := range ss {
			pkt := rtpPacket(buf, seq, uint32(seq)*FrameSamples)
			pkt[1] = s.Format().Codec.PayloadType
			s.handle(pkt, from)
		}
		seq++
		now = now.Add(FrameDuration)
		for _, s := range ss {
			s.tick(now, 0)
		}
	}
	packetTime()
	if allocs := testing.AllocsPerRun(200, packetTime); allocs != 0 {
		t.Errorf("allocs per packet time = %v, want 0", allocs)
	}
	if n < 200 {
		t.Errorf("the tap got %d mixes", n)
	}
	if st := ss[0].Stats(); st.Sent < 200 {
		t.Errorf("sent %d packets", st.Sent)
	}
}

// levelDetector is a SpeechDetector without hangover: speech is any frame
// louder than 1000 at its first sample.
type levelDetector struct{}

func (levelDetector) Push(f []int16) bool { return len(f) > 0 && (f[0] > 1000 || f[0] < -1000) }

// Members are added, set, played to and removed while their sessions
// are read and written on other goroutines, as pacer shards and receive
// sides do: for the race detector.
func TestMixerConcurrent(t *testing.T) {
	r := &mixRig{t: t, x: NewMixer(MixerOptions{Detector: func() SpeechDetector { return levelDetector{} }})}
	t.Cleanup(r.x.Close)
	for range 8 {
		r.add(MemberOptions{})
	}
	r.x.SetHoldSource(constSource(1))
	r.x.OnSpeech(func(m *Member, on bool) { m.Set(MemberOptions{Muted: on}) })
	var wg sync.WaitGroup
	const rounds = 300
	outs := make([]Source, len(r.ms))
	sinks := make([]Sink, len(r.ms))
	for i := range r.ms {
		_, outs[i] = r.eps[i].state()
		sinks[i] = r.sink(i)
	}
	for g := range 4 { // a shard each, with two members
		wg.Add(2)
		go func() {
			defer wg.Done()
			f := make([]int16, FrameSamples)
			for range rounds {
				for _, i := range []int{2 * g, 2*g + 1} {
					_, _ = outs[i].Read(f)
				}
			}
		}()
		go func() { // their receive side
			defer wg.Done()
			for n := range rounds {
				for _, i := range []int{2 * g, 2*g + 1} {
					sinks[i].Write(dc(int16(n * 10)))
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // the conference's owner
		defer wg.Done()
		for n := range rounds / 10 {
			m := r.ms[n%len(r.ms)]
			m.Set(MemberOptions{Hold: n%3 == 0, Coach: r.ms[(n+1)%len(r.ms)]})
			stop := m.Play(constSource(2))
			stopAll := r.x.Play(constSource(3), m)
			untap := r.x.Tap(SinkFunc(func([]int16) {}))
			e := &fakeEndpoint{}
			extra := r.x.Add(e, MemberOptions{})
			_, out := e.state()
			_, _ = out.Read(make([]int16, FrameSamples))
			extra.Remove()
			untap()
			stopAll()
			stop()
		}
		r.ms[0].Remove()
	}()
	wg.Wait()
	r.x.Close()
}
