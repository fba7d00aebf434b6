package interpreter

import (
	"strings"
	"unicode"

	"github.com/texml/texml/relay"
)

// barge is what the caller's utterance in progress has done towards
// interrupting the agent. Each condition holds at once unless the
// session's attributes ask for it: long for interruptSensitivity medium
// or low (enough voice, Sustained), words for ignoreBackchannel (a word
// that is not an acknowledgment). Guarded by relaySession.mu.
type barge struct {
	long, words bool
	done        bool // the cut was tried: once an utterance
}

// speaking is the leg's word that the caller began to speak: it cuts
// the agent off when its speech lets speech interrupt, at once (the next
// packet is silence) with interruptSensitivity high and without
// ignoreBackchannel; otherwise, while the agent speaks on, the utterance
// is held back unless reportInputDuringAgentSpeech lets it through, or
// until it has gone on long enough (sustained) and said enough (words)
// to cut the agent off.
func (r *relaySession) speaking(Track) {
	if r.speakerEvents {
		r.sess.Info(relay.InfoClientSpeaking, "on", r.c.cfg.Clock.Now())
	}
	_, agent := r.talk.speaking()
	r.mu.Lock()
	r.held = agent && !allows(r.report, relay.InterruptSpeech)
	r.barge = barge{long: r.sustain == 0, words: !r.backchannel}
	r.mu.Unlock()
	r.tryCut()
}

// sustained is the leg's word that the caller's utterance has gone on
// long enough to interrupt with interruptSensitivity medium or low. An
// utterance that never gets here (a cough) leaves the agent speaking.
func (r *relaySession) sustained(Track) {
	r.mu.Lock()
	r.barge.long = true
	r.mu.Unlock()
	r.tryCut()
}

// words takes what the recognizer heard of the utterance so far (a
// partial or its final): with ignoreBackchannel, the first word that is
// not an acknowledgment lets the caller interrupt.
func (r *relaySession) words(text string) {
	if !r.backchannel || isBackchannel(text, r.lang()) {
		return
	}
	r.mu.Lock()
	r.barge.words = true
	r.mu.Unlock()
	r.tryCut()
}

// tryCut cuts the agent off once the utterance meets every condition,
// if what the agent says lets speech interrupt; the utterance is then
// the app's next prompt.
func (r *relaySession) tryCut() {
	r.mu.Lock()
	b := r.barge
	ready := b.long && b.words && !b.done
	if ready {
		r.barge.done = true
	}
	r.mu.Unlock()
	if !ready {
		return
	}
	cut, ok := r.talk.interrupt(relay.InterruptSpeech)
	if !ok {
		return
	}
	r.mu.Lock()
	r.held = false
	r.mu.Unlock()
	// The trace is queued before the app can answer the message.
	r.post(func() {
		r.c.trace("relay", map[string]any{"state": "interrupt", "sid": r.id, "spoken": cut.spoken, "ms": cut.d.Milliseconds(), "by": "speech"})
	})
	r.sess.Interrupt(cut.spoken, cut.d)
	r.cutOff(cut)
}

// backchannels are the acknowledgments a listener says while the other
// speaks ("uh-huh", "okay", "I see"), as the recognizer writes them, in
// English: ignoreBackchannel lets them pass without interrupting the
// agent. Twilio does not publish its list; this one is texml's.
var backchannels = [][]string{
	{"uh", "huh"}, {"mm", "hmm"}, {"i", "see"}, {"got", "it"}, {"all", "right"},
	{"uh-huh"}, {"mm-hmm"}, {"mhm"}, {"hmm"}, {"hm"}, {"mm"}, {"um"}, {"uh"}, {"ah"}, {"oh"}, {"aha"},
	{"yeah"}, {"yes"}, {"yep"}, {"yup"}, {"ok"}, {"okay"}, {"right"}, {"sure"}, {"alright"},
}

// isBackchannel reports whether text, heard in language lang, is only
// acknowledgments (or no words at all). Outside English nothing is: the
// list is English, and any word of another language interrupts.
func isBackchannel(text, lang string) bool {
	words := strings.FieldsFunc(strings.ToLower(text), func(c rune) bool {
		return !unicode.IsLetter(c) && c != '-' && c != '\''
	})
	if len(words) > 0 && !strings.HasPrefix(strings.ToLower(lang), "en") {
		return false
	}
next:
	for i := 0; i < len(words); {
		for _, b := range backchannels {
			if len(words)-i >= len(b) && equalWords(words[i:i+len(b)], b) {
				i += len(b)
				continue next
			}
		}
		return false
	}
	return true
}

func equalWords(a, b []string) bool {
	for i := range b {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
