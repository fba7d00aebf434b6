package interpreter

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/verbs"
)

// appErrorText is what Twilio says when an app fails with no working
// fallback (https://www.twilio.com/docs/usage/security/availability-reliability).
const appErrorText = "An application error has occurred."

// request is the next document to fetch.
type request struct {
	url    string
	method string
	params url.Values // verb parameters on top of the standard ones
	kind   verbs.Kind
	twiml  string // inline document (live update), instead of url
	// bad is set when the URL written in the document is unusable; loading
	// the request fails with 11100 and takes the fallback path.
	bad error
}

// cleanupTimeout bounds signaling done after the call's context ended
// (hangup, reject): the peer may be gone.
const cleanupTimeout = 10 * time.Second

// urlError is Twilio's 11100: a URL in a verb that cannot be used.
type urlError struct {
	verb, url string
	err       error
}

func (e *urlError) Error() string {
	return fmt.Sprintf("<%s>: invalid URL %q: %v", e.verb, e.url, e.err)
}
func (e *urlError) Unwrap() error { return e.err }

// document is a fetched, parsed document ready to run.
type document struct {
	url   string // what relative references resolve against
	verbs []verbs.Verb
}

// Run executes the call until it ends and returns how it ended. It blocks;
// cancelling ctx ends the call as a hangup from our side.
func (c *Call) Run(ctx context.Context) Result {
	c.start = c.cfg.Clock.Now()
	c.initiated = c.start
	if strings.HasPrefix(c.cfg.Direction, "outbound") {
		// An outbound call fetches its TwiML once the callee answered.
		c.answered = c.start
	}
	c.setRunning(true)
	c.log.Info("call started", "from", c.cfg.From, "to", c.cfg.To, "url", fetcher.Redact(c.cfg.URL))
	c.statusEvent("initiated", c.start)
	c.statusEvent("ringing", c.start)
	return c.execute(ctx)
}

// execute runs the call's documents from its URL until the call ends,
// and sends its completed status callback.
func (c *Call) execute(ctx context.Context) Result {
	first := &request{url: c.cfg.URL, method: c.cfg.Method}
	if c.cfg.Twiml != "" {
		first = &request{twiml: c.cfg.Twiml}
	}
	return c.executeFrom(ctx, first)
}

// executeFrom is execute with the first request given: a detached Dial
// child's (childupdate.go) carries parameters of its own.
func (c *Call) executeFrom(ctx context.Context, first *request) Result {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := c.cfg.Clock.AfterFunc(c.cfg.MaxDuration, func() { cancel(ErrTimeLimit) })
	defer stop()
	c.smu.Lock()
	c.life = ctx
	c.smu.Unlock()
	var res Result
	if r := c.startDetection(ctx, first); r != nil {
		res = *r
	} else {
		res = c.loop(ctx, first)
	}
	// A transfer whose referUrl document did not Dial ends with the
	// call: the transferor hears it failed (487 when the caller left).
	if c.hungUp {
		c.endTransfer(487)
	}
	c.endTransfer(603)
	// The call is over: its forks send their stop, and its goroutines
	// (asynchronous detection) end with its context.
	endForks(&c.recordings, "call")
	endForks(&c.transcriptions, "call")
	c.closeForks()
	cancel(nil)
	c.bg.Wait()

	c.setRunning(false)
	if !c.answered.IsZero() {
		res.Duration = c.cfg.Clock.Now().Sub(c.answered)
	}
	if res.Status == "" {
		res.Status = "completed"
		if c.answered.IsZero() {
			// Hung up before answer: the caller canceled, or the app did.
			res.Status = "canceled"
			if !c.hungUp {
				res.Status = "completed"
			}
		}
	}
	c.final = res.Status
	c.statusEvent("completed", c.cfg.Clock.Now())
	c.log.Info("call ended", "status", res.Status, "reason", res.Reason)
	return res
}

func (c *Call) loop(ctx context.Context, req *request) Result {
	for req != nil {
		vctx, done := c.verbContext(ctx)
		doc, err := c.load(vctx, req)
		done()
		if c.mode != verbs.Main && c.updatePending() {
			return Result{Reason: docStopped}
		}
		if u := c.takeUpdate(); u != nil {
			next, res := c.applyUpdate(ctx, u)
			if res != nil {
				return *res
			}
			req = next
			continue
		}
		if err != nil {
			return c.endOnError(ctx, err)
		}
		var res *Result
		req, res = c.runDocument(ctx, doc)
		if res != nil {
			return *res
		}
	}
	return c.hangupAnswered(ctx, "end-of-document")
}

// applyUpdate turns a live update into the next request, or the end.
func (c *Call) applyUpdate(ctx context.Context, u *Update) (*request, *Result) {
	c.trace("update", map[string]any{"url": u.URL, "method": u.Method, "twiml": u.Twiml, "hangup": u.Hangup})
	// The call's goroutine owns its Config: replaced here, not by Update.
	if u.FallbackURL != "" {
		c.cfg.FallbackURL, c.cfg.FallbackMethod = u.FallbackURL, methodOr(u.FallbackMethod)
	}
	if u.StatusCallback != "" {
		c.cfg.StatusCallback, c.cfg.StatusCallbackMethod = u.StatusCallback, methodOr(u.StatusCallbackMethod)
	}
	if u.Hangup {
		r := c.hangup(ctx, "api-hangup")
		return nil, &r
	}
	if u.Twiml != "" {
		return &request{twiml: u.Twiml}, nil
	}
	return &request{url: u.URL, method: methodOr(u.Method)}, nil
}

// endOnError ends the call after an application error or a hangup.
func (c *Call) endOnError(ctx context.Context, err error) Result {
	switch {
	case c.mode != verbs.Main && ctx.Err() != nil:
		// A nested document stopped because its verb ended it (a
		// whisper's callee hung up, a waiting caller was dequeued) or
		// the call's step ended (hangup, live update, time limit): it
		// ends quietly, never with the application error, and the verb
		// decides what follows.
		return Result{Reason: docStopped}
	case errors.Is(err, ErrHangup) || c.hungUp || errors.Is(context.Cause(ctx), ErrHangup):
		// A leg cancels the call's context with cause ErrHangup when the
		// caller leaves, so that a fetch cut short counts as a hangup too.
		c.hungUp = true
		return c.callerHangup()
	case errors.Is(err, ErrTimeLimit) || errors.Is(context.Cause(ctx), ErrTimeLimit):
		return c.hangup(ctx, "time-limit")
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// Our side ended the call (shutdown, Ctrl-C): hang the leg up.
		r := c.hangup(ctx, "canceled")
		r.Err = err
		return r
	}
	var le *loopError
	if errors.As(err, &le) {
		c.fail(le.Error(), 0)
		r := c.hangup(ctx, "loop-limit")
		r.Err = err
		return r
	}
	return c.appError(ctx, err)
}

// appError speaks Twilio's stock message and hangs up.
func (c *Call) appError(ctx context.Context, err error) Result {
	c.setRunning(false) // the call is ending: a live update can no longer apply
	if c.ensureAnswered(ctx) == nil {
		_, _ = c.leg.Say(ctx, Speech{Text: appErrorText, Voice: "woman", Language: "en-US"}, Prompt{})
	}
	r := c.hangup(ctx, "app-error")
	r.Err = err
	return r
}

func (c *Call) callerHangup() Result {
	c.trace("hangup", map[string]any{"reason": "caller-hangup"})
	return Result{Reason: "caller-hangup"}
}

// hangup ends the call from our side.
func (c *Call) hangup(ctx context.Context, reason string) Result {
	if c.hungUp {
		return c.callerHangup()
	}
	c.setRunning(false)
	c.trace("hangup", map[string]any{"reason": reason})
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := c.leg.Hangup(cctx); err != nil {
		c.log.Warn("hangup", "err", err)
	}
	return Result{Reason: reason}
}

// hangupAnswered ends the call the way a Hangup verb or the end of a
// document does on Twilio: an unanswered call is answered first, because
// only <Reject> keeps a call from being answered (Twilio's Hangup and
// Reject pages).
func (c *Call) hangupAnswered(ctx context.Context, reason string) Result {
	if !c.hungUp {
		if err := c.ensureAnswered(ctx); err != nil {
			c.log.Warn("answer before hangup", "err", err)
		}
	}
	return c.hangup(ctx, reason)
}

type loopError struct{ n int }

func (e *loopError) Error() string {
	return fmt.Sprintf("fetched %d documents in a row without any time spent with the caller; ending the call to stop a redirect loop", e.n)
}

// load fetches and parses a document, going to the fallback URL on a
// fetch or parse failure (Twilio's Fallback URL).
func (c *Call) load(ctx context.Context, req *request) (*document, error) {
	if req.twiml != "" {
		return c.parse([]byte(req.twiml), c.cfg.URL, verbs.Main)
	}
	if c.mode != verbs.Main {
		req.kind = c.mode // every document of a whisper (a wait...) is one
	}
	if req.bad != nil {
		return c.fallback(ctx, req, req.bad)
	}
	c.fetches++
	if c.fetches > c.cfg.MaxFetches {
		return nil, &loopError{n: c.fetches - 1}
	}
	if c.elapsed() >= c.cfg.MaxDuration {
		return nil, ErrTimeLimit
	}
	doc, err := c.fetchDocument(ctx, req)
	if err == nil || ctx.Err() != nil {
		return doc, err
	}
	return c.fallback(ctx, req, err)
}

// fallback reports a failed document and fetches the fallback URL once,
// with ErrorCode and ErrorUrl (Twilio's Fallback URL).
func (c *Call) fallback(ctx context.Context, req *request, err error) (*document, error) {
	code := errorCode(err)
	c.fail(err.Error(), code)
	if c.cfg.FallbackURL == "" {
		return nil, err
	}
	// ErrorUrl is the URL that failed, without a connection-override
	// fragment, which is never part of a requested URL
	// (https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides).
	errURL, _, _ := strings.Cut(req.url, "#")
	fb := &request{url: c.cfg.FallbackURL, method: c.cfg.FallbackMethod, kind: req.kind,
		params: url.Values{"ErrorCode": {fmt.Sprint(code)}, "ErrorUrl": {errURL}}}
	doc, ferr := c.fetchDocument(ctx, fb)
	if ferr != nil {
		c.fail(ferr.Error(), errorCode(ferr))
		return nil, fmt.Errorf("fallback after %w: %w", err, ferr)
	}
	return doc, nil
}

// errorCode maps a load error to its Twilio code.
func errorCode(err error) int {
	var fe *fetcher.Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	var pe *verbs.ParseError
	if errors.As(err, &pe) {
		return pe.Code
	}
	var ue *urlError
	if errors.As(err, &ue) {
		return 11100
	}
	return 11200
}

func (c *Call) fetchDocument(ctx context.Context, req *request) (*document, error) {
	params := merge(c.baseParams(), req.params)
	resp, err := c.fetch.Fetch(ctx, fetcher.Request{URL: req.url, Method: req.method, Params: params, Jar: c.jar, Signing: c.cfg.Signing})
	ev := map[string]any{"method": req.method, "url": req.url, "params": flatten(params)}
	var hops []fetcher.Redirect
	if resp != nil {
		ev["status"] = resp.Status
		hops = resp.Redirects
	}
	var fe *fetcher.Error
	if errors.As(err, &fe) {
		ev["status"] = fe.Status
		ev["code"] = fe.Code
		hops = fe.Redirects
	}
	if len(hops) > 0 {
		// The document came from another URL: say which URL
		// redirected to which, since the TwiML came from the last one.
		list := make([]map[string]any, len(hops))
		for i, h := range hops {
			list[i] = map[string]any{"method": h.Method, "url": h.URL, "status": h.Status, "location": h.Location}
		}
		ev["redirects"] = list
	}
	c.trace("request", ev)
	switch {
	case fe != nil:
		return nil, err // its message names the URL already ("fetch URL: error …")
	case err != nil:
		return nil, fmt.Errorf("fetch %s: %w", req.url, err)
	}
	if req.kind == verbs.EnqueueWait || req.kind == verbs.ConferenceWait {
		// A wait URL that is audio (or text) is played in a loop: the
		// caller keeps waiting, it does not hang up (Twilio's Enqueue
		// and Conference pages, "waitUrl").
		switch resp.Kind {
		case fetcher.Audio:
			return &document{url: resp.URL, verbs: []verbs.Verb{&verbs.Play{URL: resp.URL, Loop: 0}}}, nil
		case fetcher.Text:
			return &document{url: resp.URL, verbs: []verbs.Verb{&verbs.Say{Text: string(resp.Body), Voice: "man", Language: "en-US", Loop: 0}}}, nil
		}
	}
	switch resp.Kind {
	case fetcher.Audio:
		// Audio is played, then the call hangs up.
		return &document{url: resp.URL, verbs: []verbs.Verb{&verbs.Play{URL: resp.URL, Loop: 1}, &verbs.Hangup{}}}, nil
	case fetcher.Text:
		return &document{url: resp.URL, verbs: []verbs.Verb{&verbs.Say{Text: string(resp.Body), Voice: "man", Language: "en-US", Loop: 1}, &verbs.Hangup{}}}, nil
	}
	return c.parse(resp.Body, resp.URL, req.kind)
}

func (c *Call) parse(body []byte, base string, kind verbs.Kind) (*document, error) {
	d, err := c.cfg.Dialect.Parse(body, kind)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", base, err)
	}
	for _, diag := range d.Diagnostics {
		c.report(diag.Severity, fmt.Sprintf("%s:%d:%d: %s", base, diag.Line, diag.Col, diag.Message), diag.Code)
	}
	return &document{url: base, verbs: d.Verbs}, nil
}

// flatten turns params into a JSON-friendly object; repeated keys keep
// their first value, which is all Twilio's parameters ever need.
func flatten(p url.Values) map[string]string {
	m := make(map[string]string, len(p))
	for k, vs := range p {
		if len(vs) > 0 {
			m[k] = vs[0]
		}
	}
	return m
}
