package stream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
)

// slabSize is the memory the app's payloads are decoded into, a chunk
// at a time: about fifty 20 ms messages share one allocation.
const slabSize = 8 << 10

// maxKeptBuffer is the largest message buffer the reader keeps for the
// next message: one long answer (up to readLimit) must not hold its
// memory for the rest of the stream.
const maxKeptBuffer = 64 << 10

// reader is the read loop's state, reused from one message to the next.
type reader struct {
	buf   bytes.Buffer // the message being read
	msg   appMsg
	media appMediaBody
	// slab holds payloads decoded so far in its chunk; a payload is a
	// full slice expression of it, so that nothing written after it
	// can reach it. The playout keeps a chunk alive while any of its
	// audio waits.
	slab []byte
}

// reset readies the message for the next decode: the fields the last
// message set are cleared, and the payload decodes into the slab.
func (r *reader) reset() *appMsg {
	r.media = appMediaBody{Payload: payload{r: r}}
	r.msg = appMsg{Media: &r.media}
	return &r.msg
}

// release drops a message buffer grown beyond maxKeptBuffer.
func (r *reader) release() {
	if r.buf.Cap() > maxKeptBuffer {
		r.buf = bytes.Buffer{}
	}
}

// decode decodes base64 src into memory of its own: a slice of the slab,
// or an allocation of its own for a large payload (many seconds of
// audio), which would waste most of a slab.
func (r *reader) decode(src []byte) ([]byte, error) {
	n := base64.StdEncoding.DecodedLen(len(src))
	if n > slabSize/4 {
		b := make([]byte, n)
		k, err := base64.StdEncoding.Decode(b, src)
		if err != nil {
			return nil, err
		}
		return b[:k:k], nil
	}
	if cap(r.slab)-len(r.slab) < n {
		r.slab = make([]byte, 0, slabSize)
	}
	i := len(r.slab)
	k, err := base64.StdEncoding.Decode(r.slab[i:i+n], src)
	if err != nil {
		return nil, err
	}
	r.slab = r.slab[:i+k]
	return r.slab[i : i+k : i+k], nil
}

// appMediaBody is the media object of the app's media message. Only the
// payload is used; the other fields are Twilio's own media message's,
// decoded so that a mistyped one is rejected as before.
type appMediaBody struct {
	Track     string  `json:"track"`
	Chunk     string  `json:"chunk"`
	Timestamp string  `json:"timestamp"`
	Payload   payload `json:"payload"`
}

// payload is the app's base64 audio (µ-law or A-law without a header,
// or MP3), decoded as encoding/json decodes a []byte, but into the
// reader's slab.
type payload struct {
	b []byte
	r *reader
}

// UnmarshalJSON implements json.Unmarshaler. A plain string, which is
// what base64 gives, is decoded in place; anything else (escapes, null,
// an array of numbers) takes encoding/json's way for a []byte, errors
// included.
func (p *payload) UnmarshalJSON(data []byte) error {
	if len(data) >= 2 && data[0] == '"' && data[len(data)-1] == '"' && bytes.IndexByte(data, '\\') < 0 && p.r != nil {
		b, err := p.r.decode(data[1 : len(data)-1])
		if err != nil {
			return err
		}
		p.b = b
		return nil
	}
	var b []byte
	if err := json.Unmarshal(data, &b); err != nil {
		return err
	}
	p.b = b
	return nil
}

// parse decodes the app's message data, as encoding/json would decode it
// into an appMsg; the message is the reader's until the next parse. sid
// is the stream's id.
func (r *reader) parse(data []byte, sid string) (*appMsg, error) {
	if m := r.reset(); r.parseFast(data, sid) {
		return m, nil
	}
	m := r.reset() // what the fast parse set is dropped
	if err := json.Unmarshal(data, m); err != nil {
		return nil, err
	}
	return m, nil
}

// parseFast parses the app's message when it has the common shape, and
// reports whether it did: an object of the keys event (media, mark or
// clear), streamSid, stream_id and media, each once, whose strings are
// printable ASCII without escapes, and a media object of track, chunk,
// timestamp and payload, valid base64. That is what encoding/json would
// decode too (the fields handle reads: Event, the stream id, the
// payload), without reflection or allocations but the payload's slab.
// Anything else (another key, a key in another case, an escape, a
// duplicate, a mark's object, bad base64) is left to encoding/json,
// which decides as it always did, errors included. sid is the stream's
// id: an equal one is shared rather than copied.
func (r *reader) parseFast(data []byte, sid string) bool {
	m := &r.msg
	sc := scan{data: data}
	if !sc.next('{') {
		return false
	}
	var seen [4]bool
	for {
		key, ok := sc.str()
		if !ok || !sc.next(':') {
			return false
		}
		k := fastKey(key)
		if k < 0 || seen[k] {
			return false
		}
		seen[k] = true
		switch k {
		case keyEvent:
			v, ok := sc.str()
			if m.Event = knownEvent(v); !ok || m.Event == "" {
				return false
			}
		case keySid, keyID:
			v, ok := sc.str()
			if !ok {
				return false
			}
			id := sid
			if string(v) != sid {
				id = string(v)
			}
			if k == keySid {
				m.StreamSid = id
			} else {
				m.StreamID = id
			}
		case keyMedia:
			if !r.mediaFast(&sc) {
				return false
			}
		}
		if sc.next(',') {
			continue
		}
		if sc.next('}') {
			return sc.end()
		}
		return false
	}
}

// The top-level keys parseFast takes, as indexes of what it has seen.
const (
	keyEvent = iota
	keySid
	keyID
	keyMedia
)

func fastKey(key []byte) int {
	switch string(key) {
	case "event":
		return keyEvent
	case "streamSid":
		return keySid
	case "stream_id":
		return keyID
	case "media":
		return keyMedia
	}
	return -1
}

// knownEvent returns the app's event named e, or "" for another.
func knownEvent(e []byte) string {
	for _, k := range [...]string{"media", "mark", "clear"} {
		if string(e) == k {
			return k
		}
	}
	return ""
}

// mediaFast parses the media object for parseFast: its strings are
// skipped but the payload, which is decoded into the slab.
func (r *reader) mediaFast(sc *scan) bool {
	if !sc.next('{') {
		return false
	}
	var seen [4]bool
	for {
		key, ok := sc.str()
		if !ok || !sc.next(':') {
			return false
		}
		k := -1
		switch string(key) {
		case "track":
			k = 0
		case "chunk":
			k = 1
		case "timestamp":
			k = 2
		case "payload":
			k = 3
		}
		if k < 0 || seen[k] {
			return false
		}
		seen[k] = true
		if k == 3 {
			// The payload, most of the message, is checked by its
			// decoding: base64 takes only its alphabet, '=', and the
			// line breaks that a JSON string cannot hold raw.
			v, ok := sc.quoted()
			if !ok || bytes.IndexByte(v, '\n') >= 0 || bytes.IndexByte(v, '\r') >= 0 {
				return false
			}
			b, err := r.decode(v)
			if err != nil {
				return false
			}
			r.media.Payload.b = b
		} else if _, ok := sc.str(); !ok {
			return false
		}
		if sc.next(',') {
			continue
		}
		return sc.next('}')
	}
}

// scan reads JSON tokens for parseFast.
type scan struct {
	data []byte
	i    int
}

// space skips JSON's whitespace.
func (s *scan) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next consumes c, after whitespace, and reports whether it was there.
func (s *scan) next(c byte) bool {
	s.space()
	if s.i < len(s.data) && s.data[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str consumes a string of printable ASCII without escapes and returns
// its contents; false for any other token or string.
func (s *scan) str() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	for j := s.i; j < len(s.data); j++ {
		switch c := s.data[j]; {
		case c == '"':
			v := s.data[s.i:j]
			s.i = j + 1
			return v, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

// quoted consumes a string and returns what is between its quotes,
// unchecked: an escaped quote ends it early, and the caller checks the
// contents.
func (s *scan) quoted() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	j := bytes.IndexByte(s.data[s.i:], '"')
	if j < 0 {
		return nil, false
	}
	v := s.data[s.i : s.i+j]
	s.i += j + 1
	return v, true
}

// end reports whether only whitespace is left.
func (s *scan) end() bool {
	s.space()
	return s.i == len(s.data)
}
