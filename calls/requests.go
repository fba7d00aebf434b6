package calls

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"golang.org/x/time/rate"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
)

// Error is a request the Service refuses, with the HTTP status and
// Twilio's error code the API answers it with
// (https://www.twilio.com/docs/api/errors).
type Error struct {
	Status int
	Code   int
	Msg    string
}

// Error implements error.
func (e *Error) Error() string { return e.Msg }

// Twilio's codes for the refusals of this package.
const (
	// CodeNotInProgress: "Call is not in-progress. Cannot redirect."
	CodeNotInProgress = 21220
	// CodeNotAuthorized: the account may not call this number (Twilio
	// answers a number outside the geographic permissions this way);
	// here, no trunk routes it or a deny rule forbids it.
	CodeNotAuthorized = 21215
	// CodeNotComplete: "Cannot delete this resource before it is
	// complete" (https://www.twilio.com/docs/api/errors/20009).
	CodeNotComplete = 20009
	// CodeTooMany: too many requests (the account's queue of calls
	// waiting for their turn is full).
	CodeTooMany = 20429
	// CodeInvalidParameter: Twilio's "Invalid parameter"
	// (https://www.twilio.com/docs/api/errors/20001), for a change the
	// call cannot take: a stream's track or name Twilio would refuse too,
	// a new document for a Dial child that rings.
	CodeInvalidParameter = 20001
)

// Request is a call to create (POST /Calls).
type Request struct {
	// Config is the call: AccountSid, From, To, URL or Twiml, methods,
	// fallback, status callback, MaxDuration (TimeLimit). CallSid and
	// Direction are set by Create.
	Config    interpreter.Config
	Placement interpreter.Placement
}

// Create records a new outbound-api call in status queued and starts
// placing it: at once, or when the account's rate allows. The record is
// in the store when Create returns, so any node can fetch it.
func (s *Service) Create(ctx context.Context, r Request) (store.CallRecord, error) {
	s.mu.Lock()
	placer := s.place
	s.mu.Unlock()
	if placer == nil {
		return store.CallRecord{}, &Error{Status: http.StatusServiceUnavailable, Code: 20003, Msg: "this node places no calls"}
	}
	if err := placer.Check(r.Placement.Target); err != nil {
		return store.CallRecord{}, &Error{Status: http.StatusBadRequest, Code: CodeNotAuthorized,
			Msg: fmt.Sprintf("Cannot call %s: %v", r.Config.To, err)}
	}
	cfg := r.Config
	cfg.CallSid = interpreter.NewSid("CA")
	cfg.Direction = "outbound-api"
	cfg.OnStatus = s.Observe
	now := s.o.Clock.Now()
	rec := store.CallRecord{Sid: cfg.CallSid, AccountSid: cfg.AccountSid, From: cfg.From, To: cfg.To,
		Direction: cfg.Direction, Status: store.CallQueued, Node: s.o.Node, Created: now, Updated: now}

	s.mu.Lock()
	acct := s.limits[cfg.AccountSid]
	if acct == nil {
		acct = &account{lim: rate.NewLimiter(rate.Inf, 1)}
		if s.o.CPS > 0 {
			acct.lim = rate.NewLimiter(rate.Limit(s.o.CPS), 1)
		}
		s.limits[cfg.AccountSid] = acct
	}
	if acct.queued >= s.o.MaxQueued {
		s.mu.Unlock()
		return store.CallRecord{}, &Error{Status: http.StatusTooManyRequests, Code: CodeTooMany,
			Msg: fmt.Sprintf("Too many calls waiting to be placed (%d)", s.o.MaxQueued)}
	}
	acct.queued++
	pctx, cancel := context.WithCancelCause(s.base)
	e := &entry{rec: rec, cancel: cancel}
	s.live[rec.Sid] = e
	s.mu.Unlock()

	if err := s.o.Store.Put(ctx, rec); err != nil {
		s.mu.Lock()
		delete(s.live, rec.Sid)
		acct.queued--
		s.mu.Unlock()
		cancel(nil)
		return store.CallRecord{}, fmt.Errorf("recording the call: %w", err)
	}
	call := placer.Prepare(cfg)
	// The call's turn is reserved now, in the order the calls were
	// accepted, at the account's CPS; it waits for it on the clock.
	s.mu.Lock()
	at := s.o.Clock.Now()
	turn := acct.lim.ReserveN(at, 1)
	s.mu.Unlock()
	wait := turn.DelayFrom(at)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel(nil)
		err := s.o.Clock.Sleep(pctx, wait)
		s.mu.Lock()
		acct.queued--
		if err != nil {
			turn.CancelAt(s.o.Clock.Now()) // the turn goes to the next call
		}
		s.mu.Unlock()
		if err != nil {
			// Canceled while waiting: Place ends it as canceled at once.
			cancel(interpreter.ErrCanceled)
		}
		call.Place(pctx, r.Placement)
	}()
	return rec, nil
}

// Get returns a call of the account.
func (s *Service) Get(ctx context.Context, account, sid string) (store.CallRecord, error) {
	s.mu.Lock()
	e := s.live[sid]
	var rec store.CallRecord
	if e != nil {
		rec = e.rec
		if e.call != nil {
			// Decided after the answer, between status changes.
			rec.AnsweredBy = e.call.AnsweredBy()
		}
	}
	s.mu.Unlock()
	if e == nil {
		var err error
		if rec, err = s.o.Store.Get(ctx, sid); err != nil {
			return rec, err
		}
	}
	if rec.AccountSid != account {
		return store.CallRecord{}, fmt.Errorf("call %s: %w", sid, store.ErrNotFound)
	}
	return rec, nil
}

// List returns the account's calls, newest first; the calls running here
// show their newest state even before the store has it.
func (s *Service) List(ctx context.Context, account string, offset, limit int) ([]store.CallRecord, error) {
	recs, err := s.o.Store.List(ctx, account, offset, limit)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	for i, r := range recs {
		if e := s.live[r.Sid]; e != nil {
			recs[i] = e.rec
		}
	}
	s.mu.Unlock()
	return recs, nil
}

// Change is a live update of a call (POST /Calls/{Sid}).
type Change struct {
	interpreter.Update
	// Status is "canceled" (ends a queued or ringing call; no effect on
	// one in progress) or "completed" (ends the call whatever its
	// state), or empty.
	Status string
	// Stream, when set, is the change instead: a stream fork started or
	// stopped (the Stream resource; streams.go) without disturbing the
	// call's verb.
	Stream *StreamChange `json:",omitempty"`
	// Siprec, when set, is the change instead: a SIPREC session started
	// or stopped (the Siprec resource; siprec.go).
	Siprec *SiprecChange `json:",omitempty"`
}

// Update applies ch to a call of the account, on this node or, over the
// bus, on the node that runs it, and returns the call's record. Twilio
// applies updates asynchronously too: the record returned may not show
// the change yet.
func (s *Service) Update(ctx context.Context, account, sid string, ch Change) (store.CallRecord, error) {
	rec, err := s.Get(ctx, account, sid)
	if err != nil {
		return rec, err
	}
	redirect := ch.URL != "" || ch.Twiml != ""
	if store.CallEnded(rec.Status) {
		if redirect {
			return rec, &Error{Status: http.StatusBadRequest, Code: CodeNotInProgress, Msg: "Call is not in-progress. Cannot redirect."}
		}
		return rec, nil // ending an ended call changes nothing
	}
	if rec.Node != s.o.Node {
		if s.o.Sender == nil {
			return rec, &Error{Status: http.StatusServiceUnavailable, Code: 20503, Msg: "the call runs on another node, which cannot be reached"}
		}
		body, _ := json.Marshal(ch)
		if err := s.o.Sender.Send(ctx, rec.Node, store.Message{Kind: UpdateKind, CallSid: sid, Body: body}); err != nil {
			return rec, fmt.Errorf("sending the update to node %s: %w", rec.Node, err)
		}
		return rec, nil
	}
	if err := s.apply(sid, ch); err != nil {
		return rec, err
	}
	return s.Get(ctx, account, sid)
}

// errGone: the call ended here between the record's read and the update.
var errGone = &Error{Status: http.StatusBadRequest, Code: CodeNotInProgress, Msg: "Call is not in-progress. Cannot redirect."}

// apply carries out ch on a call running here.
func (s *Service) apply(sid string, ch Change) error {
	s.mu.Lock()
	e := s.live[sid]
	if e == nil {
		s.mu.Unlock()
		return errGone
	}
	answered := !e.rec.Answered.IsZero()
	call, cancel := e.call, e.cancel
	if !answered && cancel != nil && (ch.Status == store.CallCanceled || ch.Status == store.CallCompleted) {
		s.mu.Unlock()
		cancel(interpreter.ErrCanceled)
		return nil
	}
	// A Dial child that still rings is canceled by either status, as a
	// ringing call of the API's own is; its parent's Dial carries it out.
	ringingChild := !answered && e.rec.Direction == "outbound-dial"
	if ch.Status == store.CallCanceled && !ringingChild {
		s.mu.Unlock()
		return nil // Twilio: canceling a call in progress has no effect
	}
	u := ch.Update
	u.Hangup = ch.Status == store.CallCompleted || ch.Status == store.CallCanceled
	if call == nil {
		// Placed but not started: the update waits for the start.
		e.pending = &u
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	if err := call.Update(u); err != nil {
		if errors.Is(err, interpreter.ErrChildRedirect) || errors.Is(err, interpreter.ErrChildNotBridged) {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalidParameter, Msg: err.Error()}
		}
		return &Error{Status: http.StatusBadRequest, Code: CodeNotInProgress, Msg: "Call is not in-progress. Cannot redirect."}
	}
	return nil
}

// Deliver applies an update another node sent for a call running here;
// register it with cluster.Node.Handle for the bus's "call-update".
func (s *Service) Deliver(m store.Message) {
	var ch Change
	if err := json.Unmarshal(m.Body, &ch); err != nil {
		s.log.Warn("bad call update from the bus", "call_sid", m.CallSid, "err", err)
		return
	}
	if ch.Stream != nil {
		if _, err := s.applyStream(m.CallSid, *ch.Stream); err != nil {
			s.log.Info("stream change from another node not applied", "call_sid", m.CallSid, "err", err)
		}
		return
	}
	if ch.Siprec != nil {
		if _, err := s.applySiprec(m.CallSid, *ch.Siprec); err != nil {
			s.log.Info("SIPREC change from another node not applied", "call_sid", m.CallSid, "err", err)
		}
		return
	}
	if err := s.apply(m.CallSid, ch); err != nil {
		s.log.Info("call update from another node not applied", "call_sid", m.CallSid, "err", err)
	}
}

// Delete removes the record of an ended call of the account. A call that
// is still running cannot be deleted (end it first).
func (s *Service) Delete(ctx context.Context, account, sid string) error {
	rec, err := s.Get(ctx, account, sid)
	if err != nil {
		return err
	}
	if !store.CallEnded(rec.Status) {
		return &Error{Status: http.StatusBadRequest, Code: CodeNotComplete,
			Msg: "Cannot delete this resource before it is complete"}
	}
	return s.o.Store.Delete(ctx, sid)
}

// IsRefusal reports whether err is a refusal with Twilio's code (an
// *Error), as opposed to a failure of the store.
func IsRefusal(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
