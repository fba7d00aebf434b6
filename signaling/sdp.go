// Package signaling is texml's SIP side (github.com/emiago/sipgo): it
// answers inbound INVITEs, negotiates SDP, pairs each dialog with an RTP
// session, and hands the interpreter a Leg. It is not named "sip" so that
// it never clashes with sipgo's sip package.
package signaling

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/sdp/v3"

	"github.com/texml/texml/media"
)

// ErrNoCodec means the offer has no codec we speak: the INVITE gets 488.
var ErrNoCodec = errors.New("sdp: no common codec (we accept PCMU and PCMA)")

// Offer is what we take from a peer's SDP offer.
type Offer struct {
	Addr     *net.UDPAddr // where to send RTP; nil (0.0.0.0) while the peer holds
	Codec    media.Codec
	DTMFType uint8 // telephone-event payload type, 0 when not offered
	Hold     bool  // a=sendonly / a=inactive / c=0.0.0.0 (RFC 3264 §8.4)
	Inactive bool  // a=inactive: the answer must be inactive too
}

// ParseOffer reads an SDP offer and picks the codec: the first of the
// peer's audio formats that is PCMU or PCMA, in the peer's order of
// preference (RFC 3264 §6.1), plus telephone-event/8000 if offered.
func ParseOffer(body []byte) (*Offer, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("sdp: %w", err)
	}
	var audio *sdp.MediaDescription
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media == "audio" && m.MediaName.Port.Value != 0 {
			audio = m
			break
		}
	}
	if audio == nil {
		return nil, fmt.Errorf("%w: no audio stream", ErrNoCodec)
	}
	o := &Offer{}
	for _, f := range audio.MediaName.Formats {
		pt, err := strconv.Atoi(f)
		if err != nil || pt < 0 || pt > 127 {
			continue
		}
		name, rate := rtpmap(audio, pt)
		switch {
		case o.Codec.Name == "" && (pt == 0 || strings.EqualFold(name, "PCMU")) && rate == 8000:
			o.Codec = media.Codec{Name: "PCMU", PayloadType: uint8(pt)}
		case o.Codec.Name == "" && (pt == 8 || strings.EqualFold(name, "PCMA")) && rate == 8000:
			o.Codec = media.Codec{Name: "PCMA", PayloadType: uint8(pt)}
		case strings.EqualFold(name, "telephone-event") && rate == 8000 && o.DTMFType == 0:
			o.DTMFType = uint8(pt)
		}
	}
	if o.Codec.Name == "" {
		return nil, ErrNoCodec
	}
	host := ""
	if audio.ConnectionInformation != nil && audio.ConnectionInformation.Address != nil {
		host = audio.ConnectionInformation.Address.Address
	} else if sd.ConnectionInformation != nil && sd.ConnectionInformation.Address != nil {
		host = sd.ConnectionInformation.Address.Address
	}
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i] // multicast TTL suffix
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, fmt.Errorf("sdp: bad connection address %q", host)
	}
	for _, a := range append(sd.Attributes, audio.Attributes...) {
		switch a.Key {
		case "sendonly":
			o.Hold = true
		case "inactive":
			o.Hold, o.Inactive = true, true
		}
	}
	if ip.IsUnspecified() {
		o.Hold = true
	} else {
		o.Addr = &net.UDPAddr{IP: ip, Port: audio.MediaName.Port.Value}
	}
	return o, nil
}

// rtpmap returns the encoding name and clock rate of payload type pt: from
// a=rtpmap, or the static assignments of RFC 3551 for 0 and 8.
func rtpmap(m *sdp.MediaDescription, pt int) (string, int) {
	prefix := strconv.Itoa(pt) + " "
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" || !strings.HasPrefix(a.Value, prefix) {
			continue
		}
		enc := strings.TrimSpace(strings.TrimPrefix(a.Value, prefix))
		name, rest, _ := strings.Cut(enc, "/")
		rateText, _, _ := strings.Cut(rest, "/")
		rate, err := strconv.Atoi(rateText)
		if err != nil {
			return name, 0
		}
		return name, rate
	}
	switch pt {
	case 0:
		return "PCMU", 8000
	case 8:
		return "PCMA", 8000
	}
	return "", 0
}

// sessionVersion makes each answer's o= version unique and increasing
// (RFC 3264 §8: a changed SDP must carry a higher version).
type sessionVersion struct{ n atomic.Uint64 }

func (v *sessionVersion) next() uint64 { return v.n.Add(1) }

// Answer builds our SDP answer: one audio stream on local with the chosen
// codec, telephone-event when the peer offered it, ptime 20, and the
// direction that mirrors a hold (RFC 3264 §6.1).
func Answer(o *Offer, public net.IP, port int, sessionID, version uint64) []byte {
	ipver := "IP4"
	if public.To4() == nil {
		ipver = "IP6"
	}
	formats := strconv.Itoa(int(o.Codec.PayloadType))
	if o.DTMFType != 0 {
		formats += " " + strconv.Itoa(int(o.DTMFType))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=texml %d %d IN %s %s\r\ns=texml\r\nc=IN %s %s\r\nt=0 0\r\n",
		sessionID, version, ipver, public, ipver, public)
	fmt.Fprintf(&b, "m=audio %d RTP/AVP %s\r\n", port, formats)
	fmt.Fprintf(&b, "a=rtpmap:%d %s/8000\r\n", o.Codec.PayloadType, o.Codec.Name)
	if o.DTMFType != 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", o.DTMFType, o.DTMFType)
	}
	fmt.Fprintf(&b, "a=ptime:%d\r\n", media.FrameDuration/time.Millisecond)
	switch {
	case o.Inactive:
		b.WriteString("a=inactive\r\n")
	case o.Hold:
		b.WriteString("a=recvonly\r\n")
	default:
		b.WriteString("a=sendrecv\r\n")
	}
	return []byte(b.String())
}
