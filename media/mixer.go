package media

import (
	"slices"
	"sync"
	"sync/atomic"
)

// MemberOptions is how a member takes part in a conference: who hears it
// and what it hears. The zero value is a member who hears everyone and
// is heard by everyone. The fields follow Twilio's conference participant
// (https://www.twilio.com/docs/voice/api/conference-participant-resource):
// muted, hold and hold music, coaching.
type MemberOptions struct {
	// Muted: the member is heard by no one, and still hears everyone.
	Muted bool
	// Hold: the member hears its hold source instead of the conference,
	// and is heard by no one.
	Hold bool
	// HoldSource is what the member hears on hold; nil means the mixer's
	// (SetHoldSource), or silence if that is nil too. Once it has ended
	// the member hears silence, until Set gives it a new one. It is read
	// only while the member is held, with the mixer locked on the
	// goroutine that mixes (a pacer goroutine): it must not block, nor
	// call the mixer's methods.
	HoldSource Source
	// Coach makes the member a coach of another member of the same
	// mixer: it is heard by that member only, and itself hears everyone
	// (but other coaches). A Coach that is the member itself or belongs to
	// another mixer is ignored. If the coached member leaves, the coach
	// is heard by no one.
	Coach *Member
}

// SpeechDetector tells speech from silence and noise in a stream of
// 20 ms frames; Push reports whether the talker is speaking after frame.
// *audio.VAD implements it (package media cannot import package audio,
// which imports media, hence the interface).
type SpeechDetector interface {
	Push(frame []int16) (speech bool)
}

// MixerOptions configures a Mixer. The zero value is ready to use.
type MixerOptions struct {
	// Detector makes the speech detector of each member that joins, for
	// OnSpeech, typically
	//
	//	func() media.SpeechDetector { return audio.NewVAD(audio.VADOptions{}) }
	//
	// With nil, OnSpeech handlers are never called.
	Detector func() SpeechDetector
}

// Mixer is a conference: every member hears the sum of the others that
// are heard, never itself, plus what is played to everyone or to it
// alone. Members are Endpoints (usually Sessions), each with its own
// codec: the mixer taps their decoded frames and is their output.
//
// The mixer has no goroutine and no ticker. The pacer that sends the
// members' packets drives it: each member's output keeps a count of the
// mixes it has read, and the first member whose session reads its next
// frame in a packet time computes that mix, for everyone, on its pacer
// goroutine; the others, on the same shard or another, read the mix
// that was computed. A member whose pacer shard woke late and catches up
// reads the previous mix, kept for that; one further behind skips ahead.
// A mix takes one frame from each member's input ring (filled by the
// member's receive side, a few frames deep against jitter; a member with
// no frame contributes silence), sums the members that are heard in 32
// bits once, and gives each member that total less its own contribution,
// clamped to 16 bits only then: clamping the total first would leave a
// loud talker hearing the wrong sum. Members who are heard by no one
// share one clamped copy of the total, and when no one is heard there is
// nothing to add up at all, so a member alone in a room costs a lock and
// a ring read per packet time. Nothing is allocated per packet time.
//
// All state is guarded by one mutex, held for the duration of a mix
// (about half a microsecond per member who talks, see
// docs/benchmarks.md) and of each member's read.
type Mixer struct {
	detector func() SpeechDetector
	onSpeech atomic.Pointer[func(*Member, bool)]

	mu      sync.Mutex
	closed  bool
	members []*Member
	plays   []*mixPlay
	taps    []*mixTap
	holdSrc Source
	mixState
}

// Member is one Endpoint in a Mixer, from Add until Remove (or the
// mixer's Close).
type Member struct {
	x *Mixer

	// Guarded by x.mu.
	opt     MemberOptions
	removed bool
	untap   func()
	clear   func()
	whisper *mixPlay
	memberMix

	// The input ring, filled by the member's taps.
	in memberInput
}

// mixPlay is a Source mixed into the conference (Mixer.Play) or into one
// member's mix (Member.Play).
type mixPlay struct {
	src    Source
	except *Member
	frame  [FrameSamples]int16 // this mix's samples
	has    bool                // frame holds audio this mix
	ended  bool
}

// mixTap is one Mixer.Tap call, compared by identity.
type mixTap struct{ k Sink }

// NewMixer returns an empty mixer.
func NewMixer(opt MixerOptions) *Mixer {
	return &Mixer{detector: opt.Detector}
}

// Add makes e a member: the mixer taps what e says and becomes e's output
// (SetOutput), which from the next packet time is the mix e hears. After
// Close, Add returns a member that is already removed and leaves e alone.
func (x *Mixer) Add(e Endpoint, o MemberOptions) *Member {
	m := &Member{x: x}
	if x.detector != nil {
		m.in.vad = x.detector()
	}
	x.mu.Lock()
	if x.closed {
		m.removed = true
		x.mu.Unlock()
		return m
	}
	m.opt = x.valid(m, o)
	m.seq = x.seq // the first mix it reads is the next one
	x.members = append(x.members, m)
	x.mu.Unlock()

	// The endpoint's own locks are taken outside the mixer's: a Session
	// may be inside the member's Read, which takes x.mu.
	untap := e.Tap((*memberTap)(m))
	clr := e.SetOutput((*memberOutput)(m))
	x.mu.Lock()
	if m.removed { // Remove or Close ran meanwhile
		x.mu.Unlock()
		untap()
		clr()
		return m
	}
	m.untap, m.clear = untap, clr
	x.mu.Unlock()
	return m
}

// valid returns o with a Coach that cannot apply to m taken out. x.mu is
// held.
func (x *Mixer) valid(m *Member, o MemberOptions) MemberOptions {
	if o.Coach != nil && (o.Coach.x != x || o.Coach == m) {
		o.Coach = nil
	}
	return o
}

// Set changes how m takes part, from the next mix on.
func (m *Member) Set(o MemberOptions) {
	x := m.x
	x.mu.Lock()
	defer x.mu.Unlock()
	if m.removed {
		return
	}
	m.opt = x.valid(m, o)
	m.holdEnded = false
}

// Play mixes src into what m alone hears (a whisper, an announcement to
// one participant) until src ends or stop is called, in place of the
// previous Play of m if it still runs. On hold, m hears it over its hold
// source. src is read with the mixer locked, on the goroutine that mixes
// (a pacer goroutine): it must not block, nor call the mixer's methods.
// Once stop has returned it is no longer read; stop is idempotent. To
// learn when src ends, wrap it and watch for io.EOF.
func (m *Member) Play(src Source) (stop func()) {
	x := m.x
	x.mu.Lock()
	defer x.mu.Unlock()
	if m.removed || src == nil {
		return func() {}
	}
	p := &mixPlay{src: src}
	m.whisper = p
	return func() {
		x.mu.Lock()
		if m.whisper == p {
			m.whisper = nil
		}
		x.mu.Unlock()
	}
}

// Remove takes m out of the mixer: its endpoint is untapped and returns
// to silence (unless its output was replaced meanwhile, by a prompt say).
// Remove is idempotent. A speech event under way may still be delivered
// after Remove returns.
func (m *Member) Remove() {
	x := m.x
	x.mu.Lock()
	if m.removed {
		x.mu.Unlock()
		return
	}
	x.members = slices.DeleteFunc(x.members, func(y *Member) bool { return y == m })
	untap, clr := m.detach()
	x.mu.Unlock()
	if untap != nil {
		untap()
		clr()
	}
}

// detach marks m removed and hands back what releases its endpoint.
// x.mu is held.
func (m *Member) detach() (untap, clr func()) {
	m.removed = true
	m.in.gone.Store(true)
	m.whisper = nil
	untap, clr = m.untap, m.clear
	m.untap, m.clear = nil, nil
	return untap, clr
}

// Play mixes src into what every member hears, but except (which may be
// nil): a beep for a member joining, which the joining member itself
// does not hear, or an announcement. It lasts until src ends or stop is
// called; several may play at once. Members on hold do not hear it; the
// mixer's taps do. src is read with the mixer locked, on the goroutine
// that mixes (a pacer goroutine): it must not block, nor call the
// mixer's methods. Once stop has returned it is no longer read; stop is
// idempotent. To learn when src ends (Twilio's announcement-end), wrap
// it and watch for io.EOF.
func (x *Mixer) Play(src Source, except *Member) (stop func()) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed || src == nil {
		return func() {}
	}
	p := &mixPlay{src: src, except: except}
	x.plays = append(x.plays, p)
	return func() {
		x.mu.Lock()
		x.plays = slices.DeleteFunc(x.plays, func(q *mixPlay) bool { return q == p })
		x.mu.Unlock()
	}
}

// SetHoldSource makes src what members on hold hear unless they have a
// HoldSource of their own; nil is silence. One src serves all of them:
// it is read once per packet time while anyone listens to it, with the
// mixer locked on the goroutine that mixes (a pacer goroutine): it must
// not block, nor call the mixer's methods. Once it has ended, held
// members hear silence, until SetHoldSource gives them another.
func (x *Mixer) SetHoldSource(src Source) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.closed {
		x.holdSrc, x.holdEnd = src, false
	}
}

// Tap adds k to the receivers of the conference as everyone hears it:
// the members that are heard and what Mixer.Play plays, without coaches,
// whispers and hold sources (a recording of the conference). It gets one
// frame per mix, reused: Write must copy what it keeps. Write is called
// with the mixer locked, on a pacer goroutine: it must not block and must
// not call the mixer's methods (hand the frame to another goroutine, as
// Recorder does). untap is idempotent.
func (x *Mixer) Tap(k Sink) (untap func()) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed || k == nil {
		return func() {}
	}
	t := &mixTap{k: k}
	x.taps = append(x.taps, t)
	return func() {
		x.mu.Lock()
		x.taps = slices.DeleteFunc(x.taps, func(u *mixTap) bool { return u == t })
		x.mu.Unlock()
	}
}

// OnSpeech makes f the receiver of the members' voice activity: f(m,
// true) when m starts speaking, f(m, false) when it stops, as judged by
// its detector (MixerOptions.Detector) on everything m says, muted or
// not. It serves Twilio's participant-speech-start and -stop events. f is
// called on the goroutine that receives m's audio (a pacer goroutine),
// so it must not block; it may call the mixer's methods. nil stops the
// events.
func (x *Mixer) OnSpeech(f func(m *Member, speaking bool)) {
	if f == nil {
		x.onSpeech.Store(nil)
		return
	}
	x.onSpeech.Store(&f)
}

// Close removes every member (as Remove does), stops what plays and
// drops the taps. Close is idempotent; the mixer cannot be used again.
func (x *Mixer) Close() {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return
	}
	x.closed = true
	type release struct{ untap, clr func() }
	var rel []release
	for _, m := range x.members {
		if u, c := m.detach(); u != nil {
			rel = append(rel, release{u, c})
		}
	}
	x.members, x.plays, x.taps, x.coaches, x.holdSrc = nil, nil, nil, nil, nil
	x.mu.Unlock()
	for _, r := range rel {
		r.untap()
		r.clr()
	}
}
