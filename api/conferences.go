package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/texml/texml/conference"
	"github.com/texml/texml/store"
)

// The Conference resource (https://www.twilio.com/docs/voice/api/conference-resource)
// and its Participants (https://www.twilio.com/docs/voice/api/conference-participant-resource),
// over store.Conferences, acting on live rooms through a
// ConferenceController (the conference service).
//
// The store keeps no account per conference: every conference belongs to
// Options.DefaultAccountSid, as every call runs under the main account.
// Lists show the active (init and in-progress) conferences only; a
// completed one stays readable by its Sid for store.Retention. The
// controller acts on rooms mixed on any node: a room whose home is
// another node is reached over the store's bus (conference/forward.go).
// Creating a participant dials out into the room (participantcreate.go).

// ConferenceController changes live rooms: *conference.Service.
type ConferenceController interface {
	// UpdateParticipant mutes, holds or makes a coach of a participant.
	UpdateParticipant(ctx context.Context, room, callSid string, u conference.ParticipantUpdate) error
	// Kick removes a participant from the room.
	Kick(ctx context.Context, room, callSid string) error
	// End ends the room for everyone.
	End(ctx context.Context, room string) error
	// Announce plays the document or audio at url into the room, to
	// everyone or (callSid set) to one participant.
	Announce(ctx context.Context, room, callSid, url, method string) error
}

// announce starts the announcement of the request's AnnounceUrl (au) and
// AnnounceMethod in c, to callSid alone when set; false when it answered
// an error.
func (s *server) announce(w http.ResponseWriter, r *http.Request, c store.Conference, callSid, au string) bool {
	method := r.PostForm.Get("AnnounceMethod")
	switch {
	case !webURL(au):
		writeError(w, http.StatusBadRequest, codeInvalidURL, "Invalid AnnounceUrl: "+au)
		return false
	case !httpMethod(method):
		writeError(w, http.StatusBadRequest, codeBadMethod, "Invalid AnnounceMethod: want GET or POST")
		return false
	case c.Status == store.ConferenceCompleted:
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Conference "+c.Sid+" has ended: nothing to announce into")
		return false
	}
	return s.control(w, r, s.o.ConferenceControl.Announce(r.Context(), c.Name, callSid, au, method), c)
}

var _ ConferenceController = (*conference.Service)(nil)

// conferenceJSON is Twilio's Conference resource
// (https://www.twilio.com/docs/voice/api/conference-resource#conference-properties).
type conferenceJSON struct {
	AccountSid              string            `json:"account_sid"`
	APIVersion              string            `json:"api_version"`
	DateCreated             string            `json:"date_created"`
	DateUpdated             string            `json:"date_updated"`
	FriendlyName            string            `json:"friendly_name"`
	Region                  string            `json:"region"`
	Sid                     string            `json:"sid"`
	Status                  string            `json:"status"`
	URI                     string            `json:"uri"`
	SubresourceURIs         map[string]string `json:"subresource_uris"`
	ReasonConferenceEnded   *string           `json:"reason_conference_ended"`
	CallSidEndingConference *string           `json:"call_sid_ending_conference"`
}

// participantJSON is Twilio's Participant resource
// (https://www.twilio.com/docs/voice/api/conference-participant-resource#participant-properties).
type participantJSON struct {
	AccountSid             string  `json:"account_sid"`
	CallSid                string  `json:"call_sid"`
	ConferenceSid          string  `json:"conference_sid"`
	Label                  *string `json:"label"`
	Muted                  bool    `json:"muted"`
	Hold                   bool    `json:"hold"`
	Coaching               bool    `json:"coaching"`
	CallSidToCoach         *string `json:"call_sid_to_coach"`
	StartConferenceOnEnter bool    `json:"start_conference_on_enter"`
	EndConferenceOnExit    bool    `json:"end_conference_on_exit"`
	Status                 string  `json:"status"`
	DateCreated            string  `json:"date_created"`
	DateUpdated            string  `json:"date_updated"`
	URI                    string  `json:"uri"`
}

// conferenceOf renders c for account.
func conferenceOf(account string, c store.Conference) conferenceJSON {
	path := prefix + account + "/Conferences/" + c.Sid
	return conferenceJSON{
		AccountSid: account, APIVersion: Version,
		DateCreated: rfc2822(c.Created), DateUpdated: rfc2822(c.Updated),
		FriendlyName: c.Name, Region: "us1", Sid: c.Sid, Status: c.Status,
		URI: path + ".json",
		SubresourceURIs: map[string]string{
			"participants": path + "/Participants.json",
			"recordings":   path + "/Recordings.json",
		},
		ReasonConferenceEnded: nullable(c.Reason), CallSidEndingConference: nullable(c.EndedBy),
	}
}

// participantOf renders p of c for account. The store keeps no time of a
// participant's last change: date_updated is the room's last change, or
// the join when that is later.
func participantOf(account string, c store.Conference, p store.Participant) participantJSON {
	updated := c.Updated
	if p.Joined.After(updated) {
		updated = p.Joined
	}
	return participantJSON{
		AccountSid: account, CallSid: p.CallSid, ConferenceSid: c.Sid,
		Label: nullable(p.Label), Muted: p.Muted, Hold: p.Hold,
		Coaching: p.Coaching, CallSidToCoach: nullable(p.CallSidToCoach),
		StartConferenceOnEnter: p.StartOnEnter, EndConferenceOnExit: p.EndOnExit,
		Status: "connected", DateCreated: rfc2822(p.Joined), DateUpdated: rfc2822(updated),
		URI: prefix + account + "/Conferences/" + c.Sid + "/Participants/" + p.CallSid + ".json",
	}
}

// registerConferences adds the Conference and Participant routes under
// acct, the account's path prefix.
func (s *server) registerConferences(acct string) {
	for _, p := range []string{"Conferences", "Conferences.json"} {
		s.mux.HandleFunc("GET "+acct+p, s.listConferences)
	}
	s.mux.HandleFunc("GET "+acct+"Conferences/{Sid}", s.getConference)
	s.mux.HandleFunc("POST "+acct+"Conferences/{Sid}", s.updateConference)
	for _, p := range []string{"Participants", "Participants.json"} {
		s.mux.HandleFunc("GET "+acct+"Conferences/{Sid}/"+p, s.listParticipants)
		s.mux.HandleFunc("POST "+acct+"Conferences/{Sid}/"+p, s.createParticipant)
	}
	s.mux.HandleFunc("GET "+acct+"Conferences/{Sid}/Participants/{CallSid}", s.getParticipant)
	s.mux.HandleFunc("POST "+acct+"Conferences/{Sid}/Participants/{CallSid}", s.updateParticipant)
	s.mux.HandleFunc("DELETE "+acct+"Conferences/{Sid}/Participants/{CallSid}", s.deleteParticipant)
}

// conference finds the path's conference ({Sid}, with or without .json)
// of the path's account; false when it has answered (404 or 500).
func (s *server) conference(w http.ResponseWriter, r *http.Request) (store.Conference, bool) {
	sid := strings.TrimSuffix(r.PathValue("Sid"), ".json")
	if r.PathValue("AccountSid") != s.o.DefaultAccountSid || !strings.HasPrefix(sid, "CF") {
		notFound(w, r)
		return store.Conference{}, false
	}
	c, err := s.o.Conferences.BySid(r.Context(), sid)
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, r)
		return c, false
	}
	if err != nil {
		s.internal(w, "fetch", err)
		return c, false
	}
	return c, true
}

// listConferences is GET …/Conferences.json: the active conferences and
// those completed in the last store.Retention, newest first, with the
// filters Status, FriendlyName, DateCreated and DateUpdated (with < and
// >).
func (s *server) listConferences(w http.ResponseWriter, r *http.Request) {
	account := r.PathValue("AccountSid")
	q := r.URL.Query()
	p, ok := parsePage(w, q)
	if !ok {
		return
	}
	var filters [][2]string
	status, name := q.Get("Status"), q.Get("FriendlyName")
	if status != "" {
		switch status {
		case store.ConferenceInit, store.ConferenceInProgress, store.ConferenceCompleted:
		default:
			badParam(w, "Status", "want init, in-progress or completed")
			return
		}
		filters = append(filters, [2]string{"Status", status})
	}
	if name != "" {
		filters = append(filters, [2]string{"FriendlyName", name})
	}
	dates, dateParams, bad := dayFilters(q, []dateField[store.Conference]{
		{"DateCreated", func(c store.Conference) time.Time { return c.Created }},
		{"DateUpdated", func(c store.Conference) time.Time { return c.Updated }},
	})
	if bad != "" {
		badParam(w, bad, "want a date YYYY-MM-DD")
		return
	}
	filters = append(filters, dateParams...)
	var list []store.Conference
	if account == s.o.DefaultAccountSid {
		var err error
		if status != store.ConferenceCompleted {
			if list, err = s.o.Conferences.List(r.Context()); err != nil {
				s.internal(w, "list", err)
				return
			}
		}
		if status == "" || status == store.ConferenceCompleted {
			done, err := s.o.Conferences.Completed(r.Context())
			if err != nil {
				s.internal(w, "list", err)
				return
			}
			list = append(list, done...)
		}
	}
	list = slices.DeleteFunc(list, func(c store.Conference) bool {
		if status != "" && c.Status != status || name != "" && c.Name != name {
			return true
		}
		return slices.ContainsFunc(dates, func(t func(store.Conference) bool) bool { return !t(c) })
	})
	slices.SortStableFunc(list, func(a, b store.Conference) int { return a.Created.Compare(b.Created) })
	slices.Reverse(list) // the store lists oldest first; Twilio newest first
	out := make([]conferenceJSON, len(list))
	for i, c := range list {
		out[i] = conferenceOf(account, c)
	}
	sid := func(c conferenceJSON) string { return c.Sid }
	page, more := paginate(out, sid, p)
	writeJSON(w, http.StatusOK, listPage(prefix+account+"/Conferences.json", filters, p, "conferences", page, more, sid))
}

// getConference is GET …/Conferences/CF….json, active or completed.
func (s *server) getConference(w http.ResponseWriter, r *http.Request) {
	if c, ok := s.conference(w, r); ok {
		writeJSON(w, http.StatusOK, conferenceOf(r.PathValue("AccountSid"), c))
	}
}

// updateConference is POST …/Conferences/CF….json: Status=completed
// ends the room for everyone (conference-ended-via-api); AnnounceUrl
// (with AnnounceMethod) plays an announcement to everyone.
func (s *server) updateConference(w http.ResponseWriter, r *http.Request) {
	c, ok := s.conference(w, r)
	if !ok {
		return
	}
	if !parseForm(w, r) {
		return
	}
	if au := r.PostForm.Get("AnnounceUrl"); au != "" {
		if !s.announce(w, r, c, "", au) {
			return
		}
	}
	switch st := r.PostForm.Get("Status"); st {
	case "":
	case store.ConferenceCompleted:
		if c.Status != store.ConferenceCompleted {
			if !s.control(w, r, s.o.ConferenceControl.End(r.Context(), c.Name), c) {
				return
			}
			if c, ok = s.conference(w, r); !ok {
				return
			}
		}
	default:
		badParam(w, "Status", "only completed can be set")
		return
	}
	writeJSON(w, http.StatusOK, conferenceOf(r.PathValue("AccountSid"), c))
}

// control answers a controller's error: ErrNotHere is 404 (the room is
// another node's, or has just ended), anything else 500. True when err is
// nil.
func (s *server) control(w http.ResponseWriter, r *http.Request, err error, c store.Conference) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, conference.ErrNotHere):
		writeError(w, http.StatusNotFound, codeNotFound, "Conference "+c.Sid+" has just ended, or its node "+
			strconv.Quote(c.Home)+" cannot be reached")
	default:
		s.internal(w, "control", err)
	}
	return false
}

// participant finds the path's participant ({CallSid}: a CallSid or a
// label, with or without .json) in the path's conference; false when it
// has answered.
func (s *server) participant(w http.ResponseWriter, r *http.Request) (store.Conference, store.Participant, bool) {
	c, ok := s.conference(w, r)
	if !ok {
		return c, store.Participant{}, false
	}
	id := strings.TrimSuffix(r.PathValue("CallSid"), ".json")
	if c.Status != store.ConferenceCompleted && id != "" {
		for _, p := range c.Participants {
			if p.CallSid == id || p.Label == id {
				return c, p, true
			}
		}
	}
	notFound(w, r)
	return c, store.Participant{}, false
}

// listParticipants is GET …/Conferences/CF…/Participants.json: the
// participants in order of joining (none once the room has completed),
// with the filters Muted, Hold and Coaching.
func (s *server) listParticipants(w http.ResponseWriter, r *http.Request) {
	c, ok := s.conference(w, r)
	if !ok {
		return
	}
	account := r.PathValue("AccountSid")
	q := r.URL.Query()
	p, ok := parsePage(w, q)
	if !ok {
		return
	}
	var filters [][2]string
	var keep []func(store.Participant) bool
	for _, name := range []string{"Muted", "Hold", "Coaching"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		want, err := strconv.ParseBool(v)
		if err != nil {
			badParam(w, name, "want true or false")
			return
		}
		filters = append(filters, [2]string{name, v})
		keep = append(keep, func(p store.Participant) bool {
			switch name {
			case "Muted":
				return p.Muted == want
			case "Hold":
				return p.Hold == want
			}
			return p.Coaching == want
		})
	}
	var out []participantJSON
	if c.Status != store.ConferenceCompleted {
	next:
		for _, pt := range c.Participants {
			for _, k := range keep {
				if !k(pt) {
					continue next
				}
			}
			out = append(out, participantOf(account, c, pt))
		}
	}
	sid := func(p participantJSON) string { return p.CallSid }
	page, more := paginate(out, sid, p)
	writeJSON(w, http.StatusOK, listPage(prefix+account+"/Conferences/"+c.Sid+"/Participants.json", filters, p, "participants", page, more, sid))
}

// getParticipant is GET …/Participants/CA….json (or the label).
func (s *server) getParticipant(w http.ResponseWriter, r *http.Request) {
	if c, p, ok := s.participant(w, r); ok {
		writeJSON(w, http.StatusOK, participantOf(r.PathValue("AccountSid"), c, p))
	}
}

// unsupportedParticipantParams are the Participant update's parameters
// texml cannot act on yet: refused rather than ignored.
var unsupportedParticipantParams = []string{"WaitUrl", "BeepOnExit", "EndConferenceOnExit"}

// updateParticipant is POST …/Participants/CA….json with Muted, Hold,
// Coaching and CallSidToCoach.
func (s *server) updateParticipant(w http.ResponseWriter, r *http.Request) {
	c, p, ok := s.participant(w, r)
	if !ok {
		return
	}
	if !parseForm(w, r) {
		return
	}
	f := r.PostForm
	for _, name := range unsupportedParticipantParams {
		if f.Get(name) != "" {
			badParam(w, name, "texml cannot change it on a live participant yet")
			return
		}
	}
	if au := f.Get("AnnounceUrl"); au != "" {
		if !s.announce(w, r, c, p.CallSid, au) {
			return
		}
	}
	var u conference.ParticipantUpdate
	boolParam := func(name string) (*bool, bool) {
		v := f.Get(name)
		if v == "" {
			return nil, true
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			badParam(w, name, "want true or false")
			return nil, false
		}
		return &b, true
	}
	if u.Muted, ok = boolParam("Muted"); !ok {
		return
	}
	if u.Hold, ok = boolParam("Hold"); !ok {
		return
	}
	coaching, ok := boolParam("Coaching")
	if !ok {
		return
	}
	coach := f.Get("CallSidToCoach")
	switch {
	case coaching != nil && !*coaching:
		none := ""
		u.Coach = &none
	case coach != "":
		if !strings.HasPrefix(coach, "CA") {
			badParam(w, "CallSidToCoach", "want a CallSid (CA…)")
			return
		}
		u.Coach = &coach
	case coaching != nil && p.CallSidToCoach == "":
		badParam(w, "CallSidToCoach", "required when Coaching is true")
		return
	}
	if hu := f.Get("HoldUrl"); hu != "" {
		switch {
		case !webURL(hu):
			writeError(w, http.StatusBadRequest, codeInvalidURL, "Invalid HoldUrl: "+hu)
			return
		case !httpMethod(f.Get("HoldMethod")):
			writeError(w, http.StatusBadRequest, codeBadMethod, "Invalid HoldMethod: want GET or POST")
			return
		}
		u.HoldURL, u.HoldMethod = hu, strings.ToUpper(f.Get("HoldMethod"))
	}
	if (u.Muted != nil || u.Hold != nil || u.Coach != nil || u.HoldURL != "") && !s.control(w, r, s.o.ConferenceControl.UpdateParticipant(r.Context(), c.Name, p.CallSid, u), c) {
		return
	}
	// The room has applied the update; the store may lag (it keeps no
	// hold), so the answer shows what was asked.
	if fresh, err := s.o.Conferences.BySid(r.Context(), c.Sid); err == nil {
		c = fresh
		for _, q := range c.Participants {
			if q.CallSid == p.CallSid {
				p = q
			}
		}
	}
	if u.Muted != nil {
		p.Muted = *u.Muted
	}
	if u.Hold != nil {
		p.Hold = *u.Hold
	}
	if u.Coach != nil {
		p.Coaching, p.CallSidToCoach = *u.Coach != "", *u.Coach
	}
	writeJSON(w, http.StatusOK, participantOf(r.PathValue("AccountSid"), c, p))
}

// deleteParticipant is DELETE …/Participants/CA….json: the participant
// is kicked from the room; 204 No Content.
func (s *server) deleteParticipant(w http.ResponseWriter, r *http.Request) {
	c, p, ok := s.participant(w, r)
	if !ok {
		return
	}
	if s.control(w, r, s.o.ConferenceControl.Kick(r.Context(), c.Name, p.CallSid), c) {
		w.WriteHeader(http.StatusNoContent)
	}
}
