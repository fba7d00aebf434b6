package interpreter

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/relay"
)

// message applies one of the app's messages, on the session's loop.
func (r *relaySession) message(ctx context.Context, m relay.Message, status, handoff *string) {
	c := r.c
	interruptible := or(m.Interruptible, r.interruptible)
	preemptible := r.preemptible
	if m.Preemptible != nil {
		preemptible = *m.Preemptible
	}
	_, before := r.talk.counts()
	preempted := func() {
		if _, after := r.talk.counts(); after > before {
			c.trace("relay", map[string]any{"state": "preempted", "sid": r.id, "utterances": after - before})
		}
	}
	switch m.Kind {
	case relay.Text:
		if !r.talk.say(m, or(m.Lang, r.ttsLang), interruptible, preemptible) {
			return // the caller cut this answer off
		}
		preempted()
		r.line.WriteString(m.Token)
		if m.Last {
			c.trace("relay", map[string]any{"state": "agent", "sid": r.id, "text": strings.TrimSpace(r.line.String())})
			r.line.Reset()
		}
	case relay.Play:
		src, err := fetcher.Resolve(r.base, m.Source)
		if err != nil {
			r.sess.Error(fmt.Sprintf("play: %q: %v", m.Source, err))
			return
		}
		m.Source = src
		r.talk.playSound(m, interruptible, preemptible)
		preempted()
		c.trace("relay", map[string]any{"state": "play", "sid": r.id, "url": fetcher.Redact(src), "loop": m.Loop})
	case relay.SendDigits:
		c.trace("relay", map[string]any{"state": "send-digits", "sid": r.id, "digits": m.Digits})
		if err := c.leg.SendDigits(ctx, m.Digits); err != nil && ctx.Err() == nil {
			r.sess.Error(fmt.Sprintf("sendDigits: %v", err))
		}
	case relay.Language:
		f := map[string]any{"state": "language", "sid": r.id}
		if m.TTSLanguage != "" {
			r.ttsLang = m.TTSLanguage
			f["tts"] = m.TTSLanguage
		}
		if m.STTLanguage != "" && m.STTLanguage != r.lang() {
			r.mu.Lock()
			r.sttLang = m.STTLanguage
			r.mu.Unlock()
			r.restartSTT = true
			f["transcription"] = m.STTLanguage
		}
		c.trace("relay", f)
	case relay.End:
		*status, *handoff = "completed", m.HandoffData
	}
}

// lang is the transcription language, read by the leg's callbacks.
func (r *relaySession) lang() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sttLang
}

// listen starts transcribing the caller in the session's language and
// returns its stop. A leg without a recognizer leaves the session with
// DTMF only, which the app is told (error message) and the call's
// events say.
func (r *relaySession) listen(ctx context.Context) func() {
	spec := TranscribeSpec{Inbound: true, Language: r.lang(), Hints: r.n.Attrs["hints"],
		Result: r.heard, Speaking: r.speaking, Ended: r.ended, EndSilence: r.endSilence}
	if r.sustain > 0 {
		spec.Sustained, spec.SustainAfter = r.sustained, r.sustain
	}
	if r.partial || r.backchannel {
		spec.Partial = r.partialHeard
	}
	stop, err := r.c.leg.Transcribe(ctx, spec)
	if err != nil {
		msg := fmt.Sprintf("speech recognition is unavailable: %v; the session hears DTMF only", err)
		r.c.warn("<ConversationRelay>: "+msg, 0)
		r.sess.Error(msg)
		return func() {}
	}
	return stop
}

// ended is the leg's word that the caller's utterance is over: its
// end-of-speech pause (speechTimeout) has passed.
func (r *relaySession) ended(Track) {
	if r.speakerEvents {
		r.sess.Info(relay.InfoClientSpeaking, "off", r.c.cfg.Clock.Now())
	}
}

// talkEvent turns a change in what the caller hears into the info
// messages the debug options ask for. The talker calls it from the
// pacer's goroutine, or from the one that interrupted; Info never
// blocks.
func (r *relaySession) talkEvent(e talkEvent) {
	switch e.kind {
	case agentOn, agentOff:
		if r.speakerEvents {
			r.sess.Info(relay.InfoAgentSpeaking, onOff(e.kind == agentOn), r.c.cfg.Clock.Now())
		}
	case played:
		if r.tokensPlayed {
			r.sess.Info(relay.InfoTokensPlayed, e.text, time.Time{})
		}
	}
}

// cutOff tells, after the interrupt message, that the agent interrupted
// is no longer heard.
func (r *relaySession) cutOff(c cutOff) {
	if c.audible {
		r.talkEvent(talkEvent{kind: agentOff})
	}
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// roundTrip measures the socket's round trip in the background and
// reports it (info roundTripDelayMs), for the debugging option: once
// connected and after each prompt. What the option reports is not
// documented
// (https://www.twilio.com/docs/voice/twiml/connect/conversationrelay);
// live sessions show roundTripDelayMs values of about a hundred
// milliseconds, which is what a WebSocket ping measures.
func (r *relaySession) roundTrip() {
	ctx := r.ctx
	if ctx == nil || ctx.Err() != nil {
		return
	}
	r.renders.Add(1)
	go func() {
		defer r.renders.Done()
		pctx, cancel := context.WithTimeout(ctx, relayPingTimeout)
		defer cancel()
		if d, err := r.sess.RoundTrip(pctx); err == nil {
			r.sess.Info(relay.InfoRoundTrip, strconv.FormatInt(d.Milliseconds(), 10), time.Time{})
		}
	}()
}

// heard is a final transcript of the caller: a prompt for the app.
func (r *relaySession) heard(t Transcript) {
	r.words(t.Text)
	r.mu.Lock()
	held := r.held
	r.held = false
	lang := r.sttLang
	r.mu.Unlock()
	if held {
		r.post(func() {
			r.c.trace("relay", map[string]any{"state": "not-reported", "sid": r.id, "text": t.Text, "why": "agent speaking"})
		})
		return
	}
	r.post(func() { r.c.trace("relay", map[string]any{"state": "prompt", "sid": r.id, "text": t.Text}) })
	r.talk.next()
	r.sess.Prompt(t.Text, lang, true)
	if r.debugging {
		r.roundTrip()
	}
}

// partialHeard is an interim transcript: a prompt with last false
// (partialPrompts).
func (r *relaySession) partialHeard(t Transcript) {
	r.words(t.Text)
	if !r.partial {
		return // asked for by ignoreBackchannel only
	}
	r.mu.Lock()
	held, lang := r.held, r.sttLang
	r.mu.Unlock()
	if !held {
		r.sess.Prompt(t.Text, lang, false)
	}
}

// digit is a key the caller pressed: it may cut the agent off, and with
// dtmfDetection it goes to the app.
func (r *relaySession) digit(k byte) {
	interrupted := false
	if cut, ok := r.talk.interrupt(relay.InterruptDTMF); ok {
		interrupted = true
		r.post(func() {
			r.c.trace("relay", map[string]any{"state": "interrupt", "sid": r.id, "spoken": cut.spoken, "ms": cut.d.Milliseconds(), "by": "dtmf"})
		})
		r.sess.Interrupt(cut.spoken, cut.d)
		r.cutOff(cut)
	}
	if !r.dtmf {
		return
	}
	if _, agent := r.talk.speaking(); !interrupted && agent && !allows(r.report, relay.InterruptDTMF) {
		return
	}
	r.post(func() { r.c.trace("relay", map[string]any{"state": "dtmf", "sid": r.id, "digit": string(k)}) })
	r.talk.next()
	r.sess.DTMF(k)
}

// queueJob hands a piece of speech to the renderer; it never blocks
// (the talker calls it with its lock held).
func (r *relaySession) queueJob(j renderJob) {
	r.jobMu.Lock()
	full := len(r.jobs) >= relayRenderQueue
	if !full {
		r.jobs = append(r.jobs, j)
	}
	r.jobMu.Unlock()
	if full {
		r.sess.Error("too much text waiting to be spoken; this piece is dropped")
		go r.talk.rendered(j.u, "", nil) // not under the talker's lock
		return
	}
	select {
	case r.jobWake <- struct{}{}:
	default:
	}
}

// renderLoop renders the agent's speech and sounds in order, until ctx
// ends. It uses no clock: rendering takes real time on any call.
func (r *relaySession) renderLoop(ctx context.Context) {
	defer r.renders.Done()
	for {
		r.jobMu.Lock()
		batch := r.jobs
		r.jobs = nil
		r.jobMu.Unlock()
		for _, j := range batch {
			if ctx.Err() != nil {
				return
			}
			r.render(ctx, j)
		}
		select {
		case <-ctx.Done():
			return
		case <-r.jobWake:
		}
	}
}

// render renders one job into its utterance.
func (r *relaySession) render(ctx context.Context, j renderJob) {
	v := r.c.cfg.Voice
	if j.source != "" {
		pcm, err := v.Sound(ctx, j.source)
		if err != nil {
			if ctx.Err() == nil {
				r.sess.Error(fmt.Sprintf("play: %s: %v", fetcher.Redact(j.source), err))
				r.c.warn(fmt.Sprintf("<ConversationRelay> play %s: %v", fetcher.Redact(j.source), err), 0)
			}
			r.talk.rendered(j.u, "", nil)
			return
		}
		all := make([]int16, 0, len(pcm)*max(j.loop, 1))
		for range max(j.loop, 1) {
			all = append(all, pcm...)
		}
		r.talk.rendered(j.u, "", all)
		return
	}
	pcm, err := v.Speak(ctx, Speech{Text: j.text, Voice: r.voiceFor(j.lang), Language: j.lang})
	if err != nil && ctx.Err() == nil {
		r.sess.Error(fmt.Sprintf("text-to-speech failed: %v", err))
		r.c.warn(fmt.Sprintf("<ConversationRelay> text-to-speech: %v", err), 0)
	}
	r.talk.rendered(j.u, j.text, pcm)
}

// voiceFor is the voice of a language: a <Language> child's for its
// code, else the voice attribute.
func (r *relaySession) voiceFor(lang string) string {
	for _, l := range r.n.Languages {
		if strings.EqualFold(l["code"], lang) && l["voice"] != "" {
			return l["voice"]
		}
	}
	return r.n.Attrs["voice"]
}
