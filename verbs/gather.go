package verbs

import (
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// gather converts <Gather>.
func (p *parser) gather(e *etree.Element, idx int) *Gather {
	g := &Gather{
		Pos: p.pos(idx), Method: "POST", Timeout: 5, FinishOnKey: "#",
		MaxSpeechTime: 60, Language: "en-US", ProfanityFilter: true,
		PartialResultCallbackMethod: "POST", BargeIn: true,
	}
	if p.dialect.GatherMethodFromApp() {
		g.Method = "" // the application's method, which the interpreter knows
	}
	const who = "Gather"
	speechTimeoutSet := false
	for a := range p.plainAttrs(e, idx, who) {
		switch a.Key {
		case "action":
			g.Action = strings.TrimSpace(a.Value)
		case "method":
			g.Method = p.methodAttr(idx, who, a, codeGatherMethod, g.Method)
		case "input":
			g.Input = p.listAttr(idx, who, a, codeNone, inputValues, "dtmf")
		case "timeout":
			g.Timeout = p.intAttr(idx, who, a, codeGatherTimeout, 1, -1, 5)
		case "finishOnKey":
			if len(a.Value) <= 1 && digitsOK(a.Value, "0123456789*#") {
				g.FinishOnKey = a.Value
			} else {
				p.badValue(idx, who, a, codeGatherFinish, `want one of 0-9, * or #, or "" to disable`, `"#"`)
			}
		case "numDigits":
			g.NumDigits = p.intAttr(idx, who, a, codeGatherDigits, 1, -1, 0)
		case "speechTimeout":
			v := strings.TrimSpace(a.Value)
			if n, err := strconv.Atoi(v); err == nil && n >= 1 {
				g.SpeechTimeout, speechTimeoutSet = v, true
			} else if strings.EqualFold(v, "auto") {
				g.SpeechTimeout, speechTimeoutSet = "auto", true
			} else {
				p.badValue(idx, who, a, codeSpeechTimeout, `want a positive integer or "auto"`, "the timeout value")
			}
		case "maxSpeechTime":
			g.MaxSpeechTime = p.intAttr(idx, who, a, codeMaxSpeechTime, 1, -1, 60)
		case "speechModel":
			g.SpeechModel = strings.TrimSpace(a.Value)
		case "enhanced":
			g.Enhanced = p.boolAttr(idx, who, a, codeEnhanced, false)
		case "hints":
			g.Hints = a.Value
		case "language":
			if v := strings.TrimSpace(a.Value); v != "" {
				g.Language = v
			}
		case "profanityFilter":
			g.ProfanityFilter = p.boolAttr(idx, who, a, codeProfanity, true)
		case "partialResultCallback":
			g.PartialResultCallback = strings.TrimSpace(a.Value)
		case "partialResultCallbackMethod":
			g.PartialResultCallbackMethod = p.methodAttr(idx, who, a, codePartialMethod, "POST")
		case "bargeIn":
			g.BargeIn = p.boolAttr(idx, who, a, codeBargeIn, true)
		case "actionOnEmptyResult":
			g.ActionOnEmptyResult = p.boolAttr(idx, who, a, codeActionOnEmpty, false)
		case "debug":
			g.Debug = p.boolAttr(idx, who, a, codeGatherDebug, false)
		case "transcriptionEngine":
			g.TranscriptionEngine = strings.TrimSpace(a.Value)
		case "useEnhanced":
			g.UseEnhanced = p.boolAttr(idx, who, a, codeNone, false)
		case "apiKeyRef":
			// Telnyx credential reference for third-party engines; not modelled.
		default:
			p.unknownAttr(idx, who, a)
		}
	}
	if g.Input == nil {
		g.Input = []string{"dtmf"}
	}
	if !speechTimeoutSet {
		g.SpeechTimeout = strconv.Itoa(g.Timeout)
	}
	if g.SpeechTimeout == "auto" && g.SpeechModel != "" {
		p.report(g.Pos, Warning, codeAutoWithModel,
			`Gather: speechTimeout "auto" is not supported together with speechModel; use a number of seconds`)
	}
	p.noText(e, idx, who)
	ci := idx + 1
	for _, t := range e.Child {
		c, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		var v Verb
		switch name := elemName(c); name {
		case "Say":
			v = p.say(c, ci, true)
		case "Play":
			v = p.play(c, ci)
		case "Pause":
			v = p.pause(c, ci)
		default:
			p.report(p.pos(ci), Error, codeGatherNested,
				"Gather: invalid nested verb <"+name+">; only Say, Play and Pause may be nested")
		}
		if v != nil {
			if g.Prompts == nil {
				g.Prompts = make([]Verb, 0, countElems(e))
			}
			g.Prompts = append(g.Prompts, v)
		}
		ci = p.next(ci)
	}
	return g
}

// record converts <Record>.
func (p *parser) record(e *etree.Element, idx int) *Record {
	r := &Record{
		Pos: p.pos(idx), Method: "POST", Timeout: p.dialect.RecordTimeout(), FinishOnKey: "1234567890*#",
		MaxLength: 3600, PlayBeep: true, Trim: "trim-silence",
		RecordingStatusCallbackMethod: "POST",
	}
	const who = "Record"
	for a := range p.plainAttrs(e, idx, who) {
		switch a.Key {
		case "action":
			r.Action = strings.TrimSpace(a.Value)
		case "method":
			r.Method = p.methodAttr(idx, who, a, codeRecordMethod, "POST")
		case "timeout":
			r.Timeout = p.intAttr(idx, who, a, codeRecordTimeout, 0, -1, p.dialect.RecordTimeout())
		case "finishOnKey":
			if digitsOK(a.Value, "0123456789*#") {
				r.FinishOnKey = a.Value
			} else {
				p.badValue(idx, who, a, codeRecordFinish, "want any of 0-9, * and #", `"1234567890*#"`)
			}
		case "maxLength":
			r.MaxLength = p.intAttr(idx, who, a, codeRecordMaxLength, 1, 86400, 3600)
		case "playBeep":
			r.PlayBeep = p.boolAttr(idx, who, a, codePlayBeep, true)
		case "trim":
			r.Trim = p.enumAttr(idx, who, a, codeRecordTrim, trimValues, "trim-silence")
		case "recordingStatusCallback":
			r.RecordingStatusCallback = strings.TrimSpace(a.Value)
		case "recordingStatusCallbackMethod":
			r.RecordingStatusCallbackMethod = p.methodAttr(idx, who, a, codeNone, "POST")
		case "recordingStatusCallbackEvent":
			r.RecordingStatusCallbackEvent = p.listAttr(idx, who, a, codeRecordingEvent, recordEvents, "completed")
		case "transcribe", "transcription": // the second is the TeXML spelling
			r.Transcribe = p.boolAttr(idx, who, a, codeTranscribe, false)
		case "transcribeCallback", "transcriptionCallback":
			r.TranscribeCallback = strings.TrimSpace(a.Value)
		case "recordingChannels":
			r.RecordingChannels = p.enumAttr(idx, who, a, codeNone, recordingChannels, "")
		case "recordingConfigurationId":
			// Account-side recording configuration; not modelled.
		default:
			p.unknownAttr(idx, who, a)
		}
	}
	if r.RecordingStatusCallbackEvent == nil {
		r.RecordingStatusCallbackEvent = []string{"completed"}
	}
	if r.TranscribeCallback != "" {
		r.Transcribe = true
	}
	if r.Transcribe && r.MaxLength > 120 {
		p.report(r.Pos, Warning, codeTranscribeLen,
			"Record: transcription covers recordings of at most 120 seconds; maxLength is "+strconv.Itoa(r.MaxLength))
	}
	p.noChildren(e, idx, who)
	p.noText(e, idx, who)
	return r
}
