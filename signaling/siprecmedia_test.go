package signaling

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// TestSDPPart: the recording server's answer is plain SDP, or a
// multipart body whose application/sdp part is taken wherever it is.
func TestSDPPart(t *testing.T) {
	const sdp = "v=0\r\ns=-\r\n"
	multi := "--b1\r\nContent-Type: application/rs-metadata+xml\r\n\r\n<x/>\r\n" +
		"--b1\r\nContent-Type: application/sdp\r\n\r\n" + sdp + "\r\n--b1--\r\n"
	for _, tc := range []struct {
		name, ctype, body, want string
		fail                    bool
	}{
		{"plain", "application/sdp", sdp, sdp, false},
		{"multipart, SDP second", "multipart/mixed;boundary=b1", multi, sdp, false},
		{"multipart without SDP", "multipart/mixed;boundary=b1", "--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1--\r\n", "", true},
		{"no body", "application/sdp", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := sip.NewResponse(200, "OK")
			res.AppendHeader(sip.NewHeader("Content-Type", tc.ctype))
			res.SetBody([]byte(tc.body))
			got, err := sdpPart(res)
			if (err != nil) != tc.fail || string(got) != tc.want {
				t.Errorf("sdpPart: %q, %v; want %q (fail %v)", got, err, tc.want, tc.fail)
			}
		})
	}
}
