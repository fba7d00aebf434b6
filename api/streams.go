package api

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/texml/texml/calls"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/verbs"
)

// The Stream resource (https://www.twilio.com/docs/voice/api/stream-resource):
// create forks a live call's audio to a WebSocket app, as
// <Start><Stream> does (forks.go has the routes it shares with Siprec).

// StreamService is what the Stream resource acts through:
// *calls.Service. The routes are served when Options.Calls has it.
type StreamService interface {
	Stream(ctx context.Context, account, callSid string, sc calls.StreamChange) (calls.StreamResult, error)
}

var _ StreamService = (*calls.Service)(nil)

// maxStreamParams is how many ParameterN.Name/Value pairs a Stream or
// Siprec request may carry (Parameter1 … Parameter99).
const maxStreamParams = 99

// registerStreams adds the Stream routes under acct, when the call
// service can run them.
func (s *server) registerStreams(acct string) {
	svc, ok := s.o.Calls.(StreamService)
	if !ok {
		return
	}
	s.registerForks(acct, forkRoutes{collection: "Streams", what: "stream",
		start: func(ctx context.Context, account, callSid string, f url.Values) (string, string, *problem, error) {
			req, p := parseStream(f)
			if p != nil {
				return "", "", p, nil
			}
			res, err := svc.Stream(ctx, account, callSid, calls.StreamChange{Start: &req})
			return res.Sid, res.Name, nil, err
		},
		stop: func(ctx context.Context, account, callSid, key string) (string, string, error) {
			res, err := svc.Stream(ctx, account, callSid, calls.StreamChange{Stop: key})
			return res.Sid, res.Name, err
		}})
}

// parseStream reads a stream's parameters.
func parseStream(f url.Values) (interpreter.StreamRequest, *problem) {
	req := interpreter.StreamRequest{URL: strings.TrimSpace(f.Get("Url")), Name: f.Get("Name"), Track: f.Get("Track"),
		StatusCallback: f.Get("StatusCallback"), StatusCallbackMethod: f.Get("StatusCallbackMethod")}
	switch req.Track {
	case "", "inbound_track", "outbound_track", "both_tracks":
	default:
		return req, invalid(codeInvalidParameter, "Track", "Invalid Track: want inbound_track, outbound_track or both_tracks")
	}
	if req.URL == "" {
		return req, invalid(codeInvalidParameter, "Url", "Missing required parameter Url")
	}
	if u, err := url.Parse(req.URL); err != nil || u.Scheme != "" && u.Scheme != "ws" && u.Scheme != "wss" {
		return req, invalid(codeInvalidURL, "Url", "Invalid Url: want wss://, ws:// or a path relative to the call's URL: "+req.URL)
	}
	if req.StatusCallback != "" && !webURL(req.StatusCallback) {
		return req, invalid(codeInvalidURL, "StatusCallback", "Invalid StatusCallback: "+req.StatusCallback)
	}
	if !httpMethod(req.StatusCallbackMethod) {
		return req, invalid(codeBadMethod, "StatusCallbackMethod", "Invalid method: want GET or POST")
	}
	req.Params = formParams(f)
	return req, nil
}

// formParams reads the Parameter1.Name/Parameter1.Value … pairs of the
// Stream and Siprec resources; a pair without a name is skipped.
func formParams(f url.Values) []verbs.Param {
	var ps []verbs.Param
	for i := 1; i <= maxStreamParams; i++ {
		name := f.Get(fmt.Sprintf("Parameter%d.Name", i))
		if name == "" {
			continue
		}
		ps = append(ps, verbs.Param{Name: name, Value: f.Get(fmt.Sprintf("Parameter%d.Value", i))})
	}
	return ps
}
