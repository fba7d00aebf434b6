package api

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/texml/texml/queue"
	"github.com/texml/texml/store"
)

// The Queues resource (https://www.twilio.com/docs/voice/api/queue-resource)
// and its Members (https://www.twilio.com/docs/voice/api/queue-member)
// over store.Queues. A queue is created by the first <Enqueue> of its
// name or by the API (queueadmin.go). Calls all run under
// Options.DefaultAccountSid, so the queues are that account's; another
// account sees none.

// codeInvalidURL is Twilio's 21205, Url is not a valid URL.
const codeInvalidURL = 21205

// DequeueFunc takes the waiting call callSid out of queue and has it
// request the document at url with method: (*queue.Service).Dequeue. Its
// error wraps queue.ErrNotHere when the call is not waiting in that queue
// on any live node (answered 404/20404).
type DequeueFunc func(ctx context.Context, queue, callSid, url, method string) error

// queueJSON is Twilio's Queue resource
// (https://www.twilio.com/docs/voice/api/queue-resource#queue-properties).
type queueJSON struct {
	AccountSid      string            `json:"account_sid"`
	AverageWaitTime int               `json:"average_wait_time"`
	CurrentSize     int               `json:"current_size"`
	DateCreated     string            `json:"date_created"`
	DateUpdated     string            `json:"date_updated"`
	FriendlyName    string            `json:"friendly_name"`
	MaxSize         int               `json:"max_size"`
	Sid             string            `json:"sid"`
	URI             string            `json:"uri"`
	SubresourceURIs map[string]string `json:"subresource_uris"`
}

// memberJSON is Twilio's Queue Member resource
// (https://www.twilio.com/docs/voice/api/queue-member#queuemember-properties).
type memberJSON struct {
	CallSid      string `json:"call_sid"`
	DateEnqueued string `json:"date_enqueued"`
	Position     int    `json:"position"`
	URI          string `json:"uri"`
	WaitTime     int    `json:"wait_time"`
	QueueSid     string `json:"queue_sid"`
}

// seconds rounds d to whole seconds, never below 0.
func seconds(d time.Duration) int {
	return max(0, int(math.Round(d.Seconds())))
}

// queueJSONOf renders info for account at now.
func queueJSONOf(account string, info store.QueueInfo, now time.Time) queueJSON {
	path := prefix + account + "/Queues/" + info.Sid
	wait := 0
	if info.Size > 0 && !info.MeanEnqueued.IsZero() {
		wait = seconds(now.Sub(info.MeanEnqueued))
	}
	return queueJSON{
		AccountSid: account, AverageWaitTime: wait, CurrentSize: info.Size,
		// The store keeps no update time: a queue changes with every
		// member, and Twilio's date_updated means the resource's settings.
		DateCreated: rfc2822(info.Created), DateUpdated: rfc2822(info.Created),
		FriendlyName: info.Name, MaxSize: info.MaxSize, Sid: info.Sid, URI: path + ".json",
		SubresourceURIs: map[string]string{"members": path + "/Members.json"},
	}
}

// memberJSONOf renders the member at 1-based position pos of the queue
// with sid queueSid.
func memberJSONOf(account, queueSid string, m store.Member, pos int, now time.Time) memberJSON {
	return memberJSON{
		CallSid: m.CallSid, DateEnqueued: rfc2822(m.Enqueued), Position: pos,
		URI:      prefix + account + "/Queues/" + queueSid + "/Members/" + m.CallSid + ".json",
		WaitTime: seconds(now.Sub(m.Enqueued)), QueueSid: queueSid,
	}
}

// registerQueues adds the Queues and Members routes under acct.
func (s *server) registerQueues(acct string) {
	for _, p := range []string{"Queues", "Queues.json"} {
		s.mux.HandleFunc("GET "+acct+p, s.listQueues)
		s.mux.HandleFunc("POST "+acct+p, s.createQueue)
	}
	s.mux.HandleFunc("GET "+acct+"Queues/{Sid}", s.getQueue)
	s.mux.HandleFunc("POST "+acct+"Queues/{Sid}", s.updateQueue)
	s.mux.HandleFunc("DELETE "+acct+"Queues/{Sid}", s.deleteQueue)
	for _, p := range []string{"Members", "Members.json"} {
		s.mux.HandleFunc("GET "+acct+"Queues/{Sid}/"+p, s.listMembers)
	}
	s.mux.HandleFunc("GET "+acct+"Queues/{Sid}/Members/{CallSid}", s.getMember)
	s.mux.HandleFunc("POST "+acct+"Queues/{Sid}/Members/{CallSid}", s.updateMember)
}

// accountQueues lists the queues account owns, by name: all of them for
// the account calls run under, none for any other.
func (s *server) accountQueues(ctx context.Context, account string) ([]store.QueueInfo, error) {
	if account != s.o.DefaultAccountSid {
		return nil, nil
	}
	return s.o.Queues.List(ctx)
}

// findQueue resolves the path's queue sid (with or without .json); false
// after answering when there is no such queue or the store failed.
func (s *server) findQueue(w http.ResponseWriter, r *http.Request) (store.QueueInfo, bool) {
	sid := strings.TrimSuffix(r.PathValue("Sid"), ".json")
	list, err := s.accountQueues(r.Context(), r.PathValue("AccountSid"))
	if err != nil {
		s.internal(w, "queues API: list", err)
		return store.QueueInfo{}, false
	}
	for _, q := range list {
		if q.Sid == sid {
			return q, true
		}
	}
	notFound(w, r)
	return store.QueueInfo{}, false
}

// listQueues is GET …/Queues.json
// (https://www.twilio.com/docs/voice/api/queue-resource#read-multiple-queue-resources),
// the queues by name.
func (s *server) listQueues(w http.ResponseWriter, r *http.Request) {
	p, ok := parsePage(w, r.URL.Query())
	if !ok {
		return
	}
	account := r.PathValue("AccountSid")
	list, err := s.accountQueues(r.Context(), account)
	if err != nil {
		s.internal(w, "queues API: list", err)
		return
	}
	now := time.Now()
	sid := func(q queueJSON) string { return q.Sid }
	all := make([]queueJSON, len(list))
	for i, q := range list {
		all[i] = queueJSONOf(account, q, now)
	}
	page, more := paginate(all, sid, p)
	writeJSON(w, http.StatusOK, listPage(prefix+account+"/Queues.json", nil, p, "queues", page, more, sid))
}

// getQueue is GET …/Queues/QU….json.
func (s *server) getQueue(w http.ResponseWriter, r *http.Request) {
	q, ok := s.findQueue(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, queueJSONOf(r.PathValue("AccountSid"), q, time.Now()))
}

// listMembers is GET …/Queues/QU…/Members.json
// (https://www.twilio.com/docs/voice/api/queue-member#read-multiple-member-resources),
// front first.
func (s *server) listMembers(w http.ResponseWriter, r *http.Request) {
	p, ok := parsePage(w, r.URL.Query())
	if !ok {
		return
	}
	q, ok := s.findQueue(w, r)
	if !ok {
		return
	}
	members, err := s.o.Queues.Members(r.Context(), q.Name)
	if err != nil {
		s.internal(w, "queues API: members", err)
		return
	}
	account, now := r.PathValue("AccountSid"), time.Now()
	all := make([]memberJSON, len(members))
	for i, m := range members {
		all[i] = memberJSONOf(account, q.Sid, m, i+1, now)
	}
	sid := func(m memberJSON) string { return m.CallSid }
	page, more := paginate(all, sid, p)
	writeJSON(w, http.StatusOK, listPage(prefix+account+"/Queues/"+q.Sid+"/Members.json", nil, p, "queue_members", page, more, sid))
}

// findMember resolves the path's queue and member (a CallSid or Front,
// with or without .json); false after answering when either is missing.
func (s *server) findMember(w http.ResponseWriter, r *http.Request) (store.QueueInfo, memberJSON, bool) {
	q, ok := s.findQueue(w, r)
	if !ok {
		return q, memberJSON{}, false
	}
	call := strings.TrimSuffix(r.PathValue("CallSid"), ".json")
	members, err := s.o.Queues.Members(r.Context(), q.Name)
	if err != nil {
		s.internal(w, "queues API: members", err)
		return q, memberJSON{}, false
	}
	for i, m := range members {
		if m.CallSid == call || (call == "Front" && i == 0) {
			return q, memberJSONOf(r.PathValue("AccountSid"), q.Sid, m, i+1, time.Now()), true
		}
	}
	notFound(w, r)
	return q, memberJSON{}, false
}

// getMember is GET …/Queues/QU…/Members/CA….json or …/Members/Front.json.
func (s *server) getMember(w http.ResponseWriter, r *http.Request) {
	if _, m, ok := s.findMember(w, r); ok {
		writeJSON(w, http.StatusOK, m)
	}
}

// updateMember is POST …/Queues/QU…/Members/CA….json (or Front) with Url
// and Method
// (https://www.twilio.com/docs/voice/api/queue-member#update-a-member-resource):
// the call leaves the queue and requests the document at Url. The answer
// is the member as it was.
func (s *server) updateMember(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	u := r.PostForm.Get("Url")
	if u == "" {
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Missing required parameter Url in the post body")
		return
	}
	if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		writeError(w, http.StatusBadRequest, codeInvalidURL, "Url is not a valid URL: "+u)
		return
	}
	method := strings.ToUpper(r.PostForm.Get("Method"))
	if method == "" {
		method = http.MethodPost
	}
	if method != http.MethodGet && method != http.MethodPost {
		badParam(w, "Method", "want GET or POST")
		return
	}
	q, m, ok := s.findMember(w, r)
	if !ok {
		return
	}
	if s.o.Dequeue == nil {
		writeError(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, "Dequeueing members is not available on this server")
		return
	}
	if err := s.o.Dequeue(r.Context(), q.Name, m.CallSid, u, method); err != nil {
		if errors.Is(err, queue.ErrNotHere) {
			// Gone meanwhile, or waiting on another node: not here to move.
			notFound(w, r)
			return
		}
		s.internal(w, "queues API: dequeue", err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}
