package verbs

import (
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// elemSpec describes an element kept as a generic *Element: which
// attributes and children it may have, and how to check attribute values.
type elemSpec struct {
	// attrs lists the known attribute names; nil accepts any, for TeXML
	// extras whose attribute set is not fully documented.
	attrs []string
	// children lists the allowed child elements; nil accepts any child
	// unchecked, and an empty non-nil list allows none.
	children []string
	// verbs converts Say, Play and Pause children to typed verbs as well.
	verbs bool
	// check validates one known attribute value; false drops the value so
	// the platform default applies.
	check func(p *parser, idx int, who string, a *etree.Attr) bool
}

// noNames is an empty, non-nil list: "nothing allowed", as opposed to nil,
// "anything goes".
var noNames = []string{}

// elementSpecs is a read-only table built at package initialisation.
var elementSpecs = map[string]*elemSpec{
	"Pay": {
		attrs: []string{"input", "action", "bankAccountType", "statusCallback", "statusCallbackMethod",
			"timeout", "maxAttempts", "securityCode", "postalCode", "minPostalCodeLength",
			"paymentConnector", "paymentMethod", "tokenType", "chargeAmount", "currency",
			"description", "validCardTypes", "language"},
		children: []string{"Prompt", "Parameter"},
		check:    checkPay,
	},
	"Prompt": {
		attrs:    []string{"for", "errorType", "cardType", "attempt", "requireMatchingInputs"},
		children: []string{"Say", "Play", "Pause"},
		verbs:    true,
		check:    checkPrompt,
	},
	"Sms":           {attrs: []string{"to", "from", "action", "method", "statusCallback"}, children: noNames, check: checkMethods},
	"Echo":          {attrs: noNames, children: noNames},
	"Siprec":        {attrs: []string{"name", "connectorName", "track", "statusCallback", "statusCallbackMethod"}, children: []string{"Parameter"}, check: checkFork},
	"Transcription": {attrs: transcriptionAttrs, children: []string{"Config", "Parameter"}, check: checkFork},
	"Recording": {
		attrs: []string{"name", "recordingStatusCallback", "recordingStatusCallbackMethod", "recordingStatusCallbackEvent",
			"trim", "track", "channels", "recordingConfigurationId"},
		children: noNames,
		check:    checkFork,
	},
	"Suppression": {children: noNames},
	"VirtualAgent": {
		attrs:    []string{"connectorName", "language", "sentimentAnalysis", "statusCallback", "statusCallbackMethod"},
		children: []string{"Config", "Parameter"},
		check:    checkMethods,
	},
	"Room": {attrs: []string{"participantIdentity"}, children: noNames},
	"Conversation": {
		attrs: []string{"serviceInstanceSid", "inboundAutocreation", "routingAssignmentTimeout", "inboundTimeout",
			"url", "method", "record", "trim", "recordingStatusCallback", "recordingStatusCallbackMethod",
			"recordingStatusCallbackEvent", "statusCallback", "statusCallbackMethod", "statusCallbackEvent"},
		children: noNames,
		check:    checkMethods,
	},
	"AiSession":                {attrs: []string{"aiConnector", "aiSessionConfiguration"}, children: noNames},
	"ConversationRelaySession": {attrs: []string{"connector", "sessionConfiguration"}, children: noNames},
	"HttpRequest":              {check: checkHTTPRequest},
	"Parameter":                {attrs: []string{"name", "value"}, children: noNames},
	"Config":                   {attrs: []string{"name", "value"}, children: noNames},
}

// transcriptionAttrs covers Twilio's real-time transcription attributes and
// the documented Telnyx ones.
var transcriptionAttrs = []string{
	"name", "track", "statusCallbackUrl", "statusCallbackMethod", "inboundTrackLabel",
	"outboundTrackLabel", "partialResults", "languageCode", "transcriptionEngine", "speechModel",
	"profanityFilter", "hints", "enableAutomaticPunctuation", "intelligenceService",
	"language", "interimResults", "statusCallback", "model",
}

var (
	paymentMethods   = []string{"credit-card", "ach-debit"}
	tokenTypes       = []string{"one-time", "reusable", "payment-method"}
	bankAccountTypes = []string{"consumer-checking", "consumer-savings", "commercial-checking", "commercial-savings"}
	cardTypes        = []string{"visa", "mastercard", "amex", "maestro", "discover", "optima", "jcb", "diners-club", "enroute"}
	payInputs        = []string{"dtmf"}
	promptFor        = []string{"payment-card-number", "expiration-date", "security-code", "postal-code",
		"payment-processing", "bank-account-number", "bank-routing-number"}
	promptErrors = []string{"timeout", "invalid-card-number", "invalid-card-type", "invalid-date",
		"invalid-security-code", "internal-error", "input-matching-failed"}
)

// checkMethods validates any *Method attribute.
func checkMethods(p *parser, idx int, who string, a *etree.Attr) bool {
	if a.Key == "method" || (len(a.Key) > 6 && a.Key[len(a.Key)-6:] == "Method") {
		return p.checkEnum(idx, who, a, methods)
	}
	return true
}

func checkPay(p *parser, idx int, who string, a *etree.Attr) bool {
	switch a.Key {
	case "input":
		return p.checkEnum(idx, who, a, payInputs)
	case "timeout", "maxAttempts", "minPostalCodeLength":
		return p.checkInt(idx, who, a, 1)
	case "securityCode":
		return p.checkEnum(idx, who, a, boolValues)
	case "paymentMethod":
		return p.checkEnum(idx, who, a, paymentMethods)
	case "tokenType":
		return p.checkEnum(idx, who, a, tokenTypes)
	case "bankAccountType":
		return p.checkEnum(idx, who, a, bankAccountTypes)
	case "validCardTypes":
		return len(p.listAttr(idx, who, a, codeNone, cardTypes)) > 0
	}
	return checkMethods(p, idx, who, a)
}

func checkPrompt(p *parser, idx int, who string, a *etree.Attr) bool {
	switch a.Key {
	case "for":
		return p.checkEnum(idx, who, a, promptFor)
	case "errorType":
		return len(p.listAttr(idx, who, a, codeNone, promptErrors)) > 0
	case "cardType":
		return len(p.listAttr(idx, who, a, codeNone, cardTypes)) > 0
	case "attempt":
		for _, f := range strings.Fields(a.Value) {
			if n, err := strconv.Atoi(f); err != nil || n < 1 {
				p.badValue(idx, who, a, codeNone, "want attempt numbers from 1", "every attempt")
				return false
			}
		}
		return true
	case "requireMatchingInputs":
		return p.checkEnum(idx, who, a, boolValues)
	}
	return true
}

// checkFork validates Siprec, Transcription and Recording attributes.
func checkFork(p *parser, idx int, who string, a *etree.Attr) bool {
	switch a.Key {
	case "track":
		if who == "Recording" {
			return p.checkEnum(idx, who, a, recordingTrackVals)
		}
		return p.checkEnum(idx, who, a, streamTracks)
	case "partialResults", "profanityFilter", "enableAutomaticPunctuation", "interimResults":
		return p.checkEnum(idx, who, a, boolValues)
	case "trim":
		return p.checkEnum(idx, who, a, trimValues)
	case "channels":
		return p.checkEnum(idx, who, a, recordingChannels)
	case "recordingStatusCallbackEvent":
		return len(p.listAttr(idx, who, a, codeRecordingEvent, recordEvents)) > 0
	}
	return checkMethods(p, idx, who, a)
}

func checkHTTPRequest(p *parser, idx int, who string, a *etree.Attr) bool {
	if a.Key == "async" {
		return p.checkEnum(idx, who, a, boolValues)
	}
	return checkMethods(p, idx, who, a)
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// element converts an element without a dedicated type. With a nil spec the
// element and its subtree are kept as written, unchecked.
func (p *parser) element(e *etree.Element, idx int, spec *elemSpec) *Element {
	el := &Element{Pos: p.pos(idx), Tag: elemName(e), Text: text(e)}
	who := el.Tag
	if len(e.Attr) > 0 {
		el.Attrs = make(map[string]string, len(e.Attr))
	}
	for i := range e.Attr {
		a := &e.Attr[i]
		if nsAttr(a) {
			continue
		}
		name := attrName(a)
		known := spec == nil || spec.attrs == nil || (a.Space == "" && contains(spec.attrs, name))
		if !known {
			p.unknownAttr(idx, who, a)
		}
		if known && spec != nil && spec.check != nil && !spec.check(p, idx, who, a) {
			continue
		}
		el.Attrs[name] = a.Value
	}
	structured := spec != nil && spec.children != nil
	ci := idx + 1
	for _, t := range e.Child {
		c, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		name := elemName(c)
		switch {
		case structured && !contains(spec.children, name):
			p.report(p.pos(ci), Error, codeSchema, who+": <"+name+"> cannot be nested here")
		case structured:
			if spec.verbs {
				el.Verbs = append(el.Verbs, p.verb(c, ci, name))
			}
			el.Children = append(el.Children, p.element(c, ci, p.childSpec(spec, name)))
		default:
			el.Children = append(el.Children, p.element(c, ci, nil))
		}
		ci = p.next(ci)
	}
	return el
}

// childSpec returns the spec for a child of a structured element. Typed
// verbs nested in Prompt were already checked by their own converter, so
// their generic copy is not checked again.
func (p *parser) childSpec(parent *elemSpec, name string) *elemSpec {
	if parent.verbs {
		return nil
	}
	return elementSpecs[name]
}
