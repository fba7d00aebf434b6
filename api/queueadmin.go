package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/texml/texml/store"
)

// Creating, updating and deleting queues
// (https://www.twilio.com/docs/voice/api/queue-resource): a queue is its
// FriendlyName to <Enqueue>, so a rename is allowed only while the queue
// is empty (its callers wait under the old name); MaxSize is 1 to 5000,
// default 1000; only an empty queue is deleted ("Remove an empty
// queue"). A FriendlyName that another queue has is refused: <Enqueue>
// could not tell them apart.

// maxQueueName is Twilio's limit on a queue's FriendlyName ("up to 64
// characters").
const maxQueueName = 64

// queueSize reads MaxSize; 0 when absent. False after answering a bad one.
func queueSize(w http.ResponseWriter, v string) (int, bool) {
	if v == "" {
		return 0, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > store.MaxQueueSize {
		badParam(w, "MaxSize", "want a whole number from 1 to "+strconv.Itoa(store.MaxQueueSize))
		return 0, false
	}
	return n, true
}

// queueName checks a FriendlyName. False after answering a bad one.
func queueName(w http.ResponseWriter, name string) bool {
	if strings.TrimSpace(name) == "" || len([]rune(name)) > maxQueueName {
		badParam(w, "FriendlyName", "want 1 to 64 characters")
		return false
	}
	return true
}

// queueStoreError answers a refusal of the store: a taken name or a queue
// with members is 400/20001, an unknown queue 404, anything else 500.
func (s *server) queueStoreError(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case errors.Is(err, store.ErrExists):
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "A queue with that FriendlyName exists")
	case errors.Is(err, store.ErrNotEmpty):
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "The queue has members: only an empty queue can be "+what)
	case errors.Is(err, store.ErrNotFound):
		notFound(w, r)
	default:
		s.internal(w, "queues API: "+what, err)
	}
}

// createQueue is POST …/Queues.json with FriendlyName and MaxSize.
func (s *server) createQueue(w http.ResponseWriter, r *http.Request) {
	account := r.PathValue("AccountSid")
	if account != s.o.DefaultAccountSid {
		writeError(w, http.StatusForbidden, codeInvalidParameter, "queues belong to the account calls run under")
		return
	}
	if !parseForm(w, r) {
		return
	}
	name := r.PostForm.Get("FriendlyName")
	if !queueName(w, name) {
		return
	}
	size, ok := queueSize(w, r.PostForm.Get("MaxSize"))
	if !ok {
		return
	}
	info, err := s.o.Queues.Create(r.Context(), name, size)
	if err != nil {
		s.queueStoreError(w, r, "created", err)
		return
	}
	writeJSON(w, http.StatusCreated, queueJSONOf(account, info, time.Now()))
}

// updateQueue is POST …/Queues/QU….json with FriendlyName and MaxSize.
func (s *server) updateQueue(w http.ResponseWriter, r *http.Request) {
	q, ok := s.findQueue(w, r)
	if !ok {
		return
	}
	if !parseForm(w, r) {
		return
	}
	size, ok := queueSize(w, r.PostForm.Get("MaxSize"))
	if !ok {
		return
	}
	name := r.PostForm.Get("FriendlyName")
	if _, set := r.PostForm["FriendlyName"]; set && !queueName(w, name) {
		return
	}
	info := q
	var err error
	if name != "" && name != q.Name {
		if info, err = s.o.Queues.Rename(r.Context(), q.Name, name); err != nil {
			s.queueStoreError(w, r, "renamed", err)
			return
		}
	}
	if size > 0 {
		if info, err = s.o.Queues.SetMax(r.Context(), info.Name, size); err != nil {
			s.queueStoreError(w, r, "resized", err)
			return
		}
	}
	writeJSON(w, http.StatusOK, queueJSONOf(r.PathValue("AccountSid"), info, time.Now()))
}

// deleteQueue is DELETE …/Queues/QU….json: 204 for an empty queue.
func (s *server) deleteQueue(w http.ResponseWriter, r *http.Request) {
	q, ok := s.findQueue(w, r)
	if !ok {
		return
	}
	if err := s.o.Queues.Delete(r.Context(), q.Name); err != nil {
		s.queueStoreError(w, r, "deleted", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
