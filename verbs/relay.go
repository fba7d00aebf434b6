package verbs

import (
	"strconv"
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
	// debugValues are the options of debug (and of events, which names
	// the same ones), a list separated by spaces
	// (https://www.twilio.com/docs/voice/twiml/connect/conversationrelay).
	debugValues = []string{"debugging", "speaker-events", "tokens-played"}
)

// RelayDebugOptions splits a ConversationRelay debug or events value into
// its options, lower case; commas separate them as well as spaces.
func RelayDebugOptions(v string) []string {
	return strings.FieldsFunc(strings.ToLower(v), func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' })
}

// Bounds of ConversationRelay's speechTimeout, in milliseconds: the
// noun's page gives "auto" or a number of milliseconds in this range
// (https://www.twilio.com/docs/voice/twiml/connect/conversationrelay).
const (
	RelaySpeechTimeoutMin = 600
	RelaySpeechTimeoutMax = 5000
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
		switch name {
		case "debug", "events":
			if v := p.relayDebug(idx, who, a); v != "" {
				r.Attrs[name] = v
			}
			continue
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
	case "speechTimeout":
		v := strings.TrimSpace(a.Value)
		if n, err := strconv.Atoi(v); strings.EqualFold(v, "auto") || err == nil && n >= RelaySpeechTimeoutMin && n <= RelaySpeechTimeoutMax {
			return true
		}
		p.badValue(idx, who, a, codeNone, "want auto or "+strconv.Itoa(RelaySpeechTimeoutMin)+"-"+strconv.Itoa(RelaySpeechTimeoutMax)+" (milliseconds)", "the default (auto)")
		return false
	default:
		return true
	}
	if _, ok := canonical(strings.TrimSpace(a.Value), allowed); ok {
		return true
	}
	p.badValue(idx, who, a, codeNone, "want one of "+strings.Join(allowed, ", "), "the default")
	return false
}

// relayDebug validates a debug or events list: the options it knows are
// kept, each other one is reported and left out.
func (p *parser) relayDebug(idx int, who string, a *etree.Attr) string {
	var keep, bad []string
	for _, o := range RelayDebugOptions(a.Value) {
		if _, ok := canonical(o, debugValues); ok {
			keep = append(keep, o)
		} else {
			bad = append(bad, o)
		}
	}
	if len(bad) > 0 || len(keep) == 0 && strings.TrimSpace(a.Value) != "" {
		used := "none"
		if len(keep) > 0 {
			used = strings.Join(keep, " ")
		}
		p.badValue(idx, who, a, codeNone, "want a list of "+strings.Join(debugValues, ", "), used)
	}
	return strings.Join(keep, " ")
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
