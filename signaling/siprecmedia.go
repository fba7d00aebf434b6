package signaling

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/media"
)

// srsMedia opens the RTP session of one stream to the recording server:
// held (silent) until the answer says where to send, and without an
// inactivity timeout, since the server sends nothing back (a=sendonly).
func (l *Leg) srsMedia(log *slog.Logger) (*media.Session, error) {
	sock, err := l.m.Ports.Open()
	if err != nil {
		return nil, fmt.Errorf("siprec: rtp port: %w", err)
	}
	sess, err := media.NewSession(media.SessionConfig{
		Socket: sock, Pacer: l.m.Pacer, Codec: media.Codec{Name: "PCMU", PayloadType: 0},
		InactivityTimeout: -1, Metrics: l.m.Metrics, Logger: log, Held: true,
	})
	if err != nil {
		_ = sock.Close()
		return nil, fmt.Errorf("siprec: rtp session: %w", err)
	}
	return sess, nil
}

// closeMedia closes the streams' sessions, which frees their ports.
func (r *srsSession) closeMedia() {
	for _, st := range r.streams {
		if st.sess != nil {
			_ = st.sess.Close()
		}
	}
}

// connect points each stream at the m-line the server answered it with
// and feeds it the call's audio: the inbound track from what the party
// says (Tap), the outbound one from what it hears (TapSent). A stream
// the server refused (port 0) stays silent; none accepted is an error.
func (r *srsSession) connect(res *sip.Response) ([]func(), error) {
	sdp, err := sdpPart(res)
	if err != nil {
		return nil, err
	}
	answers, err := parseSiprecAnswer(sdp)
	if err != nil {
		return nil, err
	}
	if len(answers) != len(r.streams) {
		return nil, fmt.Errorf("the answer has %d m-lines for our %d", len(answers), len(r.streams))
	}
	var bridges []func()
	for i, st := range r.streams {
		a := answers[i]
		if a.addr == nil {
			r.log.Warn("siprec: the recording server refused a stream", "label", st.label)
			continue
		}
		st.sess.SetRemote(a.addr, a.codec, 0)
		st.sess.Hold(false)
		bridges = append(bridges, media.Bridge(callTrack{s: r.leg.sess, sent: st.label == "2"}, st.sess))
	}
	if len(bridges) == 0 {
		return nil, errors.New("the recording server accepted no stream")
	}
	return bridges, nil
}

// sdpPart is the SDP of the server's answer: the body, or its
// application/sdp part when the server answered multipart too.
func sdpPart(res *sip.Response) ([]byte, error) {
	body := res.Body()
	ct := ""
	if h := res.ContentType(); h != nil {
		ct = h.Value()
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		if len(body) == 0 {
			return nil, errors.New("the answer has no SDP")
		}
		return body, nil
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			return nil, fmt.Errorf("the multipart answer has no application/sdp part: %w", err)
		}
		if pt, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); pt == "application/sdp" {
			return io.ReadAll(part)
		}
	}
}

// callTrack is one track of the call as a media.Endpoint for
// media.Bridge: taps of what the party says or of what it hears. The
// recording server's audio, if any, goes nowhere (SetOutput does
// nothing): the call is only listened to.
type callTrack struct {
	s    *media.Session
	sent bool // the outbound track: what the session sends
}

var _ media.Endpoint = callTrack{}

// Format implements media.Endpoint.
func (c callTrack) Format() media.Format { return c.s.Format() }

// SetOutput implements media.Endpoint; the call's output is not ours.
func (c callTrack) SetOutput(media.Source) func() { return func() {} }

// Tap implements media.Endpoint.
func (c callTrack) Tap(k media.Sink) func() {
	if c.sent {
		return c.s.TapSent(k)
	}
	return c.s.Tap(k)
}

// Done implements media.Endpoint.
func (c callTrack) Done() <-chan struct{} { return c.s.Done() }
