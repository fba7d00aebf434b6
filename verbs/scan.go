package verbs

import (
	"bytes"
	"unicode/utf8"
)

// elemRec is what the byte scanner learns about one element. etree v1.8.1
// keeps no source positions, so the scanner walks the same bytes and records
// every start tag in document order; the n-th element etree builds (depth
// first, pre-order) is the n-th record.
type elemRec struct {
	start      int // offset of '<'
	nameEnd    int // offset just past the tag name
	tagEnd     int // offset just past the start tag's '>'
	closeStart int // offset of the end tag's '<'; tagEnd when self-closing
	end        int // offset just past the end tag's '>'
	next       int // index of the first record after this element's subtree
	pos        Pos
}

// name returns the tag name as written.
func (r *elemRec) name(src []byte) []byte {
	if r.start+1 > r.nameEnd || r.nameEnd > len(src) {
		return nil
	}
	return src[r.start+1 : r.nameEnd]
}

// scanResult is the output of scan.
type scanResult struct {
	recs []elemRec
	// compact is src with insignificant whitespace-only text removed, or nil
	// when nothing was removed. Feeding etree fewer text tokens saves three
	// allocations per run; positions still come from src.
	compact []byte
	// stray is the offset of the first non-whitespace text outside the root
	// element, or -1.
	stray int
}

// lineCursor converts ascending byte offsets into Pos values in O(total
// length), so that documents with thousands of elements on one line stay
// linear.
type lineCursor struct {
	src  []byte
	off  int
	line int
	col  int
}

func newLineCursor(src []byte) lineCursor {
	return lineCursor{src: src, line: 1, col: 1}
}

// at returns the position of offset off. Offsets must not decrease between
// calls; a smaller offset is answered from a fresh cursor.
func (c *lineCursor) at(off int) Pos {
	if off > len(c.src) {
		off = len(c.src)
	}
	if off < c.off {
		*c = newLineCursor(c.src)
	}
	seg := c.src[c.off:off]
	if nl := bytes.LastIndexByte(seg, '\n'); nl >= 0 {
		c.line += bytes.Count(seg, newline)
		c.col = 1 + utf8.RuneCount(seg[nl+1:])
	} else {
		c.col += utf8.RuneCount(seg)
	}
	c.off = off
	return Pos{Line: c.line, Col: c.col}
}

var newline = []byte{'\n'}

// posAfter returns the position of off given that base is the position of
// baseOff and baseOff <= off. It serves one-off lookups (attribute
// positions) without rescanning from the start of the document.
func posAfter(src []byte, base Pos, baseOff, off int) Pos {
	c := lineCursor{src: src, off: baseOff, line: base.Line, col: base.Col}
	if off < baseOff {
		return base
	}
	return c.at(off)
}

func isXMLSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r'
}

// onlySpace reports whether b holds only XML whitespace (and, at document
// level, a byte-order mark).
func onlySpace(b []byte, allowBOM bool) bool {
	if allowBOM && bytes.HasPrefix(b, bom) {
		b = b[len(bom):]
	}
	for _, c := range b {
		if !isXMLSpace(c) {
			return false
		}
	}
	return true
}

var (
	bom          = []byte{0xEF, 0xBB, 0xBF}
	cdataOpen    = []byte("<![CDATA[")
	cdataClose   = []byte("]]>")
	commentOpen  = []byte("<!--")
	commentClose = []byte("-->")
	piClose      = []byte("?>")
	sayTag       = []byte("Say")
)

// scanner holds the state of one scan.
type scanner struct {
	src     []byte
	res     scanResult
	cur     lineCursor
	stack   [MaxDepth + 1]int // open record indices; fixed size, no allocation
	depth   int
	sayOpen int // open Say elements: text inside them is significant
	roots   int
	last    int // end of the region already copied into res.compact
}

// scan records every element of src and rejects, before any tree is built,
// documents whose root is not <Response>, nested deeper than MaxDepth, with
// more than one root element or with a repeated attribute; text outside
// the root is left in res.stray for the caller. It is tolerant of
// other malformations: etree reports those.
func scan(src []byte) (scanResult, *ParseError) {
	s := scanner{src: src, cur: newLineCursor(src)}
	s.res.stray = -1
	// Most elements have a start and an end tag, so half the '<' count
	// usually sizes the slice exactly; the cap stops a hostile document
	// full of '<' from reserving memory it will never use.
	s.res.recs = make([]elemRec, 0, min(bytes.Count(src, []byte{'<'})/2+1, 4096))
	n := len(src)
	i := 0
	for i < n {
		j := bytes.IndexByte(src[i:], '<')
		if j < 0 {
			s.text(i, n)
			break
		}
		s.text(i, i+j)
		i += j
		if i+1 >= n {
			break
		}
		var next int
		switch src[i+1] {
		case '/':
			next = s.endTag(i)
		case '?':
			next = skipPast(src, i+2, piClose)
		case '!':
			next = s.bang(i)
		default:
			var perr *ParseError
			next, perr = s.startTag(i)
			if perr != nil {
				return s.res, perr
			}
		}
		if next < 0 {
			break
		}
		i = next
	}
	// Elements left open mean malformed XML that etree will reject; close
	// them here so every record is self-consistent regardless.
	for s.depth > 0 {
		s.depth--
		r := &s.res.recs[s.stack[s.depth]]
		r.closeStart, r.end, r.next = n, n, len(s.res.recs)
	}
	if s.res.compact != nil {
		s.res.compact = append(s.res.compact, src[s.last:]...)
	}
	return s.res, nil
}

// text handles the character data in src[a:b].
func (s *scanner) text(a, b int) {
	if a >= b {
		return
	}
	seg := s.src[a:b]
	if s.depth == 0 {
		if !onlySpace(seg, a == 0) && s.res.stray < 0 {
			s.res.stray = a
		}
		s.drop(a, b)
		return
	}
	if s.sayOpen == 0 && onlySpace(seg, false) {
		s.drop(a, b)
	}
}

// drop removes src[a:b] from the copy handed to etree.
func (s *scanner) drop(a, b int) {
	if s.res.compact == nil {
		s.res.compact = make([]byte, 0, len(s.src))
	}
	s.res.compact = append(s.res.compact, s.src[s.last:a]...)
	s.last = b
}

// skipPast returns the offset just past the first occurrence of end at or
// after from, or -1.
func skipPast(src []byte, from int, end []byte) int {
	if from > len(src) {
		return -1
	}
	k := bytes.Index(src[from:], end)
	if k < 0 {
		return -1
	}
	return from + k + len(end)
}

// bang skips a comment, CDATA section or directive starting at i.
func (s *scanner) bang(i int) int {
	rest := s.src[i:]
	switch {
	case bytes.HasPrefix(rest, commentOpen):
		end := skipPast(s.src, i+len(commentOpen), commentClose)
		// Well-formed comments are dropped from etree's copy like
		// insignificant whitespace; a malformed one ("--" inside) is left
		// for the decoder to reject.
		if end > 0 {
			body := s.src[i+len(commentOpen) : end-len(commentClose)]
			if !bytes.Contains(body, []byte("--")) && !bytes.HasSuffix(body, []byte("-")) {
				s.drop(i, end)
			}
		}
		return end
	case bytes.HasPrefix(rest, cdataOpen):
		end := skipPast(s.src, i+len(cdataOpen), cdataClose)
		if s.depth == 0 && s.res.stray < 0 && end > 0 &&
			end-len(cdataClose) > i+len(cdataOpen) {
			s.res.stray = i
		}
		return end
	}
	// The decoder takes the byte after "<!" as part of the directive
	// keyword without interpreting it, so a quote or '>' there neither
	// opens a string nor ends the directive; matching that keeps the two
	// readings of the document in step.
	if i+3 > len(s.src) {
		return -1
	}
	return skipDirective(s.src, i+3)
}

// skipDirective skips a <!DOCTYPE ...> style directive, which may nest
// angle brackets, quoted strings and comments in its internal subset.
func skipDirective(src []byte, i int) int {
	depth := 1
	for i < len(src) {
		switch c := src[i]; c {
		case '"', '\'':
			k := bytes.IndexByte(src[i+1:], c)
			if k < 0 {
				return -1
			}
			i += k + 2
			continue
		case '<':
			if bytes.HasPrefix(src[i:], commentOpen) {
				i = skipPast(src, i+len(commentOpen), commentClose)
				if i < 0 {
					return -1
				}
				continue
			}
			depth++
		case '>':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
		i++
	}
	return -1
}

// endTag closes the innermost open element at the end tag starting at i.
func (s *scanner) endTag(i int) int {
	k := bytes.IndexByte(s.src[i:], '>')
	if k < 0 {
		return -1
	}
	if s.depth > 0 {
		s.depth--
		r := &s.res.recs[s.stack[s.depth]]
		r.closeStart, r.end, r.next = i, i+k+1, len(s.res.recs)
		if bytes.Equal(r.name(s.src), sayTag) {
			s.sayOpen--
		}
	}
	return i + k + 1
}

// startTag records the start tag at i and returns the offset after it.
func (s *scanner) startTag(i int) (int, *ParseError) {
	src := s.src
	n := len(src)
	p := i + 1
	for p < n && !isXMLSpace(src[p]) && src[p] != '>' && src[p] != '/' {
		p++
	}
	r := elemRec{start: i, nameEnd: p}
	// Attribute names seen in this tag, for the duplicate check. A fixed
	// array covers real documents; longer tags spill to a slice.
	var small [16][2]int
	names := small[:0]
	var seen map[string]struct{}
	selfClose := false
	for {
		for p < n && isXMLSpace(src[p]) {
			p++
		}
		if p >= n {
			return -1, nil
		}
		if src[p] == '>' {
			p++
			break
		}
		if src[p] == '/' {
			if p+1 < n && src[p+1] == '>' {
				selfClose = true
				p += 2
				break
			}
			p++
			continue
		}
		a := p
		for p < n && !isXMLSpace(src[p]) && src[p] != '=' && src[p] != '>' && src[p] != '/' {
			p++
		}
		if p == a {
			// A stray '=' or similar: step over it; etree will complain.
			p++
			continue
		}
		if s.repeated(names, &seen, a, p) {
			pos := posAfter(src, s.cur.at(i), i, a)
			return -1, &ParseError{Pos: pos, Code: codeParse,
				Message: "malformed XML: attribute " + string(src[a:p]) + " is repeated"}
		}
		names = append(names, [2]int{a, p})
		for p < n && isXMLSpace(src[p]) {
			p++
		}
		if p < n && src[p] == '=' {
			p++
			for p < n && isXMLSpace(src[p]) {
				p++
			}
			if p < n && (src[p] == '"' || src[p] == '\'') {
				k := bytes.IndexByte(src[p+1:], src[p])
				if k < 0 {
					return -1, nil
				}
				p += k + 2
			} else {
				for p < n && !isXMLSpace(src[p]) && src[p] != '>' {
					p++
				}
			}
		}
	}
	r.tagEnd = p
	r.pos = s.cur.at(i)
	if s.depth == 0 {
		s.roots++
		if s.roots > 1 {
			return -1, fatal(r.pos, "malformed XML: more than one root element", nil)
		}
		// Checked here, before anything else, so that an HTML error page
		// is reported as such rather than by its first oddity.
		if name := src[i+1 : r.nameEnd]; string(name) != "Response" {
			return -1, fatal(r.pos, "root element is <"+string(name)+">, want <Response>", nil)
		}
	}
	if s.depth+1 > MaxDepth {
		return -1, fatal(r.pos, "document nested deeper than the limit of "+itoa(MaxDepth)+" elements", nil)
	}
	idx := len(s.res.recs)
	if selfClose {
		r.closeStart, r.end, r.next = p, p, idx+1
		s.res.recs = append(s.res.recs, r)
		return p, nil
	}
	s.res.recs = append(s.res.recs, r)
	s.stack[s.depth] = idx
	s.depth++
	if bytes.Equal(src[i+1:r.nameEnd], sayTag) {
		s.sayOpen++
	}
	return p, nil
}

// repeated reports whether the attribute name src[a:b] already occurred in
// the tag. Pairwise comparison is fastest for the handful of attributes real
// tags carry; past that a set keeps hostile inputs linear.
func (s *scanner) repeated(names [][2]int, seen *map[string]struct{}, a, b int) bool {
	const pairwiseLimit = 32
	if len(names) < pairwiseLimit {
		for _, nm := range names {
			if bytes.Equal(s.src[nm[0]:nm[1]], s.src[a:b]) {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]struct{}, 2*len(names))
		for _, nm := range names {
			(*seen)[string(s.src[nm[0]:nm[1]])] = struct{}{}
		}
	}
	key := string(s.src[a:b])
	if _, ok := (*seen)[key]; ok {
		return true
	}
	(*seen)[key] = struct{}{}
	return false
}
