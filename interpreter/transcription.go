package interpreter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/texml/texml/verbs"
)

// transcription is one <Start><Transcription> of a call
// (https://www.twilio.com/docs/voice/twiml/transcription): the leg
// transcribes the tracks asked for (Leg.Transcribe) and each final
// result, and with partialResults each interim one, becomes a
// transcription-content callback.
type transcription struct {
	c        *Call
	name     string // the name attribute; "" when none was given
	sid      string // GT…
	language string
	cb       string // statusCallbackUrl, resolved; "" for none
	cbMethod string
	stopLeg  func()

	mu  sync.Mutex // seq, from the leg's goroutines and the call's
	seq int        // SequenceId of the last callback
}

// transcriptionTracks maps a Transcription's track attribute to the
// leg's tracks; Twilio's default is both_tracks.
func transcriptionTracks(track string) (in, out bool) {
	switch track {
	case "inbound_track":
		return true, false
	case "outbound_track":
		return false, true
	}
	return true, true
}

// transcriptionTrackNames are the Track values of the callbacks.
var transcriptionTrackNames = [...]string{TrackBoth: "both_tracks", TrackInbound: "inbound_track", TrackOutbound: "outbound_track"}

// startTranscriptions runs <Start>'s Transcription nouns: each listens to
// the call while the next verbs run, until <Stop><Transcription> or the
// end of the call. With partialResults, interim transcripts go out as
// transcription-content with Final=false before each final one.
// Attributes texml cannot honour are reported and the transcription runs
// without them: transcriptionEngine and speechModel (the local
// recognizer is the engine).
func (c *Call) startTranscriptions(ctx context.Context, doc *document, v *verbs.Start) {
	startForks(c, v, "Transcription", "transcription", &c.transcriptions, func(e *verbs.Element, at, name string) {
		for _, a := range []string{"transcriptionEngine", "speechModel"} {
			if e.Attrs[a] != "" {
				c.warn(fmt.Sprintf("%s: %s=%q is ignored: texml transcribes with its local recognizer", at, a, e.Attrs[a]), 0)
			}
		}
		t := &transcription{c: c, name: name, sid: NewSid("GT"), language: e.Attrs["languageCode"]}
		if t.language == "" {
			t.language = "en-US"
		}
		cb := e.Attrs["statusCallbackUrl"]
		if cb == "" {
			cb = e.Attrs["statusCallback"] // Telnyx's spelling
		}
		if cb != "" {
			if req := c.target(doc, "Transcription", cb, e.Attrs["statusCallbackMethod"]); req.bad != nil {
				c.fail(req.bad.Error(), 11100)
			} else {
				t.cb, t.cbMethod = req.url, req.method
			}
		}
		in, out := transcriptionTracks(e.Attrs["track"])
		life := c.life
		if life == nil {
			life = ctx
		}
		track := trackNames[trackOf(StreamSpec{Inbound: in, Outbound: out})]
		c.trace("transcription", map[string]any{"state": "starting", "sid": t.sid, "name": name, "track": track})
		spec := TranscribeSpec{Inbound: in, Outbound: out, Language: t.language, Hints: e.Attrs["hints"], Result: t.result}
		partial := e.Attrs["partialResults"] == "true"
		if partial {
			spec.Partial = t.partial
		}
		stop, err := c.leg.Transcribe(life, spec)
		if err != nil {
			if !errors.Is(err, ErrHangup) {
				c.fail(fmt.Sprintf("%s: %v", at, err), 0)
				c.trace("transcription", map[string]any{"state": "failed", "sid": t.sid, "error": err.Error()})
				t.status("transcription-error", url.Values{"TranscriptionError": {err.Error()}})
			}
			return
		}
		t.stopLeg = stop
		c.transcriptions = append(c.transcriptions, t)
		c.trace("transcription", map[string]any{"state": "started", "sid": t.sid})
		t.status("transcription-started", url.Values{"Track": {transcriptionTrackNames[trackOf(StreamSpec{Inbound: in, Outbound: out})]},
			"LanguageCode": {t.language}, "PartialResults": {strconv.FormatBool(partial)}, "ProviderName": {"texml"}})
	})
}

// result sends one final transcript: transcription-content, with
// TranscriptionData as JSON (transcript, confidence), on a leg goroutine.
func (t *transcription) result(r Transcript) { t.content(r, true) }

// partial sends an interim transcript (partialResults): Final=false.
func (t *transcription) partial(r Transcript) { t.content(r, false) }

func (t *transcription) content(r Transcript, final bool) {
	data, _ := json.Marshal(struct {
		Transcript string  `json:"transcript"`
		Confidence float64 `json:"confidence"`
	}{r.Text, r.Confidence})
	tr := transcriptionTrackNames[r.Track]
	state := "content"
	if !final {
		state = "partial"
	}
	t.c.trace("transcription", map[string]any{"state": state, "sid": t.sid, "track": tr, "text": r.Text})
	t.status("transcription-content", url.Values{"Track": {tr}, "LanguageCode": {t.language},
		"TranscriptionData": {string(data)}, "Final": {strconv.FormatBool(final)}})
}

// status sends a transcription callback, when it has a URL: Twilio's
// parameters (https://www.twilio.com/docs/voice/twiml/transcription,
// "statusCallbackUrl") with extra, numbered by SequenceId.
func (t *transcription) status(event string, extra url.Values) {
	if t.cb == "" {
		return
	}
	c := t.c
	t.mu.Lock()
	t.seq++
	seq := t.seq
	t.mu.Unlock()
	p := url.Values{
		"AccountSid": {c.cfg.AccountSid}, "CallSid": {c.cfg.CallSid},
		"TranscriptionSid": {t.sid}, "TranscriptionEvent": {event},
		"SequenceId": {strconv.Itoa(seq)},
		"Timestamp":  {c.cfg.Clock.Now().UTC().Format(time.RFC3339Nano)},
	}
	if t.name != "" {
		p.Set("Name", t.name)
	}
	for k, v := range extra {
		p[k] = v
	}
	c.post("transcription-status", t.cb, t.cbMethod, p)
}

// end stops the leg's transcription and sends transcription-stopped.
func (t *transcription) end(why string) {
	t.stopLeg()
	t.c.trace("transcription", map[string]any{"state": "stopped", "sid": t.sid, "reason": why})
	t.status("transcription-stopped", nil)
}

// named implements namedFork.
func (t *transcription) named(name string) bool { return t.name == name || t.sid == name }

// stopFork implements namedFork.
func (t *transcription) stopFork(why string) { t.end(why) }
