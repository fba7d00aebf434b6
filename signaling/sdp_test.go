package signaling

import (
	"errors"
	"net"
	"strings"
	"testing"
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
	}{
		{name: "pcmu with dtmf", lines: []string{"m=audio 4000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000"}, codec: "PCMU", pt: 0, dtmf: 101, port: 4000},
		{name: "peer prefers pcma", lines: []string{"m=audio 4000 RTP/AVP 8 0"}, codec: "PCMA", pt: 8, port: 4000},
		{name: "opus first then pcmu", lines: []string{"m=audio 4000 RTP/AVP 111 0", "a=rtpmap:111 opus/48000/2"}, codec: "PCMU", pt: 0, port: 4000},
		{name: "dynamic pcmu", lines: []string{"m=audio 4000 RTP/AVP 96", "a=rtpmap:96 PCMU/8000"}, codec: "PCMU", pt: 96, port: 4000},
		{name: "sendonly is hold", lines: []string{"m=audio 4000 RTP/AVP 0", "a=sendonly"}, codec: "PCMU", hold: true, port: 4000},
		{name: "only g729", lines: []string{"m=audio 4000 RTP/AVP 18"}, wantErr: ErrNoCodec},
		{name: "no audio", lines: []string{"m=video 4000 RTP/AVP 96"}, wantErr: ErrNoCodec},
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
			if o.Codec.Name != tt.codec || o.Codec.PayloadType != tt.pt || o.DTMFType != tt.dtmf || o.Hold != tt.hold || o.Addr.Port != tt.port {
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
