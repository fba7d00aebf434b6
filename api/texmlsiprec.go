package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/texml/texml/calls"
)

// Telnyx's TeXML Siprec commands
// (https://developers.telnyx.com/api-reference/texml-rest-commands/request-siprec-session-for-a-call,
// https://developers.telnyx.com/docs/voice/texml/rest-api/siprec): the
// same recording session as Twilio's Siprec resource, under /v2/texml
// with a Bearer key, JSON or form parameters, Telnyx's answer (200) and
// errors.

// texmlSiprecJSON is Telnyx's answer to both commands.
type texmlSiprecJSON struct {
	AccountSid  string `json:"account_sid"`
	CallSid     string `json:"call_sid"`
	Sid         string `json:"sid"`
	DateCreated string `json:"date_created"`
	DateUpdated string `json:"date_updated"`
	StartTime   string `json:"start_time,omitempty"`
	Status      string `json:"status"`
	Track       string `json:"track,omitempty"`
	URI         string `json:"uri"`
}

// registerTexmlSiprec adds the Siprec commands of Telnyx's API, when the
// call service can run them.
func (s *server) registerTexmlSiprec() {
	if _, ok := s.o.Calls.(SiprecService); !ok {
		return
	}
	s.texmlForkRoutes("Siprec", s.createTexmlSiprec, s.updateTexmlSiprec)
}

func texmlSiprecOf(account, callSid, sid, track, status string) texmlSiprecJSON {
	now := rfc2822(time.Now())
	j := texmlSiprecJSON{AccountSid: account, CallSid: callSid, Sid: sid, DateCreated: now, DateUpdated: now,
		Status: status, Track: track,
		URI: "/v2/texml/Accounts/" + account + "/Calls/" + callSid + "/Siprec/" + sid + ".json"}
	if status == "in-progress" {
		j.StartTime = now
	}
	return j
}

// createTexmlSiprec starts a session: ConnectorName, Name, Track,
// StatusCallback, StatusCallbackMethod (and Parameter1.Name… as for
// Twilio's resource). Secure (TLS and SRTP to the SRS) and SipTransport
// tls are not supported: refused rather than ignored. texml sends the
// INVITE over TCP whatever SipTransport says (its body is larger than
// UDP may carry, RFC 3261 §18.1.1), and its metadata always carries the
// parameters (IncludeMetadataCustomHeaders); SessionTimeoutSecs is not
// sent (no session timer).
func (s *server) createTexmlSiprec(w http.ResponseWriter, r *http.Request) {
	f, p := telnyxForm(r)
	if p != nil {
		writeTelnyxProblem(w, p)
		return
	}
	if refuseValues(w, f, map[string]func(string) bool{
		"Secure":       func(v string) bool { return v == "" || v == "false" },
		"SipTransport": func(v string) bool { return v == "" || v == "udp" || v == "tcp" },
	}, "it has no TLS or SRTP to a recording server yet") {
		return
	}
	req, p := parseSiprec(f)
	if p != nil {
		writeTelnyxProblem(w, p)
		return
	}
	account, sid := r.PathValue("AccountSid"), strings.TrimSuffix(r.PathValue("Sid"), ".json")
	res, err := s.o.Calls.(SiprecService).Siprec(r.Context(), account, sid, calls.SiprecChange{Start: &req})
	if err != nil {
		s.texmlCallError(w, r, "start siprec", err)
		return
	}
	track := req.Track
	if track == "" {
		track = "both_tracks"
	}
	writeJSON(w, http.StatusOK, texmlSiprecOf(account, sid, res.Sid, track, "in-progress"))
}

// updateTexmlSiprec stops a session by its sid or name.
func (s *server) updateTexmlSiprec(w http.ResponseWriter, r *http.Request) {
	s.stopTexmlFork(w, r, "siprec", func(r *http.Request, account, callSid, key string) (string, string, error) {
		res, err := s.o.Calls.(SiprecService).Siprec(r.Context(), account, callSid, calls.SiprecChange{Stop: key})
		return res.Sid, res.Name, err
	}, func(account, callSid, forkSid, _ string) any {
		return texmlSiprecOf(account, callSid, forkSid, "", "stopped")
	})
}
