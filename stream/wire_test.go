package stream

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/media"
)

// normJSON re-encodes a JSON text with sorted keys, for comparisons.
func normJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestWireFormats checks every message the platform sends, on both
// wires, against the shapes the platforms' pages show
// (https://www.twilio.com/docs/voice/media-streams/websocket-messages,
// https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming).
// The media payload is checked apart: it is the frame in the codec.
func TestWireFormats(t *testing.T) {
	const sid = "MZ11111111111111111111111111111111"
	for _, tc := range []struct {
		name  string
		wire  Wire
		codec media.Codec
		want  []string // connected, start, media (payload removed), dtmf, mark, stop
	}{
		{"twilio", Twilio, media.Codec{}, []string{
			`{"event":"connected","protocol":"Call","version":"1.0.0"}`,
			`{"event":"start","sequenceNumber":"1","streamSid":"` + sid + `","start":{"accountSid":"AC1","callSid":"CA1","customParameters":{"who":"test"},"mediaFormat":{"channels":1,"encoding":"audio/x-mulaw","sampleRate":8000},"streamSid":"` + sid + `","tracks":["inbound"]}}`,
			`{"event":"media","sequenceNumber":"2","streamSid":"` + sid + `","media":{"track":"inbound","chunk":"1","timestamp":"0"}}`,
			`{"event":"dtmf","sequenceNumber":"3","streamSid":"` + sid + `","dtmf":{"track":"inbound_track","digit":"7"}}`,
			`{"event":"mark","sequenceNumber":"4","streamSid":"` + sid + `","mark":{"name":"m1"}}`,
			`{"event":"stop","sequenceNumber":"5","streamSid":"` + sid + `","stop":{"accountSid":"AC1","callSid":"CA1"}}`,
		}},
		{"telnyx PCMA", Telnyx, media.PCMA, []string{
			`{"event":"connected","version":"1.0.0"}`,
			`{"event":"start","sequence_number":"1","stream_id":"` + sid + `","start":{"user_id":"AC1","call_control_id":"CA1","from":"+15550001","to":"+15550002","custom_parameters":{"who":"test"},"media_format":{"encoding":"PCMA","sample_rate":8000,"channels":1}}}`,
			`{"event":"media","sequence_number":"2","stream_id":"` + sid + `","media":{"track":"inbound","chunk":"1","timestamp":"0"}}`,
			`{"event":"dtmf","sequence_number":"3","stream_id":"` + sid + `","dtmf":{"digit":"7"}}`,
			`{"event":"mark","sequence_number":"4","stream_id":"` + sid + `","mark":{"name":"m1"}}`,
			`{"event":"stop","sequence_number":"5","stream_id":"` + sid + `","stop":{"user_id":"AC1","call_control_id":"CA1"}}`,
		}},
		{"telnyx PCMU", Telnyx, media.Codec{}, []string{
			`{"event":"connected","version":"1.0.0"}`,
			`{"event":"start","sequence_number":"1","stream_id":"` + sid + `","start":{"user_id":"AC1","call_control_id":"CA1","from":"+15550001","to":"+15550002","custom_parameters":{"who":"test"},"media_format":{"encoding":"PCMU","sample_rate":8000,"channels":1}}}`,
			`{"event":"media","sequence_number":"2","stream_id":"` + sid + `","media":{"track":"inbound","chunk":"1","timestamp":"0"}}`,
			`{"event":"dtmf","sequence_number":"3","stream_id":"` + sid + `","dtmf":{"digit":"7"}}`,
			`{"event":"mark","sequence_number":"4","stream_id":"` + sid + `","mark":{"name":"m1"}}`,
			`{"event":"stop","sequence_number":"5","stream_id":"` + sid + `","stop":{"user_id":"AC1","call_control_id":"CA1"}}`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, false, false)
			cfg := config(true, nil)
			cfg.Wire, cfg.Codec, cfg.From, cfg.To = tc.wire, tc.codec, "+15550001", "+15550002"
			at := time.Unix(1000, 0)
			cfg.Now = func() time.Time { return at } // timestamp 0
			s, ac := open(t, a, cfg)
			var got []map[string]any
			got = append(got, ac.next(t), ac.next(t))
			s.Media(Inbound, tone(1))
			got = append(got, ac.next(t))
			s.DTMF('7')
			got = append(got, ac.next(t))
			s.addMark("m1") // nothing queued: echoed at once
			got = append(got, ac.next(t))
			_ = s.Close(context.Background())
			got = append(got, ac.next(t))

			md := got[2]["media"].(map[string]any)
			raw, err := base64.StdEncoding.DecodeString(md["payload"].(string))
			var want [media.FrameSamples]byte
			codecOr(tc.codec).Encode(want[:], tone(1))
			if err != nil || string(raw) != string(want[:]) {
				t.Errorf("media payload is not the frame in %s (%v)", codecOr(tc.codec).Name, err)
			}
			delete(md, "payload")
			for i, w := range tc.want {
				b, _ := json.Marshal(got[i])
				if g, w := string(b), normJSON(t, w); g != w {
					t.Errorf("message %d:\n got %s\nwant %s", i+1, g, w)
				}
			}
		})
	}
}

// TestTelnyxFromApp plays the app's media on Telnyx's wire: stream_id
// instead of streamSid, RTP payloads in the bidirectionalCodec (PCMA
// here), and MP3 payloads in mp3 mode.
func TestTelnyxFromApp(t *testing.T) {
	mp3, err := os.ReadFile("../fixtures/audio/tone440_16k_mono.mp3")
	if err != nil {
		t.Fatal(err)
	}
	var pcma [media.FrameSamples]byte
	media.PCMA.Encode(pcma[:], tone(3))
	for _, tc := range []struct {
		name    string
		mp3     bool
		payload []byte
		check   func(t *testing.T, frame []int16)
	}{
		{"rtp PCMA", false, pcma[:], func(t *testing.T, frame []int16) {
			want := make([]int16, media.FrameSamples)
			media.PCMA.Decode(want, pcma[:])
			for i := range want {
				if frame[i] != want[i] {
					t.Fatalf("sample %d = %d, want %d: not decoded as A-law", i, frame[i], want[i])
				}
			}
		}},
		{"mp3", true, mp3, func(t *testing.T, frame []int16) {
			loud := 0
			for _, v := range frame {
				if v > 1000 || v < -1000 {
					loud++
				}
			}
			if loud == 0 {
				t.Error("the decoded MP3 frame is silent")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, false, false)
			cfg := config(true, nil)
			cfg.Wire, cfg.PlayCodec, cfg.PlayMP3 = Telnyx, media.PCMA, tc.mp3
			s, ac := open(t, a, cfg)
			ac.send(t, map[string]any{"event": "media", "stream_id": s.Sid(),
				"media": map[string]any{"payload": base64.StdEncoding.EncodeToString(tc.payload)}})
			waitFor(t, func() bool { return s.Stats().Received > 0 })
			frame := make([]int16, media.FrameSamples)
			if tc.mp3 { // skip the encoder's lead-in
				for range 10 {
					s.Next(frame)
				}
			}
			if !s.Next(frame) {
				t.Fatal("nothing to play")
			}
			tc.check(t, frame)
		})
	}
}

// TestTelnyxErrorFrames answers each message Telnyx's protocol rejects
// with an error frame, and reports the first as Invalid.
func TestTelnyxErrorFrames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mp3   bool
		msg   any
		code  float64
		title string
	}{
		{"another stream's id", false, map[string]any{"event": "clear", "stream_id": "other"}, telnyxMalformedFrame, "malformed_frame"},
		{"media without payload", false, map[string]any{"event": "media", "media": map[string]any{}}, telnyxInvalidMedia, "invalid_media"},
		{"not MP3 in mp3 mode", true, map[string]any{"event": "media",
			"media": map[string]any{"payload": base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 200)))}}, telnyxInvalidMedia, "invalid_media"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, false, false)
			events := make(chan Event, 4)
			cfg := config(true, events)
			cfg.Wire, cfg.PlayMP3 = Telnyx, tc.mp3
			s, ac := open(t, a, cfg)
			ac.send(t, tc.msg)
			m := ac.until(t, "error")
			p, _ := m["payload"].(map[string]any)
			if m["stream_id"] != s.Sid() || p["code"] != tc.code || p["title"] != tc.title || p["detail"] == "" {
				t.Errorf("error frame %v, want code %v %s", m, tc.code, tc.title)
			}
			if e := <-events; e.Kind != Invalid {
				t.Errorf("event %+v, want Invalid", e)
			}
		})
	}
}
