package api

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/texml/texml/calls"
)

// Telnyx's TeXML Streams commands
// (https://developers.telnyx.com/api-reference/texml-rest-commands/start-streaming-media-from-a-call,
// https://developers.telnyx.com/api-reference/texml-rest-commands/update-streaming-on-a-call):
// the same fork as Twilio's Stream resource, under /v2/texml with a
// Bearer key, JSON or form parameters, Telnyx's answer (200) and errors.

// texmlStreamJSON is Telnyx's answer to both commands.
type texmlStreamJSON struct {
	AccountSid  string `json:"account_sid"`
	CallSid     string `json:"call_sid"`
	Sid         string `json:"sid"`
	Name        string `json:"name,omitempty"`
	Status      string `json:"status"`
	DateUpdated string `json:"date_updated"`
	URI         string `json:"uri"`
}

// registerTexmlStreams adds the Streams commands of Telnyx's API, when
// the call service can run them.
func (s *server) registerTexmlStreams() {
	if _, ok := s.o.Calls.(StreamService); !ok {
		return
	}
	s.texmlForkRoutes("Streams", s.createTexmlStream, s.updateTexmlStream)
}

// texmlForkRoutes serves a fork collection of Telnyx's API (Streams,
// Siprec): create, and update by the fork's sid or name ({ForkSid}).
func (s *server) texmlForkRoutes(collection string, create, update http.HandlerFunc) {
	acct := TexmlPrefix + "{AccountSid}/"
	for _, p := range []string{collection, collection + ".json"} {
		s.tmux.HandleFunc("POST "+acct+"Calls/{Sid}/"+p, create)
	}
	s.tmux.HandleFunc("POST "+acct+"Calls/{Sid}/"+collection+"/{ForkSid}", update)
}

// stopTexmlFork is the update command of a fork collection: Status
// stopped (the default and only value) ends the fork named by its sid
// or name through stop; render makes the answer.
func (s *server) stopTexmlFork(w http.ResponseWriter, r *http.Request, what string,
	stop func(r *http.Request, account, callSid, key string) (forkSid, name string, err error),
	render func(account, callSid, forkSid, name string) any) {
	f, p := telnyxForm(r)
	if p != nil {
		writeTelnyxProblem(w, p)
		return
	}
	if st := f.Get("Status"); st != "" && st != "stopped" {
		writeTelnyx(w, http.StatusUnprocessableEntity, telnyxBadRequest, "Status must be stopped.", "Status")
		return
	}
	account, sid := r.PathValue("AccountSid"), strings.TrimSuffix(r.PathValue("Sid"), ".json")
	key := strings.TrimSuffix(r.PathValue("ForkSid"), ".json")
	forkSid, name, err := stop(r, account, sid, key)
	if err != nil {
		s.texmlCallError(w, r, "stop "+what, err)
		return
	}
	writeJSON(w, http.StatusOK, render(account, sid, forkSid, name))
}

func texmlStreamOf(account, callSid string, res calls.StreamResult, status string) texmlStreamJSON {
	return texmlStreamJSON{AccountSid: account, CallSid: callSid, Sid: res.Sid, Name: res.Name, Status: status,
		DateUpdated: time.Now().UTC().Format(time.RFC3339),
		URI:         "/v2/texml/Accounts/" + account + "/Calls/" + callSid + "/Streams/" + res.Sid + ".json"}
}

// createTexmlStream starts a fork: Url, Name, Track, StatusCallback,
// StatusCallbackMethod. BidirectionalMode and BidirectionalCodec are for
// an app that talks back, which a fork does not: a value other than the
// defaults is refused rather than ignored.
func (s *server) createTexmlStream(w http.ResponseWriter, r *http.Request) {
	f, p := telnyxForm(r)
	if p != nil {
		writeTelnyxProblem(w, p)
		return
	}
	if refuseValues(w, f, map[string]func(string) bool{
		"BidirectionalMode":  func(v string) bool { return v == "" || v == "mp3" },
		"BidirectionalCodec": func(v string) bool { return v == "" || v == "PCMU" },
	}, "a stream started through the API is a fork the app cannot talk back on") {
		return
	}
	req, p := parseStream(f)
	if p != nil {
		writeTelnyxProblem(w, p)
		return
	}
	account, sid := r.PathValue("AccountSid"), strings.TrimSuffix(r.PathValue("Sid"), ".json")
	res, err := s.o.Calls.(StreamService).Stream(r.Context(), account, sid, calls.StreamChange{Start: &req})
	if err != nil {
		s.texmlCallError(w, r, "start stream", err)
		return
	}
	writeJSON(w, http.StatusOK, texmlStreamOf(account, sid, res, "in-progress"))
}

// updateTexmlStream stops a fork by its sid or name.
func (s *server) updateTexmlStream(w http.ResponseWriter, r *http.Request) {
	s.stopTexmlFork(w, r, "stream", func(r *http.Request, account, callSid, key string) (string, string, error) {
		res, err := s.o.Calls.(StreamService).Stream(r.Context(), account, callSid, calls.StreamChange{Stop: key})
		return res.Sid, res.Name, err
	}, func(account, callSid, forkSid, name string) any {
		return texmlStreamOf(account, callSid, calls.StreamResult{Sid: forkSid, Name: name}, "stopped")
	})
}

// refuseValues answers 422 (Telnyx's error shape, pointing at the field)
// for a form field whose value allowed rejects, saying why texml does not
// support it; it reports whether it answered.
func refuseValues(w http.ResponseWriter, f url.Values, allowed map[string]func(string) bool, why string) bool {
	for name, ok := range allowed {
		if !ok(f.Get(name)) {
			writeTelnyx(w, http.StatusUnprocessableEntity, telnyxBadRequest,
				name+" "+f.Get(name)+" is not supported by texml: "+why+".", name)
			return true
		}
	}
	return false
}
