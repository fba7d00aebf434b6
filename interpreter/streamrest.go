package interpreter

import (
	"errors"
	"fmt"

	"github.com/texml/texml/verbs"
)

// Errors of StartStream and StopStream.
var (
	// ErrNotRunning: the call has not started, or has ended.
	ErrNotRunning = errors.New("the call is not in progress")
	// ErrNoStream: no running stream has this name or sid.
	ErrNoStream = errors.New("no such stream is running")
	// errCallEnding: the call's forks are closed.
	errCallEnding = fmt.Errorf("%w: it is ending", ErrNotRunning)
)

// StreamRequest is a unidirectional stream the REST API forks off a
// running call: Twilio's Stream resource
// (https://www.twilio.com/docs/voice/api/stream-resource), the same fork
// as <Start><Stream>.
type StreamRequest struct {
	// Sid is the stream's StreamSid (MZ…); "" makes a new one. The API
	// chooses it, so that it can answer before a call on another node
	// has the request.
	Sid string
	// URL is the app's WebSocket: ws(s)://, or relative to the call's
	// URL.
	URL string
	// Name, when set, lets the stream be stopped by name.
	Name string
	// Track is inbound_track (default), outbound_track or both_tracks.
	Track string
	// StatusCallback receives stream-started, stream-stopped and
	// stream-error, with StatusCallbackMethod (default POST).
	StatusCallback, StatusCallbackMethod string
	// Params are sent in the start message's custom parameters.
	Params []verbs.Param
}

// StartStream forks the call's audio to req's app without disturbing
// the verb that runs: the fork taps the leg at once, and its goroutine
// connects and lives until StopStream, <Stop><Stream>, the app closing
// its socket, or the end of the call. It may be called from any
// goroutine; it returns the stream's sid, or why the stream cannot
// start (ErrNotRunning, a bad URL or track, a name in use).
func (c *Call) StartStream(req StreamRequest) (string, error) {
	switch req.Track {
	case "":
		req.Track = "inbound_track"
	case "inbound_track", "outbound_track", "both_tracks":
	default:
		return "", fmt.Errorf("track %q: want inbound_track, outbound_track or both_tracks", req.Track)
	}
	c.smu.Lock()
	life := c.life
	c.smu.Unlock()
	if life == nil || life.Err() != nil {
		return "", ErrNotRunning
	}
	doc := &document{url: c.cfg.URL}
	if _, err := streamURL(doc.url, req.URL); err != nil {
		return "", fmt.Errorf("url %q: %w", req.URL, err)
	}
	n := &verbs.Stream{URL: req.URL, StreamName: req.Name, Track: req.Track,
		StatusCallback: req.StatusCallback, StatusCallbackMethod: methodOr(req.StatusCallbackMethod), Params: req.Params}
	ms, spec := c.newStream(doc, n, false, req.Sid)
	if ms == nil {
		return "", errors.New("the stream cannot start")
	}
	if err := c.fork(life, ms, spec); err != nil {
		return "", err
	}
	return ms.sid(), nil
}

// StopStream ends the running stream with this name or sid, as
// <Stop><Stream name> does, waits until its stop is sent, and returns
// its sid and name. It may be called from any goroutine but the call's
// clock's (a simulated leg's stream ends on that goroutine).
func (c *Call) StopStream(nameOrSid string) (sid, name string, err error) {
	ms := c.findStream(nameOrSid)
	if ms == nil {
		return "", "", ErrNoStream
	}
	ms.halt("api")
	return ms.sid(), ms.name, nil
}
