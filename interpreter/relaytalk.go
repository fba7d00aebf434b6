package interpreter

import (
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/texml/texml/relay"
)

// talker is what a ConversationRelay agent says: a queue of utterances
// (the app's text tokens up to last:true, or one play), rendered to
// audio in the background and played by the leg's pacer through Next.
// It is shared by the pacer, the renderer and the session's loop, under
// mu; Next never blocks on anything but mu.
type talker struct {
	// emu orders what Next and interrupt tell notify: each takes it
	// before mu and keeps it until its events are out, so that the
	// app hears them in the order they happened (an agentSpeaking on
	// taken by the pacer is out before an interrupt's tokensPlayed).
	// notify does not block.
	emu   sync.Mutex
	mu    sync.Mutex
	items []*utterance
	// open is the text utterance still taking tokens (no last:true
	// yet); nil when the next token starts a new one.
	open *utterance
	// cycle counts the talk cycles: each input sent to the app (a final
	// prompt, a dtmf) starts a new one, which the app's answer belongs
	// to (preemptible cuts an older cycle's speech off).
	cycle int
	// muted is the cycle whose speech the caller interrupted: its late
	// tokens are dropped until it ends (last:true) or a new cycle starts,
	// as the app may not have seen the interrupt yet.
	muted int
	// render queues the work of the renderer, in order.
	render func(job renderJob)
	// dropped counts the tokens dropped after an interrupt; preempted
	// the utterances cut off by a newer cycle's.
	dropped, preempted int

	// notify, when set, hears what the caller hears change (the debug
	// options' info messages): it is called outside mu, in order, from
	// the goroutine that made the change (the pacer's, mostly), and must
	// not block.
	notify func(talkEvent)
	// audible: the agent is being heard (its audio started and its
	// queue has not run dry or been cut off since).
	audible bool
	// events wait under mu for notify.
	events []talkEvent
}

// talkEvent is a change in what the caller hears.
type talkEvent struct {
	kind talkKind
	text string // played: the text just heard
}

// talkKind tells a talkEvent's change.
type talkKind int

const (
	agentOn  talkKind = iota // the agent's audio starts being heard
	agentOff                 // it has all been heard, or was cut off
	played                   // a piece of the agent's text has been heard
)

// utterance is one thing the agent says: spoken text or a played sound.
type utterance struct {
	cycle         int
	interruptible string // relay.Interrupt*
	preemptible   bool
	play          string // the source of a play; "" for text

	pcm     []int16 // rendered so far
	pos     int     // samples played
	chunks  []spokenChunk
	told    int             // the chunks whose playing is told (played events)
	text    strings.Builder // every token so far
	pending strings.Builder // tokens not yet sent to the renderer
	lang    string
	closed  bool // no more tokens (or the play is queued whole)
	jobs    int  // render jobs not yet done
	dead    bool // interrupted or preempted: render results are dropped
}

// spokenChunk is a piece of an utterance's text and where its audio
// ends in the utterance's samples.
type spokenChunk struct {
	text string
	end  int
}

// renderJob is one piece of audio to render for an utterance: text in a
// language, or a play source looped.
type renderJob struct {
	u      *utterance
	text   string
	lang   string
	source string
	loop   int
}

// sampleRate is the rate of the talker's audio (media.SampleRate).
const sampleRate = 8000

// newTalker returns a talker that hands its rendering to render.
func newTalker(render func(renderJob)) *talker {
	return &talker{render: render, muted: -1}
}

// chunkAt is how much text is rendered at once: a sentence, or this many
// characters at a word boundary for a long one, so that speech starts
// before a streaming agent has finished its answer.
const chunkAt = 160

// say adds a text token; it reports false when the token was dropped
// (its cycle was interrupted).
func (t *talker) say(m relay.Message, lang, interruptible string, preemptible bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.muted == t.cycle {
		t.dropped++
		if m.Last {
			t.muted = -1 // the interrupted answer is over
		}
		return false
	}
	t.preempt()
	u := t.open
	if u == nil || u.lang != lang {
		if u != nil {
			t.flush(u, true)
		}
		u = &utterance{cycle: t.cycle, interruptible: interruptible, preemptible: preemptible, lang: lang}
		t.items = append(t.items, u)
		t.open = u
	}
	u.text.WriteString(m.Token)
	u.pending.WriteString(m.Token)
	if m.Last {
		t.flush(u, true)
		t.open = nil
	} else if p := u.pending.String(); sentenceEnd(p) || len(p) >= chunkAt && strings.HasSuffix(p, " ") {
		t.flush(u, false)
	}
	return true
}

// sentenceEnd reports whether text ends a sentence or clause, the
// natural place to start speaking it.
func sentenceEnd(text string) bool {
	s := strings.TrimRightFunc(text, unicode.IsSpace)
	if len(s) == len(text) || s == "" {
		return false // mid-word: "3." may go on as "3.5"
	}
	switch s[len(s)-1] {
	case '.', '!', '?', ';', ':', '\n':
		return true
	}
	return false
}

// flush sends u's pending text to the renderer; with last, u takes no
// more tokens. mu is held.
func (t *talker) flush(u *utterance, last bool) {
	if p := u.pending.String(); strings.TrimSpace(p) != "" {
		u.jobs++
		t.render(renderJob{u: u, text: p, lang: u.lang})
	} else if p != "" && len(u.chunks) > 0 {
		// Trailing spaces belong to the text already rendered.
		u.chunks[len(u.chunks)-1].text += p
	}
	u.pending.Reset()
	if last {
		u.closed = true
	}
}

// playSound queues a play.
func (t *talker) playSound(m relay.Message, interruptible string, preemptible bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.preempt()
	if t.open != nil {
		// A play between tokens ends the utterance so far.
		t.flush(t.open, true)
		t.open = nil
	}
	u := &utterance{cycle: t.cycle, interruptible: interruptible, preemptible: preemptible, play: m.Source, closed: true, jobs: 1}
	t.items = append(t.items, u)
	t.render(renderJob{u: u, source: m.Source, loop: m.Loop})
}

// preempt drops what an older talk cycle still has to say when it is
// preemptible: the app's answer to the newest input replaces it. mu is
// held.
func (t *talker) preempt() {
	if len(t.items) == 0 || t.items[0].cycle >= t.cycle || !t.items[0].preemptible {
		return
	}
	keep := t.items[:0]
	for _, u := range t.items {
		if u.cycle >= t.cycle {
			keep = append(keep, u)
			continue
		}
		t.preempted++
		u.dead = true
		if u == t.open {
			t.open = nil
		}
	}
	clear(t.items[len(keep):])
	t.items = keep
}

// rendered adds audio to u (text is what it says; "" for a sound).
func (t *talker) rendered(u *utterance, text string, pcm []int16) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u.jobs--
	if u.dead {
		return
	}
	u.pcm = append(u.pcm, pcm...)
	if text != "" {
		u.chunks = append(u.chunks, spokenChunk{text: text, end: len(u.pcm)})
	}
}

// Next implements Player: the head utterance's next 20 ms. An utterance
// whose audio is still being rendered (or whose tokens are still coming)
// holds the line with silence, as speech in progress does.
func (t *talker) Next(frame []int16) bool {
	t.emu.Lock()
	defer t.emu.Unlock()
	t.mu.Lock()
	ok := t.advance(frame)
	ev := t.takeEvents()
	t.mu.Unlock()
	t.emit(ev)
	return ok
}

// advance is Next under mu. It notes the agent's audio starting to be
// heard, each chunk of text heard to its end, and the queue running dry.
func (t *talker) advance(frame []int16) bool {
	for len(t.items) > 0 {
		u := t.items[0]
		if u.pos < len(u.pcm) {
			n := copy(frame, u.pcm[u.pos:])
			clear(frame[n:])
			u.pos += n
			if !t.audible {
				t.audible = true
				t.events = append(t.events, talkEvent{kind: agentOn})
			}
			for ; u.told < len(u.chunks) && u.pos >= u.chunks[u.told].end; u.told++ {
				t.tell(u.chunks[u.told].text)
			}
			return true
		}
		if !u.closed || u.jobs > 0 {
			return false
		}
		t.items[0] = nil
		t.items = t.items[1:]
	}
	t.quiet()
	return false
}

// tell notes text heard. mu is held.
func (t *talker) tell(text string) {
	if s := strings.TrimSpace(text); s != "" {
		t.events = append(t.events, talkEvent{kind: played, text: s})
	}
}

// quiet notes that the agent is no longer heard. mu is held.
func (t *talker) quiet() {
	if t.audible {
		t.audible = false
		t.events = append(t.events, talkEvent{kind: agentOff})
	}
}

// takeEvents returns the events waiting for notify. mu is held.
func (t *talker) takeEvents() []talkEvent {
	ev := t.events
	t.events = nil
	return ev
}

// emit hands events to notify; mu is not held.
func (t *talker) emit(ev []talkEvent) {
	if t.notify == nil {
		return
	}
	for _, e := range ev {
		t.notify(e)
	}
}

// speaking returns how the agent may be interrupted while it speaks,
// and whether it speaks (has something queued or in progress).
func (t *talker) speaking() (interruptible string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.items) == 0 {
		return "", false
	}
	return t.items[0].interruptible, true
}

// cutOff is what an interrupt cut short: the head utterance's text
// heard so far and for how long, and whether the agent was being heard
// (its agentOff is the caller's to tell, after the interrupt message).
type cutOff struct {
	spoken  string
	d       time.Duration
	audible bool
}

// interrupt stops the agent when the input (relay.InterruptSpeech or
// relay.InterruptDTMF) may cut the head utterance off: everything queued
// is dropped at once, so that the next packet is silence, and the late
// tokens of the answer are muted. It reports what was cut off, and
// whether it interrupted; the words heard of the chunk in progress are
// told (played) before it returns.
func (t *talker) interrupt(input string) (cutOff, bool) {
	t.emu.Lock()
	defer t.emu.Unlock()
	t.mu.Lock()
	c, ok := t.cut(input)
	ev := t.takeEvents()
	t.mu.Unlock()
	t.emit(ev)
	return c, ok
}

// cut is interrupt under mu.
func (t *talker) cut(input string) (cutOff, bool) {
	if len(t.items) == 0 || !allows(t.items[0].interruptible, input) {
		return cutOff{}, false
	}
	u := t.items[0]
	c := cutOff{spoken: u.spoken(), d: time.Duration(u.pos) * time.Second / sampleRate, audible: t.audible}
	if u.told < len(u.chunks) {
		start := 0
		if u.told > 0 {
			start = u.chunks[u.told-1].end
		}
		t.tell(u.chunks[u.told].heard(start, u.pos))
	}
	t.audible = false
	for _, x := range t.items {
		x.dead = true
		if x == t.open {
			t.muted = t.cycle
		}
	}
	clear(t.items)
	t.items, t.open = t.items[:0], nil
	return c, true
}

// allows reports whether an interruptible value lets input through.
func allows(interruptible, input string) bool {
	return interruptible == relay.InterruptAny || interruptible == input
}

// counts returns the tokens dropped and utterances preempted so far.
func (t *talker) counts() (dropped, preempted int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped, t.preempted
}

// next starts a new talk cycle: an input went to the app.
func (t *talker) next() {
	t.mu.Lock()
	t.cycle++
	t.muted = -1
	t.mu.Unlock()
}

// spoken is the text of u heard so far: every chunk played to its end,
// and of the chunk in progress the words whose share of its audio has
// played (speech engines do not say when each word is heard; a chunk's
// words are taken to take their share of its time by length).
func (u *utterance) spoken() string {
	var b strings.Builder
	start := 0
	for _, c := range u.chunks {
		if u.pos >= c.end {
			b.WriteString(c.text)
			start = c.end
			continue
		}
		b.WriteString(c.heard(start, u.pos))
		break
	}
	return strings.TrimSpace(b.String())
}

// heard is the part of c heard when its audio, from start, has played
// to pos: the words whose share of its time has passed.
func (c spokenChunk) heard(start, pos int) string {
	if c.end <= start || pos <= start {
		return ""
	}
	if pos >= c.end {
		return c.text
	}
	rs := []rune(c.text)
	n := len(rs) * (pos - start) / (c.end - start)
	part := string(rs[:n])
	if n < len(rs) && !unicode.IsSpace(rs[n]) {
		// Cut within a word: only whole words were heard.
		part = part[:max(strings.LastIndexFunc(part, unicode.IsSpace), 0)]
	}
	return part
}
