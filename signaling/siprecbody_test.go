package signaling

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/verbs"
)

// TestParseSiprecAnswer checks the reading of a recording server's SDP
// answer: one stream per m-line in order (RFC 3264 §6), the media c=
// line over the session's, port 0 and an unspecified address as
// nothing to send to, and the codec the server chose.
func TestParseSiprecAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, sdp string
		want      []string // "addr codec" per m-line; "-" for none
	}{
		{name: "two streams", sdp: "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 8\r\n",
			want: []string{"192.0.2.1:4000 PCMU", "192.0.2.1:4002 PCMA"}},
		{name: "media c= wins", sdp: "v=0\nc=IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 0\nc=IN IP4 192.0.2.9\nm=audio 4002 RTP/AVP 0\n",
			want: []string{"192.0.2.9:4000 PCMU", "192.0.2.1:4002 PCMU"}},
		{name: "refused stream", sdp: "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 0 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 0\r\n",
			want: []string{"-", "192.0.2.1:4002 PCMU"}},
		{name: "on hold", sdp: "v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n", want: []string{"-"}},
		{name: "not G.711", sdp: "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 9\r\n", want: []string{"-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSiprecAnswer([]byte(tc.sdp))
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, a := range got {
				if a.addr == nil {
					s = append(s, "-")
					continue
				}
				s = append(s, a.addr.String()+" "+a.codec.Name)
			}
			if strings.Join(s, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %v, want %v", s, tc.want)
			}
		})
	}
	if _, err := parseSiprecAnswer([]byte("v=0\r\n")); err == nil {
		t.Error("an answer without m-lines was taken")
	}
}

// TestSiprecBody checks the INVITE body: a multipart/mixed that a MIME
// reader splits into the SDP and the metadata, and metadata that is
// well-formed XML in RFC 7865's namespace, escaping what it quotes.
func TestSiprecBody(t *testing.T) {
	in, out := &srsStream{label: "1", id: metaID()}, &srsStream{label: "2", id: metaID()}
	caller := recParty{id: metaID(), aor: "sip:+15551110000@192.0.2.1", name: `Ann "A" <x>`, send: in, recv: out}
	callee := recParty{id: metaID(), aor: "sip:+15552220000@192.0.2.2", send: out, recv: in}
	meta := siprecMetadata("call-1@host", "CA1", "AC1", "SR1", caller, callee, []*srsStream{in, out},
		[]verbs.Param{{Name: "k<", Value: "v&"}}, time.Unix(0, 0))
	body, ctype := multipartBody([]byte("v=0\r\n"), meta)
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q: %v", ctype, err)
	}
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var types []string
	var xmlPart []byte
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		types = append(types, p.Header.Get("Content-Type"))
		if p.Header.Get("Content-Type") == metadataType {
			xmlPart = b
			if p.Header.Get("Content-Disposition") != "recording-session" {
				t.Errorf("metadata disposition %q", p.Header.Get("Content-Disposition"))
			}
		}
	}
	if strings.Join(types, ",") != "application/sdp,"+metadataType {
		t.Errorf("parts %v", types)
	}
	var doc struct {
		XMLName xml.Name
		Streams []struct {
			ID    string `xml:"stream_id,attr"`
			Label string `xml:"label"`
		} `xml:"stream"`
		Participants []struct {
			NameID struct {
				AOR  string `xml:"aor,attr"`
				Name string `xml:"name"`
			} `xml:"nameID"`
		} `xml:"participant"`
		Session struct {
			CallSid string `xml:"urn:x-texml:siprec:1 callSid"`
			Param   struct {
				Name  string `xml:"name,attr"`
				Value string `xml:",chardata"`
			} `xml:"urn:x-texml:siprec:1 parameter"`
		} `xml:"session"`
	}
	if err := xml.Unmarshal(xmlPart, &doc); err != nil {
		t.Fatalf("metadata is not well-formed: %v\n%s", err, xmlPart)
	}
	if doc.XMLName.Space != metadataNS || doc.XMLName.Local != "recording" {
		t.Errorf("root %v", doc.XMLName)
	}
	if len(doc.Streams) != 2 || doc.Streams[0].Label != "1" || doc.Streams[1].ID != out.id {
		t.Errorf("streams %+v", doc.Streams)
	}
	if len(doc.Participants) != 2 || doc.Participants[0].NameID.Name != `Ann "A" <x>` || doc.Participants[1].NameID.AOR != callee.aor {
		t.Errorf("participants %+v", doc.Participants)
	}
	if doc.Session.CallSid != "CA1" || doc.Session.Param.Name != "k<" || doc.Session.Param.Value != "v&" {
		t.Errorf("extension data %+v", doc.Session)
	}
}

// TestSrsURI checks connectorName resolution: a configured name, a sip:
// URI written in the document (Twilio's ;edge= dropped), and the
// refusals, all ErrUnknownConnector; a configured connector's
// credentials come with it.
func TestSrsURI(t *testing.T) {
	s := &Server{cfg: Config{SiprecConnectors: map[string]SiprecConnector{
		"rec": {URI: "sip:srs@192.0.2.1:5080;transport=tcp", Username: "u", Password: "p"}, "bad": {URI: "http://x"}}}}
	for _, tc := range []struct{ connector, want string }{
		{"rec", "sip:srs@192.0.2.1:5080;transport=tcp"},
		{"sip:srs@192.0.2.2;edge=dublin", "sip:srs@192.0.2.2"},
		{"SIP:srs@192.0.2.3:5060", "sip:srs@192.0.2.3:5060"},
		{"nope", ""},
		{"bad", ""},
		{"sips:srs@192.0.2.4", ""},
	} {
		u, c, err := s.srsURI(tc.connector)
		if tc.want == "" {
			if !errors.Is(err, interpreter.ErrUnknownConnector) {
				t.Errorf("%q: %v, want ErrUnknownConnector", tc.connector, err)
			}
			continue
		}
		if err != nil || u.String() != tc.want {
			t.Errorf("%q: %v %v, want %s", tc.connector, u.String(), err, tc.want)
		}
		if wantAuth := tc.connector == "rec"; (c.Username == "u" && c.Password == "p") != wantAuth {
			t.Errorf("%q: credentials %q/%q", tc.connector, c.Username, c.Password)
		}
	}
}
