package signaling

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

func sdpOf(lines ...string) []byte { return []byte(strings.Join(lines, "\r\n") + "\r\n") }

func TestParseOffer(t *testing.T) {
	head := []string{"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0"}
	tests := []struct {
		name    string
		lines   []string
		codec   string
		pt      uint8
		dtmf    uint8
		hold    bool
		port    int
		wantErr error

		inactive, recvonly bool
		audio              int
	}{
		{name: "pcmu with dtmf", lines: []string{"m=audio 4000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000"}, codec: "PCMU", pt: 0, dtmf: 101, port: 4000},
		{name: "peer prefers pcma", lines: []string{"m=audio 4000 RTP/AVP 8 0"}, codec: "PCMA", pt: 8, port: 4000},
		{name: "opus first then pcmu", lines: []string{"m=audio 4000 RTP/AVP 111 0", "a=rtpmap:111 opus/48000/2"}, codec: "PCMU", pt: 0, port: 4000},
		{name: "dynamic pcmu", lines: []string{"m=audio 4000 RTP/AVP 96", "a=rtpmap:96 PCMU/8000"}, codec: "PCMU", pt: 96, port: 4000},
		{name: "sendonly is hold", lines: []string{"m=audio 4000 RTP/AVP 0", "a=sendonly"}, codec: "PCMU", hold: true, port: 4000},
		{name: "only g729", lines: []string{"m=audio 4000 RTP/AVP 18"}, wantErr: ErrNoCodec},
		{name: "no audio", lines: []string{"m=video 4000 RTP/AVP 96"}, wantErr: ErrNoCodec},
		{name: "video first", lines: []string{"m=video 5000 RTP/AVP 96", "a=rtpmap:96 VP8/90000", "m=audio 4000 RTP/AVP 8"}, codec: "PCMA", pt: 8, port: 4000, audio: 1},
		{name: "srtp only", lines: []string{"m=audio 4000 RTP/SAVP 0", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"}, wantErr: ErrSRTP},
		{name: "dtls srtp only", lines: []string{"m=audio 4000 UDP/TLS/RTP/SAVPF 0"}, wantErr: ErrSRTP},
		{name: "srtp then rtp", lines: []string{"m=audio 4000 RTP/SAVP 0", "m=audio 4002 RTP/AVP 0"}, codec: "PCMU", port: 4002, audio: 1},
		{name: "g729 line then pcmu line", lines: []string{"m=audio 4000 RTP/AVP 18", "m=audio 4002 RTP/AVP 0"}, codec: "PCMU", port: 4002, audio: 1},
		{name: "rejected audio skipped", lines: []string{"m=audio 0 RTP/AVP 0", "m=audio 4002 RTP/AVP 0"}, codec: "PCMU", port: 4002, audio: 1},
		{name: "recvonly", lines: []string{"m=audio 4000 RTP/AVP 0", "a=recvonly"}, codec: "PCMU", recvonly: true, port: 4000},
		{name: "inactive", lines: []string{"m=audio 4000 RTP/AVP 0", "a=inactive"}, codec: "PCMU", hold: true, inactive: true, port: 4000},
		{name: "session sendonly", lines: []string{"a=sendonly", "m=audio 4000 RTP/AVP 0"}, codec: "PCMU", hold: true, port: 4000},
		{name: "media overrides session", lines: []string{"a=sendonly", "m=audio 4000 RTP/AVP 0", "a=sendrecv"}, codec: "PCMU", port: 4000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := ParseOffer(sdpOf(append(append([]string{}, head...), tt.lines...)...))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.Codec.Name != tt.codec || o.Codec.PayloadType != tt.pt || o.DTMFType != tt.dtmf || o.Hold != tt.hold || o.Addr.Port != tt.port ||
				o.Inactive != tt.inactive || o.RecvOnly != tt.recvonly || o.Audio != tt.audio {
				t.Errorf("got %+v %v", o, o.Addr)
			}
		})
	}
	if _, err := ParseOffer([]byte("garbage")); err == nil {
		t.Error("garbage SDP: want an error")
	}
	o, err := ParseOffer(sdpOf("v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "c=IN IP4 0.0.0.0", "t=0 0", "m=audio 4000 RTP/AVP 0"))
	if err != nil || !o.Hold || o.Addr != nil {
		t.Errorf("c=0.0.0.0: %+v, %v", o, err)
	}
}

func TestAnswer(t *testing.T) {
	o := &Offer{DTMFType: 101}
	o.Codec.Name, o.Codec.PayloadType = "PCMA", 8
	ans := string(Answer(o, net.ParseIP("192.0.2.7"), 10002, 42, 1))
	for _, want := range []string{"c=IN IP4 192.0.2.7", "m=audio 10002 RTP/AVP 8 101", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", "a=ptime:20", "a=sendrecv"} {
		if !strings.Contains(ans, want) {
			t.Errorf("answer lacks %q:\n%s", want, ans)
		}
	}
	if _, err := ParseOffer([]byte(ans)); err != nil {
		t.Errorf("our answer does not parse as an offer: %v", err)
	}
	o.Hold = true
	if ans := string(Answer(o, net.ParseIP("192.0.2.7"), 10002, 42, 2)); !strings.Contains(ans, "a=recvonly") {
		t.Errorf("hold answer:\n%s", ans)
	}
}

// TestAnswerEveryStream: the answer has a line for each offered m-line,
// in order (RFC 3264 §6); the ones we do not take have port 0 and keep
// their media type, transport and formats.
func TestAnswerEveryStream(t *testing.T) {
	offer := sdpOf("v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0",
		"m=video 5000 RTP/AVP 96 97", "a=rtpmap:96 VP8/90000",
		"m=audio 4000 RTP/SAVP 0", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
		"m=audio 4002 RTP/AVP 8 0 101", "a=rtpmap:101 telephone-event/8000",
		"m=application 5002 UDP/BFCP *")
	o, err := ParseOffer(offer)
	if err != nil {
		t.Fatal(err)
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(Answer(o, net.ParseIP("192.0.2.7"), 10002, 42, 1)); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		media, proto string
		port         int
		formats      string
	}{
		{"video", "RTP/AVP", 0, "96 97"},
		{"audio", "RTP/SAVP", 0, "0"},
		{"audio", "RTP/AVP", 10002, "8 101"},
		{"application", "UDP/BFCP", 0, "*"},
	}
	if len(sd.MediaDescriptions) != len(want) {
		t.Fatalf("%d m-lines in the answer, want %d", len(sd.MediaDescriptions), len(want))
	}
	for i, w := range want {
		m := sd.MediaDescriptions[i].MediaName
		if m.Media != w.media || strings.Join(m.Protos, "/") != w.proto || m.Port.Value != w.port || strings.Join(m.Formats, " ") != w.formats {
			t.Errorf("m-line %d: %s %d %s %v, want %+v", i, m.Media, m.Port.Value, strings.Join(m.Protos, "/"), m.Formats, w)
		}
	}
}

// TestAnswerDirection: the answer mirrors the offer's direction (RFC 3264
// §6.1).
func TestAnswerDirection(t *testing.T) {
	for _, tt := range []struct{ offer, answer string }{
		{"", "a=sendrecv"},
		{"a=sendrecv", "a=sendrecv"},
		{"a=sendonly", "a=recvonly"},
		{"a=recvonly", "a=sendonly"},
		{"a=inactive", "a=inactive"},
	} {
		lines := []string{"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0", "m=audio 4000 RTP/AVP 0"}
		if tt.offer != "" {
			lines = append(lines, tt.offer)
		}
		o, err := ParseOffer(sdpOf(lines...))
		if err != nil {
			t.Fatal(err)
		}
		ans := string(Answer(o, net.ParseIP("192.0.2.7"), 10002, 42, 1))
		if !strings.Contains(ans, tt.answer+"\r\n") {
			t.Errorf("offer %q: answer\n%s\nwant %s", tt.offer, ans, tt.answer)
		}
	}
}
