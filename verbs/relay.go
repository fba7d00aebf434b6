package verbs

import (
	"strings"

	"github.com/beevik/etree"
)

// relayAttrs are the canonical ConversationRelay attribute names. Helper
// libraries disagree on their case (the Node library declares several in all
// lower case), so names are matched ignoring case and stored canonically.
var relayAttrs = []string{
	"url", "welcomeGreeting", "welcomeGreetingInterruptible", "language",
	"ttsLanguage", "transcriptionLanguage", "ttsProvider", "voice",
	"transcriptionProvider", "speechModel", "interruptible", "interruptSensitivity",
	"preemptible", "dtmfDetection", "partialPrompts", "reportInputDuringAgentSpeech",
	"profanityFilter", "hints", "intelligenceService", "elevenlabsTextNormalization",
	"debug", "events", "backgroundNoiseReduction", "speechTimeout",
	"deepgramSmartFormat", "ignoreBackchannel",
}

// relayLanguageAttrs are the attributes of a ConversationRelay <Language>.
var relayLanguageAttrs = []string{"code", "ttsProvider", "voice", "transcriptionProvider", "speechModel"}

var (
	interruptValues     = []string{"none", "dtmf", "speech", "any", "true", "false"}
	sensitivityValues   = []string{"low", "medium", "high"}
	normalizationValues = []string{"on", "off", "auto"}
	boolValues          = []string{"true", "false"}
)

// relay converts <ConversationRelay>.
func (p *parser) relay(e *etree.Element, idx int) *ConversationRelay {
	r := &ConversationRelay{Pos: p.pos(idx), Attrs: make(map[string]string, len(e.Attr))}
	const who = "Connect->ConversationRelay"
	for i := range e.Attr {
		a := &e.Attr[i]
		if nsAttr(a) {
			continue
		}
		name, known := canonical(attrName(a), relayAttrs)
		if !known {
			name = attrName(a)
			p.unknownAttr(idx, who, a)
		}
		if p.relayValueOK(idx, who, name, a) {
			r.Attrs[name] = a.Value
		}
	}
	r.URL = strings.TrimSpace(r.Attrs["url"])
	if r.URL == "" {
		p.report(r.Pos, Error, codeNone, who+": no url")
	}
	p.noText(e, idx, who)
	ci := idx + 1
	for _, t := range e.Child {
		ch, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		switch name := elemName(ch); name {
		case "Language":
			r.Languages = append(r.Languages, p.relayLanguage(ch, ci, who))
		case "Parameter":
			r.Params = append(r.Params, p.param(ch, ci, who))
		default:
			p.report(p.pos(ci), Error, codeSchema, who+": <"+name+"> cannot be nested here")
		}
		ci = p.next(ci)
	}
	return r
}

// relayValueOK validates the enumerated and boolean relay attributes. An
// invalid value is reported and left out of Attrs, so the platform default
// applies.
func (p *parser) relayValueOK(idx int, who, name string, a *etree.Attr) bool {
	var allowed []string
	switch name {
	case "welcomeGreetingInterruptible", "interruptible", "reportInputDuringAgentSpeech":
		allowed = interruptValues
	case "interruptSensitivity":
		allowed = sensitivityValues
	case "elevenlabsTextNormalization":
		allowed = normalizationValues
	case "preemptible", "dtmfDetection", "partialPrompts", "profanityFilter",
		"deepgramSmartFormat", "ignoreBackchannel":
		allowed = boolValues
	default:
		return true
	}
	if _, ok := canonical(strings.TrimSpace(a.Value), allowed); ok {
		return true
	}
	p.badValue(idx, who, a, codeNone, "want one of "+strings.Join(allowed, ", "), "the default")
	return false
}

// relayLanguage converts a ConversationRelay <Language> into a map keyed by
// canonical attribute names.
func (p *parser) relayLanguage(e *etree.Element, idx int, who string) map[string]string {
	who += "->Language"
	m := make(map[string]string, len(e.Attr))
	for i := range e.Attr {
		a := &e.Attr[i]
		if nsAttr(a) {
			continue
		}
		name, known := canonical(attrName(a), relayLanguageAttrs)
		if !known {
			name = attrName(a)
			p.unknownAttr(idx, who, a)
		}
		m[name] = a.Value
	}
	if m["code"] == "" {
		p.report(p.pos(idx), Error, codeNone, who+": no code attribute")
	}
	p.noChildren(e, idx, who)
	return m
}
