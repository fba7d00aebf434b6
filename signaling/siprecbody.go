package signaling

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/texml/texml/media"
	"github.com/texml/texml/verbs"
)

// Content types of a SIPREC INVITE (RFC 7866, RFC 7865).
const (
	metadataType = "application/rs-metadata+xml"
	// metadataNS is the recording metadata's XML namespace (RFC 7865).
	metadataNS = "urn:ietf:params:xml:ns:recording:1"
	// texmlNS is the namespace of texml's extension data in the
	// metadata: the CallSid, the SIP Call-ID and the <Parameter>s
	// (RFC 7865's schema lets its elements carry extension data in
	// another namespace).
	texmlNS = "urn:x-texml:siprec:1"
)

// srsStream is one RTP stream of a recording session: a track of the
// call, the m-line that offers it, and where the server wants it.
type srsStream struct {
	label string // a=label (RFC 4574): "1" inbound, "2" outbound
	id    string // the metadata's stream_id
	sess  *media.Session
}

// metaID is a metadata identifier: a UUID's 16 bytes in base64, the
// shape of RFC 7865's examples.
func metaID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4 (RFC 9562 §5.4)
	b[8] = b[8]&0x3f | 0x80
	return base64.StdEncoding.EncodeToString(b[:])
}

// siprecOffer is the SDP offer of a recording session (RFC 7866):
// one sendonly audio m-line per stream, each with its a=label so that
// the metadata can say whose audio it is. G.711 only; DTMF is not sent
// ("Dual-Tone Multi-Frequency (DTMF) tones aren't sent to the
// connector", Twilio's <Siprec> page), so no telephone-event.
func siprecOffer(public net.IP, streams []*srsStream, sessionID uint64) []byte {
	ipver := "IP4"
	if public.To4() == nil {
		ipver = "IP6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=texml %d 1 IN %s %s\r\ns=SIPREC\r\nc=IN %s %s\r\nt=0 0\r\n",
		sessionID, ipver, public, ipver, public)
	for _, s := range streams {
		fmt.Fprintf(&b, "m=audio %d RTP/AVP 0 8\r\n", s.sess.LocalAddr().Port)
		b.WriteString("a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n")
		fmt.Fprintf(&b, "a=ptime:%d\r\na=sendonly\r\na=label:%s\r\n", media.FrameDuration/time.Millisecond, s.label)
	}
	return []byte(b.String())
}

// answerStream is one m-line of the server's SDP answer.
type answerStream struct {
	addr  *net.UDPAddr // nil when the stream was refused (port 0)
	codec media.Codec
}

// parseSiprecAnswer reads the server's answer: one audio stream per
// m-line, in the offer's order (RFC 3264 §6), each with the connection
// address of its own c= line or the session's.
func parseSiprecAnswer(body []byte) ([]answerStream, error) {
	var out []answerStream
	var sessIP, mediaIP net.IP
	cur := -1
	finish := func() {
		if cur >= 0 && out[cur].addr != nil {
			ip := mediaIP
			if ip == nil {
				ip = sessIP
			}
			out[cur].addr.IP = ip
			if ip == nil || ip.IsUnspecified() {
				out[cur].addr = nil // on hold: nothing to send to
			}
		}
	}
	for _, line := range strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "c="):
			f := strings.Fields(line[2:])
			if len(f) < 3 {
				return nil, fmt.Errorf("bad SDP line %q", line)
			}
			ip := net.ParseIP(strings.Split(f[2], "/")[0])
			if cur < 0 {
				sessIP = ip
			} else {
				mediaIP = ip
			}
		case strings.HasPrefix(line, "m="):
			finish()
			mediaIP = nil
			f := strings.Fields(line[2:])
			if len(f) < 4 {
				return nil, fmt.Errorf("bad SDP line %q", line)
			}
			port, err := strconv.Atoi(f[1])
			if err != nil {
				return nil, fmt.Errorf("bad SDP line %q", line)
			}
			s := answerStream{codec: media.Codec{Name: "PCMU", PayloadType: 0}}
			if f[0] == "audio" && port > 0 {
				s.addr = &net.UDPAddr{Port: port}
				if f[3] == "8" {
					s.codec = media.Codec{Name: "PCMA", PayloadType: 8}
				} else if f[3] != "0" {
					s.addr = nil // neither G.711 law: nothing we can send
				}
			}
			out = append(out, s)
			cur = len(out) - 1
		}
	}
	finish()
	if len(out) == 0 {
		return nil, errors.New("no m-line in the SDP answer")
	}
	return out, nil
}

// recParty is a participant of the recorded call in the metadata.
type recParty struct {
	id, aor, name string
	send          *srsStream // the stream of what this party says; nil when not recorded
	recv          *srsStream // the stream of what it hears
}

// siprecMetadata is the recording metadata (RFC 7865, its XML format):
// one recording session, one group, the communication session (the
// recorded call, with its SIP Call-ID and CallSid as extension data),
// two participants, caller and callee, and the streams each sends and
// receives. datamode is complete: this is the whole snapshot.
func siprecMetadata(callID, callSid, accountSid, siprecSid string, from, to recParty, streams []*srsStream, params []verbs.Param, now time.Time) []byte {
	var b bytes.Buffer
	esc := func(s string) string {
		var e bytes.Buffer
		_ = xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	at := now.UTC().Format(time.RFC3339)
	group, session := metaID(), metaID()
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<recording xmlns=%q xmlns:texml=%q>\r\n<datamode>complete</datamode>\r\n", metadataNS, texmlNS)
	fmt.Fprintf(&b, "<group group_id=%q>\r\n<associate-time>%s</associate-time>\r\n</group>\r\n", group, at)
	fmt.Fprintf(&b, "<session session_id=%q>\r\n<group-ref>%s</group-ref>\r\n<start-time>%s</start-time>\r\n", session, group, at)
	// RFC 7865's sipSessionID is the RFC 7989 Session-ID, which the
	// recorded call does not carry; its Call-ID goes as extension data,
	// elements of texml's namespace (the schema's xs:any ##other).
	fmt.Fprintf(&b, "<texml:callId>%s</texml:callId>\r\n<texml:callSid>%s</texml:callSid>\r\n", esc(callID), esc(callSid))
	fmt.Fprintf(&b, "<texml:accountSid>%s</texml:accountSid>\r\n<texml:siprecSid>%s</texml:siprecSid>\r\n", esc(accountSid), esc(siprecSid))
	for _, p := range params {
		fmt.Fprintf(&b, "<texml:parameter name=\"%s\">%s</texml:parameter>\r\n", esc(p.Name), esc(p.Value))
	}
	b.WriteString("</session>\r\n")
	for _, p := range []recParty{from, to} {
		fmt.Fprintf(&b, "<participant participant_id=%q>\r\n<nameID aor=\"%s\">", p.id, esc(p.aor))
		if p.name != "" {
			fmt.Fprintf(&b, "<name>%s</name>", esc(p.name))
		}
		b.WriteString("</nameID>\r\n</participant>\r\n")
		fmt.Fprintf(&b, "<participantsessionassoc participant_id=%q session_id=%q>\r\n<associate-time>%s</associate-time>\r\n</participantsessionassoc>\r\n", p.id, session, at)
	}
	for _, s := range streams {
		fmt.Fprintf(&b, "<stream stream_id=%q session_id=%q>\r\n<label>%s</label>\r\n</stream>\r\n", s.id, session, s.label)
	}
	for _, p := range []recParty{from, to} {
		fmt.Fprintf(&b, "<participantstreamassoc participant_id=%q>\r\n", p.id)
		if p.send != nil {
			fmt.Fprintf(&b, "<send>%s</send>\r\n", p.send.id)
		}
		if p.recv != nil {
			fmt.Fprintf(&b, "<recv>%s</recv>\r\n", p.recv.id)
		}
		b.WriteString("</participantstreamassoc>\r\n")
	}
	b.WriteString("</recording>\r\n")
	return b.Bytes()
}

// multipartBody joins the SDP offer and the metadata into the INVITE's
// multipart/mixed body (RFC 2046 §5.1.3; RFC 7866), the metadata
// marked Content-Disposition: recording-session (RFC 7866). It
// returns the body and its Content-Type.
func multipartBody(sdp, metadata []byte) ([]byte, string) {
	var r [12]byte
	_, _ = rand.Read(r[:])
	boundary := "texml-siprec-" + hex.EncodeToString(r[:])
	var b bytes.Buffer
	fmt.Fprintf(&b, "--%s\r\nContent-Type: application/sdp\r\n\r\n", boundary)
	b.Write(sdp)
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: %s\r\nContent-Disposition: recording-session\r\n\r\n", boundary, metadataType)
	b.Write(metadata)
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.Bytes(), "multipart/mixed;boundary=" + boundary
}
