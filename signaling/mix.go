package signaling

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media"
	"github.com/texml/texml/media/audio"
	"github.com/texml/texml/media/tts"
)

var _ interpreter.Mixer = (*Server)(nil)

// The conference beep, played when a participant enters or leaves: a
// single 880 Hz sine (A5, high enough to stand out from voices, low
// enough not to be shrill through a narrowband codec) of 450 ms at
// -12 dBFS peak, as loud as texml's hold music, so that it is heard over
// the talkers without startling them.
const (
	beepFreq  = 880
	beepLen   = 450 * time.Millisecond
	beepLevel = 0.25 // -12 dBFS
)

// ErrMixClosed refuses a leg added to a Mix after its Close.
var ErrMixClosed = errors.New("signaling: the mix is closed")

// Mixer is the interpreter.Mixer of SIP legs. It needs no state but
// where recordings go: the conference service can be built before the
// Server.
type Mixer struct {
	// RecordingsDir receives the conferences' <RecordingSid>.wav files,
	// as MediaConfig.RecordingsDir does the calls'; "" refuses to record.
	RecordingsDir string
	// Synth and Audio render announcements (Announce): <Say> and <Play>
	// of an AnnounceUrl document. Nil: an announcement that needs one
	// fails.
	Synth tts.Synthesizer
	Audio *audio.Cache
}

var _ interpreter.Mixer = Mixer{}

// NewMix implements interpreter.Mixer; see Mixer.NewMix.
func (s *Server) NewMix() interpreter.Mix {
	return Mixer{RecordingsDir: s.cfg.Media.RecordingsDir, Synth: s.cfg.Media.Synth, Audio: s.cfg.Media.Audio}.NewMix()
}

// NewMix implements interpreter.Mixer with a media.Mixer: one conference
// of SIP legs, mixed on the pacer that sends their packets (no goroutine
// of its own). Members' speech is judged by audio.VAD; members on hold
// hear texml's hold music (audio.HoldMusic), looped.
func (mx Mixer) NewMix() interpreter.Mix {
	x := media.NewMixer(media.MixerOptions{
		Detector: func() media.SpeechDetector { return audio.NewVAD(audio.VADOptions{}) },
	})
	x.SetHoldSource(audio.Loop(audio.HoldMusic(), 0))
	return &mix{
		x:       x,
		dir:     mx.RecordingsDir,
		synth:   mx.Synth,
		audio:   mx.Audio,
		beep:    audio.Tone([]float64{beepFreq}, beepLen, beepLevel),
		members: make(map[*media.Member]*mixMember),
	}
}

// mix is a conference of SIP legs: an interpreter.Mix over a media.Mixer.
type mix struct {
	x    *media.Mixer
	beep *audio.PCM // shared by every Beep, each with its own reader
	dir  string     // Mixer.RecordingsDir

	synth tts.Synthesizer // Mixer.Synth
	audio *audio.Cache    // Mixer.Audio

	// mu guards closed and members, which maps the media mixer's members
	// back to ours for OnSpeech: the media mixer knows nothing of them.
	mu      sync.Mutex
	closed  bool
	members map[*media.Member]*mixMember
}

// mixMember is a leg in a mix.
type mixMember struct {
	mix *mix
	m   *media.Member

	// opts and hold are the member's options as last Set and its own
	// hold music (HoldMusic), under mix.mu: a new hold music applies
	// them again.
	opts interpreter.MixOptions
	hold media.Source
}

// Add implements interpreter.Mix: from now on the leg's RTP session hears
// the mix and is tapped for it. leg must be a *Leg; a leg whose media has
// ended fails with interpreter.ErrHangup, a closed mix with ErrMixClosed.
func (x *mix) Add(leg interpreter.Leg, o interpreter.MixOptions) (interpreter.MixMember, error) {
	l, ok := leg.(*Leg)
	if !ok || l == nil {
		return nil, fmt.Errorf("signaling: cannot add a %T to a mix of SIP legs", leg)
	}
	select {
	case <-l.sess.Done():
		// Adding it would tap a session nobody hears; the caller is gone.
		return nil, fmt.Errorf("signaling: add to mix: %w", interpreter.ErrHangup)
	default:
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil, ErrMixClosed
	}
	// Under x.mu, so that Close cannot slip between the media mixer's Add
	// and our record of the member (it would leave a member Close never
	// removed). The media mixer takes the session's locks, never ours.
	mm := &mixMember{mix: x}
	mm.m = x.x.Add(l.sess, x.options(o))
	x.members[mm.m] = mm
	return mm, nil
}

// options maps the interpreter's options to the media mixer's. A Coach
// that is not a member of this mix is ignored, as the media mixer ignores
// one of another mixer.
func (x *mix) options(o interpreter.MixOptions) media.MemberOptions {
	mo := media.MemberOptions{Muted: o.Muted, Hold: o.Hold}
	if c := x.own(o.Coach); c != nil {
		mo.Coach = c.m
	}
	return mo
}

// own returns m as a member of x, or nil if it is not one (nil, a
// member of another mix, or of another implementation).
func (x *mix) own(m interpreter.MixMember) *mixMember {
	mm, ok := m.(*mixMember)
	if !ok || mm == nil || mm.mix != x {
		return nil
	}
	return mm
}

// Beep implements interpreter.Mix: the beep (880 Hz, 450 ms, -12 dBFS) to
// every member but except and those on hold. except may be nil, or a
// member already removed.
func (x *mix) Beep(except interpreter.MixMember) {
	var not *media.Member
	if e := x.own(except); e != nil {
		not = e.m
	}
	x.x.Play(x.beep.Source(), not)
}

// OnSpeech implements interpreter.Mix. f runs on the pacer goroutine
// that receives the member's audio; it is not called for a member once
// its Remove has returned (but one event may be under way as it does).
// nil stops the events.
func (x *mix) OnSpeech(f func(m interpreter.MixMember, speaking bool)) {
	if f == nil {
		x.x.OnSpeech(nil)
		return
	}
	x.x.OnSpeech(func(m *media.Member, speaking bool) {
		x.mu.Lock()
		mm := x.members[m]
		x.mu.Unlock()
		if mm != nil {
			f(mm, speaking)
		}
	})
}

// Record implements interpreter.Mix with a media.Recorder tapping the
// media mixer (media.Mixer.Tap: the members that are heard and the
// beeps): an 8 kHz 16-bit mono WAV file at <dir>/<sid>.wav, served like
// the calls' recordings, trimmed as it is written when spec.Trim asks
// for it. The mixer hands the recorder a frame per mix, silent ones while
// nobody is heard, and the recorder places frames by the clock (silence
// where none came, as before anyone entered), so the file's timeline is
// the room's.
func (x *mix) Record(spec interpreter.MixRecordSpec) (interpreter.MixRecording, error) {
	if x.dir == "" {
		return nil, errors.New("signaling: record a conference: no recordings directory")
	}
	x.mu.Lock()
	closed := x.closed
	x.mu.Unlock()
	if closed {
		return nil, ErrMixClosed
	}
	r, err := newCallRecording(x.dir, interpreter.CallRecordSpec{Sid: spec.Sid, AccountSid: spec.AccountSid, Trim: spec.Trim}, "Conference", spec.ConferenceSid)
	if err != nil {
		return nil, fmt.Errorf("record conference: %w", err)
	}
	r.rec.Attach(media.Near, x.x)
	return r, nil
}

// Close implements interpreter.Mix: every member is removed, and its leg
// hears silence until the interpreter gives it something else. Close is
// idempotent.
func (x *mix) Close() {
	x.mu.Lock()
	x.closed = true
	clear(x.members)
	x.mu.Unlock()
	x.x.Close()
}

// Set implements interpreter.MixMember; it does nothing once the member
// is removed.
func (mm *mixMember) Set(o interpreter.MixOptions) {
	mm.mix.mu.Lock()
	mm.opts = o
	mo := mm.mix.options(o)
	mo.HoldSource = mm.hold
	mm.mix.mu.Unlock()
	mm.m.Set(mo)
}

// Remove implements interpreter.MixMember: the leg leaves the mix and
// hears silence. It is idempotent, and safe after the leg's call ended:
// the conference calls it when a participant leaves, however it left.
func (mm *mixMember) Remove() {
	mm.mix.mu.Lock()
	delete(mm.mix.members, mm.m)
	mm.mix.mu.Unlock()
	mm.m.Remove()
}
