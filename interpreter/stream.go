package interpreter

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/stream"
	"github.com/texml/texml/verbs"
)

// streamCloseTimeout bounds a stream's stop message and close handshake:
// a stalled app must not hold the call (or its end) for long.
const streamCloseTimeout = 2 * time.Second

// errStreamEnded ends a <Connect><Stream>'s wait: the stream is over.
var errStreamEnded = errors.New("stream ended")

// mediaStream is one <Stream> of a call: its protocol side (st), the
// leg's side (stopLeg), and its status callback.
type mediaStream struct {
	c        *Call
	name     string // the name attribute; "" when none was given
	id       string // the StreamSid, MZ…
	url      string
	st       *stream.Stream
	stopLeg  func()
	bidi     bool   // a <Connect><Stream>: the leg plays the app's audio
	cb       string // statusCallback, resolved; "" for none
	cbMethod string
	// stop asks a <Start><Stream>'s goroutine to end it, for the reason
	// in why (written before stop is closed); done is closed once it has
	// (the stop sent, the socket closed, the callbacks out).
	stop     chan struct{}
	stopOnce sync.Once
	why      string
	done     chan struct{}
}

// tracks maps a Stream's track attribute to the leg's tracks and the
// start message's (https://www.twilio.com/docs/voice/twiml/stream#track).
func tracks(track string) (spec StreamSpec, names []stream.Track) {
	switch track {
	case "outbound_track":
		return StreamSpec{Outbound: true}, []stream.Track{stream.Outbound}
	case "both_tracks":
		return StreamSpec{Inbound: true, Outbound: true}, []stream.Track{stream.Inbound, stream.Outbound}
	}
	return StreamSpec{Inbound: true}, []stream.Track{stream.Inbound}
}

// trackOf names the tracks a spec taps, as dialrecord.go's trackNames
// spell them.
func trackOf(s StreamSpec) Track {
	switch {
	case s.Inbound && s.Outbound:
		return TrackBoth
	case s.Outbound:
		return TrackOutbound
	}
	return TrackInbound
}

// streamURL resolves a Stream's url. Absolute ws:// and wss:// URLs are
// taken as they are; a relative one resolves against the document, its
// http(s) scheme becoming ws(s), as the REST Streams resource allows
// relative URLs (https://www.twilio.com/docs/voice/api/stream-resource).
func streamURL(base, ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", errors.New("no url")
	}
	if p, err := url.Parse(ref); err == nil && (p.Scheme == "ws" || p.Scheme == "wss") {
		return ref, stream.CheckURL(ref)
	}
	u, err := fetcher.Resolve(base, ref)
	if err != nil {
		return "", err
	}
	switch {
	case strings.HasPrefix(u, "http://"):
		u = "ws://" + strings.TrimPrefix(u, "http://")
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + strings.TrimPrefix(u, "https://")
	}
	return u, stream.CheckURL(u)
}

// newStream prepares a stream for the noun n of doc: its sid (sid, or a
// new one when ""), URL, protocol side and callback. It reports what
// makes it unusable and returns nil then.
func (c *Call) newStream(doc *document, n *verbs.Stream, bidirectional bool, sid string) (*mediaStream, StreamSpec) {
	p := n.Position()
	if n.URL == "" {
		// Reported already: by the parser (no url), or by gaps (a
		// Stream connector).
		return nil, StreamSpec{}
	}
	u, err := streamURL(doc.url, n.URL)
	if err != nil {
		c.fail(fmt.Sprintf("%d:%d: %v; skipped", p.Line, p.Col, &urlError{verb: "Stream", url: n.URL, err: err}), 11100)
		return nil, StreamSpec{}
	}
	spec, names := tracks(n.Track)
	if bidirectional {
		// A Connect stream carries the inbound track only (verbs checks).
		spec, names = StreamSpec{Inbound: true}, []stream.Track{stream.Inbound}
	}
	params := make(map[string]string, len(n.Params))
	for _, pr := range n.Params {
		params[pr.Name] = pr.Value
	}
	ms := &mediaStream{c: c, name: n.StreamName, url: u, bidi: bidirectional, stop: make(chan struct{}), done: make(chan struct{})}
	if n.StatusCallback != "" {
		if req := c.target(doc, "Stream", n.StatusCallback, n.StatusCallbackMethod); req.bad != nil {
			c.fail(req.bad.Error(), 11100)
		} else {
			ms.cb, ms.cbMethod = req.url, req.method
		}
	}
	if sid == "" {
		sid = NewSid("MZ")
	}
	ms.id = sid
	scfg := stream.Config{
		StreamSid: sid, AccountSid: c.cfg.AccountSid, CallSid: c.cfg.CallSid,
		Tracks: names, CustomParameters: params, Bidirectional: bidirectional,
		Now: c.cfg.Clock.Now, OnEvent: ms.event, Logger: c.log,
	}
	if err := c.streamDialect(n, &scfg); err != nil {
		c.fail(fmt.Sprintf("%d:%d: <Stream> %s: %v; skipped", p.Line, p.Col, u, err), 0)
		ms.status("stream-error", err.Error())
		return nil, StreamSpec{}
	}
	ms.st = stream.New(scfg)
	spec.Sink = func(t Track, frame []int16) {
		if t == TrackOutbound {
			ms.st.Media(stream.Outbound, frame)
			return
		}
		ms.st.Media(stream.Inbound, frame)
	}
	if bidirectional {
		spec.Digit, spec.Play = ms.st.DTMF, ms.st
	}
	return ms, spec
}

// sid is the stream's StreamSid.
func (ms *mediaStream) sid() string { return ms.id }

// attach hands the leg's audio to the stream, where it waits in the
// stream's queue until the app has its start message. It reports a
// failure and returns false then.
func (ms *mediaStream) attach(ctx context.Context, spec StreamSpec) bool {
	f := map[string]any{"state": "starting", "sid": ms.sid(), "url": ms.url, "bidirectional": spec.Play != nil,
		"track": trackNames[trackOf(spec)]}
	if ms.name != "" {
		f["name"] = ms.name
	}
	ms.c.trace("stream", f)
	stop, err := ms.c.leg.Stream(ctx, spec)
	if err != nil {
		ms.c.fail(fmt.Sprintf("<Stream> %s: %v", ms.url, err), 0)
		ms.status("stream-error", err.Error())
		return false
	}
	ms.stopLeg = stop
	return true
}

// connect opens the app's socket. It reports a failure (Twilio's 31920
// or 31901) and returns false then, with the leg untapped.
func (ms *mediaStream) connect(ctx context.Context) bool {
	c := ms.c
	if err := ms.st.Connect(ctx, c.cfg.Streams, ms.url); err != nil {
		ms.stopLeg()
		code := 0
		var de *stream.DialError
		if errors.As(err, &de) {
			code = de.Code
		}
		c.fail(fmt.Sprintf("<Stream> %s: %v", ms.url, err), code)
		c.trace("stream", map[string]any{"state": "failed", "sid": ms.sid(), "error": err.Error()})
		ms.status("stream-error", err.Error())
		return false
	}
	c.trace("stream", map[string]any{"state": "started", "sid": ms.sid()})
	ms.status("stream-started", "")
	return true
}

// end stops the leg's audio, sends stop and closes the socket (unless
// the app closed it), and reports the end: stream-stopped, or
// stream-error when the stream failed. why says who ended it, for the
// trace.
func (ms *mediaStream) end(ctx context.Context, why string) {
	if ms.bidi {
		// The leg stops playing the app's audio first, so that the
		// counts below have all it played.
		ms.stopLeg()
	} else {
		// A fork plays nothing: its leg is untapped once the end is
		// reported. On a simulated call the tap is what holds the
		// virtual clock to the wall clock (sim.Leg.Stream) while the
		// fork's goroutine, which runs off the clock, closes the socket;
		// untapped first, the call's time would run on meanwhile, and an
		// app that closed its socket at 0.2 s would have its
		// stream-stopped stamped wherever the call had got to, even
		// after its hangup.
		defer ms.stopLeg()
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), streamCloseTimeout)
	defer cancel()
	ended := ms.st.Err() // set when the app (or the socket) ended it first
	_ = ms.st.Close(cctx)
	s := ms.st.Stats()
	if s.Dropped > 0 {
		// The back-pressure rule at work: say so where operators look.
		ms.c.log.Warn("stream: the app did not keep up; audio frames were dropped",
			"stream_sid", ms.sid(), "dropped", s.Dropped, "sent", s.Sent)
	}
	f := map[string]any{"state": "stopped", "sid": ms.sid(), "reason": why,
		"sent": s.Sent, "dropped": s.Dropped, "marks": s.Marks,
		"received_ms": s.Received.Milliseconds(), "played_ms": s.Played.Milliseconds(), "discarded_ms": s.Discarded.Milliseconds()}
	if ended != nil && !errors.Is(ended, stream.ErrAppClosed) {
		f["error"] = ended.Error()
		ms.c.fail(fmt.Sprintf("<Stream> %s: %v", ms.url, ended), 0)
		ms.c.trace("stream", f)
		ms.status("stream-error", ended.Error())
		return
	}
	ms.c.trace("stream", f)
	ms.status("stream-stopped", "")
}

// event traces what the app did on the stream, from the stream's
// goroutines; a mark is traced at the time it was echoed.
func (ms *mediaStream) event(e stream.Event) {
	c := ms.c
	at := e.At.Sub(c.start)
	switch e.Kind {
	case stream.MarkPlayed:
		c.cfg.Tracer.Trace(Event{Name: "stream", T: at, Fields: map[string]any{"state": "mark", "sid": ms.sid(), "mark": e.Name}})
	case stream.Cleared:
		c.cfg.Tracer.Trace(Event{Name: "stream", T: at, Fields: map[string]any{"state": "clear", "sid": ms.sid(), "dropped_ms": e.Dropped.Milliseconds()}})
	case stream.Invalid:
		// Twilio's warning 31951, once per stream
		// (https://www.twilio.com/docs/api/errors/31951).
		c.warn(fmt.Sprintf("<Stream> %s: the app sent %v; ignored", ms.url, e.Err), 31951)
	}
}

// status sends the stream's status callback, when it has one: Twilio's
// parameters for stream events
// (https://www.twilio.com/docs/voice/twiml/stream#statuscallback).
// Timestamp is ISO 8601, as in the Streams resource's dates.
func (ms *mediaStream) status(event, errText string) {
	if ms.cb == "" {
		return
	}
	c := ms.c
	name := ms.name
	if name == "" {
		name = ms.sid() // an unnamed stream is known by its sid
	}
	p := url.Values{
		"AccountSid": {c.cfg.AccountSid}, "CallSid": {c.cfg.CallSid},
		"StreamSid": {ms.sid()}, "StreamName": {name}, "StreamEvent": {event},
		"Timestamp": {c.cfg.Clock.Now().UTC().Format(time.RFC3339)},
	}
	if errText != "" {
		p.Set("StreamError", errText)
	}
	c.post("stream-status", ms.cb, ms.cbMethod, p)
}

// connectStream runs <Connect><Stream>: the caller's audio goes to the
// app and the app's is played to the caller until the app closes the
// socket or the caller hangs up; then the action, if any, or the next
// verb (https://www.twilio.com/docs/voice/twiml/stream, "bidirectional";
// https://www.twilio.com/docs/voice/twiml/connect#action). Twilio
// documents no parameters of its own for a Stream's action: it gets the
// standard ones.
func (c *Call) connectStream(ctx context.Context, doc *document, v *verbs.Connect, n *verbs.Stream) (step, error) {
	if err := c.ensureAnswered(ctx); err != nil {
		return step{}, err
	}
	ms, spec := c.newStream(doc, n, true, "")
	if ms == nil || !ms.attach(ctx, spec) || !ms.connect(ctx) {
		// The session could not start: the Connect is over.
		return c.finish(ctx, doc, v, v.Action, v.Method, Outcome{})
	}
	// Wait on the call's clock, so that a simulated call's time runs on
	// meanwhile, until the app ends the stream or ctx ends.
	wctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-ms.st.Done():
			cancel(errStreamEnded)
		case <-wctx.Done():
		}
	}()
	_ = c.cfg.Clock.Sleep(wctx, c.cfg.MaxDuration)
	cancel(nil)
	why := "app-closed"
	if ctx.Err() != nil {
		why = "call"
	}
	ms.end(ctx, why)
	if ctx.Err() != nil {
		cause := context.Cause(ctx)
		if !errors.Is(cause, ErrHangup) {
			return step{}, cause // an update or the time limit ends the Connect
		}
		return c.finish(ctx, doc, v, v.Action, v.Method, Outcome{CallerHungUp: true})
	}
	return c.finish(ctx, doc, v, v.Action, v.Method, Outcome{})
}

// startStreams runs <Start>'s Stream nouns: each is a fork of the call's
// audio that goes on while the next verbs run, until <Stop>, the app
// closing its socket, or the end of the call
// (https://www.twilio.com/docs/voice/twiml/stream, "unidirectional").
// The socket opens in the background: the next verb starts at once, and
// the audio waits in the stream's queue meanwhile.
func (c *Call) startStreams(ctx context.Context, doc *document, v *verbs.Start) {
	for _, n := range v.Nouns {
		n, ok := n.(*verbs.Stream)
		if !ok {
			continue // other forks were reported by gaps
		}
		if n.StreamName != "" && c.findStream(n.StreamName) != nil {
			p := n.Position()
			c.fail(fmt.Sprintf("%d:%d: <Start><Stream>: a stream named %q is running already; skipped", p.Line, p.Col, n.StreamName), 0)
			continue
		}
		ms, spec := c.newStream(doc, n, false, "")
		if ms == nil {
			continue
		}
		life := c.life
		if life == nil {
			life = ctx
		}
		// The leg is tapped now, on the call's goroutine, so that the
		// fork hears the call from this verb on.
		if err := c.fork(life, ms, spec); err != nil {
			p := n.Position()
			c.fail(fmt.Sprintf("%d:%d: <Start><Stream>: %v; skipped", p.Line, p.Col, err), 0)
		}
	}
}

// fork taps the leg for ms and starts its goroutine, unless the call's
// forks are closed (the call is ending) or a running fork has its name.
// The call's goroutine and the REST API's (StartStream) both fork, so
// the list of forks is guarded by smu.
func (c *Call) fork(life context.Context, ms *mediaStream, spec StreamSpec) error {
	c.smu.Lock()
	defer c.smu.Unlock()
	if c.forksClosed {
		return errCallEnding
	}
	if ms.name != "" && c.findStreamLocked(ms.name) != nil {
		return fmt.Errorf("a stream named %q is running already", ms.name)
	}
	if !ms.attach(life, spec) {
		return errors.New("the leg cannot stream")
	}
	c.streams = append(c.streams, ms)
	c.streamWG.Add(1)
	go ms.run(life)
	return nil
}

// run is a <Start><Stream>'s goroutine: it connects, then waits for the
// end of the stream. It uses no clock and may run beside any party.
func (ms *mediaStream) run(ctx context.Context) {
	defer ms.c.streamWG.Done()
	defer close(ms.done)
	if !ms.connect(ctx) {
		return
	}
	why := "app-closed"
	select {
	case <-ms.st.Done():
	case <-ms.stop:
		why = ms.why
	case <-ctx.Done():
		why = "call"
	}
	ms.end(ctx, why)
}

// findStream returns the running fork with this name or sid.
func (c *Call) findStream(name string) *mediaStream {
	c.smu.Lock()
	defer c.smu.Unlock()
	return c.findStreamLocked(name)
}

// findStreamLocked is findStream with smu held.
func (c *Call) findStreamLocked(name string) *mediaStream {
	for _, ms := range c.streams {
		select {
		case <-ms.done:
			continue
		default:
		}
		if ms.name == name || ms.sid() == name {
			return ms
		}
	}
	return nil
}

// stopStreams runs <Stop>'s Stream nouns: a named one stops that fork; a
// Stream without a name stops every fork, as Telnyx's <Stop><Stream/>
// does. Each is over (stop sent, callbacks out) when the next verb runs.
func (c *Call) stopStreams(v *verbs.Stop) {
	for _, n := range v.Nouns {
		n, ok := n.(*verbs.Stream)
		if !ok {
			continue
		}
		if n.StreamName == "" {
			c.endStreams("stop")
			continue
		}
		ms := c.findStream(n.StreamName)
		if ms == nil {
			c.warn(fmt.Sprintf("<Stop><Stream name=%q>: no such stream is running", n.StreamName), 0)
			continue
		}
		ms.halt("stop")
	}
}

// halt stops a fork, saying why, and waits until it is over. The call's
// goroutine and the REST API's may halt the same fork at once.
func (ms *mediaStream) halt(why string) {
	ms.stopOnce.Do(func() {
		ms.why = why
		close(ms.stop)
	})
	<-ms.done
}

// endStreams stops every fork of the call and waits for them: at
// <Stop><Stream/>, at the end of the call, and of a Dial child's whisper.
// smu is held throughout, so that no fork starts (StartStream) while
// the WaitGroup is waited for.
func (c *Call) endStreams(why string) {
	c.smu.Lock()
	defer c.smu.Unlock()
	for _, ms := range c.streams {
		ms.halt(why)
	}
	c.streams = nil
	c.streamWG.Wait()
}

// closeForks ends the call's streams and SIPREC sessions for good: the
// call is over, and StartStream and StartSiprec are refused from now on.
func (c *Call) closeForks() {
	c.smu.Lock()
	c.forksClosed = true
	endForks(&c.sipRecs, "call")
	c.smu.Unlock()
	c.endStreams("call")
}
