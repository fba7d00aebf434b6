package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/texml/texml/calls"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/verbs"
)

// The Stream resource (https://www.twilio.com/docs/voice/api/stream-resource):
// create forks a live call's audio to a WebSocket app, as
// <Start><Stream> does, without disturbing the verb that runs; update
// with Status=stopped ends it, by sid or by name. Twilio has no fetch or
// list for streams, and neither has texml.

// StreamService is what the Stream resource acts through:
// *calls.Service. The routes are served when Options.Calls has it.
type StreamService interface {
	Stream(ctx context.Context, account, callSid string, sc calls.StreamChange) (calls.StreamResult, error)
}

var _ StreamService = (*calls.Service)(nil)

// maxStreamParams is how many ParameterN.Name/Value pairs a Stream or
// Siprec request may carry (Parameter1 … Parameter99).
const maxStreamParams = 99

// streamJSON is Twilio's Stream resource
// (https://www.twilio.com/docs/voice/api/stream-resource#stream-properties).
type streamJSON struct {
	Sid         string  `json:"sid"`
	AccountSid  string  `json:"account_sid"`
	CallSid     string  `json:"call_sid"`
	Name        *string `json:"name"`
	Status      string  `json:"status"`
	DateUpdated string  `json:"date_updated"`
	URI         string  `json:"uri"`
}

// registerStreams adds the Stream routes under acct, when the call
// service can run them.
func (s *server) registerStreams(acct string) {
	if _, ok := s.o.Calls.(StreamService); !ok {
		return
	}
	for _, p := range []string{"Streams", "Streams.json"} {
		s.mux.HandleFunc("POST "+acct+"Calls/{Sid}/"+p, s.createStream)
	}
	s.mux.HandleFunc("POST "+acct+"Calls/{Sid}/Streams/{StreamSid}", s.updateStream)
}

// streamOf renders a stream as Twilio does; a stream without a name has
// a null one.
func streamOf(account, callSid string, res calls.StreamResult, status string) streamJSON {
	j := streamJSON{Sid: res.Sid, AccountSid: account, CallSid: callSid, Status: status,
		DateUpdated: rfc2822(time.Now()),
		URI:         prefix + account + "/Calls/" + callSid + "/Streams/" + res.Sid + ".json"}
	if res.Name != "" {
		j.Name = &res.Name
	}
	return j
}

// createStream is POST …/Calls/CA…/Streams.json: Url (required), Name,
// Track, StatusCallback, StatusCallbackMethod and ParameterN.Name/Value.
func (s *server) createStream(w http.ResponseWriter, r *http.Request) {
	sid, ok := callSid(w, r)
	if !ok {
		return
	}
	if !parseForm(w, r) {
		return
	}
	req, p := parseStream(r.PostForm)
	if p != nil {
		writeProblem(w, p)
		return
	}
	account := r.PathValue("AccountSid")
	res, err := s.o.Calls.(StreamService).Stream(r.Context(), account, sid, calls.StreamChange{Start: &req})
	if err != nil {
		s.callError(w, r, "start stream", err)
		return
	}
	writeJSON(w, http.StatusCreated, streamOf(account, sid, res, "in-progress"))
}

// updateStream is POST …/Calls/CA…/Streams/{MZ… or name}.json with
// Status=stopped, the only update Twilio has.
func (s *server) updateStream(w http.ResponseWriter, r *http.Request) {
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
	key := strings.TrimSuffix(r.PathValue("StreamSid"), ".json")
	account := r.PathValue("AccountSid")
	res, err := s.o.Calls.(StreamService).Stream(r.Context(), account, sid, calls.StreamChange{Stop: key})
	if err != nil {
		s.callError(w, r, "stop stream", err)
		return
	}
	writeJSON(w, http.StatusOK, streamOf(account, sid, res, "stopped"))
}

// parseStream reads a stream's parameters.
func parseStream(f url.Values) (interpreter.StreamRequest, *problem) {
	req := interpreter.StreamRequest{URL: strings.TrimSpace(f.Get("Url")), Name: f.Get("Name"), Track: f.Get("Track"),
		StatusCallback: f.Get("StatusCallback"), StatusCallbackMethod: f.Get("StatusCallbackMethod")}
	switch req.Track {
	case "", "inbound_track", "outbound_track", "both_tracks":
	default:
		return req, invalid(codeInvalidParameter, "Track", "Invalid Track: want inbound_track, outbound_track or both_tracks")
	}
	if req.URL == "" {
		return req, invalid(codeInvalidParameter, "Url", "Missing required parameter Url")
	}
	if u, err := url.Parse(req.URL); err != nil || u.Scheme != "" && u.Scheme != "ws" && u.Scheme != "wss" {
		return req, invalid(codeInvalidURL, "Url", "Invalid Url: want wss://, ws:// or a path relative to the call's URL: "+req.URL)
	}
	if req.StatusCallback != "" && !webURL(req.StatusCallback) {
		return req, invalid(codeInvalidURL, "StatusCallback", "Invalid StatusCallback: "+req.StatusCallback)
	}
	if !httpMethod(req.StatusCallbackMethod) {
		return req, invalid(codeBadMethod, "StatusCallbackMethod", "Invalid method: want GET or POST")
	}
	req.Params = formParams(f)
	return req, nil
}

// formParams reads the Parameter1.Name/Parameter1.Value … pairs of the
// Stream and Siprec resources; a pair without a name is skipped.
func formParams(f url.Values) []verbs.Param {
	var ps []verbs.Param
	for i := 1; i <= maxStreamParams; i++ {
		name := f.Get(fmt.Sprintf("Parameter%d.Name", i))
		if name == "" {
			continue
		}
		ps = append(ps, verbs.Param{Name: name, Value: f.Get(fmt.Sprintf("Parameter%d.Value", i))})
	}
	return ps
}
