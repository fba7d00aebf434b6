package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// A call's forks that the REST API starts and stops without disturbing
// the verb that runs: the Stream resource
// (https://www.twilio.com/docs/voice/api/stream-resource) and the Siprec
// resource (https://www.twilio.com/docs/voice/api/siprec). Both are a
// collection under the call: create starts one, update with
// Status=stopped ends it (or one its TwiML started) by sid or by name,
// and Twilio renders both with the same properties. Twilio has no fetch
// or list for them, and neither has texml.

// forkJSON is the resource of a fork (the properties both pages list).
type forkJSON struct {
	Sid         string  `json:"sid"`
	AccountSid  string  `json:"account_sid"`
	CallSid     string  `json:"call_sid"`
	Name        *string `json:"name"`
	Status      string  `json:"status"`
	DateUpdated string  `json:"date_updated"`
	URI         string  `json:"uri"`
}

// forkRoutes is one fork collection of a call.
type forkRoutes struct {
	collection string // the path segment: "Streams", "Siprec"
	what       string // for errors: "stream", "siprec"
	// start reads the create form and starts the fork: its sid and name,
	// or a problem with the form, or the call service's error.
	start func(ctx context.Context, account, callSid string, form url.Values) (sid, name string, p *problem, err error)
	// stop ends the fork with this sid or name.
	stop func(ctx context.Context, account, callSid, key string) (sid, name string, err error)
}

// registerForks serves fr's routes under acct.
func (s *server) registerForks(acct string, fr forkRoutes) {
	create := func(w http.ResponseWriter, r *http.Request) { s.createFork(w, r, fr) }
	for _, p := range []string{fr.collection, fr.collection + ".json"} {
		s.mux.HandleFunc("POST "+acct+"Calls/{Sid}/"+p, create)
	}
	s.mux.HandleFunc("POST "+acct+"Calls/{Sid}/"+fr.collection+"/{ForkSid}",
		func(w http.ResponseWriter, r *http.Request) { s.updateFork(w, r, fr) })
}

// forkOf renders a fork as Twilio does; one without a name has a null
// one.
func forkOf(account, callSid, collection, sid, name, status string) forkJSON {
	j := forkJSON{Sid: sid, AccountSid: account, CallSid: callSid, Status: status,
		DateUpdated: rfc2822(time.Now()),
		URI:         prefix + account + "/Calls/" + callSid + "/" + collection + "/" + sid + ".json"}
	if name != "" {
		j.Name = &name
	}
	return j
}

// createFork is POST …/Calls/CA…/{collection}.json.
func (s *server) createFork(w http.ResponseWriter, r *http.Request, fr forkRoutes) {
	sid, ok := callSid(w, r)
	if !ok || !parseForm(w, r) {
		return
	}
	account := r.PathValue("AccountSid")
	forkSid, name, p, err := fr.start(r.Context(), account, sid, r.PostForm)
	switch {
	case p != nil:
		writeProblem(w, p)
	case err != nil:
		s.callError(w, r, "start "+fr.what, err)
	default:
		writeJSON(w, http.StatusCreated, forkOf(account, sid, fr.collection, forkSid, name, "in-progress"))
	}
}

// updateFork is POST …/Calls/CA…/{collection}/{sid or name}.json with
// Status=stopped, the only update Twilio has.
func (s *server) updateFork(w http.ResponseWriter, r *http.Request, fr forkRoutes) {
	sid, ok := callSid(w, r)
	if !ok || !parseForm(w, r) {
		return
	}
	if st := r.PostForm.Get("Status"); st != "stopped" {
		writeProblem(w, invalid(codeInvalidParameter, "Status", "Invalid Status: want stopped"))
		return
	}
	key := strings.TrimSuffix(r.PathValue("ForkSid"), ".json")
	account := r.PathValue("AccountSid")
	forkSid, name, err := fr.stop(r.Context(), account, sid, key)
	if err != nil {
		s.callError(w, r, "stop "+fr.what, err)
		return
	}
	writeJSON(w, http.StatusOK, forkOf(account, sid, fr.collection, forkSid, name, "stopped"))
}
