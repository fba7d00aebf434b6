package interpreter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/verbs"
)

// step is what one verb decided.
type step struct {
	next *request // control transfers here; the rest of the document is dead
	end  *Result  // the call ends
}

// mediaTime is how long a verb must keep the caller busy to count as time
// spent with them; below it, a document that only redirects is a loop.
const mediaTime = 100 * time.Millisecond

// maxSeconds caps durations written in documents (Pause length, timeouts)
// so that absurd values cannot overflow time.Duration; it is far above
// any call's time limit.
const maxSeconds = 7 * 24 * 3600

func secs(n int) time.Duration { return time.Duration(min(max(n, 0), maxSeconds)) * time.Second }

// runDocument runs doc's verbs top to bottom. It returns the next request,
// or the end of the call; (nil, nil) cannot happen: the end of a document
// hangs up.
func (c *Call) runDocument(ctx context.Context, doc *document) (*request, *Result) {
	for _, v := range doc.verbs {
		if c.elapsed() >= c.cfg.MaxDuration {
			r := c.hangup(ctx, "time-limit")
			return nil, &r
		}
		for _, d := range gaps(v) {
			c.report(d.Severity, fmt.Sprintf("%s:%d:%d: %s", doc.url, d.Line, d.Col, d.Message), d.Code)
		}
		began := c.elapsed()
		vctx, done := c.verbContext(ctx)
		st, err := c.runVerb(vctx, doc, v)
		done()
		if c.cfg.Observe != nil {
			c.cfg.Observe(v.Name(), c.elapsed()-began)
		}
		if c.elapsed()-began >= mediaTime {
			c.fetches = 0 // the caller spent time with the app: not a redirect loop
		}
		if c.mode != verbs.Main && c.updatePending() {
			// The outer verb ends and the main document applies it.
			return nil, &Result{Reason: docStopped}
		}
		if u := c.takeUpdate(); u != nil {
			return c.applyUpdate(ctx, u)
		}
		if err != nil {
			r := c.endOnError(ctx, err)
			return nil, &r
		}
		if st.end != nil {
			return nil, st.end
		}
		if st.next != nil {
			return st.next, nil
		}
	}
	if c.mode != verbs.Main {
		// The end of a nested document goes back to its verb: a
		// whisper connects the callee, a wait document is requested
		// again.
		return nil, &Result{Reason: docDone}
	}
	r := c.hangupAnswered(ctx, "end-of-document")
	return nil, &r
}

// runVerb runs one verb.
func (c *Call) runVerb(ctx context.Context, doc *document, v verbs.Verb) (step, error) {
	switch v := v.(type) {
	case *verbs.Say, *verbs.Play, *verbs.Pause:
		if _, ok := v.(*verbs.Pause); !ok {
			if err := c.ensureAnswered(ctx); err != nil {
				return step{}, err
			}
		}
		_, err := c.prompt(ctx, doc, v, nil)
		return step{}, err
	case *verbs.Gather:
		return c.gather(ctx, doc, v)
	case *verbs.Record:
		return c.record(ctx, doc, v)
	case *verbs.Hangup:
		r := c.hangupAnswered(ctx, "hangup-verb")
		return step{end: &r}, nil
	case *verbs.Reject:
		return c.reject(ctx, v)
	case *verbs.Redirect:
		return step{next: c.target(doc, v.Name(), v.URL, v.Method)}, nil
	case *verbs.Dial:
		return c.dial(ctx, doc, v)
	case *verbs.Enqueue:
		return c.enqueue(ctx, doc, v)
	case *verbs.Connect:
		nouns := supported(v.Nouns)
		if len(nouns) == 0 {
			return step{}, nil // reported by gaps; nothing to connect to
		}
		switch n := nouns[0].(type) {
		case *verbs.Stream:
			return c.connectStream(ctx, doc, v, n)
		case *verbs.ConversationRelay:
			return c.connectRelay(ctx, doc, v, n)
		}
		c.fail(fmt.Sprintf("<Connect><%s>: %v", nouns[0].Name(), ErrUnsupported), 0)
		return step{}, nil
	case *verbs.Refer:
		return c.refer(ctx, doc, v)
	case *verbs.Start:
		if forksMedia(v) {
			// A stream, a recording or a transcription hears the
			// call's audio, which an unanswered call (a leading Pause)
			// does not have yet: Twilio starts them at once, on the
			// answered call (https://www.twilio.com/docs/voice/twiml/recording).
			if err := c.ensureAnswered(ctx); err != nil {
				return step{}, err
			}
		}
		c.startStreams(ctx, doc, v)
		c.startRecordings(doc, v)
		c.startTranscriptions(ctx, doc, v)
		c.startSipRecs(ctx, doc, v)
		return step{}, nil
	case *verbs.Stop:
		c.stopStreams(v)
		stopForks(c, v, "Recording", "recording", &c.recordings)
		stopForks(c, v, "Transcription", "transcription", &c.transcriptions)
		c.stopSipRecs(v)
		return step{}, nil
	case *verbs.Leave:
		if c.mode == verbs.EnqueueWait {
			// The caller leaves the queue; the Enqueue goes on with its
			// action (Twilio's Leave page).
			return step{end: &Result{Reason: docLeave}}, nil
		}
		// Leave only means something inside an Enqueue waitUrl document.
		c.warn("<Leave> outside a queue wait document is ignored", 0)
		return step{}, nil
	}
	// *verbs.Element: reported by gaps and skipped, never silently.
	return step{}, nil
}

// prompt plays one Say, Play or Pause with its loop count. interrupt, when
// set, lets caller input stop it (Gather bargeIn); the input is returned.
// A Say with nothing to say and a Play without a usable URL take no time
// and are skipped, so that loop="0" on them cannot spin.
func (c *Call) prompt(ctx context.Context, doc *document, v verbs.Verb, interrupt *InputSpec) (*Input, error) {
	loop := 1
	var media string // Play's URL, resolved against the document (RFC 3986 §5.2)
	switch v := v.(type) {
	case *verbs.Say:
		if v.Text == "" && v.SSML == "" {
			return nil, nil
		}
		loop = v.Loop
	case *verbs.Play:
		loop = v.Loop
		if v.Digits != "" {
			c.trace("digits", map[string]any{"digits": v.Digits})
			return nil, c.leg.SendDigits(ctx, v.Digits)
		}
		u, err := fetcher.Resolve(doc.url, v.URL)
		if v.URL == "" && err == nil {
			err = errors.New("empty URL")
		}
		if err != nil {
			p := v.Position()
			c.fail(fmt.Sprintf("%d:%d: %v; skipped", p.Line, p.Col, &urlError{verb: "Play", url: v.URL, err: err}), 11100)
			return nil, nil
		}
		media = u
	}
	for i := 0; loop == 0 || i < loop; i++ {
		if i > 0 && c.elapsed() >= c.cfg.MaxDuration {
			return nil, ErrTimeLimit
		}
		p := Prompt{Interrupt: interrupt, Iteration: i}
		var in *Input
		var err error
		switch v := v.(type) {
		case *verbs.Say:
			in, err = c.leg.Say(ctx, Speech{Text: v.Text, SSML: v.SSML, Voice: v.Voice, Language: v.Language}, p)
		case *verbs.Play:
			in, err = c.leg.Play(ctx, media, p)
		case *verbs.Pause:
			in, err = c.leg.Pause(ctx, secs(v.Length), p)
		default:
			return nil, fmt.Errorf("<%s> cannot be a prompt", v.Name())
		}
		var me *MediaError
		if errors.As(err, &me) {
			p := v.Position()
			c.fail(fmt.Sprintf("%d:%d: <%s>: %v; skipped", p.Line, p.Col, v.Name(), me.Err), me.Code)
			return nil, nil
		}
		if err != nil || in != nil {
			return in, err
		}
	}
	return nil, nil
}

func (c *Call) reject(ctx context.Context, v *verbs.Reject) (step, error) {
	if !c.answered.IsZero() {
		// Twilio: a Reject after the call was answered just hangs up.
		r := c.hangup(ctx, "reject")
		return step{end: &r}, nil
	}
	c.setRunning(false)
	c.trace("reject", map[string]any{"reason": v.Reason})
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := c.leg.Reject(cctx, v.Reason); err != nil {
		c.log.Warn("reject", "err", err)
	}
	status := "no-answer"
	if v.Reason == "busy" {
		status = "busy"
	}
	return step{end: &Result{Status: status, Reason: "reject"}}, nil
}

// target resolves a URL written in doc (Redirect body, action) into the
// next request. An empty ref is the current document, since an empty
// reference resolves to the base URL (RFC 3986 §5.2): Gather and Record
// actions, and an empty <Redirect/>, which Twilio's templates use to
// re-prompt. A URL that cannot be used still makes a
// request: loading it fails with 11100, which takes the fallback path.
func (c *Call) target(doc *document, verb, ref, method string) *request {
	req := &request{url: doc.url, method: methodOr(method)}
	if ref == "" {
		return req
	}
	u, err := fetcher.Resolve(doc.url, ref)
	if err != nil {
		req.url, req.bad = ref, &urlError{verb: verb, url: ref, err: err}
		return req
	}
	req.url = u
	return req
}

// handOff runs a verb the leg performs whole (HandOff: Connect, Dial to
// a room). A leg that cannot reports it as an error event
// and the call goes on with the next verb.
func (c *Call) handOff(ctx context.Context, doc *document, v verbs.Verb, action, method string, answer bool, run func(context.Context, HandOff) (Outcome, error)) (step, error) {
	h, ok := c.leg.(HandOff)
	if !ok {
		c.fail(fmt.Sprintf("<%s>: %v yet", v.Name(), ErrUnsupported), 0)
		return step{}, nil
	}
	if answer {
		if err := c.ensureAnswered(ctx); err != nil {
			return step{}, err
		}
	}
	out, err := run(ctx, h)
	if errors.Is(err, ErrUnsupported) {
		c.fail(fmt.Sprintf("<%s>: %v", v.Name(), err), 0)
		return step{}, nil
	}
	if errors.Is(err, ErrHangup) {
		out.CallerHungUp, err = true, nil
	}
	if err != nil {
		return step{}, err
	}
	if c.answered.IsZero() && !out.Answered.IsZero() {
		c.markAnswered(out.Answered)
	}
	return c.finish(ctx, doc, v, action, method, out)
}

// finish ends a verb that has an action (Dial, Enqueue, Connect, Refer):
// with an action, the action is requested with the outcome's parameters;
// without one, the next verb runs (Twilio's Dial page, "action"). When the
// caller hung up during the verb, the action is still requested, but its
// document is not run.
func (c *Call) finish(ctx context.Context, doc *document, v verbs.Verb, action, method string, out Outcome) (step, error) {
	c.hungUp = c.hungUp || out.CallerHungUp
	if action == "" {
		if c.hungUp {
			r := c.callerHangup()
			return step{end: &r}, nil
		}
		return step{}, nil
	}
	req := c.target(doc, v.Name(), action, method)
	req.params = out.Params
	if c.hungUp {
		c.postIgnored(ctx, req)
		r := c.callerHangup()
		return step{end: &r}, nil
	}
	return step{next: req}, nil
}

// postIgnored requests an action after the caller hung up; Twilio makes
// the request and ignores the TwiML it returns (Twilio's Dial and Record
// pages, "action").
func (c *Call) postIgnored(ctx context.Context, req *request) {
	c.setRunning(false)
	if req.bad != nil {
		c.fail(req.bad.Error(), 11100)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if _, err := c.fetchDocument(ctx, req); err != nil {
		c.log.Warn("action after hangup", "url", fetcher.Redact(req.url), "err", err)
	}
}
