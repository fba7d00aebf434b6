package verbs

import (
	"github.com/beevik/etree"
)

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
	for a := range p.plainAttrs(e, idx, who) {
		switch {
		case a.Key == "name":
			pr.Name, hasName = a.Value, true
		case a.Key == "value":
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
	for a := range p.plainAttrs(e, idx, "Reject") {
		switch {
		case a.Key == "reason":
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
	for a := range p.plainAttrs(e, idx, "Redirect") {
		switch {
		case a.Key == "method":
			r.Method = p.methodAttr(idx, "Redirect", a, codeRedirectMethod, "POST")
		default:
			p.unknownAttr(idx, "Redirect", a)
		}
	}
	p.noChildren(e, idx, "Redirect")
	// An empty body is valid: it re-requests the current document (an
	// empty reference resolves to the base URL, RFC 3986 §5.2).
	r.URL = text(e)
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
