package stream

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
)

// The media messages, fifty a second per track each way, are most of a
// stream's work: they are written and read here without reflection and,
// in the steady state, without allocating. The rarer messages keep
// encoding/json.

// mediaEncoder writes one wire's media messages for one stream: the
// parts that never change (the field names, the stream id already
// quoted) are built once, so that a message is a few appends.
type mediaEncoder struct {
	head []byte // {"event":"media","<sequence key>":"
	mid  []byte // ","<stream id key>":"MZ…","media":{"track":"
}

// newMediaEncoder builds the encoder of media messages whose sequence
// number is seqKey and stream id sidKey (the wire's spellings).
func newMediaEncoder(seqKey, sidKey, sid string) mediaEncoder {
	// encoding/json quotes the stream id as it would in a struct: any
	// character that needs escaping is escaped the same way. A string
	// always encodes.
	q, _ := json.Marshal(sid)
	head := append([]byte(`{"event":"media","`), seqKey...)
	head = append(head, `":"`...)
	mid := append([]byte(`","`), sidKey...)
	mid = append(mid, `":`...)
	mid = append(mid, q...)
	mid = append(mid, `,"media":{"track":"`...)
	return mediaEncoder{head: head, mid: mid}
}

// append appends the media message of frame f, sequence number seq, to
// dst. The sequence number, chunk and timestamp are strings holding
// integers, as on both platforms' pages; the track names need no
// escaping.
func (e *mediaEncoder) append(dst []byte, seq int64, f *outFrame) []byte {
	dst = append(dst, e.head...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, e.mid...)
	dst = append(dst, f.track.String()...)
	dst = append(dst, `","chunk":"`...)
	dst = strconv.AppendInt(dst, f.chunk, 10)
	dst = append(dst, `","timestamp":"`...)
	dst = strconv.AppendInt(dst, f.ts, 10)
	dst = append(dst, `","payload":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, f.payload[:])
	return append(dst, `"}}`...)
}
