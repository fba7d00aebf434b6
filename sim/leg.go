package sim

import (
	"context"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/texml/texml/interpreter"
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
	Inputs       []Input
	Outcomes     []Outcome
	Ask          Asker // interactive input when Inputs run out; nil = silence
	Tracer       interpreter.Tracer
	PlayDuration func(url string) time.Duration
	Updates      []ScheduledUpdate
	// OnUpdate delivers a scheduled update; wire it to (*Call).Update.
	OnUpdate func(interpreter.Update) error
}

// Leg is a simulated call leg; it implements interpreter.Leg and
// interpreter.Clock. A Leg serves one call and is used by that call's run
// loop only.
type Leg struct {
	o      Options
	mu     sync.Mutex // guards now: Now is read by callback goroutines
	now    time.Time
	start  time.Time
	inputs []Input
	outs   []Outcome

	cur     *Input // DTMF input being delivered key by key
	curTurn int
	keys    string // keys of cur still to deliver
	spent   int    // last turn whose input was used up: further waits time out

	answered bool
	gone     bool          // the caller hung up
	limit    time.Duration // call time limit since start; 0 = none
}

var (
	_ interpreter.Leg     = (*Leg)(nil)
	_ interpreter.Clock   = (*Leg)(nil)
	_ interpreter.Limiter = (*Leg)(nil)
)

// LimitAt implements interpreter.Limiter: the verb running at t ends there.
func (l *Leg) LimitAt(t time.Time) { l.limit = t.Sub(l.start) }

// New returns a simulated leg.
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
	return &Leg{o: o, now: o.Start, start: o.Start, inputs: o.Inputs, outs: o.Outcomes, spent: -1}
}

// Now returns the virtual time.
func (l *Leg) Now() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.now
}

func (l *Leg) elapsed() time.Duration { return l.Now().Sub(l.start) }

func (l *Leg) trace(name string, f map[string]any) {
	l.o.Tracer.Trace(interpreter.Event{Name: name, T: l.elapsed(), Fields: f})
}

// advance moves the clock by d. A scheduled update or a timed hangup due
// within d stops the clock there and ends the step.
func (l *Leg) advance(ctx context.Context, d time.Duration) error {
	if l.gone {
		return interpreter.ErrHangup
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	end := l.elapsed() + d
	if l.limit > 0 && end > l.limit {
		if err := l.advance(ctx, max(l.limit-l.elapsed(), 0)); err != nil {
			return err
		}
		return interpreter.ErrTimeLimit
	}
	if len(l.o.Updates) > 0 && l.o.Updates[0].At <= end {
		u := l.o.Updates[0]
		l.o.Updates = l.o.Updates[1:]
		l.sleep(ctx, max(u.At-l.elapsed(), 0))
		if l.o.OnUpdate != nil {
			// An accepted update cancels the running verb's context; one
			// the call refused (it is ending) leaves the verb running.
			if err := l.o.OnUpdate(u.Update); err == nil && ctx.Err() != nil {
				return context.Cause(ctx)
			}
		}
		return l.advance(ctx, end-l.elapsed())
	}
	if len(l.inputs) > 0 && l.inputs[0].Action == Hangup && l.inputs[0].Timed && l.inputs[0].At <= end {
		l.sleep(ctx, max(l.inputs[0].At-l.elapsed(), 0))
		l.hangUp(l.inputs[0].String())
		l.inputs = l.inputs[1:]
		return interpreter.ErrHangup
	}
	l.sleep(ctx, d)
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	return nil
}

func (l *Leg) sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	if l.o.Realtime {
		began := time.Now()
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			d = time.Since(began) // the clock moves only as far as time did
		}
	}
	l.mu.Lock()
	l.now = l.now.Add(d)
	l.mu.Unlock()
}

// hangUp marks the caller gone. what, when not empty, is traced as the
// caller's input; callers that already traced the input pass "".
func (l *Leg) hangUp(what string) {
	if l.gone {
		return
	}
	l.gone = true
	if what != "" {
		l.trace("input", map[string]any{"type": "hangup", "value": what})
	}
}

// Answer implements interpreter.Leg.
func (l *Leg) Answer(context.Context) error {
	if l.gone {
		return interpreter.ErrHangup
	}
	l.answered = true
	return nil
}

// Reject implements interpreter.Leg.
func (l *Leg) Reject(context.Context, string) error { return nil }

// Hangup implements interpreter.Leg.
func (l *Leg) Hangup(context.Context) error { return nil }

// Say implements interpreter.Leg.
func (l *Leg) Say(ctx context.Context, s interpreter.Speech, p interpreter.Prompt) (*interpreter.Input, error) {
	l.trace("say", map[string]any{"text": s.Text, "voice": s.Voice, "language": s.Language})
	d := time.Duration(max(utf8.RuneCountInString(s.Text), 5)) * SpeechPerChar
	return l.render(ctx, d, p)
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

// SendDigits implements interpreter.Leg.
func (l *Leg) SendDigits(ctx context.Context, digits string) error {
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
	if l.gone {
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
	if len(l.inputs) == 0 && l.o.Ask != nil && !l.gone {
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
			return l.speak(ctx, spec, in.Text)
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
func (l *Leg) speak(ctx context.Context, spec interpreter.InputSpec, text string) (*interpreter.Input, error) {
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
