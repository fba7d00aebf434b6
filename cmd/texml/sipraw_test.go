package main

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Requests no phone would make, from a bare sipgo client: the test phone
// (internal/sipphone) makes the ones phones do.

// plainOffer is an SDP offer of PCMU and telephone-event on port.
func plainOffer(port int) string {
	return fmt.Sprintf("v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n", port)
}

// inviteRaw sends one INVITE with body from a bare sipgo client and
// returns the final response code: for offers no phone would make.
func inviteRaw(t *testing.T, target string, body string) int {
	t.Helper()
	return int(sipRequest(t, target, sip.INVITE, "application/sdp", []byte(body)).StatusCode)
}

// sipRequest sends one request outside a dialog from a bare sipgo client
// and returns texml's final response.
func sipRequest(t *testing.T, target string, method sip.RequestMethod, contentType string, body []byte) *sip.Response {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("texml-test-raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	host, portText, _ := net.SplitHostPort(target)
	var port int
	fmt.Sscan(portText, &port)
	req := sip.NewRequest(method, sip.Uri{Scheme: "sip", User: "test", Host: host, Port: port})
	if contentType != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	}
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cli.Do(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return res
}
