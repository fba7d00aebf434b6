package media

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

const (
	// mixSlots is how many mixes are kept: this packet time's and the one
	// before, for a member whose pacer shard runs a packet time behind
	// the one that mixed (it woke late and catches up). A member further
	// behind skips to the newest mix rather than hear the conference late
	// from then on.
	mixSlots = 2
	// mixInFrames is the depth of a member's input ring (80 ms): as many
	// frames as a jitter buffer releases at once when it gives up on a
	// hole. Beyond that the oldest frame is dropped. The ring keeps a
	// cushion of one frame once it has run dry mid-stream, as a bridge's
	// relay does (relayCushion), and for the same reason: the speaker's
	// receive side and the mixing pacer tick on different phases.
	mixInFrames = relayFrames
	// mixDrainTicks: when more than the cushion was left over for this
	// long (500 ms), a member's input drops a frame. A bridge sends such
	// a backlog early instead (relayCatchUpTicks), but a mix is one frame
	// per packet time for everyone: two frames of one member cannot go
	// into one mix.
	mixDrainTicks = relayCatchUpTicks
)

// mixMode says where a member's mix of one slot is.
type mixMode uint8

const (
	mixSilent mixMode = iota // nothing to hear
	mixShared                // Mixer.shared: everyone heard, the member not among them
	mixHold                  // Mixer.hold: the mixer's hold source
	mixOwn                   // Member.out: a mix of its own
)

// mixState is the mixer's part of the mixing, guarded by Mixer.mu.
type mixState struct {
	seq       uint64                        // mixes computed
	total     [FrameSamples]int32           // this mix's sum of the heard
	acc       [FrameSamples]int32           // scratch: one member's own mix
	shared    [mixSlots][FrameSamples]int16 // clamp(total), per slot
	hold      [mixSlots][FrameSamples]int16 // the mixer's hold source, per slot
	zero      [FrameSamples]int16           // silence, for the taps
	coaches   []*Member                     // this mix's coaches with a frame
	held      bool                          // the hold source was read this mix
	quietHold bool                          // and gave nothing
	holdEnd   bool                          // holdSrc has ended
}

// memberMix is a member's part of the mixing, guarded by Mixer.mu.
type memberMix struct {
	seq       uint64 // the last mix its output read
	cur       [FrameSamples]int16
	fresh     bool // cur holds a frame it sent for this mix
	holdEnded bool // opt.HoldSource has ended
	mode      [mixSlots]mixMode
	out       [mixSlots][FrameSamples]int16
}

// memberInput is a member's input ring, filled by its taps on its
// receive goroutine and emptied by the mix.
type memberInput struct {
	mu        sync.Mutex
	ring      [mixInFrames][FrameSamples]int16
	head, n   int
	playing   bool // frames go into the mix as they come
	cushioned bool // it ran dry mid-stream: restart only with a frame in hand
	spare     int  // consecutive mixes that left more than the cushion over

	// Speech detection, under mu as well: Writes of one endpoint come in
	// order, but not necessarily from one goroutine.
	vad      SpeechDetector
	speaking bool
	gone     atomic.Bool // removed: no more events
}

// memberTap is the Sink a member's endpoint is tapped with.
type memberTap Member

// Write puts a frame of what the member says into its input ring,
// dropping the oldest frame when the ring is full, and runs the speech
// detector.
func (k *memberTap) Write(frame []int16) {
	m := (*Member)(k)
	in := &m.in
	f := m.x.onSpeech.Load()
	in.mu.Lock()
	if in.n == mixInFrames {
		in.head = (in.head + 1) % mixInFrames
		in.n--
	}
	slot := &in.ring[(in.head+in.n)%mixInFrames]
	c := copy(slot[:], frame)
	clear(slot[c:])
	in.n++
	changed := false
	if f != nil && in.vad != nil {
		if s := in.vad.Push(slot[:]); s != in.speaking {
			in.speaking, changed = s, true
		}
	}
	speaking := in.speaking
	in.mu.Unlock()
	if changed && !in.gone.Load() {
		(*f)(m, speaking)
	}
}

// pop takes the member's frame for this mix into dst, if there is one.
func (in *memberInput) pop(dst *[FrameSamples]int16) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	need := 1
	if !in.playing && in.cushioned {
		need = 2
	}
	if in.n < need {
		if in.playing {
			in.cushioned = true
		}
		in.playing, in.spare = false, 0
		return false
	}
	*dst = in.ring[in.head]
	in.head = (in.head + 1) % mixInFrames
	in.n--
	in.playing = true
	if in.n < 2 {
		in.spare = 0
	} else if in.spare++; in.spare >= mixDrainTicks {
		in.head = (in.head + 1) % mixInFrames
		in.n--
		in.spare = 0
	}
	return true
}

// memberOutput is the Source a member's endpoint plays: its mix.
type memberOutput Member

var _ liveSource = (*memberOutput)(nil)

// live: a mix is computed from what the members said in this packet time.
func (*memberOutput) live() {}

// Read copies the member's next mix into frame, computing it for every
// member if it is the first read of this packet time (see Mixer). It
// never ends, and reads silence once the member is removed.
func (o *memberOutput) Read(frame []int16) (int, error) {
	m := (*Member)(o)
	x := m.x
	x.mu.Lock()
	if m.removed {
		x.mu.Unlock()
		clear(frame)
		return len(frame), nil
	}
	j := m.seq + 1
	switch {
	case j > x.seq:
		x.mix()
	case x.seq-j >= mixSlots:
		j = x.seq
	}
	m.seq = j
	slot := j % mixSlots
	var src []int16
	switch m.mode[slot] {
	case mixShared:
		src = x.shared[slot][:]
	case mixHold:
		src = x.hold[slot][:]
	case mixOwn:
		src = m.out[slot][:]
	}
	n := copy(frame, src)
	x.mu.Unlock()
	clear(frame[n:])
	return len(frame), nil
}

// role is who hears a member in the mix being computed.
type role uint8

const (
	heardByNone role = iota
	heardByAll
	heardByCoached // a coach: heard by opt.Coach only
)

func (m *Member) role() role {
	switch {
	case m.opt.Muted || m.opt.Hold:
		return heardByNone
	case m.opt.Coach != nil:
		if m.opt.Coach.removed {
			return heardByNone
		}
		return heardByCoached
	}
	return heardByAll
}

// mix computes the next mix of every member. x.mu is held.
func (x *Mixer) mix() {
	x.seq++
	slot := x.seq % mixSlots

	// The total of everyone heard by all, once.
	heard := 0
	clear(x.total[:])
	x.coaches = x.coaches[:0]
	for _, m := range x.members {
		m.fresh = m.in.pop(&m.cur)
		if !m.fresh {
			continue
		}
		switch m.role() {
		case heardByAll:
			addFrame(&x.total, &m.cur)
			heard++
		case heardByCoached:
			x.coaches = append(x.coaches, m)
		}
	}
	for _, p := range x.plays {
		if p.read() {
			addFrame(&x.total, &p.frame)
			heard++
		}
	}
	if heard > 0 {
		clampFrame(&x.shared[slot], &x.total)
	}

	// Each member's share of it.
	x.held = false
	for _, m := range x.members {
		m.mode[slot] = x.memberMix(m, slot, heard)
	}

	if len(x.taps) > 0 {
		f := &x.zero
		if heard > 0 {
			f = &x.shared[slot]
		}
		for _, t := range x.taps {
			t.k.Write(f[:])
		}
	}
	x.plays = slices.DeleteFunc(x.plays, func(p *mixPlay) bool { return p.ended })
}

// memberMix computes what m hears in this mix, in m.out[slot] if it is not
// a shared frame, and says where it is. heard is how many members and
// plays are in the total. x.mu is held.
func (x *Mixer) memberMix(m *Member, slot uint64, heard int) mixMode {
	w, whisper := m.whisper, false
	if w != nil {
		whisper = w.read()
		if w.ended {
			m.whisper = nil
		}
	}
	out := &m.out[slot]
	if m.opt.Hold {
		mode := x.holdFor(m, slot)
		if !whisper {
			return mode
		}
		acc := &x.acc
		switch mode {
		case mixSilent:
			clear(acc[:])
		case mixHold:
			setFrame(acc, &x.hold[slot])
		case mixOwn:
			setFrame(acc, out)
		}
		addFrame(acc, &w.frame)
		clampFrame(out, acc)
		return mixOwn
	}

	own := m.fresh && m.role() == heardByAll
	extra := whisper
	for _, c := range x.coaches {
		extra = extra || c.opt.Coach == m
	}
	for _, p := range x.plays {
		extra = extra || (p.has && p.except == m)
	}
	switch {
	case !own && !extra:
		if heard == 0 {
			return mixSilent
		}
		return mixShared
	case own && !extra:
		// The common case of a member who talks: the total less itself.
		if heard == 1 {
			return mixSilent // it is the only one heard
		}
		subClampFrame(out, &x.total, &m.cur)
		return mixOwn
	}
	acc := &x.acc
	*acc = x.total
	if own {
		subFrame(acc, &m.cur)
	}
	for _, c := range x.coaches {
		if c.opt.Coach == m {
			addFrame(acc, &c.cur)
		}
	}
	for _, p := range x.plays {
		if p.has && p.except == m {
			subFrame(acc, &p.frame)
		}
	}
	if whisper {
		addFrame(acc, &w.frame)
	}
	clampFrame(out, acc)
	return mixOwn
}

// holdFor fills what held member m hears from its hold source, in
// m.out[slot] or, for the mixer's hold source, in x.hold[slot] (read once
// per mix for all the members who hear it). x.mu is held.
func (x *Mixer) holdFor(m *Member, slot uint64) mixMode {
	if src := m.opt.HoldSource; src != nil {
		if m.holdEnded {
			return mixSilent
		}
		n, ended := readFrame(src, &m.out[slot])
		m.holdEnded = ended
		if n == 0 {
			return mixSilent
		}
		return mixOwn
	}
	if !x.held {
		x.held = true
		x.quietHold = true
		if x.holdSrc != nil && !x.holdEnd {
			n, ended := readFrame(x.holdSrc, &x.hold[slot])
			x.holdEnd = ended
			x.quietHold = n == 0
		}
	}
	if x.quietHold {
		return mixSilent
	}
	return mixHold
}

// read reads the play's next frame; it reports whether the frame holds
// audio.
func (p *mixPlay) read() bool {
	if p.ended {
		p.has = false
		return false
	}
	n, ended := readFrame(p.src, &p.frame)
	p.has, p.ended = n > 0, ended
	return p.has
}

// readFrame reads a frame from src, silence after the samples it
// returned, and reports whether src has ended (io.EOF, or an error: a
// source that fails is done).
func readFrame(src Source, f *[FrameSamples]int16) (n int, ended bool) {
	n, err := src.Read(f[:])
	n = max(0, min(n, FrameSamples))
	clear(f[n:])
	return n, err != nil
}

// The arithmetic. Sums are taken in 32 bits, where 65,536 full-scale
// frames cannot overflow, and clamped to 16 bits once, at the end.

func addFrame(acc *[FrameSamples]int32, f *[FrameSamples]int16) {
	for i, v := range f {
		acc[i] += int32(v)
	}
}

func subFrame(acc *[FrameSamples]int32, f *[FrameSamples]int16) {
	for i, v := range f {
		acc[i] -= int32(v)
	}
}

func setFrame(acc *[FrameSamples]int32, f *[FrameSamples]int16) {
	for i, v := range f {
		acc[i] = int32(v)
	}
}

// The two loops that clamp are unrolled by hand, four samples a step
// (FrameSamples is a multiple of 4): the compiler does not, and
// BenchmarkMixerTick spends most of its time in them, a third less so.

func clampFrame(dst *[FrameSamples]int16, acc *[FrameSamples]int32) {
	for i := 0; i < FrameSamples; i += 4 {
		a, b, c, d := acc[i], acc[i+1], acc[i+2], acc[i+3]
		dst[i], dst[i+1], dst[i+2], dst[i+3] = clamp16(a), clamp16(b), clamp16(c), clamp16(d)
	}
}

// subClampFrame sets dst to total less own, clamped.
func subClampFrame(dst *[FrameSamples]int16, total *[FrameSamples]int32, own *[FrameSamples]int16) {
	for i := 0; i < FrameSamples; i += 4 {
		a := total[i] - int32(own[i])
		b := total[i+1] - int32(own[i+1])
		c := total[i+2] - int32(own[i+2])
		d := total[i+3] - int32(own[i+3])
		dst[i], dst[i+1], dst[i+2], dst[i+3] = clamp16(a), clamp16(b), clamp16(c), clamp16(d)
	}
}

func clamp16(v int32) int16 {
	return int16(min(max(v, math.MinInt16), math.MaxInt16))
}
