package verbs

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// maxParallel is how many Number/Client/Sip nouns one Dial may ring.
const maxParallel = 10

// dial converts <Dial> and its nouns.
func (p *parser) dial(e *etree.Element, idx int) *Dial {
	d := &Dial{
		Pos: p.pos(idx), Method: "POST", Timeout: 30, TimeLimit: 14400,
		Record: "do-not-record", RecordingTrack: "both", RecordingStatusCallbackMethod: "POST",
		Trim: "do-not-trim", RingTone: "us", ReferMethod: "POST",
	}
	const who = "Dial"
	for a := range p.plainAttrs(e, idx, who) {
		switch a.Key {
		case "action":
			d.Action = strings.TrimSpace(a.Value)
		case "method":
			d.Method = p.methodAttr(idx, who, a, codeDialMethod, "POST")
		case "timeout":
			d.Timeout = p.intAttr(idx, who, a, codeDialTimeout, 1, -1, 30)
		case "callerId":
			d.CallerID = strings.TrimSpace(a.Value)
		case "callReason":
			d.CallReason = a.Value
		case "hangupOnStar":
			d.HangupOnStar = p.boolAttr(idx, who, a, codeDialHangupStar, false)
		case "timeLimit":
			d.TimeLimit = p.intAttr(idx, who, a, codeDialTimeLimit, 1, -1, 14400)
		case "record":
			// The legacy booleans are normalised so the interpreter sees
			// one vocabulary.
			switch v := p.enumAttr(idx, who, a, codeDialRecord, dialRecordValues, "do-not-record"); v {
			case "true":
				d.Record = "record-from-answer"
			case "false":
				d.Record = "do-not-record"
			default:
				d.Record = v
			}
		case "recordingTrack":
			d.RecordingTrack = p.enumAttr(idx, who, a, codeNone, recordingTracks, "both")
		case "recordingStatusCallback":
			d.RecordingStatusCallback = strings.TrimSpace(a.Value)
		case "recordingStatusCallbackMethod":
			d.RecordingStatusCallbackMethod = p.methodAttr(idx, who, a, codeNone, "POST")
		case "recordingStatusCallbackEvent":
			d.RecordingStatusCallbackEvent = p.listAttr(idx, who, a, codeRecordingEvent, recordEvents, "completed")
		case "trim":
			d.Trim = p.enumAttr(idx, who, a, codeNone, trimValues, "do-not-trim")
		case "answerOnBridge":
			d.AnswerOnBridge = p.boolAttr(idx, who, a, codeDialAnswerOnBr, false)
		case "ringTone":
			d.RingTone = p.enumAttr(idx, who, a, codeDialRingTone, ringTones, "us")
		case "sequential":
			d.Sequential = p.boolAttr(idx, who, a, codeDialSequential, false)
		case "referUrl":
			d.ReferURL = strings.TrimSpace(a.Value)
		case "referMethod":
			d.ReferMethod = p.methodAttr(idx, who, a, codeNone, "POST")
		case "events":
			d.Events = a.Value
		case "fromDisplayName":
			d.FromDisplayName = a.Value
			if utf8.RuneCountInString(a.Value) > 128 {
				p.report(p.attrPos(idx, a.Key), Warning, codeNone, "Dial: fromDisplayName is longer than 128 characters")
			}
		case "recordingConfigurationId", "passports":
			// Account-side configuration and SHAKEN passports; not modelled.
		default:
			p.unknownAttr(idx, who, a)
		}
	}
	if d.RecordingStatusCallbackEvent == nil {
		d.RecordingStatusCallbackEvent = []string{"completed"}
	}
	p.dialRanges(d, idx)
	var dropped bool
	d.Nouns, dropped = p.dialNouns(e, idx)
	body := text(e)
	switch {
	case body != "" && (len(d.Nouns) > 0 || dropped):
		p.report(d.Pos, Warning, codeDialNested, "Dial: the text body is ignored because nouns are nested")
	case body != "":
		n := &Number{Pos: d.Pos, Endpoint: defaultEndpoint(), Number: body}
		finishEndpoint(&n.Endpoint)
		d.Nouns = []Noun{n}
	case len(d.Nouns) == 0 && !dropped:
		// A Dial left empty by dropped nouns was reported with them; it
		// fails at once (DialCallStatus=failed) without ringing anyone.
		p.report(d.Pos, Error, codeSchema, "Dial: nothing to dial; give a number or nest a noun")
	}
	return d
}

// dialRanges clamps timeout and timeLimit to the dialect's ranges, as
// the platforms use the nearest allowed value, and warns when a written
// value was outside them (Twilio's 13212 and 13216).
func (p *parser) dialRanges(d *Dial, idx int) {
	if v := p.dialect.RingTimeout(d.Timeout); v != d.Timeout {
		lo, hi := p.dialect.RingTimeoutRange()
		p.report(p.attrPos(idx, "timeout"), Warning, codeDialTimeout, "Dial: timeout "+strconv.Itoa(d.Timeout)+
			" is outside "+p.dialect.String()+"'s "+strconv.Itoa(lo)+"-"+strconv.Itoa(hi)+" seconds; using "+strconv.Itoa(v))
		d.Timeout = v
	}
	if v := p.dialect.TimeLimit(d.TimeLimit); v != d.TimeLimit {
		lo, hi := p.dialect.TimeLimitRange()
		p.report(p.attrPos(idx, "timeLimit"), Warning, codeDialTimeLimit, "Dial: timeLimit "+strconv.Itoa(d.TimeLimit)+
			" is outside "+p.dialect.String()+"'s "+strconv.Itoa(lo)+"-"+strconv.Itoa(hi)+" seconds; using "+strconv.Itoa(v))
		d.TimeLimit = v
	}
}

// dialNouns converts the nested nouns of <Dial>, enforcing the mixing
// rules: the first noun wins over later ones that conflict with it. A
// Client without an identity is reported and dropped, since there is no
// one to ring; dropped says whether any noun was.
func (p *parser) dialNouns(e *etree.Element, idx int) (nouns []Noun, dropped bool) {
	exclusive, kept, parallel := "", 0, 0
	ci := idx + 1
	for _, t := range e.Child {
		c, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		name := elemName(c)
		var n Noun
		switch name {
		case "Number":
			n = p.number(c, ci)
		case "Client":
			if !p.dialect.Supports(name) {
				// Telnyx registers no clients: the noun is skipped, as
				// the nouns texml cannot dial are, and the Dial fails
				// when nothing else is left to ring.
				p.report(p.pos(ci), Error, codeDialNested, "Dial: <Client> is not supported in TeXML; it is skipped")
				dropped = true
				ci = p.next(ci)
				continue
			}
			if cl := p.client(c, ci); cl.Identity != "" {
				n = cl
			} else {
				dropped = true
				ci = p.next(ci)
				continue
			}
		case "Sip":
			n = p.sip(c, ci, "Dial->Sip")
		case "Conference":
			n = p.conference(c, ci)
		case "Queue":
			n = p.queue(c, ci)
		case "Application":
			n = p.application(c, ci)
		case "Sim":
			n = p.sim(c, ci)
		case "WhatsApp":
			n = p.whatsApp(c, ci)
		default:
			if isKnown(name) {
				p.report(p.pos(ci), Error, codeDialNested, "Dial: invalid nested element <"+name+">")
			} else {
				// Kept so the interpreter can name it when it skips it.
				p.report(p.pos(ci), Error, codeDialNested, "Dial: unknown nested element <"+name+">")
				nouns = append(nouns, p.element(c, ci, nil))
			}
			ci = p.next(ci)
			continue
		}
		single := name == "Conference" || name == "Queue" || name == "Application"
		switch {
		case exclusive != "":
			p.report(p.pos(ci), Error, codeDialNested, "Dial: <"+name+"> cannot be combined with <"+exclusive+">; it is ignored")
		case single && kept > 0:
			p.report(p.pos(ci), Error, codeDialNested, "Dial: <"+name+"> must be the only noun; it is ignored")
		case (name == "Number" || name == "Client" || name == "Sip") && parallel == maxParallel:
			p.report(p.pos(ci), Error, codeNone,
				"Dial: at most "+strconv.Itoa(maxParallel)+" Number, Client and Sip nouns ring at once; <"+name+"> is ignored")
		default:
			if single {
				exclusive = name
			}
			if name == "Number" || name == "Client" || name == "Sip" {
				parallel++
			}
			kept++
			nouns = append(nouns, n)
		}
		ci = p.next(ci)
	}
	return nouns, dropped
}

// defaultEndpoint returns the Endpoint defaults.
func defaultEndpoint() Endpoint {
	return Endpoint{Method: "POST", StatusCallbackMethod: "POST"}
}

// endpointAttr handles an attribute shared by Number, Client, Sip,
// Application and WhatsApp. It returns false for attributes it does not know.
func (p *parser) endpointAttr(idx int, who string, a *etree.Attr, ep *Endpoint, methodCode int, amd bool) bool {
	switch a.Key {
	case "url":
		ep.URL = strings.TrimSpace(a.Value)
	case "method":
		ep.Method = p.methodAttr(idx, who, a, methodCode, "POST")
	case "statusCallback":
		ep.StatusCallback = strings.TrimSpace(a.Value)
	case "statusCallbackMethod":
		ep.StatusCallbackMethod = p.methodAttr(idx, who, a, codeNone, "POST")
	case "statusCallbackEvent":
		ep.StatusCallbackEvent = p.listAttr(idx, who, a, codeNone, callEvents, "completed")
	default:
		if !amd {
			return false
		}
		switch a.Key {
		case "machineDetection":
			ep.MachineDetection = p.enumAttr(idx, who, a, codeNone, amdValues, "")
		case "amdStatusCallback":
			ep.AMDStatusCallback = strings.TrimSpace(a.Value)
		case "amdStatusCallbackMethod":
			ep.AMDStatusCallbackMethod = p.methodAttr(idx, who, a, codeNone, "POST")
		case "machineDetectionTimeout":
			ep.MachineDetectionTimeout = p.intAttr(idx, who, a, codeNone, 3, 60, 30)
		case "machineDetectionSpeechThreshold":
			ep.MachineDetectionSpeechThreshold = p.intAttr(idx, who, a, codeNone, 1000, 6000, 2400)
		case "machineDetectionSpeechEndThreshold":
			ep.MachineDetectionSpeechEndThreshold = p.intAttr(idx, who, a, codeNone, 500, 5000, 1200)
		case "machineDetectionSilenceTimeout":
			ep.MachineDetectionSilenceTimeout = p.intAttr(idx, who, a, codeNone, 2000, 10000, 5000)
		case "asyncAmd", "asyncAmdStatusCallback", "asyncAmdStatusCallbackMethod":
			// The Call resource's names: TwiML takes amdStatusCallback,
			// and detection there is asynchronous already (Twilio's
			// warning 21263, https://www.twilio.com/docs/api/errors/21263).
			p.report(p.attrPos(idx, attrName(a)), Warning, codeAMDParams,
				who+": "+quote(attrName(a))+" is a Calls API parameter; a <Dial> noun takes amdStatusCallback and amdStatusCallbackMethod, and ignores it")
		default:
			return false
		}
	}
	return true
}

// finishEndpoint applies the statusCallbackEvent default.
func finishEndpoint(ep *Endpoint) {
	if ep.StatusCallbackEvent == nil {
		ep.StatusCallbackEvent = []string{"completed"}
	}
}

// number converts <Number>.
func (p *parser) number(e *etree.Element, idx int) *Number {
	n := &Number{Pos: p.pos(idx), Endpoint: defaultEndpoint()}
	const who = "Dial->Number"
	for a := range p.plainAttrs(e, idx, who) {
		switch {
		case p.endpointAttr(idx, who, a, &n.Endpoint, codeNumberMethod, true):
		case a.Key == "sendDigits":
			if v := strings.TrimSpace(a.Value); digitsOK(v, "0123456789*#wW") {
				n.SendDigits = v
			} else {
				p.badValue(idx, who, a, codeNumberDigits, "want only 0-9, *, #, w and W", "no digits")
			}
		case a.Key == "byoc":
			n.BYOC = strings.TrimSpace(a.Value)
		default:
			p.unknownAttr(idx, who, a)
		}
	}
	finishEndpoint(&n.Endpoint)
	p.noChildren(e, idx, who)
	n.Number = text(e)
	if n.Number == "" {
		p.report(n.Pos, Error, codeNumberFormat, who+": no phone number")
	}
	return n
}

// client converts <Client>: the identity is the body or an <Identity> child.
func (p *parser) client(e *etree.Element, idx int) *Client {
	c := &Client{Pos: p.pos(idx), Endpoint: defaultEndpoint()}
	const who = "Dial->Client"
	for a := range p.plainAttrs(e, idx, who) {
		switch {
		case p.endpointAttr(idx, who, a, &c.Endpoint, codeNone, false):
		default:
			p.unknownAttr(idx, who, a)
		}
	}
	finishEndpoint(&c.Endpoint)
	c.Identity, c.Params = p.idAndParams(e, idx, who, "Identity", "no client identity")
	return c
}

// idAndParams reads what <Client> and <Application> share: an id that is
// the body or the first idTag child, and <Parameter> children. A missing
// id is reported with missing.
func (p *parser) idAndParams(e *etree.Element, idx int, who, idTag, missing string) (string, []Param) {
	id := text(e)
	var params []Param
	ci := idx + 1
	for _, t := range e.Child {
		ch, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		switch name := elemName(ch); name {
		case idTag:
			p.onlyNS(ch, ci, who+"->"+idTag)
			p.noChildren(ch, ci, who+"->"+idTag)
			if id == "" {
				id = text(ch)
			}
		case "Parameter":
			params = append(params, p.param(ch, ci, who))
		default:
			p.report(p.pos(ci), Error, codeSchema, who+": <"+name+"> cannot be nested here")
		}
		ci = p.next(ci)
	}
	if id == "" {
		p.report(p.pos(idx), Error, codeNone, who+": "+missing)
	}
	return id, params
}

// sip converts <Sip>, in <Dial> or <Refer>. The URI is the body or the
// first <Uri> child; headers come from <Headers><Header name value/>.
func (p *parser) sip(e *etree.Element, idx int, who string) *Sip {
	s := &Sip{Pos: p.pos(idx), Endpoint: defaultEndpoint()}
	for a := range p.plainAttrs(e, idx, who) {
		switch {
		case p.endpointAttr(idx, who, a, &s.Endpoint, codeSipMethod, true):
		case a.Key == "username":
			s.Username = a.Value
		case a.Key == "password":
			s.Password = a.Value
		default:
			p.unknownAttr(idx, who, a)
		}
	}
	finishEndpoint(&s.Endpoint)
	s.URI = text(e)
	ci := idx + 1
	for _, t := range e.Child {
		ch, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		switch name := elemName(ch); name {
		case "Uri":
			p.sipURI(s, ch, ci, who)
		case "Headers":
			p.onlyNS(ch, ci, who+"->Headers")
			hi := ci + 1
			for _, ht := range ch.Child {
				h, ok := ht.(*etree.Element)
				if !ok {
					continue
				}
				if hn := elemName(h); hn == "Header" {
					s.Headers = append(s.Headers, p.param(h, hi, who+"->Headers"))
				} else {
					p.report(p.pos(hi), Error, codeSchema, who+"->Headers: <"+hn+"> cannot be nested here")
				}
				hi = p.next(hi)
			}
		default:
			p.report(p.pos(ci), Error, codeSchema, who+": <"+name+"> cannot be nested here")
		}
		ci = p.next(ci)
	}
	switch low := strings.ToLower(s.URI); {
	case s.URI == "":
		p.report(s.Pos, Error, codeNone, who+": no SIP URI")
	case !strings.HasPrefix(low, "sip:") && !strings.HasPrefix(low, "sips:"):
		p.report(s.Pos, Error, codeNone, who+": URI "+quote(s.URI)+" does not start with sip: or sips:")
	}
	return s
}

// sipURI handles a <Uri> child of <Sip>; only the first one is dialled.
func (p *parser) sipURI(s *Sip, e *etree.Element, idx int, who string) {
	who += "->Uri"
	first := s.URI == ""
	for a := range p.plainAttrs(e, idx, who) {
		switch {
		case a.Key == "username":
			if first && s.Username == "" {
				s.Username = a.Value
			}
		case a.Key == "password":
			if first && s.Password == "" {
				s.Password = a.Value
			}
		case (a.Key == "priority" || a.Key == "weight"):
			p.intAttr(idx, who, a, codeNone, 0, -1, 0)
		default:
			p.unknownAttr(idx, who, a)
		}
	}
	p.noChildren(e, idx, who)
	if first {
		s.URI = text(e)
	}
}
