package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/texml/texml/calls"
	"github.com/texml/texml/interpreter"
)

// The Siprec resource (https://www.twilio.com/docs/voice/api/siprec):
// create opens a SIPREC session on a live call, as <Start><Siprec>
// does, without disturbing the verb that runs; update with
// Status=stopped ends it (or one <Start><Siprec> started), by sid or by
// name. Twilio has no fetch or list for it, and neither has texml.

// SiprecService is what the Siprec resource acts through:
// *calls.Service. The routes are served when Options.Calls has it.
type SiprecService interface {
	Siprec(ctx context.Context, account, callSid string, sc calls.SiprecChange) (calls.SiprecResult, error)
}

var _ SiprecService = (*calls.Service)(nil)

// siprecJSON is Twilio's Siprec resource
// (https://www.twilio.com/docs/voice/api/siprec#siprec-properties).
type siprecJSON struct {
	Sid         string  `json:"sid"`
	AccountSid  string  `json:"account_sid"`
	CallSid     string  `json:"call_sid"`
	Name        *string `json:"name"`
	Status      string  `json:"status"`
	DateUpdated string  `json:"date_updated"`
	URI         string  `json:"uri"`
}

// registerSiprec adds the Siprec routes under acct, when the call
// service can run them.
func (s *server) registerSiprec(acct string) {
	if _, ok := s.o.Calls.(SiprecService); !ok {
		return
	}
	for _, p := range []string{"Siprec", "Siprec.json"} {
		s.mux.HandleFunc("POST "+acct+"Calls/{Sid}/"+p, s.createSiprec)
	}
	s.mux.HandleFunc("POST "+acct+"Calls/{Sid}/Siprec/{SiprecSid}", s.updateSiprec)
}

// siprecOf renders a session as Twilio does; one without a name has a
// null one.
func siprecOf(account, callSid string, res calls.SiprecResult, status string) siprecJSON {
	j := siprecJSON{Sid: res.Sid, AccountSid: account, CallSid: callSid, Status: status,
		DateUpdated: rfc2822(time.Now()),
		URI:         prefix + account + "/Calls/" + callSid + "/Siprec/" + res.Sid + ".json"}
	if res.Name != "" {
		j.Name = &res.Name
	}
	return j
}

// createSiprec is POST …/Calls/CA…/Siprec.json: ConnectorName, Name,
// Track, StatusCallback, StatusCallbackMethod and ParameterN.Name/Value.
func (s *server) createSiprec(w http.ResponseWriter, r *http.Request) {
	sid, ok := callSid(w, r)
	if !ok {
		return
	}
	if !parseForm(w, r) {
		return
	}
	req, p := parseSiprec(r.PostForm)
	if p != nil {
		writeProblem(w, p)
		return
	}
	account := r.PathValue("AccountSid")
	res, err := s.o.Calls.(SiprecService).Siprec(r.Context(), account, sid, calls.SiprecChange{Start: &req})
	if err != nil {
		s.callError(w, r, "start siprec", err)
		return
	}
	writeJSON(w, http.StatusCreated, siprecOf(account, sid, res, "in-progress"))
}

// updateSiprec is POST …/Calls/CA…/Siprec/{SR… or name}.json with
// Status=stopped, the only update Twilio has.
func (s *server) updateSiprec(w http.ResponseWriter, r *http.Request) {
	sid, ok := callSid(w, r)
	if !ok {
		return
	}
	if !parseForm(w, r) {
		return
	}
	if st := r.PostForm.Get("Status"); st != "stopped" {
		writeProblem(w, invalid(codeInvalidParameter, "Status", "Invalid Status: want stopped"))
		return
	}
	key := strings.TrimSuffix(r.PathValue("SiprecSid"), ".json")
	account := r.PathValue("AccountSid")
	res, err := s.o.Calls.(SiprecService).Siprec(r.Context(), account, sid, calls.SiprecChange{Stop: key})
	if err != nil {
		s.callError(w, r, "stop siprec", err)
		return
	}
	writeJSON(w, http.StatusOK, siprecOf(account, sid, res, "stopped"))
}

// parseSiprec reads a session's parameters. The connector is checked by
// the call's leg, which knows the configured ones.
func parseSiprec(f url.Values) (interpreter.SiprecRequest, *problem) {
	req := interpreter.SiprecRequest{ConnectorName: strings.TrimSpace(f.Get("ConnectorName")), Name: f.Get("Name"),
		Track: f.Get("Track"), StatusCallback: f.Get("StatusCallback"), StatusCallbackMethod: f.Get("StatusCallbackMethod")}
	switch req.Track {
	case "", "inbound_track", "outbound_track", "both_tracks":
	default:
		return req, invalid(codeInvalidParameter, "Track", "Invalid Track: want inbound_track, outbound_track or both_tracks")
	}
	if req.ConnectorName == "" {
		return req, invalid(codeInvalidParameter, "ConnectorName", "Missing required parameter ConnectorName")
	}
	if req.StatusCallback != "" && !webURL(req.StatusCallback) {
		return req, invalid(codeInvalidURL, "StatusCallback", "Invalid StatusCallback: "+req.StatusCallback)
	}
	if !httpMethod(req.StatusCallbackMethod) {
		return req, invalid(codeBadMethod, "StatusCallbackMethod", "Invalid method: want GET or POST")
	}
	req.StatusCallbackMethod = strings.ToUpper(req.StatusCallbackMethod)
	req.Params = formParams(f)
	return req, nil
}
