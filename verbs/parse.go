package verbs

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// parser carries the state of one Parse call. It is never shared, so Parse
// is safe for concurrent use.
type parser struct {
	src  []byte // the document as UTF-8; all offsets refer to it
	recs []elemRec
	kind Kind
	// dialect picks the defaults and checks that differ between Twilio
	// and Telnyx (dialect.go).
	dialect Dialect
	diags   []Diagnostic
	// dropped counts diagnostics beyond maxDiagnostics.
	dropped int
	zero    elemRec // returned for out-of-range indices so lookups never panic
	cursor  attrCursor
}

// maxDiagnostics bounds the findings kept for one document. Past it a
// hostile or generated document would only cost memory and time; one final
// warning says how many more there were.
const maxDiagnostics = 1000

// Parse parses a TwiML/TeXML voice document fetched in the given context.
//
// It returns a *ParseError (code 12100) when the document cannot run at all:
// malformed XML, a root other than <Response>, more than MaxDocumentSize
// bytes, nesting deeper than MaxDepth, or an unsupported encoding. Every
// other problem becomes a Diagnostic in the returned Document, and the
// offending element is dropped or its attribute defaulted, as Twilio does.
// It parses TwiML; Dialect.Parse parses TeXML.
func Parse(data []byte, kind Kind) (*Document, error) { return parse(data, kind, TwiML) }

func parse(data []byte, kind Kind, dialect Dialect) (*Document, error) {
	if len(data) > MaxDocumentSize {
		return nil, fatal(Pos{1, 1}, "document is "+strconv.Itoa(len(data))+
			" bytes, over the limit of "+strconv.Itoa(MaxDocumentSize), nil)
	}
	cs, csName := detectCharset(data)
	if cs == csUnknown {
		return nil, fatal(Pos{1, 1}, "unsupported encoding "+quote(csName), nil)
	}
	src := toUTF8(data, cs)
	if onlySpace(src, true) {
		return nil, fatal(Pos{1, 1}, "empty document", nil)
	}
	res, perr := scan(src)
	if perr != nil {
		return nil, perr
	}
	if err := checkRoot(src, &res); err != nil {
		return nil, err
	}
	input := src
	if res.compact != nil {
		input = res.compact
	}
	tree := etree.NewDocument()
	tree.ReadSettings = etree.ReadSettings{
		CharsetReader: passThroughCharset,
		MaxDepth:      MaxDepth,
		// Duplicates were already rejected by the scanner; this skips
		// etree's per-element map of attribute names.
		PreserveDuplicateAttrs: true,
	}
	if err := tree.ReadFromBytes(input); err != nil {
		return nil, locateError(src, err)
	}
	root := tree.Root()
	if root == nil {
		return nil, fatal(Pos{1, 1}, "malformed XML: no root element", nil)
	}
	p := &parser{src: src, recs: res.recs, kind: kind, dialect: dialect, zero: elemRec{pos: Pos{1, 1}}}
	if !p.consistent(root) {
		p.recs = p.rebuildRecs(root)
	}
	doc := &Document{}
	doc.Verbs = p.response(root)
	if p.dropped > 0 {
		last := p.diags[len(p.diags)-1].Pos
		p.diags = append(p.diags, Diagnostic{Pos: last, Severity: Warning,
			Message: strconv.Itoa(p.dropped) + " more diagnostics were not reported"})
	}
	doc.Diagnostics = p.diags
	return doc, nil
}

// fatal builds a ParseError for a document that cannot run.
func fatal(pos Pos, msg string, cause error) *ParseError {
	if pos.Line < 1 {
		pos = Pos{1, 1}
	}
	return &ParseError{Pos: pos, Code: codeParse, Message: msg, Err: cause}
}

// checkRoot rejects documents without a root element or with text outside
// it, before any tree is built. The scanner has already checked the root's
// name and that there is only one.
func checkRoot(src []byte, res *scanResult) *ParseError {
	if len(res.recs) == 0 {
		return fatal(Pos{1, 1}, "malformed XML: no root element", nil)
	}
	if res.stray >= 0 {
		c := newLineCursor(src)
		return fatal(c.at(res.stray), "malformed XML: text outside the <Response> element", nil)
	}
	return nil
}

// locateError finds where a document etree rejected goes wrong. etree's
// errors carry at most a line, so the slow path re-reads the source with a
// bare decoder and tracks offsets; it runs only for broken documents.
func locateError(src []byte, cause error) *ParseError {
	dec := xml.NewDecoder(bytes.NewReader(src))
	dec.Strict = true
	dec.CharsetReader = passThroughCharset
	var stack []xml.Name
	cur := newLineCursor(src)
	for {
		off := int(dec.InputOffset())
		tok, err := dec.RawToken()
		if err == io.EOF {
			if len(stack) > 0 {
				return fatal(cur.at(len(src)), "malformed XML: <"+qname(stack[len(stack)-1])+
					"> is not closed", cause)
			}
			break
		}
		if err != nil {
			msg := err.Error()
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				msg = se.Msg
			}
			return fatal(cur.at(int(dec.InputOffset())), "malformed XML: "+msg, cause)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name)
		case xml.EndElement:
			if len(stack) == 0 || stack[len(stack)-1] != t.Name {
				return fatal(cur.at(off), "malformed XML: unexpected </"+qname(t.Name)+">", cause)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if errors.Is(cause, etree.ErrMaxDepth) {
		return fatal(Pos{1, 1}, "document nested deeper than the limit of "+itoa(MaxDepth)+" elements", cause)
	}
	return fatal(Pos{1, 1}, "malformed XML: "+cause.Error(), cause)
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

func itoa(n int) string { return strconv.Itoa(n) }

// consistent checks that the scanner's records line up with etree's tree:
// same element count, names and subtree extents. They always do for
// documents etree accepts unless the scanner misread an exotic construct.
func (p *parser) consistent(root *etree.Element) bool {
	end, ok := p.walkCheck(root, 0)
	return ok && end == len(p.recs)
}

func (p *parser) walkCheck(e *etree.Element, i int) (int, bool) {
	if i >= len(p.recs) || !sameName(p.recs[i].name(p.src), e) {
		return i, false
	}
	ci := i + 1
	for _, t := range e.Child {
		if c, ok := t.(*etree.Element); ok {
			var good bool
			if ci, good = p.walkCheck(c, ci); !good {
				return ci, false
			}
		}
	}
	return ci, ci == p.recs[i].next
}

// sameName compares a raw tag name with an etree element without building
// the prefixed name.
func sameName(raw []byte, e *etree.Element) bool {
	if e.Space == "" {
		return string(raw) == e.Tag
	}
	return len(raw) == len(e.Space)+1+len(e.Tag) &&
		string(raw[:len(e.Space)]) == e.Space && raw[len(e.Space)] == ':' &&
		string(raw[len(e.Space)+1:]) == e.Tag
}

// rebuildRecs recomputes the records with the standard decoder, which
// reports exact token offsets. If even that disagrees with the tree, the
// records are derived from the tree alone and every position is 1:1, which
// keeps diagnostics valid if imprecise.
func (p *parser) rebuildRecs(root *etree.Element) []elemRec {
	if recs, ok := decoderRecs(p.src); ok {
		p.recs = recs
		if p.consistent(root) {
			return recs
		}
	}
	var recs []elemRec
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		idx := len(recs)
		recs = append(recs, elemRec{pos: Pos{1, 1}})
		for _, t := range e.Child {
			if c, ok := t.(*etree.Element); ok {
				walk(c)
			}
		}
		recs[idx].next = len(recs)
	}
	walk(root)
	return recs
}

// decoderRecs builds records from a bare decoder's token offsets.
func decoderRecs(src []byte) ([]elemRec, bool) {
	dec := xml.NewDecoder(bytes.NewReader(src))
	dec.Strict = true
	dec.CharsetReader = passThroughCharset
	cur := newLineCursor(src)
	var recs []elemRec
	var stack []int
	for {
		off := int(dec.InputOffset())
		tok, err := dec.RawToken()
		if err == io.EOF {
			return recs, len(stack) == 0
		}
		if err != nil {
			return nil, false
		}
		after := int(dec.InputOffset())
		switch t := tok.(type) {
		case xml.StartElement:
			name := off + 1 + len(qname(t.Name))
			recs = append(recs, elemRec{start: off, nameEnd: name, tagEnd: after, pos: cur.at(off)})
			stack = append(stack, len(recs)-1)
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, false
			}
			r := &recs[stack[len(stack)-1]]
			stack = stack[:len(stack)-1]
			r.closeStart, r.end, r.next = off, after, len(recs)
			if off == r.tagEnd && after == off {
				// Self-closing: the decoder synthesises the end token.
				r.closeStart, r.end = r.tagEnd, r.tagEnd
			}
		}
	}
}

// rec returns record i, or a harmless placeholder when out of range.
func (p *parser) rec(i int) *elemRec {
	if i < 0 || i >= len(p.recs) {
		return &p.zero
	}
	return &p.recs[i]
}

// next returns the record index after element i's subtree.
func (p *parser) next(i int) int {
	if i < 0 || i >= len(p.recs) || p.recs[i].next <= i {
		return i + 1
	}
	return p.recs[i].next
}

// pos returns the position of element i.
func (p *parser) pos(i int) Pos { return p.rec(i).pos }

// full reports whether the diagnostic limit is reached; callers check it
// to skip computing positions and messages nobody will see.
func (p *parser) full() bool {
	if len(p.diags) >= maxDiagnostics {
		p.dropped++
		return true
	}
	return false
}

// report adds a diagnostic.
func (p *parser) report(pos Pos, sev Severity, code int, msg string) {
	if len(p.diags) >= maxDiagnostics {
		p.dropped++
		return
	}
	if pos.Line < 1 {
		pos = Pos{1, 1}
	}
	p.diags = append(p.diags, Diagnostic{Pos: pos, Severity: sev, Code: code, Message: msg})
}

// elemName is the element name as written.
func elemName(e *etree.Element) string {
	if e.Space == "" {
		return e.Tag
	}
	return e.Space + ":" + e.Tag
}

// text returns the concatenated character data directly inside e, trimmed.
// The common single-run case returns a substring without allocating.
func text(e *etree.Element) string {
	var one string
	var b []byte
	n := 0
	for _, t := range e.Child {
		cd, ok := t.(*etree.CharData)
		if !ok {
			continue
		}
		switch n {
		case 0:
			one = cd.Data
		case 1:
			b = append(append(b, one...), cd.Data...)
		default:
			b = append(b, cd.Data...)
		}
		n++
	}
	if n > 1 {
		one = string(b)
	}
	return strings.TrimSpace(one)
}

// noText warns once about non-whitespace text inside an element that takes
// none; Twilio ignores it.
func (p *parser) noText(e *etree.Element, idx int, who string) {
	for _, t := range e.Child {
		if cd, ok := t.(*etree.CharData); ok && strings.TrimSpace(cd.Data) != "" {
			p.report(p.pos(idx), Warning, codeSchema, who+": text content is ignored")
			return
		}
	}
}

// countElems counts the element children of e, to size slices exactly.
func countElems(e *etree.Element) int {
	n := 0
	for _, t := range e.Child {
		if _, ok := t.(*etree.Element); ok {
			n++
		}
	}
	return n
}

// response converts the children of <Response>.
func (p *parser) response(root *etree.Element) []Verb {
	for i := range root.Attr {
		if a := &root.Attr[i]; !nsAttr(a) {
			p.unknownAttr(0, "Response", a)
		}
	}
	p.noText(root, 0, "Response")
	verbs := make([]Verb, 0, countElems(root))
	ci := 1
	for _, t := range root.Child {
		c, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		if v := p.topVerb(c, ci); v != nil {
			verbs = append(verbs, v)
		}
		ci = p.next(ci)
	}
	return verbs
}

// topVerb converts one child of <Response>, applying the document-kind
// restrictions.
func (p *parser) topVerb(e *etree.Element, idx int) Verb {
	name := elemName(e)
	if !isVerb(name) {
		if isKnown(name) {
			p.report(p.pos(idx), Error, codeSchema, "<"+name+"> is not a verb and cannot appear directly in <Response>")
			return nil
		}
		p.report(p.pos(idx), Error, codeSchema, "unknown verb <"+name+">")
		return p.element(e, idx, nil)
	}
	if ok, code := kindAllows(p.kind, name); !ok {
		msg := "<" + name + "> is not allowed in " + kindName(p.kind)
		if name == "Leave" && p.kind != EnqueueWait {
			msg = "<Leave> is only valid in an Enqueue waitUrl document"
		}
		p.report(p.pos(idx), Error, code, msg)
		return nil
	}
	return p.verb(e, idx, name)
}

// verb converts a verb by name. Callers have checked that name is a verb.
func (p *parser) verb(e *etree.Element, idx int, name string) Verb {
	switch name {
	case "Say":
		return p.say(e, idx, false)
	case "Play":
		return p.play(e, idx)
	case "Pause":
		return p.pause(e, idx)
	case "Gather":
		return p.gather(e, idx)
	case "Record":
		return p.record(e, idx)
	case "Hangup":
		return p.hangup(e, idx)
	case "Reject":
		return p.reject(e, idx)
	case "Redirect":
		return p.redirect(e, idx)
	case "Leave":
		return p.leave(e, idx)
	case "Dial":
		return p.dial(e, idx)
	case "Enqueue":
		return p.enqueue(e, idx)
	case "Connect":
		return p.connect(e, idx)
	case "Start":
		return p.start(e, idx)
	case "Stop":
		return p.stop(e, idx)
	case "Refer":
		return p.refer(e, idx)
	}
	return p.element(e, idx, elementSpecs[name])
}
