package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/texml/texml/calls"
	"github.com/texml/texml/store"
)

// The Call resource (https://www.twilio.com/docs/voice/api/call-resource)
// over a CallService (*calls.Service): create places an outbound-api call,
// fetch and list read the records every node writes, update redirects or
// ends a live call on whichever node runs it, delete forgets an ended one.

// CallService is what the Call resource acts through: *calls.Service.
type CallService interface {
	Create(ctx context.Context, r calls.Request) (store.CallRecord, error)
	Get(ctx context.Context, account, sid string) (store.CallRecord, error)
	List(ctx context.Context, account string, offset, limit int) ([]store.CallRecord, error)
	Update(ctx context.Context, account, sid string, ch calls.Change) (store.CallRecord, error)
	Delete(ctx context.Context, account, sid string) error
}

var _ CallService = (*calls.Service)(nil)

// callJSON is Twilio's Call resource
// (https://www.twilio.com/docs/voice/api/call-resource#call-properties).
// Fields texml has no value for are null, as Twilio sends them for calls
// where they do not apply (no phone number sid, no price on a SIP trunk).
type callJSON struct {
	Sid             string            `json:"sid"`
	DateCreated     string            `json:"date_created"`
	DateUpdated     string            `json:"date_updated"`
	ParentCallSid   *string           `json:"parent_call_sid"`
	AccountSid      string            `json:"account_sid"`
	To              string            `json:"to"`
	ToFormatted     string            `json:"to_formatted"`
	From            string            `json:"from"`
	FromFormatted   string            `json:"from_formatted"`
	PhoneNumberSid  *string           `json:"phone_number_sid"`
	Status          string            `json:"status"`
	StartTime       *string           `json:"start_time"`
	EndTime         *string           `json:"end_time"`
	Duration        *string           `json:"duration"`
	Price           *string           `json:"price"`
	PriceUnit       string            `json:"price_unit"`
	Direction       string            `json:"direction"`
	AnsweredBy      *string           `json:"answered_by"`
	APIVersion      string            `json:"api_version"`
	ForwardedFrom   *string           `json:"forwarded_from"`
	GroupSid        *string           `json:"group_sid"`
	CallerName      *string           `json:"caller_name"`
	QueueTime       string            `json:"queue_time"`
	TrunkSid        *string           `json:"trunk_sid"`
	URI             string            `json:"uri"`
	SubresourceURIs map[string]string `json:"subresource_uris"`
}

// callOf renders r. duration is the whole seconds the call was connected
// (answer to end), null while it runs, "0" for a call never answered.
func callOf(r store.CallRecord) callJSON {
	path := prefix + r.AccountSid + "/Calls/" + r.Sid
	when := func(t time.Time) *string {
		if t.IsZero() {
			return nil
		}
		s := rfc2822(t)
		return &s
	}
	var dur *string
	if !r.End.IsZero() {
		d := "0"
		if !r.Answered.IsZero() {
			d = strconv.Itoa(int(r.End.Sub(r.Answered).Seconds()))
		}
		dur = &d
	}
	queue := "0"
	if !r.Start.IsZero() && r.Start.After(r.Created) {
		queue = strconv.FormatInt(r.Start.Sub(r.Created).Milliseconds(), 10)
	}
	sub := map[string]string{}
	for _, s := range []string{"notifications", "recordings", "payments", "events", "siprec", "streams", "user_defined_message_subscriptions", "user_defined_messages"} {
		sub[s] = path + "/" + camel(s) + ".json"
	}
	return callJSON{
		Sid: r.Sid, DateCreated: rfc2822(r.Created), DateUpdated: rfc2822(r.Updated),
		ParentCallSid: nullable(r.ParentCallSid), AccountSid: r.AccountSid,
		To: r.To, ToFormatted: r.To, From: r.From, FromFormatted: r.From,
		Status: r.Status, StartTime: when(r.Start), EndTime: when(r.End), Duration: dur,
		PriceUnit: "USD", Direction: r.Direction, AnsweredBy: nullable(r.AnsweredBy),
		APIVersion: Version, ForwardedFrom: nullable(r.ForwardedFrom), CallerName: nullable(r.CallerName),
		QueueTime: queue, URI: path + ".json", SubresourceURIs: sub,
	}
}

// camel turns a subresource key into its path segment
// ("user_defined_messages" → "UserDefinedMessages").
func camel(s string) string {
	var b strings.Builder
	for _, w := range strings.Split(s, "_") {
		if w == "siprec" {
			b.WriteString("Siprec")
			continue
		}
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

// registerCalls adds the Call routes under acct, the account's prefix.
func (s *server) registerCalls(acct string) {
	for _, p := range []string{"Calls", "Calls.json"} {
		s.mux.HandleFunc("GET "+acct+p, s.listCalls)
		s.mux.HandleFunc("POST "+acct+p, s.createCall)
	}
	s.mux.HandleFunc("GET "+acct+"Calls/{Sid}", s.getCall)
	s.mux.HandleFunc("POST "+acct+"Calls/{Sid}", s.updateCall)
	s.mux.HandleFunc("DELETE "+acct+"Calls/{Sid}", s.deleteCall)
}

// callError answers a failure of the call service: its refusals with
// their Twilio codes, an unknown call with 20404, anything else 500.
func (s *server) callError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if e, ok := calls.IsRefusal(err); ok {
		writeError(w, e.Status, e.Code, e.Msg)
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, r)
		return
	}
	s.internal(w, what, err)
}

// callSid is the path's CA… sid, without .json; false (answered 404)
// when it is not a call sid.
func callSid(w http.ResponseWriter, r *http.Request) (string, bool) {
	sid := strings.TrimSuffix(r.PathValue("Sid"), ".json")
	if !strings.HasPrefix(sid, "CA") {
		notFound(w, r)
		return "", false
	}
	return sid, true
}

// getCall is GET …/Calls/CA….json.
func (s *server) getCall(w http.ResponseWriter, r *http.Request) {
	sid, ok := callSid(w, r)
	if !ok {
		return
	}
	rec, err := s.o.Calls.Get(r.Context(), r.PathValue("AccountSid"), sid)
	if err != nil {
		s.callError(w, r, "fetch call", err)
		return
	}
	writeJSON(w, http.StatusOK, callOf(rec))
}

// deleteCall is DELETE …/Calls/CA….json: 204, or 20009 for a call that
// has not ended.
func (s *server) deleteCall(w http.ResponseWriter, r *http.Request) {
	sid, ok := callSid(w, r)
	if !ok {
		return
	}
	if err := s.o.Calls.Delete(r.Context(), r.PathValue("AccountSid"), sid); err != nil {
		s.callError(w, r, "delete call", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listChunk is how many records a filtered list reads from the store at
// a time while it looks for a page's worth of matches.
const listChunk = 500

// listCalls is GET …/Calls.json, newest first, with Twilio's filters To,
// From, Status, ParentCallSid and StartTime/EndTime (YYYY-MM-DD, with <
// or > for before or after that day).
func (s *server) listCalls(w http.ResponseWriter, r *http.Request) {
	account := r.PathValue("AccountSid")
	q := r.URL.Query()
	p, ok := parsePage(w, q)
	if !ok {
		return
	}
	keep, filters, ok := callFilters(w, q)
	if !ok {
		return
	}
	if len(filters) == 0 {
		s.listCallsPage(w, r, account, p)
		return
	}
	// A filtered list reads the account's calls from the newest until it
	// has the page's matches and one more (to know whether a next page
	// exists).
	want := (p.page+1)*p.size + 1
	var out []store.CallRecord
	for off := 0; len(out) < want; off += listChunk {
		recs, err := s.o.Calls.List(r.Context(), account, off, listChunk)
		if err != nil {
			s.internal(w, "list calls", err)
			return
		}
		for _, rec := range recs {
			if keep(rec) {
				out = append(out, rec)
			}
		}
		if len(recs) < listChunk {
			break
		}
	}
	recs, more := paginate(out, func(r store.CallRecord) string { return r.Sid }, p)
	page := make([]callJSON, len(recs)) // only the page is rendered
	for i, rec := range recs {
		page[i] = callOf(rec)
	}
	writeJSON(w, http.StatusOK, listPage(prefix+account+"/Calls.json", filters, p, "calls", page, more, func(c callJSON) string { return c.Sid }))
}

// listCallsPage is an unfiltered list: the page is read from the store
// at its offset. A page token (PA: after that call; PB: before it) is
// looked for around that offset, where it stays unless calls came or went
// since the previous page; found, the page starts from it, so that a call
// arriving meanwhile neither repeats nor skips a record.
func (s *server) listCallsPage(w http.ResponseWriter, r *http.Request, account string, p pageRequest) {
	recs, more, err := s.callsPage(r.Context(), account, p)
	if err != nil {
		s.internal(w, "list calls", err)
		return
	}
	page := make([]callJSON, len(recs))
	for i, rec := range recs {
		page[i] = callOf(rec)
	}
	writeJSON(w, http.StatusOK, listPage(prefix+account+"/Calls.json", nil, p, "calls", page, more, func(c callJSON) string { return c.Sid }))
}

// callsPage reads the unfiltered page p of the account's calls, newest
// first, and whether another page follows.
func (s *server) callsPage(ctx context.Context, account string, p pageRequest) ([]store.CallRecord, bool, error) {
	start := p.page * p.size
	if sid, after := strings.CutPrefix(p.token, "PA"); after || strings.HasPrefix(p.token, "PB") {
		if !after {
			sid = p.token[2:]
		}
		from := max(0, start-2*p.size)
		window, err := s.o.Calls.List(ctx, account, from, 4*p.size)
		if err != nil {
			return nil, false, err
		}
		for i, rec := range window {
			if rec.Sid != sid {
				continue
			}
			if after {
				start = from + i + 1
			} else {
				start = max(0, from+i-p.size)
			}
			break
		}
	}
	recs, err := s.o.Calls.List(ctx, account, start, p.size+1)
	if err != nil {
		return nil, false, err
	}
	more := len(recs) > p.size
	return recs[:min(len(recs), p.size)], more, nil
}

// callFilters reads the list filters: keep tells whether a record
// matches, filters are the parameters that next_page_uri repeats.
func callFilters(w http.ResponseWriter, q map[string][]string) (keep func(store.CallRecord) bool, filters [][2]string, ok bool) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	var tests []func(store.CallRecord) bool
	for _, f := range []struct {
		name  string
		field func(store.CallRecord) string
	}{
		{"To", func(r store.CallRecord) string { return r.To }},
		{"From", func(r store.CallRecord) string { return r.From }},
		{"Status", func(r store.CallRecord) string { return r.Status }},
		{"ParentCallSid", func(r store.CallRecord) string { return r.ParentCallSid }},
	} {
		v := get(f.name)
		if v == "" {
			continue
		}
		filters = append(filters, [2]string{f.name, v})
		field := f.field
		tests = append(tests, func(r store.CallRecord) bool { return field(r) == v })
	}
	dates, more, bad := dayFilters(q, []dateField[store.CallRecord]{
		{"StartTime", func(r store.CallRecord) time.Time { return r.Start }},
		{"EndTime", func(r store.CallRecord) time.Time { return r.End }},
	})
	if bad != "" {
		badParam(w, bad, "want a date YYYY-MM-DD")
		return nil, nil, false
	}
	tests, filters = append(tests, dates...), append(filters, more...)
	return func(r store.CallRecord) bool {
		return !slices.ContainsFunc(tests, func(t func(store.CallRecord) bool) bool { return !t(r) })
	}, filters, true
}

// dateField is a list filter on a day: the parameter's name and the
// time of the record it compares.
type dateField[T any] struct {
	name string
	get  func(T) time.Time
}

// dayFilters reads Twilio's day filters of fields: NAME=YYYY-MM-DD (that
// day, UTC), NAME< (on or before it) and NAME> (on or after it). A record
// without the time matches none. bad names a parameter that is not a
// date.
func dayFilters[T any](q map[string][]string, fields []dateField[T]) (tests []func(T) bool, filters [][2]string, bad string) {
	for _, f := range fields {
		for _, op := range []string{"", "<", ">"} {
			vs := q[f.name+op]
			if len(vs) == 0 || vs[0] == "" {
				continue
			}
			day, err := time.Parse(time.DateOnly, vs[0])
			if err != nil {
				return nil, nil, f.name + op
			}
			filters = append(filters, [2]string{f.name + op, vs[0]})
			get, op := f.get, op
			tests = append(tests, func(r T) bool {
				t := get(r)
				if t.IsZero() {
					return false
				}
				d := t.UTC().Truncate(24 * time.Hour)
				switch op {
				case "<":
					return !d.After(day) // on or before that day, as Twilio's "<="
				case ">":
					return !d.Before(day)
				}
				return d.Equal(day)
			})
		}
	}
	return tests, filters, ""
}
