package calls

import (
	"context"
	"errors"
	"net/http"

	"github.com/texml/texml/interpreter"
)

// SiprecChange starts or stops a SIPREC session on a live call: Twilio's
// Siprec resource (https://www.twilio.com/docs/voice/api/siprec). It
// travels over the bus inside a Change, as stream changes do.
type SiprecChange struct {
	// Start is the session to open; its Sid is chosen by the caller, so
	// that the API can answer for a call on another node.
	Start *interpreter.SiprecRequest `json:",omitempty"`
	// Stop is the name or sid of the session to stop.
	Stop string `json:",omitempty"`
}

// SiprecResult is what became of a SiprecChange.
type SiprecResult struct {
	Sid, Name string
	// Remote: the change went over the bus to the call's node, which
	// applies it asynchronously; Sid is then Start's, or for a stop the
	// name or sid given.
	Remote bool
}

// CodeSiprecRefused answers a session the call cannot start (a bad
// track, a name in use, a connector that names no recording server):
// Twilio's "invalid parameter" (https://www.twilio.com/docs/api/errors/20001).
const CodeSiprecRefused = 20001

// CodeNoSiprec: no running session has the name or sid given (Twilio's
// "resource not found", https://www.twilio.com/docs/api/errors/20404).
const CodeNoSiprec = 20404

// Siprec applies sc to a call of the account, on this node or, over the
// bus, on the node that runs it.
func (s *Service) Siprec(ctx context.Context, account, sid string, sc SiprecChange) (SiprecResult, error) {
	if (sc.Start == nil) == (sc.Stop == "") {
		return SiprecResult{}, errors.New("calls: a SIPREC change starts or stops one session")
	}
	if sc.Start != nil && sc.Start.Sid == "" {
		sc.Start.Sid = interpreter.NewSid("SR")
	}
	local, err := s.route(ctx, account, sid, Change{Siprec: &sc}, "a SIPREC session")
	switch {
	case err != nil:
		return SiprecResult{}, err
	case local:
		return s.applySiprec(sid, sc)
	case sc.Start != nil:
		return SiprecResult{Sid: sc.Start.Sid, Name: sc.Start.Name, Remote: true}, nil
	}
	return SiprecResult{Sid: sc.Stop, Remote: true}, nil
}

// applySiprec carries out sc on a call running here.
func (s *Service) applySiprec(sid string, sc SiprecChange) (SiprecResult, error) {
	notRunning := &Error{Status: http.StatusBadRequest, Code: CodeNotInProgress, Msg: "Call is not in-progress. Cannot start or stop a SIPREC session."}
	call := s.liveCall(sid)
	if call == nil {
		return SiprecResult{}, notRunning
	}
	if sc.Start != nil {
		got, err := call.StartSiprec(*sc.Start)
		switch {
		case errors.Is(err, interpreter.ErrNotRunning):
			return SiprecResult{}, notRunning
		case err != nil:
			return SiprecResult{}, &Error{Status: http.StatusBadRequest, Code: CodeSiprecRefused, Msg: "Siprec not started: " + err.Error()}
		}
		return SiprecResult{Sid: got, Name: sc.Start.Name}, nil
	}
	got, name, err := call.StopSiprec(sc.Stop)
	if err != nil {
		return SiprecResult{}, &Error{Status: http.StatusNotFound, Code: CodeNoSiprec, Msg: "No running SIPREC session " + sc.Stop + " on this call"}
	}
	return SiprecResult{Sid: got, Name: name}, nil
}
