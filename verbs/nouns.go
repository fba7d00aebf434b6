package verbs

import (
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// conference converts <Conference>.
func (p *parser) conference(e *etree.Element, idx int) *Conference {
	c := &Conference{
		Pos: p.pos(idx), Beep: "true", StartConferenceOnEnter: true, WaitMethod: "POST",
		MaxParticipants: 250, Record: "do-not-record", Trim: "trim-silence",
		StatusCallbackMethod: "POST", RecordingStatusCallbackMethod: "POST",
		JitterBufferSize: "large",
	}
	const who = "Dial->Conference"
	for a := range p.plainAttrs(e, idx, who) {
		switch a.Key {
		case "muted":
			c.Muted = p.boolAttr(idx, who, a, codeConfMuted, false)
		case "beep":
			c.Beep = p.enumAttr(idx, who, a, codeConfBeep, beepValues, "true")
		case "startConferenceOnEnter":
			c.StartConferenceOnEnter = p.boolAttr(idx, who, a, codeConfStartEnter, true)
		case "endConferenceOnExit":
			c.EndConferenceOnExit = p.boolAttr(idx, who, a, codeConfEndOnExit, false)
		case "waitUrl":
			c.WaitURL, c.WaitURLSet = strings.TrimSpace(a.Value), true
		case "waitMethod":
			c.WaitMethod = p.methodAttr(idx, who, a, codeConfWaitMethod, "POST")
		case "maxParticipants":
			c.MaxParticipants = p.intAttr(idx, who, a, codeNone, 2, 250, 250)
		case "record":
			c.Record = p.enumAttr(idx, who, a, codeNone, confRecordValues, "do-not-record")
		case "region":
			c.Region = p.enumAttr(idx, who, a, codeNone, regions, "")
		case "coach":
			c.Coach = strings.TrimSpace(a.Value)
		case "trim":
			// Booleans are accepted by Twilio; normalised to the enum.
			switch v := p.enumAttr(idx, who, a, codeConfTrim, confTrimValues, "trim-silence"); v {
			case "true":
				c.Trim = "trim-silence"
			case "false":
				c.Trim = "do-not-trim"
			default:
				c.Trim = v
			}
		case "statusCallback":
			c.StatusCallback = strings.TrimSpace(a.Value)
		case "statusCallbackMethod":
			c.StatusCallbackMethod = p.methodAttr(idx, who, a, codeNone, "POST")
		case "statusCallbackEvent":
			c.StatusCallbackEvent = p.listAttr(idx, who, a, codeNone, confEvents)
		case "recordingStatusCallback":
			c.RecordingStatusCallback = strings.TrimSpace(a.Value)
		case "recordingStatusCallbackMethod":
			c.RecordingStatusCallbackMethod = p.methodAttr(idx, who, a, codeNone, "POST")
		case "recordingStatusCallbackEvent":
			c.RecordingStatusCallbackEvent = p.listAttr(idx, who, a, codeRecordingEvent, recordEvents)
		case "jitterBufferSize":
			c.JitterBufferSize = p.enumAttr(idx, who, a, codeNone, jitterSizes, "large")
		case "participantLabel":
			c.ParticipantLabel = a.Value
		case "eventCallbackUrl", "recordingConfigurationId":
			// Legacy callback and account-side configuration; not modelled.
		default:
			p.unknownAttr(idx, who, a)
		}
	}
	p.noChildren(e, idx, who)
	c.Room = text(e)
	if n := utf8.RuneCountInString(c.Room); n == 0 || n > 128 {
		p.report(c.Pos, Error, codeConfName, who+": the conference name must be 1 to 128 characters")
	}
	return c
}

// queue converts <Queue> inside <Dial>.
func (p *parser) queue(e *etree.Element, idx int) *Queue {
	q := &Queue{Pos: p.pos(idx), Method: "POST"}
	const who = "Dial->Queue"
	for a := range p.plainAttrs(e, idx, who) {
		switch {
		case a.Key == "url":
			q.URL = strings.TrimSpace(a.Value)
		case a.Key == "method":
			q.Method = p.methodAttr(idx, who, a, codeNone, "POST")
		case a.Key == "reservationSid", a.Key == "postWorkActivitySid":
			// TaskRouter bookkeeping; not modelled.
		default:
			p.unknownAttr(idx, who, a)
		}
	}
	p.noChildren(e, idx, who)
	q.Queue = text(e)
	if q.Queue == "" {
		p.report(q.Pos, Error, codeNone, who+": no queue name")
	}
	return q
}

// application converts <Application>: the SID is the body or an
// <ApplicationSid> child.
func (p *parser) application(e *etree.Element, idx int) *Application {
	ap := &Application{Pos: p.pos(idx), Endpoint: defaultEndpoint()}
	const who = "Dial->Application"
	for a := range p.plainAttrs(e, idx, who) {
		switch {
		case p.endpointAttr(idx, who, a, &ap.Endpoint, codeNone, false):
		case a.Key == "customerId":
			ap.CustomerID = a.Value
			if utf8.RuneCountInString(a.Value) > 256 {
				p.report(p.attrPos(idx, a.Key), Warning, codeNone, who+": customerId is longer than 256 characters")
			}
		case a.Key == "copyParentTo":
			ap.CopyParentTo = p.boolAttr(idx, who, a, codeNone, false)
		default:
			p.unknownAttr(idx, who, a)
		}
	}
	finishEndpoint(&ap.Endpoint)
	ap.ApplicationSid, ap.Params = p.idAndParams(e, idx, who, "ApplicationSid", "no application SID")
	return ap
}

// sim converts <Sim>.
func (p *parser) sim(e *etree.Element, idx int) *Sim {
	s := &Sim{Pos: p.pos(idx)}
	p.onlyNS(e, idx, "Dial->Sim")
	p.noChildren(e, idx, "Dial->Sim")
	s.Sid = text(e)
	if s.Sid == "" {
		p.report(s.Pos, Error, codeNone, "Dial->Sim: no SIM SID")
	}
	return s
}

// whatsApp converts <WhatsApp>.
func (p *parser) whatsApp(e *etree.Element, idx int) *WhatsApp {
	w := &WhatsApp{Pos: p.pos(idx), Endpoint: defaultEndpoint()}
	const who = "Dial->WhatsApp"
	for a := range p.plainAttrs(e, idx, who) {
		switch {
		case p.endpointAttr(idx, who, a, &w.Endpoint, codeNone, false):
		default:
			p.unknownAttr(idx, who, a)
		}
	}
	finishEndpoint(&w.Endpoint)
	p.noChildren(e, idx, who)
	w.Number = text(e)
	if w.Number == "" {
		p.report(w.Pos, Error, codeNone, who+": no number")
	}
	return w
}
