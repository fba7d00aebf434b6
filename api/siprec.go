package api

import (
	"context"
	"net/url"
	"strings"

	"github.com/texml/texml/calls"
	"github.com/texml/texml/interpreter"
)

// The Siprec resource (https://www.twilio.com/docs/voice/api/siprec):
// create opens a SIPREC session on a live call, as <Start><Siprec> does
// (forks.go has the routes it shares with Streams).

// SiprecService is what the Siprec resource acts through:
// *calls.Service. The routes are served when Options.Calls has it.
type SiprecService interface {
	Siprec(ctx context.Context, account, callSid string, sc calls.SiprecChange) (calls.SiprecResult, error)
}

var _ SiprecService = (*calls.Service)(nil)

// registerSiprec adds the Siprec routes under acct, when the call
// service can run them.
func (s *server) registerSiprec(acct string) {
	svc, ok := s.o.Calls.(SiprecService)
	if !ok {
		return
	}
	s.registerForks(acct, forkRoutes{collection: "Siprec", what: "siprec",
		start: func(ctx context.Context, account, callSid string, f url.Values) (string, string, *problem, error) {
			req, p := parseSiprec(f)
			if p != nil {
				return "", "", p, nil
			}
			res, err := svc.Siprec(ctx, account, callSid, calls.SiprecChange{Start: &req})
			return res.Sid, res.Name, nil, err
		},
		stop: func(ctx context.Context, account, callSid, key string) (string, string, error) {
			res, err := svc.Siprec(ctx, account, callSid, calls.SiprecChange{Stop: key})
			return res.Sid, res.Name, err
		}})
}

// parseSiprec reads a session's parameters. The connector is checked by
// the call's leg, which knows the configured ones.
func parseSiprec(f url.Values) (interpreter.SiprecRequest, *problem) {
	req := interpreter.SiprecRequest{ConnectorName: strings.TrimSpace(f.Get("ConnectorName")), Name: f.Get("Name"),
		Track: f.Get("Track"), StatusCallback: f.Get("StatusCallback"), StatusCallbackMethod: f.Get("StatusCallbackMethod")}
	switch req.Track {
	case "", "inbound_track", "outbound_track", "both_tracks":
	default:
		return req, invalid(codeInvalidParameter, "Track", "Invalid Track: want inbound_track, outbound_track or both_tracks")
	}
	if req.ConnectorName == "" {
		return req, invalid(codeInvalidParameter, "ConnectorName", "Missing required parameter ConnectorName")
	}
	if req.StatusCallback != "" && !webURL(req.StatusCallback) {
		return req, invalid(codeInvalidURL, "StatusCallback", "Invalid StatusCallback: "+req.StatusCallback)
	}
	if !httpMethod(req.StatusCallbackMethod) {
		return req, invalid(codeBadMethod, "StatusCallbackMethod", "Invalid method: want GET or POST")
	}
	req.StatusCallbackMethod = strings.ToUpper(req.StatusCallbackMethod)
	req.Params = formParams(f)
	return req, nil
}
