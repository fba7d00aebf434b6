package stream

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/media"
)

// The media messages as encoding/json wrote them from structs before
// mediaEncoder: the reference the hand encoding must match.
type (
	refMediaBody struct {
		Track     string `json:"track,omitempty"`
		Chunk     string `json:"chunk,omitempty"`
		Timestamp string `json:"timestamp,omitempty"`
		Payload   []byte `json:"payload"`
	}
	refTwilioMedia struct {
		envelope
		Media refMediaBody `json:"media"`
	}
	refTelnyxMedia struct {
		telnyxEnvelope
		Media refMediaBody `json:"media"`
	}
	// refAppMsg is the app's message as it was decoded before parse.
	refAppMsg struct {
		Event     string        `json:"event"`
		StreamSid string        `json:"streamSid"`
		StreamID  string        `json:"stream_id"`
		Media     *refMediaBody `json:"media"`
		Mark      *markBody     `json:"mark"`
	}
)

func refMedia(w Wire, sid string, seq int64, f *outFrame) any {
	body := refMediaBody{Track: f.track.String(), Chunk: itoa(f.chunk), Timestamp: itoa(f.ts), Payload: f.payload[:]}
	if w == Telnyx {
		return refTelnyxMedia{telnyxEnvelope{Event: "media", SequenceNumber: itoa(seq), StreamID: sid}, body}
	}
	return refTwilioMedia{envelope{Event: "media", SequenceNumber: itoa(seq), StreamSid: sid}, body}
}

// TestMediaEncoding: the hand-written media message is, byte for byte,
// what encoding/json wrote from the structs, and so decodes to the same
// values, on both wires, for stream ids that need escaping too.
func TestMediaEncoding(t *testing.T) {
	sids := []string{
		"MZ" + strings.Repeat("1", 32),
		"",
		`quote " and backslash \ and slash /`,
		"<html> & 'apostrophes'",
		"control \x00\x01\t\n\r\x1f\x7f",
		"unicode é 日本 🎉 \u2028 \u2029",
		"invalid UTF-8 \xff\xfe \xc3",
	}
	frames := []outFrame{
		{track: Inbound, chunk: 1, ts: 0},
		{track: Outbound, chunk: 1 << 40, ts: 123456789},
		{track: Inbound, chunk: 0, ts: -20}, // never sent, still encoded alike
	}
	for i := range frames {
		for j := range frames[i].payload {
			frames[i].payload[j] = byte(j*(i+7) + i)
		}
	}
	media.PCMU.Encode(frames[0].payload[:], tone(1))
	for _, w := range []Wire{Twilio, Telnyx} {
		for _, sid := range sids {
			enc := wireFor(w).mediaEncoder(sid)
			var buf []byte
			for k, f := range frames {
				t.Run(fmt.Sprintf("%s/%q/%d", w, sid, k), func(t *testing.T) {
					seq := int64(k*1000 + 1)
					buf = enc.append(buf[:0], seq, &f)
					want, err := json.Marshal(refMedia(w, sid, seq, &f))
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(buf, want) {
						t.Errorf("\n got %s\nwant %s", buf, want)
					}
					var got, ref map[string]any
					if err := json.Unmarshal(buf, &got); err != nil {
						t.Fatalf("%s: %v", buf, err)
					}
					_ = json.Unmarshal(want, &ref)
					if !reflect.DeepEqual(got, ref) {
						t.Errorf("decoded\n got %v\nwant %v", got, ref)
					}
				})
			}
		}
	}
}

// appCases are app messages of every shape parse meets: the common ones
// (the fast path), and those it leaves to encoding/json.
func appCases() []struct {
	name string
	msg  string
	fast bool // parseFast takes it
} {
	const sid = "MZ11111111111111111111111111111111"
	pl := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\x10\xff\x00\xff\xff\xff", 30))) // with slashes
	return []struct {
		name string
		msg  string
		fast bool
	}{
		{"twilio media", `{"event":"media","streamSid":"` + sid + `","media":{"payload":"` + pl + `"}}`, true},
		{"telnyx media", `{"event":"media","stream_id":"` + sid + `","media":{"payload":"` + pl + `"}}`, true},
		{"keys in another order, spaces", " {\n\t\"media\" : { \"payload\" : \"" + pl + "\" } ,\r\n \"streamSid\":\"" + sid + "\", \"event\" :\"media\" } \n", true},
		{"media with Twilio's own fields", `{"event":"media","streamSid":"` + sid + `","media":{"track":"outbound","chunk":"2","timestamp":"40","payload":"` + pl + `"}}`, true},
		{"another stream's sid", `{"event":"media","streamSid":"MZother","media":{"payload":"` + pl + `"}}`, true},
		{"clear", `{"event":"clear","streamSid":"` + sid + `"}`, true},
		{"empty payload", `{"event":"media","media":{"payload":""}}`, true},
		{"media without payload", `{"event":"media","media":{}}`, false},
		{"no media", `{"event":"media"}`, true},
		{"mark", `{"event":"mark","streamSid":"` + sid + `","mark":{"name":"m1"}}`, false},
		{"mark with an escaped name", `{"event":"mark","mark":{"name":"a\"b\u00e9"}}`, false},
		{"unknown event", `{"event":"hello"}`, false},
		{"event in another case", `{"Event":"media","media":{"payload":"` + pl + `"}}`, false},
		{"payload with an escaped slash", `{"event":"media","media":{"payload":"` + strings.ReplaceAll(pl, "/", `\/`) + `"}}`, false},
		{"payload with a raw line break", "{\"event\":\"media\",\"media\":{\"payload\":\"" + pl[:8] + "\n" + pl[8:] + "\"}}", false},
		{"payload with an escaped line break", `{"event":"media","media":{"payload":"` + pl[:8] + `\n` + pl[8:] + `"}}`, false},
		{"payload not base64", `{"event":"media","media":{"payload":"not base64!"}}`, false},
		{"payload of bad padding", `{"event":"media","media":{"payload":"QQ="}}`, false},
		{"payload null", `{"event":"media","media":{"payload":null}}`, false},
		{"payload a number", `{"event":"media","media":{"payload":12}}`, false},
		{"payload an array of bytes", `{"event":"media","media":{"payload":[1,2,3]}}`, false},
		{"media null", `{"event":"media","media":null}`, false},
		{"chunk a number", `{"event":"media","media":{"chunk":2,"payload":"` + pl + `"}}`, false},
		{"duplicate event", `{"event":"hello","event":"media","media":{"payload":"` + pl + `"}}`, false},
		{"duplicate payload", `{"event":"media","media":{"payload":"QUFB","payload":"` + pl + `"}}`, false},
		{"unknown key", `{"event":"media","x":1,"media":{"payload":"` + pl + `"}}`, false},
		{"sid not ASCII", `{"event":"clear","streamSid":"MZé"}`, false},
		{"sid invalid UTF-8", "{\"event\":\"clear\",\"streamSid\":\"MZ\xff\"}", false},
		{"trailing garbage", `{"event":"clear"} x`, false},
		{"two objects", `{"event":"clear"}{}`, false},
		{"unterminated", `{"event":"media","media":{"payload":"` + pl, false},
		{"trailing comma", `{"event":"clear",}`, false},
		{"not an object", `["media"]`, false},
		{"empty", ``, false},
		{"empty object", `{}`, false},
		{"large payload", `{"event":"media","media":{"payload":"` + base64.StdEncoding.EncodeToString(make([]byte, 3*slabSize)) + `"}}`, true},
	}
}

// TestParse: parse decodes every message as encoding/json decoded it
// into the old struct, errors included, and takes the common shapes
// without encoding/json.
func TestParse(t *testing.T) {
	const sid = "MZ11111111111111111111111111111111"
	var rd reader
	for _, tc := range appCases() {
		t.Run(tc.name, func(t *testing.T) {
			checkParse(t, &rd, []byte(tc.msg), sid)
			if fast := rd.parseFast([]byte(tc.msg), sid); fast != tc.fast {
				t.Errorf("parseFast = %v, want %v", fast, tc.fast)
			}
		})
	}
}

// checkParse compares parse with the old decoding of data.
func checkParse(t *testing.T, rd *reader, data []byte, sid string) {
	t.Helper()
	var ref refAppMsg
	refErr := json.Unmarshal(data, &ref)
	m, err := rd.parse(data, sid)
	if (err != nil) != (refErr != nil) {
		t.Fatalf("parse error %v, encoding/json's %v", err, refErr)
	}
	if err != nil {
		return
	}
	var refPayload []byte
	if ref.Media != nil {
		refPayload = ref.Media.Payload
	}
	var payload []byte
	if m.Media != nil {
		payload = m.Media.Payload.b
	}
	if m.Event != ref.Event || m.StreamSid != ref.StreamSid || m.StreamID != ref.StreamID ||
		!bytes.Equal(payload, refPayload) || (m.Mark == nil) != (ref.Mark == nil) ||
		m.Mark != nil && *m.Mark != *ref.Mark {
		t.Errorf("parse = %+v (payload %d bytes), encoding/json %+v (payload %d bytes)", *m, len(payload), ref, len(refPayload))
	}
}

// FuzzParse: parse agrees with encoding/json on any message.
func FuzzParse(f *testing.F) {
	for _, tc := range appCases() {
		f.Add([]byte(tc.msg))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var rd reader
		checkParse(t, &rd, data, "MZ1")
	})
}

// TestSlabPayloads: payloads decoded into the same slab stay intact
// while later ones are decoded, across slabs, and a large payload has
// memory of its own.
func TestSlabPayloads(t *testing.T) {
	var rd reader
	var kept [][]byte
	var want [][]byte
	for i := range 3 * slabSize / media.FrameSamples {
		raw := bytes.Repeat([]byte{byte(i)}, media.FrameSamples+i%7)
		msg := `{"event":"media","media":{"payload":"` + base64.StdEncoding.EncodeToString(raw) + `"}}`
		m, err := rd.parse([]byte(msg), "")
		if err != nil {
			t.Fatal(err)
		}
		b := m.Media.Payload.b
		if cap(b) != len(b) {
			t.Fatalf("payload %d: capacity %d beyond its length %d: an append would reach the next", i, cap(b), len(b))
		}
		kept, want = append(kept, b), append(want, raw)
	}
	for i := range kept {
		if !bytes.Equal(kept[i], want[i]) {
			t.Fatalf("payload %d changed by the later ones", i)
		}
	}
	big := make([]byte, slabSize)
	m, err := rd.parse([]byte(`{"event":"media","media":{"payload":"`+base64.StdEncoding.EncodeToString(big)+`"}}`), "")
	if err != nil || !bytes.Equal(m.Media.Payload.b, big) {
		t.Fatalf("large payload: %v", err)
	}
	if len(rd.slab) > slabSize/2 && &rd.slab[:cap(rd.slab)][cap(rd.slab)-1] == &m.Media.Payload.b[len(big)-1] {
		t.Error("a large payload was decoded into the slab")
	}
}

// TestReaderKeepsSmallBuffers: a long message's buffer is not kept for
// the rest of the stream.
func TestReaderKeepsSmallBuffers(t *testing.T) {
	var rd reader
	rd.buf.Write(make([]byte, 2*maxKeptBuffer))
	rd.release()
	if rd.buf.Cap() > maxKeptBuffer {
		t.Errorf("buffer of %d kept", rd.buf.Cap())
	}
	rd.buf.Write(make([]byte, 1000))
	c := rd.buf.Cap()
	rd.release()
	if rd.buf.Cap() != c {
		t.Error("a small buffer was dropped")
	}
}

// TestStalledWriteFails: a write the app never takes fails within the
// write timeout plus one refresh of the deadline, and ends the stream
// with the write's error.
func TestStalledWriteFails(t *testing.T) {
	a := newApp(t, false, true)
	cfg := config(false, nil)
	cfg.Buffer = 8
	s := New(cfg)
	s.writeTimeout = 300 * time.Millisecond
	if err := s.Connect(context.Background(), &Dialer{}, a.url("/media")); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_ = s.Close(ctx)
	}()
	a.accept(t)
	frame := tone(1)
	var blocked time.Time // when the writer stopped taking frames
	limit := time.After(10 * time.Second)
	for {
		select {
		case <-s.Done():
			if blocked.IsZero() {
				t.Fatalf("the stream ended before its writer stalled: %v", s.Err())
			}
			if d := time.Since(blocked); d > s.writeTimeout+s.deadlineRefresh()+500*time.Millisecond {
				t.Errorf("the stalled write failed after %v, want within %v and a refresh", d, s.writeTimeout)
			}
			if err := s.Err(); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Err = %v, want the write's deadline", err)
			}
			return
		case <-limit:
			t.Fatalf("the stream did not end; stats %+v", s.Stats())
		default:
		}
		before := s.Stats().Dropped
		s.Media(Inbound, frame)
		if s.Stats().Dropped > before && blocked.IsZero() {
			blocked = time.Now()
		}
		time.Sleep(50 * time.Microsecond)
	}
}
