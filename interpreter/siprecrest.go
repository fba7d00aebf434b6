package interpreter

import (
	"errors"
	"fmt"

	"github.com/texml/texml/verbs"
)

// ErrNoSiprec is StopSiprec's error: no running SIPREC session has this
// name or sid.
var ErrNoSiprec = errors.New("no such SIPREC session is running")

// SiprecRequest is a SIPREC session the REST API starts on a running
// call: Twilio's Siprec resource
// (https://www.twilio.com/docs/voice/api/siprec), the same session as
// <Start><Siprec> (https://www.twilio.com/docs/voice/twiml/siprec).
type SiprecRequest struct {
	// Sid is the session's sid (SR…); "" makes a new one. The API
	// chooses it, so that it can answer before a call on another node
	// has the request.
	Sid string
	// ConnectorName names the recording server: a connector of the
	// configuration, or a sip: URI (texml's extension).
	ConnectorName string
	// Name, when set, lets the session be stopped by name.
	Name string
	// Track is inbound_track, outbound_track or both_tracks (default).
	Track string
	// StatusCallback receives siprec-started, siprec-stopped and
	// siprec-failed, with StatusCallbackMethod (default POST); a
	// relative URL is resolved against the call's URL.
	StatusCallback, StatusCallbackMethod string
	// Params go to the recording server in the metadata, as
	// <Siprec>'s <Parameter>s do.
	Params []verbs.Param
}

// StartSiprec opens a SIPREC session on the call without disturbing the
// verb that runs, as <Start><Siprec> does: the leg sends the INVITE in
// the background, and the session lives until StopSiprec, <Stop><Siprec>,
// the recording server's BYE, or the end of the call. It may be called
// from any goroutine. It returns the session's sid, or why it cannot
// start: ErrNotRunning, a bad track or callback URL, a name in use, or
// the leg's refusal (ErrUnknownConnector…), which is also reported as
// the TwiML path reports it (an error event and siprec-failed).
func (c *Call) StartSiprec(req SiprecRequest) (string, error) {
	switch req.Track {
	case "", "inbound_track", "outbound_track", "both_tracks":
	default:
		return "", fmt.Errorf("track %q: want inbound_track, outbound_track or both_tracks", req.Track)
	}
	if req.ConnectorName == "" {
		return "", errors.New("ConnectorName is required: it names the recording server")
	}
	c.smu.Lock()
	defer c.smu.Unlock()
	life := c.life
	if life == nil || life.Err() != nil {
		return "", ErrNotRunning
	}
	if c.forksClosed {
		return "", errCallEnding
	}
	if req.Name != "" && hasFork(c.sipRecs, req.Name) {
		return "", fmt.Errorf("a SIPREC session named %q is running already", req.Name)
	}
	if req.Sid == "" {
		req.Sid = NewSid("SR")
	}
	r := &sipRec{c: c, name: req.Name, sid: req.Sid, connector: req.ConnectorName}
	if req.StatusCallback != "" {
		t := c.target(&document{url: c.cfg.URL}, "Siprec", req.StatusCallback, req.StatusCallbackMethod)
		if t.bad != nil {
			return "", fmt.Errorf("statusCallback: %w", t.bad)
		}
		r.cb, r.cbMethod = t.url, t.method
	}
	if err := c.openSipRec(life, r, req.Track, req.Params, "Siprec resource"); err != nil {
		if errors.Is(err, ErrHangup) {
			return "", fmt.Errorf("%w: the far end has left", ErrNotRunning)
		}
		return "", err
	}
	return r.sid, nil
}

// StopSiprec ends the running SIPREC session with this name or sid, as
// <Stop><Siprec name> does (BYE, or CANCEL while the INVITE is pending;
// siprec-stopped), and returns its sid and name. It may be called from
// any goroutine.
func (c *Call) StopSiprec(nameOrSid string) (sid, name string, err error) {
	c.smu.Lock()
	defer c.smu.Unlock()
	r, ok := findFork(c.sipRecs, nameOrSid)
	if !ok {
		return "", "", ErrNoSiprec
	}
	r.end("api")
	for i, x := range c.sipRecs {
		if x == r {
			c.sipRecs = append(c.sipRecs[:i], c.sipRecs[i+1:]...)
			break
		}
	}
	return r.sid, r.name, nil
}
