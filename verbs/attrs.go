package verbs

import (
	"iter"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// Attribute values are checked here. The policy, applied everywhere: an
// invalid value is an Error diagnostic (Twilio ignores the value, so the
// call behaves differently from what the author wrote) and the documented
// default is used instead.

// nsAttr reports whether a is a namespace declaration or an xml:* attribute,
// which are legal on any element and carry no TwiML meaning.
func nsAttr(a *etree.Attr) bool {
	return a.Space == "xmlns" || a.Space == "xml" || (a.Space == "" && a.Key == "xmlns")
}

// plainAttrs yields e's unprefixed attributes for a verb's switch. It
// skips namespace declarations and xml:* and warns about other prefixed
// ones, which no TwiML verb defines.
func (p *parser) plainAttrs(e *etree.Element, idx int, who string) iter.Seq[*etree.Attr] {
	return func(yield func(*etree.Attr) bool) {
		for i := range e.Attr {
			a := &e.Attr[i]
			switch {
			case nsAttr(a):
			case a.Space != "":
				p.unknownAttr(idx, who, a)
			default:
				if !yield(a) {
					return
				}
			}
		}
	}
}

// attrName is the attribute name as written.
func attrName(a *etree.Attr) string {
	if a.Space == "" {
		return a.Key
	}
	return a.Space + ":" + a.Key
}

// attrCursor remembers where the last attribute lookup ended. Attributes
// are reported in document order, so resuming from there keeps lookups on
// an element with thousands of attributes linear.
type attrCursor struct {
	idx   int    // record index; off is 0 until a lookup succeeds
	off   int    // offset just past the last attribute found
	pos   Pos    // position of off
	name  string // the last attribute found, at found
	found Pos
}

// attrPos returns the position of attribute name in the start tag of
// record idx, or the element position when it cannot be found.
func (p *parser) attrPos(idx int, name string) Pos {
	r := p.rec(idx)
	if r.nameEnd <= 0 || r.tagEnd > len(p.src) || r.nameEnd > r.tagEnd {
		return r.pos
	}
	if c := &p.cursor; c.idx == idx && c.off >= r.nameEnd && c.off <= r.tagEnd {
		if c.name == name {
			return c.found
		}
		if pos, ok := p.findAttr(idx, name, c.off, c.pos); ok {
			return pos
		}
	}
	if pos, ok := p.findAttr(idx, name, r.nameEnd, posAfter(p.src, r.pos, r.start, r.nameEnd)); ok {
		return pos
	}
	return r.pos
}

// findAttr scans the start tag of record idx from offset from (at position
// base) for an attribute called name.
func (p *parser) findAttr(idx int, name string, from int, base Pos) (Pos, bool) {
	r := p.rec(idx)
	src := p.src
	i := from
	for i < r.tagEnd {
		for i < r.tagEnd && (isXMLSpace(src[i]) || src[i] == '/' || src[i] == '>') {
			i++
		}
		a := i
		for i < r.tagEnd && !isXMLSpace(src[i]) && src[i] != '=' && src[i] != '>' && src[i] != '/' {
			i++
		}
		if i == a {
			i++
			continue
		}
		found := string(src[a:i]) == name
		for i < r.tagEnd && isXMLSpace(src[i]) {
			i++
		}
		if i < r.tagEnd && src[i] == '=' {
			i++
			for i < r.tagEnd && isXMLSpace(src[i]) {
				i++
			}
			if i < r.tagEnd && (src[i] == '"' || src[i] == '\'') {
				q := src[i]
				i++
				for i < r.tagEnd && src[i] != q {
					i++
				}
				i++
			}
		}
		if found {
			pos := posAfter(src, base, from, a)
			end := min(i, r.tagEnd)
			p.cursor = attrCursor{idx: idx, off: end, pos: posAfter(src, pos, a, end), name: name, found: pos}
			return pos, true
		}
	}
	return Pos{}, false
}

// badValue reports an invalid attribute value.
func (p *parser) badValue(idx int, who string, a *etree.Attr, code int, want, used string) {
	if p.full() {
		return
	}
	msg := who + ": invalid " + attrName(a) + " value " + quote(a.Value) + ": " + want
	if used != "" {
		msg += "; using " + used
	}
	p.report(p.attrPos(idx, attrName(a)), Error, code, msg)
}

// quote quotes a value for a message, shortening long ones so a hostile
// attribute cannot blow up every diagnostic that mentions it.
func quote(v string) string {
	const max = 64
	if len(v) <= max {
		return strconv.Quote(v)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return strconv.Quote(v[:cut]) + "…"
}

// unknownAttr reports an attribute the element does not define. It is a
// Warning: Twilio ignores it and the call behaves as if it were absent.
func (p *parser) unknownAttr(idx int, who string, a *etree.Attr) {
	if p.full() {
		return
	}
	p.report(p.attrPos(idx, attrName(a)), Warning, codeSchema,
		who+": unknown attribute "+quote(attrName(a)))
}

// intAttr parses an integer in [lo, hi]; hi < lo means no upper bound.
func (p *parser) intAttr(idx int, who string, a *etree.Attr, code, lo, hi, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(a.Value))
	if err != nil || n < lo || (hi >= lo && n > hi) {
		want := "want an integer ≥ " + strconv.Itoa(lo)
		if hi >= lo {
			want = "want an integer from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)
		}
		p.badValue(idx, who, a, code, want, strconv.Itoa(def))
		return def
	}
	return n
}

// checkInt validates an integer ≥ lo for an attribute kept as written.
func (p *parser) checkInt(idx int, who string, a *etree.Attr, lo int) bool {
	n, err := strconv.Atoi(strings.TrimSpace(a.Value))
	if err != nil || n < lo {
		p.badValue(idx, who, a, codeNone, "want an integer ≥ "+strconv.Itoa(lo), "the default")
		return false
	}
	return true
}

// checkEnum validates a value against allowed, ignoring case, for an
// attribute kept as written.
func (p *parser) checkEnum(idx int, who string, a *etree.Attr, allowed []string) bool {
	if _, ok := canonical(strings.TrimSpace(a.Value), allowed); ok {
		return true
	}
	p.badValue(idx, who, a, codeNone, "want one of "+strings.Join(allowed, ", "), "the default")
	return false
}

// boolAttr parses "true" or "false", ignoring case.
func (p *parser) boolAttr(idx int, who string, a *etree.Attr, code int, def bool) bool {
	v := strings.TrimSpace(a.Value)
	switch {
	case strings.EqualFold(v, "true"):
		return true
	case strings.EqualFold(v, "false"):
		return false
	}
	p.badValue(idx, who, a, code, `want "true" or "false"`, strconv.FormatBool(def))
	return def
}

// methodAttr parses an HTTP method; the result is upper case.
func (p *parser) methodAttr(idx int, who string, a *etree.Attr, code int, def string) string {
	v := strings.TrimSpace(a.Value)
	switch {
	case strings.EqualFold(v, "POST"):
		return "POST"
	case strings.EqualFold(v, "GET"):
		return "GET"
	}
	p.badValue(idx, who, a, code, "want GET or POST", def)
	return def
}

// enumAttr matches a value against allowed, ignoring case, and returns the
// canonical spelling. Case is forgiven because the meaning is unambiguous and
// helper libraries and hand-written documents differ.
func (p *parser) enumAttr(idx int, who string, a *etree.Attr, code int, allowed []string, def string) string {
	if c, ok := canonical(strings.TrimSpace(a.Value), allowed); ok {
		return c
	}
	used := def
	if used == "" {
		used = "no value"
	}
	p.badValue(idx, who, a, code, "want one of "+strings.Join(allowed, ", "), used)
	return def
}

// canonical returns the entry of allowed equal to v ignoring case.
func canonical(v string, allowed []string) (string, bool) {
	for _, s := range allowed {
		if s == v {
			return s, true
		}
	}
	for _, s := range allowed {
		if strings.EqualFold(s, v) {
			return s, true
		}
	}
	return "", false
}

// listAttr parses a space-separated list whose items come from allowed.
// Invalid items are reported and skipped; an empty result yields def.
func (p *parser) listAttr(idx int, who string, a *etree.Attr, code int, allowed []string, def ...string) []string {
	fields := strings.Fields(a.Value)
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		c, ok := canonical(f, allowed)
		if !ok {
			p.badValue(idx, who, a, code, quote(f)+" is not one of "+strings.Join(allowed, ", "), "")
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o == c
		}
		if !dup {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return append(out, def...)
	}
	return out
}

// digitsOK reports whether s uses only the given key characters.
func digitsOK(s, keys string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(keys, s[i]) < 0 {
			return false
		}
	}
	return true
}

// Allowed values, from the reference tables. Read-only.
var (
	methods            = []string{"GET", "POST"}
	inputValues        = []string{"dtmf", "speech"}
	recordEvents       = []string{"in-progress", "completed", "absent"}
	callEvents         = []string{"initiated", "ringing", "answered", "completed"}
	trimValues         = []string{"trim-silence", "do-not-trim"}
	rejectReasons      = []string{"rejected", "busy"}
	recordingChannels  = []string{"mono", "dual"}
	dialRecordValues   = []string{"do-not-record", "record-from-answer", "record-from-ringing", "record-from-answer-dual", "record-from-ringing-dual", "true", "false"}
	recordingTracks    = []string{"both", "inbound", "outbound"}
	ringTones          = []string{"at", "au", "bg", "br", "be", "ch", "cl", "cn", "cz", "de", "dk", "ee", "es", "fi", "fr", "gr", "hu", "il", "in", "it", "lt", "jp", "mx", "my", "nl", "no", "nz", "ph", "pl", "pt", "ru", "se", "sg", "th", "uk", "us", "us-old", "tw", "ve", "za"}
	amdValues          = []string{"Enable", "DetectMessageEnd"}
	beepValues         = []string{"true", "false", "onEnter", "onExit"}
	confRecordValues   = []string{"do-not-record", "record-from-start"}
	confTrimValues     = []string{"trim-silence", "do-not-trim", "true", "false"}
	regions            = []string{"us1", "us2", "ie1", "sg1", "br1", "au1", "jp1", "de1"}
	confEvents         = []string{"start", "end", "join", "leave", "mute", "hold", "modify", "speaker", "announcement"}
	jitterSizes        = []string{"large", "medium", "small", "off"}
	streamTracks       = []string{"inbound_track", "outbound_track", "both_tracks"}
	streamCodecs       = []string{"PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "default"}
	bidiModes          = []string{"mp3", "rtp"}
	recordingTrackVals = []string{"inbound", "outbound", "both"}
)
