package sipphone

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// The phone's SDP (RFC 4566, offer/answer RFC 3264) is a few lines of
// text, read and written here rather than with texml's parser, so that a
// test checks what texml sends.

// errNoCodec means the other side's SDP has no codec the phone speaks.
var errNoCodec = errors.New("sipphone: no PCMU or PCMA in the SDP")

// session is what the phone reads from the other side's SDP.
type session struct {
	addr      *net.UDPAddr // where to send RTP; nil when c= is 0.0.0.0
	codecs    []Codec      // PCMU and PCMA in the order listed
	dtmf      int          // telephone-event payload type; -1 when absent
	direction string       // sendrecv, sendonly, recvonly or inactive
}

// parseSDP reads the first audio stream of body.
func parseSDP(body []byte) (session, error) {
	s := session{dtmf: -1, direction: "sendrecv"}
	var host string
	var port int
	var formats []string
	names := map[string]string{}
	inAudio, seenAudio := false, false
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		key, val, ok := strings.Cut(line, "=")
		if !ok || len(key) != 1 {
			continue
		}
		switch {
		case key == "m":
			f := strings.Fields(val)
			inAudio = !seenAudio && len(f) >= 4 && f[0] == "audio"
			if inAudio {
				seenAudio = true
				port, _ = strconv.Atoi(f[1])
				formats = f[3:]
			}
		case key == "c" && (inAudio || !seenAudio):
			if f := strings.Fields(val); len(f) == 3 {
				host, _, _ = strings.Cut(f[2], "/")
			}
		case key == "a" && (inAudio || !seenAudio):
			attr, v, _ := strings.Cut(val, ":")
			switch attr {
			case "rtpmap":
				pt, enc, _ := strings.Cut(v, " ")
				names[pt] = strings.ToUpper(enc)
			case "sendrecv", "sendonly", "recvonly", "inactive":
				s.direction = attr
			}
		}
	}
	if !seenAudio {
		return s, errors.New("sipphone: no audio stream in the SDP")
	}
	for _, f := range formats {
		pt, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		name := names[f]
		switch {
		case pt == 0 || strings.HasPrefix(name, "PCMU/8000"):
			s.codecs = append(s.codecs, PCMU)
		case pt == 8 || strings.HasPrefix(name, "PCMA/8000"):
			s.codecs = append(s.codecs, PCMA)
		case strings.HasPrefix(name, "TELEPHONE-EVENT/8000") && s.dtmf < 0:
			s.dtmf = pt
		}
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return s, fmt.Errorf("sipphone: bad connection address %q in the SDP", host)
	}
	if !ip.IsUnspecified() && port != 0 {
		s.addr = &net.UDPAddr{IP: ip, Port: port}
	}
	return s, nil
}

// has reports whether the SDP lists codec c.
func (s session) has(c Codec) bool {
	for _, x := range s.codecs {
		if x == c {
			return true
		}
	}
	return false
}

// mirror is the direction that answers an offered one (RFC 3264 §6.1).
func mirror(direction string) string {
	switch direction {
	case "sendonly":
		return "recvonly"
	case "recvonly":
		return "sendonly"
	}
	return direction
}

// description is the phone's own SDP: one audio stream on 127.0.0.1.
type description struct {
	version   int     // o= session version; each new SDP has a higher one
	port      int     // our RTP port
	codecs    []Codec // listed in this order
	dtmf      int     // telephone-event payload type; -1 for none
	direction string  // "" for sendrecv
}

// String writes the SDP.
func (d description) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=phone 1 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n", d.version)
	fmt.Fprintf(&b, "m=audio %d RTP/AVP", d.port)
	for _, c := range d.codecs {
		fmt.Fprintf(&b, " %d", c.PayloadType())
	}
	if d.dtmf >= 0 {
		fmt.Fprintf(&b, " %d", d.dtmf)
	}
	b.WriteString("\r\n")
	for _, c := range d.codecs {
		fmt.Fprintf(&b, "a=rtpmap:%d %s/8000\r\n", c.PayloadType(), c)
	}
	if d.dtmf >= 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", d.dtmf, d.dtmf)
	}
	b.WriteString("a=ptime:20\r\n")
	dir := d.direction
	if dir == "" {
		dir = "sendrecv"
	}
	fmt.Fprintf(&b, "a=%s\r\n", dir)
	return b.String()
}
