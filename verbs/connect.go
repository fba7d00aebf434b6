package verbs

import (
	"strings"

	"github.com/beevik/etree"
)

// actionMethod parses the action/method pair shared by Connect, Start and
// Refer. It reports whether it handled a.
func (p *parser) actionMethod(idx int, who string, a *etree.Attr, action, method *string, methodCode int) bool {
	switch a.Key {
	case "action":
		*action = strings.TrimSpace(a.Value)
	case "method":
		*method = p.methodAttr(idx, who, a, methodCode, "POST")
	default:
		return false
	}
	return true
}

// connect converts <Connect>. It holds one session noun.
func (p *parser) connect(e *etree.Element, idx int) *Connect {
	c := &Connect{Pos: p.pos(idx), Method: "POST"}
	const who = "Connect"
	for a := range p.plainAttrs(e, idx, who) {
		switch {
		case p.actionMethod(idx, who, a, &c.Action, &c.Method, codeNone):
		default:
			p.unknownAttr(idx, who, a)
		}
	}
	p.noText(e, idx, who)
	sessions := 0
	ci := idx + 1
	for _, t := range e.Child {
		ch, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		var n Noun
		session := true // false for unknown elements, kept only for reporting
		switch name := elemName(ch); name {
		case "Stream":
			n = p.stream(ch, ci, who)
		case "ConversationRelay":
			n = p.relay(ch, ci)
		case "VirtualAgent", "Room", "Conversation", "AiSession", "ConversationRelaySession", "AIAssistant":
			n = p.element(ch, ci, elementSpecs[name])
		case "Autopilot":
			p.report(p.pos(ci), Warning, codeNone, "Connect: <Autopilot> is deprecated")
			n = p.element(ch, ci, nil)
		default:
			if isKnown(name) {
				p.report(p.pos(ci), Error, codeSchema, "Connect: <"+name+"> cannot be nested here")
			} else {
				p.report(p.pos(ci), Error, codeSchema, "Connect: unknown nested element <"+name+">")
				n, session = p.element(ch, ci, nil), false
			}
		}
		switch {
		case n == nil:
		case session && sessions > 0:
			p.report(p.pos(ci), Error, codeSchema, "Connect: only one session noun is allowed; <"+elemName(ch)+"> is ignored")
		default:
			if session {
				sessions++
			}
			c.Nouns = append(c.Nouns, n)
		}
		ci = p.next(ci)
	}
	if sessions == 0 {
		p.report(c.Pos, Error, codeSchema, "Connect: nothing to connect to")
	}
	return c
}

// start converts <Start>.
func (p *parser) start(e *etree.Element, idx int) *Start {
	s := &Start{Pos: p.pos(idx), Method: "POST"}
	for a := range p.plainAttrs(e, idx, "Start") {
		switch {
		case p.actionMethod(idx, "Start", a, &s.Action, &s.Method, codeNone):
		default:
			p.unknownAttr(idx, "Start", a)
		}
	}
	s.Nouns = p.forkNouns(e, idx, "Start")
	return s
}

// stop converts <Stop>.
func (p *parser) stop(e *etree.Element, idx int) *Stop {
	s := &Stop{Pos: p.pos(idx)}
	p.onlyNS(e, idx, "Stop")
	s.Nouns = p.forkNouns(e, idx, "Stop")
	return s
}

// forkNouns converts the nouns of <Start> or <Stop>.
func (p *parser) forkNouns(e *etree.Element, idx int, who string) []Noun {
	p.noText(e, idx, who)
	var nouns []Noun
	ci := idx + 1
	for _, t := range e.Child {
		ch, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		var n Noun
		switch name := elemName(ch); {
		case name == "Stream":
			n = p.stream(ch, ci, who)
		case name == "Siprec", name == "Transcription", name == "Suppression", name == "Recording":
			n = p.element(ch, ci, elementSpecs[name])
		case isKnown(name):
			p.report(p.pos(ci), Error, codeStartNoun, who+": invalid nested noun <"+name+">")
		default:
			p.report(p.pos(ci), Error, codeStartNoun, who+": unknown nested noun <"+name+">")
			n = p.element(ch, ci, nil)
		}
		if n != nil {
			nouns = append(nouns, n)
		}
		ci = p.next(ci)
	}
	if len(nouns) == 0 {
		p.report(p.pos(idx), Error, codeStartNoun, who+": no noun nested")
	}
	return nouns
}

// stream converts <Stream>; ctx is the enclosing verb, which decides the
// allowed tracks (Connect streams are inbound only).
func (p *parser) stream(e *etree.Element, idx int, ctx string) *Stream {
	s := &Stream{Pos: p.pos(idx), Track: "inbound_track", StatusCallbackMethod: "POST"}
	who := ctx + "->Stream"
	for a := range p.plainAttrs(e, idx, who) {
		switch a.Key {
		case "url":
			s.URL = strings.TrimSpace(a.Value)
		case "name":
			s.StreamName = a.Value
		case "track":
			s.Track = p.enumAttr(idx, who, a, codeStreamTrack, streamTracks, "inbound_track")
			if ctx == "Connect" && s.Track != "inbound_track" {
				p.badValue(idx, who, a, codeStreamTrack, "a Connect stream carries the inbound track only", "inbound_track")
				s.Track = "inbound_track"
			}
		case "statusCallback":
			s.StatusCallback = strings.TrimSpace(a.Value)
		case "statusCallbackMethod":
			s.StatusCallbackMethod = p.methodAttr(idx, who, a, codeNone, "POST")
		case "connectorName":
			s.ConnectorName = a.Value
		case "codec":
			s.Codec = p.enumAttr(idx, who, a, codeNone, streamCodecs, "")
		case "bidirectionalMode":
			s.BidirectionalMode = p.enumAttr(idx, who, a, codeNone, bidiModes, "")
		case "bidirectionalCodec":
			s.BidirectionalCodec = strings.TrimSpace(a.Value)
		case "bidirectionalSamplingRate":
			switch n := p.intAttr(idx, who, a, codeNone, 0, -1, 0); n {
			case 0, 8000, 16000, 24000:
				s.BidirectionalSamplingRate = n
			default:
				p.badValue(idx, who, a, codeNone, "want 8000, 16000 or 24000", "the default rate")
			}
		default:
			p.unknownAttr(idx, who, a)
		}
	}
	s.Params = p.params(e, idx, who)
	p.noText(e, idx, who)
	if ctx != "Stop" && s.URL == "" && s.ConnectorName == "" {
		p.report(s.Pos, Error, codeNone, who+": no url")
	}
	return s
}

// refer converts <Refer>.
func (p *parser) refer(e *etree.Element, idx int) *Refer {
	r := &Refer{Pos: p.pos(idx), Method: "POST"}
	for a := range p.plainAttrs(e, idx, "Refer") {
		switch {
		case p.actionMethod(idx, "Refer", a, &r.Action, &r.Method, codeNone):
		default:
			p.unknownAttr(idx, "Refer", a)
		}
	}
	p.noText(e, idx, "Refer")
	ci := idx + 1
	for _, t := range e.Child {
		ch, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		switch name := elemName(ch); {
		case name == "Sip" && r.Target == nil:
			r.Target = p.sip(ch, ci, "Refer->Sip")
		case name == "Sip":
			p.report(p.pos(ci), Error, codeSchema, "Refer: only one <Sip> target is allowed; this one is ignored")
		default:
			p.report(p.pos(ci), Error, codeSchema, "Refer: <"+name+"> cannot be nested here; nest one <Sip>")
		}
		ci = p.next(ci)
	}
	if r.Target == nil {
		p.report(r.Pos, Error, codeSchema, "Refer: no <Sip> target")
	}
	return r
}

// enqueue converts <Enqueue>.
func (p *parser) enqueue(e *etree.Element, idx int) *Enqueue {
	q := &Enqueue{Pos: p.pos(idx), Method: "POST", WaitURLMethod: "POST"}
	const who = "Enqueue"
	for a := range p.plainAttrs(e, idx, who) {
		switch a.Key {
		case "action":
			q.Action = strings.TrimSpace(a.Value)
		case "method":
			q.Method = p.methodAttr(idx, who, a, codeEnqueueMethod, "POST")
		case "waitUrl":
			q.WaitURL = strings.TrimSpace(a.Value)
		case "waitUrlMethod":
			q.WaitURLMethod = p.methodAttr(idx, who, a, codeEnqueueWaitMeth, "POST")
		case "maxQueueSize":
			q.MaxQueueSize = p.intAttr(idx, who, a, codeNone, 1, -1, 0)
		case "workflowSid":
			q.WorkflowSid = strings.TrimSpace(a.Value)
		default:
			p.unknownAttr(idx, who, a)
		}
	}
	q.Queue = text(e)
	ci := idx + 1
	for _, t := range e.Child {
		ch, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		if name := elemName(ch); name == "Task" {
			p.task(q, ch, ci)
		} else {
			p.report(p.pos(ci), Error, codeSchema, who+": <"+name+"> cannot be nested here")
		}
		ci = p.next(ci)
	}
	switch {
	case q.Queue == "" && q.WorkflowSid == "":
		p.report(q.Pos, Error, codeNone, who+": no queue name")
	case len(q.Queue) > 64:
		p.report(q.Pos, Warning, codeNone, who+": queue names are limited to 64 characters")
	}
	return q
}

// task handles the TaskRouter <Task> child of <Enqueue>.
func (p *parser) task(q *Enqueue, e *etree.Element, idx int) {
	const who = "Enqueue->Task"
	for a := range p.plainAttrs(e, idx, who) {
		switch {
		case a.Key == "priority":
			q.TaskPriority = p.intAttr(idx, who, a, codeNone, 0, -1, 0)
		case a.Key == "timeout":
			q.TaskTimeout = p.intAttr(idx, who, a, codeNone, 1, -1, 0)
		default:
			p.unknownAttr(idx, who, a)
		}
	}
	p.noChildren(e, idx, who)
	q.Task = text(e)
	if q.WorkflowSid == "" {
		p.report(p.pos(idx), Warning, codeNone, who+": <Task> has no effect without workflowSid")
	}
}
