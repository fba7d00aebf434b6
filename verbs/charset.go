package verbs

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// charset is a source encoding Parse understands.
type charset int

const (
	csUTF8 charset = iota
	csLatin1
	csCP1252
	csUTF16LE
	csUTF16BE
	csUnknown
)

// detectCharset looks at the byte-order mark and the XML declaration. It
// returns the declared name too, for the error message.
func detectCharset(data []byte) (charset, string) {
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{'<', 0, '?', 0}):
		return csUTF16LE, "UTF-16"
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}), bytes.HasPrefix(data, []byte{0, '<', 0, '?'}):
		return csUTF16BE, "UTF-16"
	}
	name := declaredEncoding(data)
	cs := charsetByName(name)
	if cs == csUTF16LE || cs == csUTF16BE {
		// The declaration was readable as ASCII, so the bytes are not
		// UTF-16 whatever the label says; servers that mislabel UTF-8
		// this way exist, and UTF-8 is the only reading that can work.
		cs = csUTF8
	}
	return cs, name
}

// charsetByName maps an encoding label to a charset. US-ASCII is decoded as
// Latin-1: it is a subset, and servers that claim ASCII but send a stray
// accented byte are common enough that failing the call would be unhelpful.
func charsetByName(name string) charset {
	switch strings.ToLower(name) {
	case "", "utf-8", "utf8":
		return csUTF8
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1",
		"cp819", "ibm819", "iso-ir-100", "csisolatin1",
		"us-ascii", "ascii", "us", "iso646-us", "ansi_x3.4-1968", "csascii":
		return csLatin1
	case "windows-1252", "cp1252", "x-cp1252":
		return csCP1252
	case "utf-16", "utf16", "utf-16le":
		return csUTF16LE
	case "utf-16be":
		return csUTF16BE
	}
	return csUnknown
}

// declaredEncoding returns the encoding pseudo-attribute of a leading XML
// declaration, or "".
func declaredEncoding(data []byte) string {
	data = bytes.TrimPrefix(data, bom)
	data = bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(data, []byte("<?xml")) {
		return ""
	}
	end := bytes.Index(data, piClose)
	if end < 0 {
		return ""
	}
	decl := data[:end]
	k := bytes.Index(decl, []byte("encoding"))
	if k < 0 {
		return ""
	}
	rest := bytes.TrimLeft(decl[k+len("encoding"):], " \t\r\n")
	if len(rest) == 0 || rest[0] != '=' {
		return ""
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || (rest[0] != '"' && rest[0] != '\'') {
		return ""
	}
	q := bytes.IndexByte(rest[1:], rest[0])
	if q < 0 {
		return ""
	}
	return string(rest[1 : 1+q])
}

// cp1252High maps bytes 0x80-0x9F of Windows-1252 to Unicode; the other
// bytes coincide with Latin-1. Undefined slots map to U+FFFD.
var cp1252High = [32]rune{
	0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD,
	0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0xFFFD,
}

// toUTF8 converts data from cs to UTF-8. The whole document is converted up
// front, rather than through the decoder's CharsetReader, so that byte
// offsets, columns and the verbatim SSML slices all refer to one UTF-8 text.
func toUTF8(data []byte, cs charset) []byte {
	switch cs {
	case csLatin1, csCP1252:
		out := make([]byte, 0, len(data)+len(data)/8)
		for _, b := range data {
			switch {
			case b < utf8.RuneSelf:
				out = append(out, b)
			case cs == csCP1252 && b < 0xA0:
				out = utf8.AppendRune(out, cp1252High[b-0x80])
			default:
				out = utf8.AppendRune(out, rune(b))
			}
		}
		return out
	case csUTF16LE, csUTF16BE:
		units := make([]uint16, 0, len(data)/2)
		for i := 0; i+1 < len(data); i += 2 {
			if cs == csUTF16LE {
				units = append(units, uint16(data[i])|uint16(data[i+1])<<8)
			} else {
				units = append(units, uint16(data[i])<<8|uint16(data[i+1]))
			}
		}
		if len(units) > 0 && units[0] == 0xFEFF {
			units = units[1:]
		}
		out := make([]byte, 0, len(units)+len(units)/4)
		for _, r := range utf16.Decode(units) {
			out = utf8.AppendRune(out, r)
		}
		return out
	}
	return data
}

// passThroughCharset is the decoder's CharsetReader. Parse has already
// converted the document to UTF-8, so the declared encoding only needs to be
// accepted, not applied again.
func passThroughCharset(_ string, input io.Reader) (io.Reader, error) {
	return input, nil
}
