package sim

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media/amd"
	"github.com/texml/texml/media/stt"
	"github.com/texml/texml/media/tts"
)

// Timing of the simulated caller and media. Speech is rendered at 60 ms per
// character (about 150 words a minute); a Play lasts PlayDuration unless
// Options say otherwise; scripted keys are pressed 250 ms apart.
const (
	SpeechPerChar   = 60 * time.Millisecond
	PlayDuration    = 5 * time.Second
	KeyGap          = 250 * time.Millisecond
	DigitSendTime   = 100 * time.Millisecond
	SpeechEndPause  = time.Second // speechTimeout="auto": the pause that ends speech
	SpeechConfident = 0.9         // Confidence reported for scripted speech
)

// Asker asks a person for the caller's next input (interactive mode). It
// returns a VALUE in --input syntax; bare keys such as "12#" mean dtmf.
type Asker func(ctx context.Context, question string) (string, error)

// ScheduledUpdate is a live call update that happens at a virtual time,
// for testing the REST update path on a virtual clock.
type ScheduledUpdate struct {
	At     time.Duration
	Update interpreter.Update
}

// Options configure a simulated leg.
type Options struct {
	Start        time.Time // virtual clock start; default time.Now()
	Realtime     bool      // really wait as long as the virtual clock advances
	Clock        *Clock    // a clock shared with other parties; default NewClock(Start, Realtime)
	Inputs       []Input
	Outcomes     []Outcome
	Callees      []Callee // the parties a Dial can reach (see Dialer)
	Ask          Asker    // interactive input when Inputs run out; nil = silence
	Tracer       interpreter.Tracer
	PlayDuration func(url string) time.Duration
	Updates      []ScheduledUpdate
	// OnUpdate delivers a scheduled update; wire it to (*Call).Update.
	OnUpdate func(interpreter.Update) error
	// Greeting is what the party makes heard from the start of the call
	// (see ParseGreeting), for answering machine detection: the called
	// party of a simulated outbound-api call. Nil is silence.
	Greeting amd.Party
	// Synth, when set, voices the caller's speech:TEXT inputs on a media
	// stream (espeak-ng for `texml call`); nil sends speech-like noise.
	Synth tts.Synthesizer
	// Recognizer, when set, hears what a bidirectional stream's app
	// plays to the caller and the trace says what it made of it
	// (pocketsphinx for `texml call`): a voice agent's words in the
	// transcript.
	Recognizer stt.Recognizer
	// SRS scripts the recording servers of <Start><Siprec>; nil: every
	// connector answers at once and records until stopped.
	SRS *SRS
}

// Leg is a simulated call leg, the caller's or a scripted callee's; it
// implements interpreter.Leg and interpreter.HandOff. A Leg is used by one
// run loop at a time; its clock may be shared with other parties.
type Leg struct {
	o      Options
	clk    *Clock
	start  time.Time
	inputs []Input
	outs   []Outcome

	cur     *Input // DTMF input being delivered key by key
	curTurn int
	keys    string // keys of cur still to deliver
	spent   int    // last turn whose input was used up: further waits time out

	answered bool
	// answeredAt is when the party picked up: the start of the call for
	// the caller, the answer for a callee. Its Greeting starts there.
	answeredAt time.Time
	// gone is set when the far end hangs up, on whichever goroutine moves
	// the clock to that moment.
	gone atomic.Bool
	// onGone tells the leg's owner that the far end left: the caller's
	// leg cancels the call's context, a callee's reports Ended.
	onGone func()
	// bye ends a callee's attempt when we hang up on it.
	bye func()
	// party names a callee in traces ("Number:+15551230000"); "" for
	// the caller.
	party string
	// scheduled cancels the caller's timed hangups and live updates.
	scheduled []func() bool
	// transcribers are the running Transcribes, guarded by tmu: the
	// clock's timers reach them from any party's goroutine.
	tmu          sync.Mutex
	transcribers []*simTranscriber
	// takeRefer takes the caller's REFERs (interpreter.Referable), set
	// while a Dial bridges it; guarded by tmu likewise.
	takeRefer func(*interpreter.Transfer)
}

var (
	_ interpreter.Leg       = (*Leg)(nil)
	_ interpreter.HandOff   = (*Leg)(nil)
	_ interpreter.Spawner   = (*Leg)(nil)
	_ interpreter.Referable = (*Leg)(nil)
	_ interpreter.Spawner   = (*Clock)(nil)
)

// New returns the simulated caller's leg.
func New(o Options) *Leg {
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	if o.Tracer == nil {
		o.Tracer = interpreter.TracerFunc(func(interpreter.Event) {})
	}
	if o.PlayDuration == nil {
		o.PlayDuration = func(string) time.Duration { return PlayDuration }
	}
	clk := o.Clock
	if clk == nil {
		clk = NewClock(o.Start, o.Realtime)
	}
	l := newLeg(o, clk, nil, clk.Now(), o.Tracer)
	l.outs = o.Outcomes
	// Timed hangups and live updates happen at their time, whatever the
	// call is doing then.
	for _, in := range o.Inputs {
		if in.Action == Hangup && in.Timed {
			l.scheduled = append(l.scheduled, clk.AfterFunc(in.At, func() { l.hangUp(in.String()) }))
			continue
		}
		if in.Action == Refer {
			l.scheduled = append(l.scheduled, clk.AfterFunc(in.At, func() { l.refer(in.Target) }))
			continue
		}
		l.inputs = append(l.inputs, in)
	}
	for _, u := range o.Updates {
		l.scheduled = append(l.scheduled, clk.AfterFunc(u.At, func() {
			if o.OnUpdate != nil {
				_ = o.OnUpdate(u.Update) // refused when the call is ending: the verb goes on
			}
		}))
	}
	return l
}

// unschedule cancels the caller's timed hangups and live updates once its
// call has ended: on a clock shared with other callers, time goes on, and
// a call that is over must not act (or be traced) any more.
func (l *Leg) unschedule() {
	for _, stop := range l.scheduled {
		stop()
	}
	l.scheduled = nil
}

func newLeg(o Options, clk *Clock, inputs []Input, start time.Time, t interpreter.Tracer) *Leg {
	o.Tracer = t
	return &Leg{o: o, clk: clk, start: start, inputs: inputs, spent: -1, answeredAt: clk.Now()}
}

// Clock returns the leg's virtual clock, the interpreter.Clock of its call.
func (l *Leg) Clock() *Clock { return l.clk }

// Context returns the call's context, derived from parent: it is canceled
// with cause interpreter.ErrHangup when the scripted caller hangs up.
func (l *Leg) Context(parent context.Context) context.Context {
	ctx, cancel := context.WithCancelCause(parent)
	l.onGone = func() { cancel(interpreter.ErrHangup) }
	return ctx
}

// Now returns the virtual time.
func (l *Leg) Now() time.Time { return l.clk.Now() }

func (l *Leg) elapsed() time.Duration { return l.Now().Sub(l.start) }

func (l *Leg) trace(name string, f map[string]any) {
	l.o.Tracer.Trace(interpreter.Event{Name: name, T: l.elapsed(), Fields: f})
}

// advance lets d pass on the clock; the far end hanging up, a live update
// or the time limit end it early.
func (l *Leg) advance(ctx context.Context, d time.Duration) error {
	if l.gone.Load() {
		return interpreter.ErrHangup
	}
	err := l.clk.Sleep(ctx, d)
	if l.gone.Load() {
		return interpreter.ErrHangup
	}
	return err
}

// hangUp marks the far end gone and tells the owner. what, when not
// empty, is traced as the caller's input; callers that already traced the
// input pass "".
func (l *Leg) hangUp(what string) {
	if l.gone.Swap(true) {
		return
	}
	if what != "" {
		l.trace("input", map[string]any{"type": "hangup", "value": what})
	}
	if l.onGone != nil {
		l.onGone()
	}
}

// Answer implements interpreter.Leg.
func (l *Leg) Answer(context.Context) error {
	if l.gone.Load() {
		return interpreter.ErrHangup
	}
	l.answered = true
	return nil
}

// Reject implements interpreter.Leg.
func (l *Leg) Reject(context.Context, string) error { return nil }

// Hangup implements interpreter.Leg. Hanging up on a callee ends its
// attempt (BYE).
func (l *Leg) Hangup(context.Context) error {
	if l.bye != nil {
		l.bye()
	}
	return nil
}

// EarlyMedia implements interpreter.Leg; the simulated caller hears it.
func (l *Leg) EarlyMedia(context.Context) error {
	if l.gone.Load() {
		return interpreter.ErrHangup
	}
	return nil
}

// Ringback implements interpreter.Leg: the simulated caller hears it.
func (l *Leg) Ringback(string) func() { return func() {} }

// Bridge implements interpreter.Leg: a simulated bridge has no audio to
// carry; the interpreter traces it.
func (l *Leg) Bridge(peer interpreter.Leg) (func(), error) {
	if _, ok := peer.(*Leg); !ok {
		return nil, fmt.Errorf("sim: cannot bridge to a %T", peer)
	}
	return func() {}, nil
}

// Say implements interpreter.Leg.
func (l *Leg) Say(ctx context.Context, s interpreter.Speech, p interpreter.Prompt) (*interpreter.Input, error) {
	l.trace("say", map[string]any{"text": s.Text, "voice": s.Voice, "language": s.Language})
	d := time.Duration(max(utf8.RuneCountInString(s.Text), 5)) * SpeechPerChar
	in, err := l.render(ctx, d, p)
	if err == nil && in == nil {
		l.transcribed(interpreter.TrackOutbound, s.Text) // heard to the end
	}
	return in, err
}

// Play implements interpreter.Leg.
func (l *Leg) Play(ctx context.Context, url string, p interpreter.Prompt) (*interpreter.Input, error) {
	l.trace("play", map[string]any{"url": url})
	return l.render(ctx, l.o.PlayDuration(url), p)
}

// Pause implements interpreter.Leg.
func (l *Leg) Pause(ctx context.Context, d time.Duration, p interpreter.Prompt) (*interpreter.Input, error) {
	l.trace("pause", map[string]any{"seconds": d.Seconds()})
	return l.render(ctx, d, p)
}

// render lets a prompt of duration d run, or be interrupted by scripted
// input that matches p.Interrupt (Gather bargeIn). Untimed input barges in
// when a looping prompt starts its second play: the caller has heard it.
func (l *Leg) render(ctx context.Context, d time.Duration, p interpreter.Prompt) (*interpreter.Input, error) {
	if spec := p.Interrupt; spec != nil && l.spent != spec.Turn {
		if l.cur != nil && l.curTurn == spec.Turn && l.keys != "" {
			return l.nextKey(ctx, 0)
		}
		if len(l.inputs) > 0 {
			in := l.inputs[0]
			matches := (in.Action == DTMF && spec.DTMF) || (in.Action == Speak && spec.Speech)
			switch {
			case matches && in.Timed && in.At <= l.elapsed()+d:
				at := max(in.At-l.elapsed(), 0)
				if err := l.advance(ctx, at); err != nil {
					return nil, err
				}
				l.trace("barge-in", map[string]any{"after_ms": at.Milliseconds()})
				return l.take(ctx, *spec)
			case matches && !in.Timed && p.Iteration > 0:
				l.trace("barge-in", map[string]any{"after_ms": 0})
				return l.take(ctx, *spec)
			}
		}
	}
	return nil, l.advance(ctx, d)
}

// SendDigits implements interpreter.Leg. The leg traces what it sends
// ("sent-digits"), whoever asked (<Play digits>, sendDigits, a
// ConversationRelay app), so that a scenario sees the digits reach the
// leg and not only the step that asked for them.
func (l *Leg) SendDigits(ctx context.Context, digits string) error {
	l.trace("sent-digits", map[string]any{"digits": digits})
	var d time.Duration
	for _, r := range digits {
		switch r {
		case 'w':
			d += 500 * time.Millisecond
		case 'W':
			d += time.Second
		default:
			d += DigitSendTime
		}
	}
	return l.advance(ctx, d)
}

// WaitInput implements interpreter.Leg.
func (l *Leg) WaitInput(ctx context.Context, spec interpreter.InputSpec) (*interpreter.Input, error) {
	if l.gone.Load() {
		return nil, interpreter.ErrHangup
	}
	if l.cur != nil && l.curTurn == spec.Turn {
		if l.keys != "" {
			return l.nextKey(ctx, KeyGap)
		}
		l.cur = nil
		l.spent = spec.Turn
	}
	if l.spent == spec.Turn {
		return l.timeout(ctx, spec.Timeout)
	}
	if len(l.inputs) == 0 && l.o.Ask != nil && !l.gone.Load() {
		if err := l.ask(ctx, "Caller input (keys, speech:TEXT, silence, hangup)"); err != nil {
			return nil, err
		}
	}
	if len(l.inputs) > 0 && l.inputs[0].Timed && l.inputs[0].At > l.elapsed() {
		wait := l.inputs[0].At - l.elapsed()
		if wait > spec.Timeout {
			return l.timeout(ctx, spec.Timeout)
		}
		if err := l.advance(ctx, wait); err != nil {
			return nil, err
		}
	}
	return l.take(ctx, spec)
}

func (l *Leg) timeout(ctx context.Context, d time.Duration) (*interpreter.Input, error) {
	if err := l.advance(ctx, d); err != nil {
		return nil, err
	}
	return &interpreter.Input{Kind: interpreter.Timeout}, nil
}

// take consumes the next scripted input for a listening turn.
func (l *Leg) take(ctx context.Context, spec interpreter.InputSpec) (*interpreter.Input, error) {
	if len(l.inputs) == 0 {
		l.spent = spec.Turn
		return l.timeout(ctx, spec.Timeout) // no inputs left: the caller stays silent
	}
	in := l.inputs[0]
	l.inputs = l.inputs[1:]
	l.trace("input", map[string]any{"type": actionName(in.Action), "value": in.String()})
	switch in.Action {
	case Hangup:
		l.hangUp("")
		return nil, interpreter.ErrHangup
	case DTMF:
		if spec.DTMF {
			l.cur, l.curTurn, l.keys = &in, spec.Turn, in.Keys
			return l.nextKey(ctx, 0)
		}
	case Speak:
		if spec.Speech {
			return l.speak(ctx, spec, in.Text, !in.Timed)
		}
	case Silence:
		l.spent = spec.Turn
		return l.timeout(ctx, spec.Timeout)
	}
	// Input the Gather does not listen for (speech during a DTMF-only
	// Gather, audio) is ignored: the caller may still answer in this turn.
	return l.WaitInput(ctx, spec)
}

func (l *Leg) nextKey(ctx context.Context, gap time.Duration) (*interpreter.Input, error) {
	if err := l.advance(ctx, gap); err != nil {
		return nil, err
	}
	k := l.keys[0]
	l.keys = l.keys[1:]
	return &interpreter.Input{Kind: interpreter.Digit, Digit: k}, nil
}

// speak delivers scripted speech: partial results word by word, then the
// final result once the end-of-speech silence has passed.
// Untimed speech goes to the running transcriptions once said (timed
// speech is theirs at its own time: see Transcribe).
func (l *Leg) speak(ctx context.Context, spec interpreter.InputSpec, text string, transcribe bool) (*interpreter.Input, error) {
	words := strings.Fields(text)
	talk := time.Duration(utf8.RuneCountInString(text)) * SpeechPerChar
	if spec.MaxSpeechTime > 0 && talk > spec.MaxSpeechTime {
		talk = spec.MaxSpeechTime
	}
	per := talk / time.Duration(max(len(words), 1))
	for i := range words {
		if err := l.advance(ctx, per); err != nil {
			return nil, err
		}
		if spec.OnPartial != nil {
			stable := strings.Join(words[:i], " ")
			spec.OnPartial(interpreter.Partial{Stable: stable, Unstable: words[i]})
		}
	}
	if transcribe {
		l.transcribed(interpreter.TrackInbound, text)
	}
	end := spec.SpeechTimeout
	if spec.SpeechAuto || end <= 0 {
		end = SpeechEndPause
	}
	if err := l.advance(ctx, end); err != nil {
		return nil, err
	}
	l.spent = spec.Turn
	return &interpreter.Input{Kind: interpreter.SpeechResult, Text: text, Confidence: SpeechConfident}, nil
}

func (l *Leg) ask(ctx context.Context, q string) error {
	for {
		v, err := l.o.Ask(ctx, q)
		if err != nil {
			l.hangUp("end of input")
			return interpreter.ErrHangup
		}
		v = strings.TrimSpace(v)
		if v == "" {
			v = "silence"
		} else if !strings.Contains(v, ":") && v != "silence" && v != "hangup" {
			v = "dtmf:" + v
		}
		in, err := ParseInput(v)
		if err == nil {
			l.inputs = append(l.inputs, in)
			return nil
		}
		q = err.Error() + "; try again"
	}
}

func actionName(a Action) string {
	return [...]string{"dtmf", "speech", "silence", "hangup", "audio"}[a]
}

// Sleep implements interpreter.Clock on the leg's clock, so that a leg can
// serve as its call's clock.
func (l *Leg) Sleep(ctx context.Context, d time.Duration) error { return l.clk.Sleep(ctx, d) }

// AfterFunc implements interpreter.Clock on the leg's clock.
func (l *Leg) AfterFunc(d time.Duration, f func()) func() bool { return l.clk.AfterFunc(d, f) }

// Go implements interpreter.Spawner on the leg's clock: f runs as a party
// of the simulation.
func (l *Leg) Go(f func()) { l.clk.Go(f) }

// OnRefer implements interpreter.Referable.
func (l *Leg) OnRefer(take func(*interpreter.Transfer)) {
	l.tmu.Lock()
	l.takeRefer = take
	l.tmu.Unlock()
}

// refer has the caller send a REFER to uri (a refer:URI@MS input): the
// answer and the NOTIFYs show in the trace as refer-reply and notify, as
// a scripted callee's do. Nobody takes it outside a Dial's bridge: 603,
// as a SIP leg answers.
func (l *Leg) refer(uri string) {
	l.trace("refer-sent", map[string]any{"target": uri})
	l.tmu.Lock()
	take := l.takeRefer
	l.tmu.Unlock()
	t := &interpreter.Transfer{
		Target: "<" + uri + ">",
		Reply:  func(code int) { l.trace("refer-reply", map[string]any{"code": code}) },
		Notify: func(code int) { l.trace("notify", map[string]any{"code": code}) },
	}
	if take == nil {
		t.Reply(603)
		return
	}
	take(t)
}
