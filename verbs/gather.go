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
	const who = "Gather"
	speechTimeoutSet := false
	for i := range e.Attr {
		a := &e.Attr[i]
		if nsAttr(a) {
			continue
		}
		if a.Space != "" {
			p.unknownAttr(idx, who, a)
			continue
		}
		switch a.Key {
		case "action":
			g.Action = strings.TrimSpace(a.Value)
		case "method":
			g.Method = p.methodAttr(idx, who, a, codeGatherMethod, "POST")
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
		Pos: p.pos(idx), Method: "POST", Timeout: 5, FinishOnKey: "1234567890*#",
		MaxLength: 3600, PlayBeep: true, Trim: "trim-silence",
		RecordingStatusCallbackMethod: "POST",
	}
	const who = "Record"
	for i := range e.Attr {
		a := &e.Attr[i]
		if nsAttr(a) {
			continue
		}
		if a.Space != "" {
			p.unknownAttr(idx, who, a)
			continue
		}
		switch a.Key {
		case "action":
			r.Action = strings.TrimSpace(a.Value)
		case "method":
			r.Method = p.methodAttr(idx, who, a, codeRecordMethod, "POST")
		case "timeout":
			r.Timeout = p.intAttr(idx, who, a, codeRecordTimeout, 0, -1, 5)
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

// params converts the <Parameter> children of e; any other child is
// reported and dropped.
func (p *parser) params(e *etree.Element, idx int, who string) []Param {
	var out []Param
	ci := idx + 1
	for _, t := range e.Child {
		c, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		if name := elemName(c); name == "Parameter" {
			out = append(out, p.param(c, ci, who))
		} else {
			p.report(p.pos(ci), Error, codeSchema, who+": <"+name+"> cannot be nested here")
		}
		ci = p.next(ci)
	}
	return out
}

// param converts one <Parameter name value/> or <Header name value/>.
func (p *parser) param(e *etree.Element, idx int, who string) Param {
	var pr Param
	who += "->" + elemName(e)
	hasName := false
	for i := range e.Attr {
		a := &e.Attr[i]
		switch {
		case nsAttr(a):
		case a.Space == "" && a.Key == "name":
			pr.Name, hasName = a.Value, true
		case a.Space == "" && a.Key == "value":
			pr.Value = a.Value
		default:
			p.unknownAttr(idx, who, a)
		}
	}
	if !hasName || pr.Name == "" {
		p.report(p.pos(idx), Error, codeNone, who+": missing name attribute")
	}
	p.noChildren(e, idx, who)
	return pr
}

// hangup converts <Hangup>.
func (p *parser) hangup(e *etree.Element, idx int) *Hangup {
	h := &Hangup{Pos: p.pos(idx)}
	p.onlyNS(e, idx, "Hangup")
	h.Params = p.params(e, idx, "Hangup")
	p.noText(e, idx, "Hangup")
	return h
}

// reject converts <Reject>.
func (p *parser) reject(e *etree.Element, idx int) *Reject {
	r := &Reject{Pos: p.pos(idx), Reason: "rejected"}
	for i := range e.Attr {
		a := &e.Attr[i]
		switch {
		case nsAttr(a):
		case a.Space == "" && a.Key == "reason":
			r.Reason = p.enumAttr(idx, "Reject", a, codeNone, rejectReasons, "rejected")
		default:
			p.unknownAttr(idx, "Reject", a)
		}
	}
	r.Params = p.params(e, idx, "Reject")
	p.noText(e, idx, "Reject")
	return r
}

// redirect converts <Redirect>.
func (p *parser) redirect(e *etree.Element, idx int) *Redirect {
	r := &Redirect{Pos: p.pos(idx), Method: "POST"}
	for i := range e.Attr {
		a := &e.Attr[i]
		switch {
		case nsAttr(a):
		case a.Space == "" && a.Key == "method":
			r.Method = p.methodAttr(idx, "Redirect", a, codeRedirectMethod, "POST")
		default:
			p.unknownAttr(idx, "Redirect", a)
		}
	}
	p.noChildren(e, idx, "Redirect")
	r.URL = text(e)
	if r.URL == "" {
		p.report(r.Pos, Error, codeNone, "Redirect: no URL")
	}
	return r
}

// leave converts <Leave>.
func (p *parser) leave(e *etree.Element, idx int) *Leave {
	p.onlyNS(e, idx, "Leave")
	p.noChildren(e, idx, "Leave")
	p.noText(e, idx, "Leave")
	return &Leave{Pos: p.pos(idx)}
}

// onlyNS warns about every attribute of an element that defines none.
func (p *parser) onlyNS(e *etree.Element, idx int, who string) {
	for i := range e.Attr {
		if a := &e.Attr[i]; !nsAttr(a) {
			p.unknownAttr(idx, who, a)
		}
	}
}
