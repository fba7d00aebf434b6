package calls

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
)

// StreamChange starts or stops a unidirectional stream fork on a live
// call: Twilio's Stream resource
// (https://www.twilio.com/docs/voice/api/stream-resource). It travels
// over the bus inside a Change, as updates do.
type StreamChange struct {
	// Start is the stream to fork; its Sid is chosen by the caller, so
	// that the API can answer for a call on another node.
	Start *interpreter.StreamRequest `json:",omitempty"`
	// Stop is the name or sid of the stream to stop.
	Stop string `json:",omitempty"`
}

// StreamResult is what became of a StreamChange.
type StreamResult struct {
	Sid, Name string
	// Remote: the change went over the bus to the call's node, which
	// applies it asynchronously; Sid is then Start's, or for a stop the
	// name or sid given.
	Remote bool
}

// CodeNoStream: no running stream has the name or sid given (Twilio's
// "resource not found", https://www.twilio.com/docs/api/errors/20404).
const CodeNoStream = 20404

// Stream applies sc to a call of the account, on this node or, over the
// bus, on the node that runs it.
func (s *Service) Stream(ctx context.Context, account, sid string, sc StreamChange) (StreamResult, error) {
	if (sc.Start == nil) == (sc.Stop == "") {
		return StreamResult{}, errors.New("calls: a stream change starts or stops one stream")
	}
	if sc.Start != nil && sc.Start.Sid == "" {
		sc.Start.Sid = interpreter.NewSid("MZ")
	}
	local, err := s.route(ctx, account, sid, Change{Stream: &sc}, "a stream")
	switch {
	case err != nil:
		return StreamResult{}, err
	case local:
		return s.applyStream(sid, sc)
	case sc.Start != nil:
		return StreamResult{Sid: sc.Start.Sid, Name: sc.Start.Name, Remote: true}, nil
	}
	return StreamResult{Sid: sc.Stop, Remote: true}, nil
}

// route finds a live call of the account for a fork's change (what names
// the fork in messages): local when the call runs on this node;
// otherwise ch has gone over the bus to the node that runs it, which
// applies it asynchronously.
func (s *Service) route(ctx context.Context, account, sid string, ch Change, what string) (local bool, err error) {
	rec, err := s.Get(ctx, account, sid)
	if err != nil {
		return false, err
	}
	if store.CallEnded(rec.Status) {
		return false, &Error{Status: http.StatusBadRequest, Code: CodeNotInProgress, Msg: "Call is not in-progress. Cannot start or stop " + what + "."}
	}
	if rec.Node == s.o.Node {
		return true, nil
	}
	if s.o.Sender == nil {
		return false, &Error{Status: http.StatusServiceUnavailable, Code: 20503, Msg: "the call runs on another node, which cannot be reached"}
	}
	body, err := json.Marshal(ch)
	if err != nil {
		return false, fmt.Errorf("encoding the change of %s: %w", what, err)
	}
	if err := s.o.Sender.Send(ctx, rec.Node, store.Message{Kind: UpdateKind, CallSid: sid, Body: body}); err != nil {
		return false, fmt.Errorf("sending the change of %s to node %s: %w", what, rec.Node, err)
	}
	return false, nil
}

// liveCall returns the interpreter of a call running here, or nil.
func (s *Service) liveCall(sid string) *interpreter.Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.live[sid]; e != nil {
		return e.call
	}
	return nil
}

// applyStream carries out sc on a call running here.
func (s *Service) applyStream(sid string, sc StreamChange) (StreamResult, error) {
	call := s.liveCall(sid)
	if call == nil {
		return StreamResult{}, &Error{Status: http.StatusBadRequest, Code: CodeNotInProgress, Msg: "Call is not in-progress. Cannot start or stop a stream."}
	}
	if sc.Start != nil {
		got, err := call.StartStream(*sc.Start)
		switch {
		case errors.Is(err, interpreter.ErrNotRunning):
			return StreamResult{}, &Error{Status: http.StatusBadRequest, Code: CodeNotInProgress, Msg: "Call is not in-progress. Cannot start a stream."}
		case err != nil:
			return StreamResult{}, &Error{Status: http.StatusBadRequest, Code: CodeInvalidParameter, Msg: "Stream not started: " + err.Error()}
		}
		return StreamResult{Sid: got, Name: sc.Start.Name}, nil
	}
	got, name, err := call.StopStream(sc.Stop)
	if err != nil {
		return StreamResult{}, &Error{Status: http.StatusNotFound, Code: CodeNoStream, Msg: "No running stream " + sc.Stop + " on this call"}
	}
	return StreamResult{Sid: got, Name: name}, nil
}
