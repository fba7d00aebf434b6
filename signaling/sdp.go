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
	"time"

	"github.com/pion/sdp/v3"

	"github.com/texml/texml/media"
)

// Errors of ParseOffer that make the INVITE a 488.
var (
	// ErrNoCodec means the offer has no codec we speak.
	ErrNoCodec = errors.New("sdp: no common codec (we accept PCMU and PCMA)")
	// ErrSRTP means the only audio offered is secure RTP (RTP/SAVP,
	// RTP/SAVPF, DTLS-SRTP): texml speaks plain RTP/AVP.
	ErrSRTP = errors.New("sdp: secure RTP (RTP/SAVP) is not supported; offer RTP/AVP")
)

// Stream is one m-line of an offer, as the answer must mirror it.
type Stream struct {
	Media   string   // audio, video, application, …
	Proto   string   // RTP/AVP, RTP/SAVP, UDP/BFCP, …
	Formats []string // as offered
}

// Offer is what we take from a peer's SDP offer (or, when we made the
// offer, its answer).
type Offer struct {
	Addr     *net.UDPAddr // where to send RTP; nil (0.0.0.0) while the peer holds
	Codec    media.Codec
	DTMFType uint8 // telephone-event payload type, 0 when not offered
	Hold     bool  // a=sendonly / a=inactive / c=0.0.0.0: we must not send (RFC 3264 §8.4)
	Inactive bool  // a=inactive: the answer must be inactive too
	RecvOnly bool  // a=recvonly: the peer sends nothing; the answer is sendonly

	// Streams are the offer's m-lines in order, and Audio the index of
	// the one we take: the answer has a line for each, the others with
	// port 0 (RFC 3264 §6). Without Streams, Answer writes one audio line.
	Streams []Stream
	Audio   int
}

// ParseOffer reads an SDP offer and picks the audio stream and its codec:
// the first plain RTP (RTP/AVP) audio line with a format we speak, and on
// it the first of the peer's formats that is PCMU or PCMA, in the peer's
// order of preference (RFC 3264 §6.1), plus telephone-event/8000 if
// offered. Other lines, video or application or a second audio, are kept
// for the answer to refuse.
func ParseOffer(body []byte) (*Offer, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("sdp: %w", err)
	}
	o := &Offer{Audio: -1}
	var audio *sdp.MediaDescription
	var sawAudio, sawSRTP bool
	for i, m := range sd.MediaDescriptions {
		proto := strings.Join(m.MediaName.Protos, "/")
		o.Streams = append(o.Streams, Stream{Media: m.MediaName.Media, Proto: proto, Formats: m.MediaName.Formats})
		if audio != nil || m.MediaName.Media != "audio" || m.MediaName.Port.Value == 0 {
			continue
		}
		sawAudio = true
		if !strings.EqualFold(proto, "RTP/AVP") {
			sawSRTP = sawSRTP || strings.Contains(strings.ToUpper(proto), "SAVP")
			continue
		}
		codec, dtmf := pickCodec(m)
		if codec.Name == "" {
			continue
		}
		audio, o.Audio, o.Codec, o.DTMFType = m, i, codec, dtmf
	}
	switch {
	case audio == nil && sawSRTP:
		return nil, ErrSRTP
	case audio == nil && !sawAudio:
		return nil, fmt.Errorf("%w: no audio stream", ErrNoCodec)
	case audio == nil:
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
	// A media-level direction overrides the session-level one (RFC 4566
	// §6); sendrecv is the default.
	dir := direction(audio.Attributes)
	if dir == "" {
		dir = direction(sd.Attributes)
	}
	switch dir {
	case "sendonly":
		o.Hold = true
	case "recvonly":
		o.RecvOnly = true
	case "inactive":
		o.Hold, o.Inactive = true, true
	}
	if ip.IsUnspecified() {
		o.Hold = true
	} else {
		o.Addr = &net.UDPAddr{IP: ip, Port: audio.MediaName.Port.Value}
	}
	return o, nil
}

// pickCodec returns the first of m's formats that is PCMU or PCMA, and
// the telephone-event payload type, if any.
func pickCodec(m *sdp.MediaDescription) (media.Codec, uint8) {
	var c media.Codec
	var dtmf uint8
	for _, f := range m.MediaName.Formats {
		pt, err := strconv.Atoi(f)
		if err != nil || pt < 0 || pt > 127 {
			continue
		}
		name, rate := rtpmap(m, pt)
		switch {
		case c.Name == "" && (pt == 0 || strings.EqualFold(name, "PCMU")) && rate == 8000:
			c = media.Codec{Name: "PCMU", PayloadType: uint8(pt)}
		case c.Name == "" && (pt == 8 || strings.EqualFold(name, "PCMA")) && rate == 8000:
			c = media.Codec{Name: "PCMA", PayloadType: uint8(pt)}
		case strings.EqualFold(name, "telephone-event") && rate == 8000 && dtmf == 0:
			dtmf = uint8(pt)
		}
	}
	return c, dtmf
}

// direction returns the last direction attribute of attrs, or "".
func direction(attrs []sdp.Attribute) string {
	dir := ""
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			dir = a.Key
		}
	}
	return dir
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

// Answer builds our SDP answer: a line for each of the offer's m-lines
// (RFC 3264 §6), those we do not take with port 0; on the audio line the
// chosen codec, telephone-event when the peer offered it, ptime 20, and
// the direction that mirrors the offer's (sendonly ↔ recvonly, inactive).
// version is the o= version: one more than in the previous SDP of the
// call (RFC 3264 §8).
func Answer(o *Offer, public net.IP, port int, sessionID, version uint64) []byte {
	var b strings.Builder
	origin(&b, public, sessionID, version)
	streams, audio := o.Streams, o.Audio
	if len(streams) == 0 {
		streams, audio = []Stream{{Media: "audio", Proto: "RTP/AVP"}}, 0
	}
	for i, st := range streams {
		if i != audio {
			formats := st.Formats
			if len(formats) == 0 {
				formats = []string{"0"} // an m-line needs a format
			}
			fmt.Fprintf(&b, "m=%s 0 %s %s\r\n", st.Media, st.Proto, strings.Join(formats, " "))
			continue
		}
		formats := strconv.Itoa(int(o.Codec.PayloadType))
		if o.DTMFType != 0 {
			formats += " " + strconv.Itoa(int(o.DTMFType))
		}
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
		case o.RecvOnly:
			b.WriteString("a=sendonly\r\n")
		default:
			b.WriteString("a=sendrecv\r\n")
		}
	}
	return []byte(b.String())
}

// offerDTMFType is the telephone-event payload type of our offers.
const offerDTMFType = 101

// OfferSDP builds our SDP offer, for an INVITE or a re-INVITE that came
// without one (RFC 3264 §5; the answer comes in the ACK): one audio
// stream on port with PCMU, PCMA and telephone-event, ptime 20, sendrecv.
// version is as for Answer.
func OfferSDP(public net.IP, port int, sessionID, version uint64) []byte {
	var b strings.Builder
	origin(&b, public, sessionID, version)
	fmt.Fprintf(&b, "m=audio %d RTP/AVP 0 8 %d\r\n", port, offerDTMFType)
	b.WriteString("a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n")
	fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", offerDTMFType, offerDTMFType)
	fmt.Fprintf(&b, "a=ptime:%d\r\na=sendrecv\r\n", media.FrameDuration/time.Millisecond)
	return []byte(b.String())
}

// origin writes the session-level lines: v=, o=, s=, c= and t=.
func origin(b *strings.Builder, public net.IP, sessionID, version uint64) {
	ipver := "IP4"
	if public.To4() == nil {
		ipver = "IP6"
	}
	fmt.Fprintf(b, "v=0\r\no=texml %d %d IN %s %s\r\ns=texml\r\nc=IN %s %s\r\nt=0 0\r\n",
		sessionID, version, ipver, public, ipver, public)
}
