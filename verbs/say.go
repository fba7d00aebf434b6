package verbs

import (
	"strings"

	"github.com/beevik/etree"
)

// say converts <Say>. Inside <Gather> Twilio files loop problems under
// Gather->Say codes, hence inGather.
func (p *parser) say(e *etree.Element, idx int, inGather bool) *Say {
	s := &Say{Pos: p.pos(idx), Voice: "man", Language: "en-US", Loop: 1}
	who, loopCode := "Say", codeSayLoop
	if inGather {
		who, loopCode = "Gather->Say", codeGatherSayLoop
	}
	for a := range p.plainAttrs(e, idx, who) {
		switch a.Key {
		case "voice":
			if v := strings.TrimSpace(a.Value); v != "" {
				s.Voice = v
			}
		case "language":
			if v := strings.TrimSpace(a.Value); v != "" {
				s.Language = v
			}
		case "loop":
			s.Loop = p.intAttr(idx, who, a, loopCode, 0, -1, 1)
		case "gender", "effect", "apiKeyRef":
			// Telnyx voice options (Azure, ElevenLabs); no typed field.
		default:
			p.unknownAttr(idx, who, a)
		}
	}
	hasElems := false
	ci := idx + 1
	for _, t := range e.Child {
		if c, ok := t.(*etree.Element); ok {
			hasElems = true
			p.ssml(c, ci, who)
			ci = p.next(ci)
		}
	}
	if hasElems {
		s.Text = collapse(string(appendText(nil, e)))
		if r := p.rec(idx); r.tagEnd <= r.closeStart && r.closeStart <= len(p.src) {
			s.SSML = string(p.src[r.tagEnd:r.closeStart])
		}
	} else {
		s.Text = collapse(text(e))
	}
	if s.Text == "" {
		p.report(s.Pos, Warning, codeSayText, who+": nothing to say")
	}
	return s
}

// ssmlTag reports whether name is an SSML element Twilio documents inside
// <Say>; Amazon's namespaced extensions pass too, since Polly voices use them.
func ssmlTag(name string) bool {
	switch name {
	case "break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w":
		return true
	}
	return strings.HasPrefix(name, "amazon:")
}

// ssml checks an SSML element and its descendants. Unsupported tags are a
// Warning: voices ignore them and speak the text inside.
func (p *parser) ssml(e *etree.Element, idx int, who string) {
	name := elemName(e)
	if !ssmlTag(name) {
		if isKnown(name) {
			p.report(p.pos(idx), Error, codeSchema, who+": <"+name+"> cannot be nested in <Say>")
		} else {
			p.report(p.pos(idx), Warning, codeNone, who+": unsupported SSML element <"+name+"> is ignored")
		}
	}
	ci := idx + 1
	for _, t := range e.Child {
		if c, ok := t.(*etree.Element); ok {
			p.ssml(c, ci, who)
			ci = p.next(ci)
		}
	}
}

// appendText appends the character data of e's subtree, tags stripped.
// Sentence, paragraph and break tags separate words, so they add a space.
func appendText(b []byte, e *etree.Element) []byte {
	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.CharData:
			b = append(b, t.Data...)
		case *etree.Element:
			sep := t.Space == "" && (t.Tag == "break" || t.Tag == "p" || t.Tag == "s")
			if sep {
				b = append(b, ' ')
			}
			b = appendText(b, t)
			if sep {
				b = append(b, ' ')
			}
		}
	}
	return b
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// collapse trims s and folds every whitespace run to one space. Text that is
// already clean, the usual case, is returned without allocating.
func collapse(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isSpace(c) {
			continue
		}
		if c != ' ' || i == 0 || i == len(s)-1 || s[i+1] == ' ' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) {
			space = len(b) > 0
			continue
		}
		if space {
			b = append(b, ' ')
			space = false
		}
		b = append(b, s[i])
	}
	return string(b)
}

// play converts <Play>.
func (p *parser) play(e *etree.Element, idx int) *Play {
	pl := &Play{Pos: p.pos(idx), Loop: 1}
	for a := range p.plainAttrs(e, idx, "Play") {
		switch {
		case a.Key == "loop":
			pl.Loop = p.intAttr(idx, "Play", a, codePlayLoop, 0, -1, 1)
		case a.Key == "digits":
			d := strings.TrimSpace(a.Value)
			if digitsOK(d, "0123456789*#wW") {
				pl.Digits = d
			} else {
				p.badValue(idx, "Play", a, codeNone, "want only 0-9, *, #, w and W", "no digits")
			}
		default:
			p.unknownAttr(idx, "Play", a)
		}
	}
	p.noChildren(e, idx, "Play")
	pl.URL = text(e)
	switch {
	case pl.Digits == "" && pl.URL == "":
		p.report(pl.Pos, Error, codeNone, "Play: no URL to play and no digits to send")
	case pl.Digits != "" && pl.URL != "":
		p.report(pl.Pos, Warning, codeNone, "Play: the URL is ignored when digits is set")
	}
	return pl
}

// pause converts <Pause>.
func (p *parser) pause(e *etree.Element, idx int) *Pause {
	ps := &Pause{Pos: p.pos(idx), Length: 1}
	for a := range p.plainAttrs(e, idx, "Pause") {
		switch {
		case a.Key == "length":
			ps.Length = p.intAttr(idx, "Pause", a, codePauseLength, 1, -1, 1)
		default:
			p.unknownAttr(idx, "Pause", a)
		}
	}
	p.noChildren(e, idx, "Pause")
	p.noText(e, idx, "Pause")
	return ps
}

// noChildren reports every nested element of an element that takes none.
func (p *parser) noChildren(e *etree.Element, idx int, who string) {
	ci := idx + 1
	for _, t := range e.Child {
		if c, ok := t.(*etree.Element); ok {
			p.report(p.pos(ci), Error, codeSchema, who+": <"+elemName(c)+"> cannot be nested here")
			ci = p.next(ci)
		}
	}
}
