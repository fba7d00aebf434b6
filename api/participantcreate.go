package api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/texml/texml/calls"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
	"github.com/texml/texml/verbs"
)

// Creating a participant (POST …/Conferences/{Sid}/Participants.json,
// https://www.twilio.com/docs/voice/api/conference-participant-resource#create-a-participant-resource)
// dials To and, when it answers, puts it in the room: the call is an
// outbound-api call whose first document is <Dial><Conference> with the
// participant's options, so that it joins exactly as a call running that
// TwiML would (the room's rules live once, in the conference service).
// {Sid} is the room's CF… sid (it must be active) or its friendly name
// (a room that does not exist yet is created by the participant's join).

// participantBools are the boolean parameters and the <Conference>
// attribute each one sets.
var participantBools = []struct{ param, attr string }{
	{"Muted", "muted"},
	{"StartConferenceOnEnter", "startConferenceOnEnter"},
	{"EndConferenceOnExit", "endConferenceOnExit"},
}

// participantStrings are the string parameters copied to an attribute.
var participantStrings = []struct{ param, attr string }{
	{"Beep", "beep"},
	{"WaitUrl", "waitUrl"},
	{"WaitMethod", "waitMethod"},
	{"MaxParticipants", "maxParticipants"},
	{"ConferenceRecord", "record"},
	{"ConferenceTrim", "trim"},
	{"ConferenceStatusCallback", "statusCallback"},
	{"ConferenceStatusCallbackMethod", "statusCallbackMethod"},
	{"ConferenceRecordingStatusCallback", "recordingStatusCallback"},
	{"ConferenceRecordingStatusCallbackMethod", "recordingStatusCallbackMethod"},
	{"Label", "participantLabel"},
	{"JitterBufferSize", "jitterBufferSize"},
	{"Region", "region"},
}

// unsupportedParticipantCreate are create parameters texml cannot act on
// yet: refused rather than ignored.
var unsupportedParticipantCreate = []string{"EarlyMedia",
	"ConferenceRecordingStatusCallbackEvent", "CallReason", "Byoc", "CallerDisplayName", "AnnounceUrl"}

// createParticipant is POST …/Conferences/{Sid}/Participants.json.
func (s *server) createParticipant(w http.ResponseWriter, r *http.Request) {
	if s.o.Calls == nil {
		writeError(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, "this server places no calls")
		return
	}
	account := r.PathValue("AccountSid")
	id := strings.TrimSuffix(r.PathValue("Sid"), ".json")
	if account != s.o.DefaultAccountSid {
		notFound(w, r)
		return
	}
	room, conf := id, store.Conference{}
	if strings.HasPrefix(id, "CF") && len(id) == 34 {
		c, err := s.o.Conferences.BySid(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) || err == nil && c.Status == store.ConferenceCompleted {
			notFound(w, r)
			return
		}
		if err != nil {
			s.internal(w, "participant create", err)
			return
		}
		room, conf = c.Name, c
	}
	if !parseForm(w, r) {
		return
	}
	f := r.PostForm
	if p := refused(f, unsupportedParticipantCreate); p != nil {
		writeProblem(w, p)
		return
	}
	to, from, target, prob := readParties(f, true)
	if prob != nil {
		writeProblem(w, prob)
		return
	}
	doc, p, ok := participantTwiML(w, f, room)
	if !ok {
		return
	}
	cfg := interpreter.Config{AccountSid: account, From: from, To: to, Twiml: doc, RecordingBaseURL: s.baseURL(r),
		StatusCallback: f.Get("StatusCallback"), StatusCallbackMethod: f.Get("StatusCallbackMethod")}
	if cfg.StatusCallback != "" && !webURL(cfg.StatusCallback) {
		writeError(w, http.StatusBadRequest, codeInvalidURL, "Invalid StatusCallback: "+cfg.StatusCallback)
		return
	}
	if !httpMethod(cfg.StatusCallbackMethod) {
		writeError(w, http.StatusBadRequest, codeBadMethod, "Invalid StatusCallbackMethod: want GET or POST")
		return
	}
	for _, v := range f["StatusCallbackEvent"] {
		cfg.StatusCallbackEvents = append(cfg.StatusCallbackEvents, strings.Fields(v)...)
	}
	bad := false
	target.Timeout = secondsParam(f.Get("Timeout"), &bad, w, "Timeout", 5, 600)
	limit := secondsParam(f.Get("TimeLimit"), &bad, w, "TimeLimit", 1, 24*3600)
	if bad || !machineDetection(w, f, &cfg) {
		return
	}
	if prob := readRecording(f, &cfg); prob != nil {
		writeProblem(w, prob)
		return
	}
	cfg.MaxDuration = limit
	target.Username, target.Password = f.Get("SipAuthUsername"), f.Get("SipAuthPassword")
	rec, err := s.o.Calls.Create(r.Context(), calls.Request{Config: cfg, Placement: interpreter.Placement{Target: target}})
	if err != nil {
		s.callError(w, r, "participant create", err)
		return
	}
	// The participant is being called: Twilio answers with its status
	// "queued" and the room as it is (a room created by this join has
	// no sid yet: the name stands in the URI, as in the request).
	p.CallSid, p.Joined = rec.Sid, rec.Created
	if conf.Sid == "" {
		conf = store.Conference{Sid: id, Name: room, Created: rec.Created, Updated: rec.Created}
	}
	out := participantOf(account, conf, p)
	out.Status = "queued"
	writeJSON(w, http.StatusCreated, out)
}

// participantTwiML builds the participant call's document: <Dial> with
// the room as its <Conference>, the participant's options as attributes.
// It also returns the participant as it will join; false when a
// parameter was bad (answered).
func participantTwiML(w http.ResponseWriter, f url.Values, room string) (string, store.Participant, bool) {
	var p store.Participant
	doc := etree.NewDocument()
	dial := doc.CreateElement("Response").CreateElement("Dial")
	conf := dial.CreateElement("Conference")
	conf.SetText(room)
	for _, b := range participantBools {
		v := f.Get(b.param)
		if v == "" {
			continue
		}
		on, err := strconv.ParseBool(v)
		if err != nil {
			badParam(w, b.param, "want true or false")
			return "", p, false
		}
		conf.CreateAttr(b.attr, strconv.FormatBool(on))
		switch b.param {
		case "Muted":
			p.Muted = on
		case "StartConferenceOnEnter":
			p.StartOnEnter = on
		case "EndConferenceOnExit":
			p.EndOnExit = on
		}
	}
	if _, set := f["StartConferenceOnEnter"]; !set {
		p.StartOnEnter = true // <Conference>'s default
	}
	for _, a := range participantStrings {
		if v, set := f[a.param]; set {
			conf.CreateAttr(a.attr, v[0])
		}
	}
	p.Label = f.Get("Label")
	var events []string
	for _, v := range f["ConferenceStatusCallbackEvent"] {
		events = append(events, strings.Fields(v)...)
	}
	if len(events) > 0 {
		conf.CreateAttr("statusCallbackEvent", strings.Join(events, " "))
	}
	if coaching := f.Get("Coaching"); coaching != "" {
		on, err := strconv.ParseBool(coaching)
		if err != nil {
			badParam(w, "Coaching", "want true or false")
			return "", p, false
		}
		if on {
			coach := f.Get("CallSidToCoach")
			if !strings.HasPrefix(coach, "CA") {
				badParam(w, "CallSidToCoach", "Coaching=true needs the CallSid of the participant to coach")
				return "", p, false
			}
			conf.CreateAttr("coach", coach)
			p.Coaching, p.CallSidToCoach = true, coach
		}
	}
	if cid := f.Get("CallerId"); cid != "" {
		dial.CreateAttr("callerId", cid)
	}
	out, err := doc.WriteToString()
	if err != nil {
		badParam(w, "body", err.Error())
		return "", p, false
	}
	// The document is checked now, as the call would check it: a value
	// the room cannot take (beep="sometimes", maxParticipants="0") is a
	// bad parameter, not a participant that fails to join later.
	parsed, err := verbs.Parse([]byte(out), verbs.Main)
	if err != nil {
		badParam(w, "participant", err.Error())
		return "", p, false
	}
	for _, d := range parsed.Diagnostics {
		if d.Severity == verbs.Error {
			badParam(w, "participant", d.Message)
			return "", p, false
		}
	}
	return out, p, true
}
