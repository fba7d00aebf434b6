package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/coder/websocket"
)

// RelayApp is a scripted ConversationRelay app (an AI agent stand-in)
// that the runner serves at a path of the scenario's app server; a
// document names it with <ConversationRelay url="/path">. It speaks
// Twilio's protocol
// (https://www.twilio.com/docs/voice/conversationrelay/websocket-messages).
type RelayApp struct {
	// OnSetup is what the app sends once setup arrives.
	OnSetup []RelaySend `yaml:"on_setup"`
	// OnPrompt[i] is the answer to the i-th final prompt (last true);
	// prompts beyond the list get no answer.
	OnPrompt [][]RelaySend `yaml:"on_prompt"`
	// OnDTMF[i] is the answer to the i-th dtmf message.
	OnDTMF [][]RelaySend `yaml:"on_dtmf"`
	// CloseAfterPrompts closes the socket (without end) once this many
	// final prompts have come.
	CloseAfterPrompts int `yaml:"close_after_prompts"`
}

// RelaySend is one message of the app: a text token (Last: the
// utterance's last; Lang: its text-to-speech language), a play, digits
// to send, a language switch (Language: both languages, or either of
// TTSLanguage and TranscriptionLanguage alone), an end with handoff
// data, or any raw JSON text.
type RelaySend struct {
	Text          string `yaml:"text"`
	Last          *bool  `yaml:"last"` // default true
	Lang          string `yaml:"lang"`
	Interruptible string `yaml:"interruptible"`
	Preemptible   *bool  `yaml:"preemptible"`
	Play          string `yaml:"play"`
	Digits        string `yaml:"digits"`
	Language      string `yaml:"language"`
	TTSLanguage   string `yaml:"tts_language"`
	STTLanguage   string `yaml:"transcription_language"`
	End           string `yaml:"end"`
	EndNow        bool   `yaml:"end_now"` // end without handoff data
	Raw           string `yaml:"raw"`
}

// RelayExpect is what one relay app must have received.
type RelayExpect struct {
	Path string `yaml:"path"`
	// Types are the messages' types in order.
	Types []string `yaml:"types"`
	// Prompts are the final prompts' voicePrompt; Partials the interim.
	Prompts  []string `yaml:"prompts"`
	Partials []string `yaml:"partials"`
	// Langs are the final prompts' lang, in order: the transcription
	// language each was heard in.
	Langs []string `yaml:"langs"`
	// Interrupts are the interrupts' utteranceUntilInterrupt.
	Interrupts []string `yaml:"interrupts"`
	// DTMF is the digits received.
	DTMF string `yaml:"dtmf"`
	// Setup fields that must be equal (callSid is checked always);
	// Params is setup.customParameters.
	Setup  map[string]string `yaml:"setup"`
	Params map[string]string `yaml:"params"`
	// Errors counts the error messages received.
	Errors int `yaml:"errors"`
	// Infos are the info messages (debug) in order, as "name=value";
	// a roundTripDelayMs value, which the network decides, as "*".
	Infos []string `yaml:"infos"`
}

// relayLog is what a relay app received.
type relayLog struct {
	path       string
	types      []string
	setup      map[string]any
	prompts    []string
	langs      []string
	partials   []string
	interrupts []string
	dtmf       string
	errors     int
	infos      []string
}

// relayApps serves a scenario's relay apps and keeps their logs.
type relayApps struct {
	apps map[string]RelayApp
	mu   sync.Mutex
	logs []*relayLog
	wg   conns
}

// serve answers a WebSocket upgrade to one of the apps; it reports
// whether it did.
func (a *relayApps) serve(w http.ResponseWriter, r *http.Request) bool {
	app, c, served := accept(w, r, a.apps, &a.wg)
	if c == nil {
		return served
	}
	defer a.wg.done()
	log := &relayLog{path: r.URL.Path}
	a.mu.Lock()
	a.logs = append(a.logs, log)
	a.mu.Unlock()
	defer c.CloseNow()
	ctx := r.Context()
	prompts, dtmfs := 0, 0
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return true
		}
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		typ := fmt.Sprint(m["type"])
		var reply []RelaySend
		a.mu.Lock()
		log.types = append(log.types, typ)
		switch typ {
		case "setup":
			log.setup = m
			reply = app.OnSetup
		case "prompt":
			text := fmt.Sprint(m["voicePrompt"])
			if last, _ := m["last"].(bool); !last {
				log.partials = append(log.partials, text)
				break
			}
			log.prompts = append(log.prompts, text)
			log.langs = append(log.langs, fmt.Sprint(m["lang"]))
			if prompts < len(app.OnPrompt) {
				reply = app.OnPrompt[prompts]
			}
			prompts++
		case "dtmf":
			log.dtmf += fmt.Sprint(m["digit"])
			if dtmfs < len(app.OnDTMF) {
				reply = app.OnDTMF[dtmfs]
			}
			dtmfs++
		case "interrupt":
			log.interrupts = append(log.interrupts, fmt.Sprint(m["utteranceUntilInterrupt"]))
		case "error":
			log.errors++
		case "info":
			v := fmt.Sprint(m["value"])
			if m["name"] == "roundTripDelayMs" {
				v = "*"
			}
			log.infos = append(log.infos, fmt.Sprint(m["name"])+"="+v)
		}
		a.mu.Unlock()
		for _, s := range reply {
			if err := c.Write(ctx, websocket.MessageText, s.message()); err != nil {
				return true
			}
		}
		if app.CloseAfterPrompts > 0 && prompts >= app.CloseAfterPrompts {
			_ = c.Close(websocket.StatusNormalClosure, "done")
			return true
		}
	}
}

// message renders one message of the app.
func (s RelaySend) message() []byte {
	var v map[string]any
	switch {
	case s.Raw != "":
		return []byte(s.Raw)
	case s.Play != "":
		v = map[string]any{"type": "play", "source": s.Play}
	case s.Digits != "":
		v = map[string]any{"type": "sendDigits", "digits": s.Digits}
	case s.Language != "" || s.TTSLanguage != "" || s.STTLanguage != "":
		v = map[string]any{"type": "language"}
		if tts := or(s.TTSLanguage, s.Language); tts != "" {
			v["ttsLanguage"] = tts
		}
		if stt := or(s.STTLanguage, s.Language); stt != "" {
			v["transcriptionLanguage"] = stt
		}
	case s.End != "" || s.EndNow:
		v = map[string]any{"type": "end"}
		if s.End != "" {
			v["handoffData"] = s.End
		}
	default:
		v = map[string]any{"type": "text", "token": s.Text, "last": s.Last == nil || *s.Last}
		if s.Lang != "" {
			v["lang"] = s.Lang
		}
	}
	if s.Interruptible != "" {
		v["interruptible"] = s.Interruptible
	}
	if s.Preemptible != nil {
		v["preemptible"] = *s.Preemptible
	}
	b, _ := json.Marshal(v)
	return b
}

// wait lets the apps' handlers finish after their sessions closed.
func (a *relayApps) wait(ctx context.Context) { a.wg.wait(ctx) }

// checkRelays compares what the relay apps received with want.
func checkRelays(want []RelayExpect, logs []*relayLog, callSid string, fail func(string, ...any)) {
	used := make([]bool, len(logs))
	for _, w := range want {
		var got *relayLog
		for i, l := range logs {
			if !used[i] && l.path == w.Path {
				used[i], got = true, l
				break
			}
		}
		if got == nil {
			fail("relay %s: the app got no connection", w.Path)
			continue
		}
		eq := func(what string, g, x []string) {
			if x != nil && !slices.Equal(g, x) {
				fail("relay %s: %s %q, want %q", w.Path, what, g, x)
			}
		}
		eq("types", got.types, w.Types)
		eq("prompts", got.prompts, w.Prompts)
		eq("prompt langs", got.langs, w.Langs)
		eq("partials", got.partials, w.Partials)
		eq("interrupts", got.interrupts, w.Interrupts)
		eq("infos", got.infos, w.Infos)
		if w.DTMF != "" && got.dtmf != w.DTMF {
			fail("relay %s: dtmf %q, want %q", w.Path, got.dtmf, w.DTMF)
		}
		if got.errors != w.Errors {
			fail("relay %s: %d error messages, want %d", w.Path, got.errors, w.Errors)
		}
		if got.setup == nil {
			fail("relay %s: no setup message", w.Path)
			continue
		}
		if callSid != "" && fmt.Sprint(got.setup["callSid"]) != callSid {
			fail("relay %s: setup.callSid %v, want %s", w.Path, got.setup["callSid"], callSid)
		}
		if !strings.HasPrefix(fmt.Sprint(got.setup["sessionId"]), "VX") {
			fail("relay %s: setup.sessionId %v, want VX…", w.Path, got.setup["sessionId"])
		}
		for k, v := range w.Setup {
			if fmt.Sprint(got.setup[k]) != v {
				fail("relay %s: setup.%s %v, want %q", w.Path, k, got.setup[k], v)
			}
		}
		params, _ := got.setup["customParameters"].(map[string]any)
		for k, v := range w.Params {
			if fmt.Sprint(params[k]) != v {
				fail("relay %s: setup.customParameters.%s %v, want %q", w.Path, k, params[k], v)
			}
		}
	}
}
