package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/texml/texml/calls"
	"github.com/texml/texml/store"
)

// Telnyx's TeXML Call resource: create
// (https://developers.telnyx.com/api-reference/texml-rest-commands/initiate-an-outbound-call),
// update (https://developers.telnyx.com/api-reference/texml-rest-commands/update-call),
// fetch and list, over the CallService that serves Twilio's.

// texmlCreate are the rules of POST /v2/texml/Accounts/{account_sid}/Calls,
// from Telnyx's InitiateTexmlCall parameters.
var texmlCreate = createRules{
	method: "UrlMethod", inline: "Texml",
	unsupported: []string{"RecordingTimeout", "SendRecordingUrl",
		"CallerId", "CustomHeaders", "PreferredCodecs", "SipRegion", "MediaEncryption", "DetectionMode",
		"CancelPlaybackOnMachineDetection", "CancelPlaybackOnDetectMessageEnd", "MachineDetectionBeepProfile",
		"MachineDetectionPromptEndTimeout", "DeepfakeDetection", "DeepfakeDetectionCallbackUrl",
		"DeepfakeDetectionCallbackMethod", "SuperviseCallSid", "SupervisingRole"},
	// "The minimum value is 5 and the maximum value is 120. Default is 30
	// seconds"; TimeLimit "minimum value is 30 and the maximum value is
	// 14400".
	timeout:        [2]int{5, 120},
	defaultTimeout: 30 * time.Second,
	timeLimit:      [2]int{30, 14400},
	amdTimeout:     time.Millisecond,
	amdDisable:     true,
}

// texmlCallJSON is Telnyx's TeXML call resource (CallResource in
// Telnyx's libraries). Fields texml has no value for are null.
type texmlCallJSON struct {
	AccountSid    string  `json:"account_sid"`
	AnsweredBy    *string `json:"answered_by"`
	CallerName    *string `json:"caller_name"`
	DateCreated   string  `json:"date_created"`
	DateUpdated   string  `json:"date_updated"`
	Direction     string  `json:"direction"`
	Duration      *string `json:"duration"`
	EndTime       *string `json:"end_time"`
	From          string  `json:"from"`
	FromFormatted string  `json:"from_formatted"`
	Price         *string `json:"price"`
	PriceUnit     *string `json:"price_unit"`
	Sid           string  `json:"sid"`
	StartTime     *string `json:"start_time"`
	Status        string  `json:"status"`
	To            string  `json:"to"`
	ToFormatted   string  `json:"to_formatted"`
	URI           string  `json:"uri"`
}

// texmlCallOf renders r as Telnyx does: the dates and durations of
// Twilio's resource, a direction of inbound or outbound, and answered_by
// as human, machine or not_sure.
func texmlCallOf(r store.CallRecord) texmlCallJSON {
	c := callOf(r)
	dir := "outbound"
	if r.Direction == "inbound" {
		dir = "inbound"
	}
	var by *string
	if a := r.AnsweredBy; a != "" {
		v := "machine"
		switch {
		case a == "human":
			v = "human"
		case a == "unknown":
			v = "not_sure"
		}
		by = &v
	}
	return texmlCallJSON{
		AccountSid: r.AccountSid, AnsweredBy: by, CallerName: c.CallerName,
		DateCreated: c.DateCreated, DateUpdated: c.DateUpdated, Direction: dir,
		Duration: c.Duration, EndTime: c.EndTime, From: r.From, FromFormatted: r.From,
		Sid: r.Sid, StartTime: c.StartTime, Status: r.Status, To: r.To, ToFormatted: r.To,
		URI: TexmlPrefix + r.AccountSid + "/Calls/" + r.Sid + ".json",
	}
}

// texmlCreated is the answer to a call create: Telnyx's libraries read
// from, to and status; call_sid, as the connection-scoped create answers
// (https://developers.telnyx.com/api-reference/texml-rest-commands/create-a-connection-scoped-texml-call),
// is the sid to update and fetch the call with.
type texmlCreated struct {
	CallSid    string `json:"call_sid"`
	AccountSid string `json:"account_sid"`
	From       string `json:"from"`
	To         string `json:"to"`
	Status     string `json:"status"`
}

// registerTexmlCalls adds the Call routes of Telnyx's API.
func (s *server) registerTexmlCalls() {
	acct := TexmlPrefix + "{AccountSid}/"
	for _, p := range []string{"Calls", "Calls.json"} {
		s.tmux.HandleFunc("POST "+acct+p, s.createTexmlCall)
		s.tmux.HandleFunc("GET "+acct+p, s.listTexmlCalls)
	}
	s.tmux.HandleFunc("GET "+acct+"Calls/{Sid}", s.getTexmlCall)
	s.tmux.HandleFunc("POST "+acct+"Calls/{Sid}", s.updateTexmlCall)
}

// texmlCallError answers a failure of the call service in Telnyx's shape.
func (s *server) texmlCallError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if e, ok := calls.IsRefusal(err); ok {
		writeTelnyxProblem(w, &problem{status: e.Status, code: e.Code, msg: e.Msg})
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		telnyxNotFoundAt(w, r)
		return
	}
	s.log.Warn("API: "+what, "err", err)
	writeTelnyx(w, http.StatusInternalServerError, telnyxUnexpected, "An unexpected error occurred.", "")
}

// createTexmlCall is POST …/Calls: place an outbound call of the TeXML
// application ApplicationSid, the route whose connection_id it is.
func (s *server) createTexmlCall(w http.ResponseWriter, r *http.Request) {
	f, p := telnyxForm(r)
	if p != nil {
		writeTelnyxProblem(w, p)
		return
	}
	id := strings.TrimSpace(f.Get("ApplicationSid"))
	if id == "" {
		writeTelnyx(w, http.StatusUnprocessableEntity, telnyxMissing, "ApplicationSid is required: the connection_id of a TeXML route.", "ApplicationSid")
		return
	}
	app, ok := s.o.Applications(id)
	if !ok {
		writeTelnyx(w, http.StatusUnprocessableEntity, telnyxNoAssociation,
			"No TeXML application has the id "+id+": give a route dialect: texml and connection_id: "+id+".", "ApplicationSid")
		return
	}
	app.AccountSid = r.PathValue("AccountSid")
	if app.RecordingBaseURL == "" {
		app.RecordingBaseURL = s.baseURL(r)
	}
	req, p := parseCreate(f, app, texmlCreate)
	if p != nil {
		writeTelnyxProblem(w, p)
		return
	}
	if req.Config.AsyncAMDStatusCallbackMethod == "" {
		// "The default value is inherited from TeXML Application setting."
		req.Config.AsyncAMDStatusCallbackMethod = app.Method
	}
	rec, err := s.o.Calls.Create(r.Context(), req)
	if err != nil {
		s.texmlCallError(w, r, "create call", err)
		return
	}
	writeJSON(w, http.StatusOK, texmlCreated{CallSid: rec.Sid, AccountSid: rec.AccountSid, From: rec.From, To: rec.To, Status: rec.Status})
}

// updateTexmlCall is POST …/Calls/{call_sid}: Url/Method or Texml
// redirect the call, Status=completed ends it, FallbackUrl and
// StatusCallback replace the call's; form or JSON, CamelCase keys.
func (s *server) updateTexmlCall(w http.ResponseWriter, r *http.Request) {
	f, p := telnyxForm(r)
	if p != nil {
		writeTelnyxProblem(w, p)
		return
	}
	ch, p := parseUpdate(f, "Texml")
	if p != nil {
		writeTelnyxProblem(w, p)
		return
	}
	rec, err := s.o.Calls.Update(r.Context(), r.PathValue("AccountSid"), strings.TrimSuffix(r.PathValue("Sid"), ".json"), ch)
	if err != nil {
		s.texmlCallError(w, r, "update call", err)
		return
	}
	writeJSON(w, http.StatusOK, texmlCallOf(rec))
}

// getTexmlCall is GET …/Calls/{call_sid}.
func (s *server) getTexmlCall(w http.ResponseWriter, r *http.Request) {
	rec, err := s.o.Calls.Get(r.Context(), r.PathValue("AccountSid"), strings.TrimSuffix(r.PathValue("Sid"), ".json"))
	if err != nil {
		s.texmlCallError(w, r, "fetch call", err)
		return
	}
	writeJSON(w, http.StatusOK, texmlCallOf(rec))
}

// listTexmlCalls is GET …/Calls, newest first, paged with Page, PageSize
// and PageToken as Twilio's list. Its filters are not applied yet, so
// they are refused rather than ignored.
func (s *server) listTexmlCalls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "Page" && k != "PageSize" && k != "PageToken" {
			writeTelnyx(w, http.StatusUnprocessableEntity, telnyxBadRequest, "The "+k+" filter is not supported by texml yet.", k)
			return
		}
	}
	p, bad := readPage(q)
	if bad != nil {
		writeTelnyxProblem(w, bad)
		return
	}
	account := r.PathValue("AccountSid")
	recs, more, err := s.callsPage(r.Context(), account, p)
	if err != nil {
		s.texmlCallError(w, r, "list calls", err)
		return
	}
	page := make([]texmlCallJSON, len(recs))
	for i, rec := range recs {
		page[i] = texmlCallOf(rec)
	}
	writeJSON(w, http.StatusOK, listPage(TexmlPrefix+account+"/Calls.json", nil, p, "calls", page, more, func(c texmlCallJSON) string { return c.Sid }))
}
