package interpreter

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/verbs"
)

// step is what one verb decided.
type step struct {
	next *request // control transfers here; the rest of the document is dead
	end  *Result  // the call ends
}

// runDocument runs doc's verbs top to bottom. It returns the next request,
// or the end of the call; (nil, nil) cannot happen: the end of a document
// hangs up.
func (c *Call) runDocument(ctx context.Context, doc *document) (*request, *Result) {
	for _, v := range doc.verbs {
		if c.elapsed() >= c.cfg.MaxDuration {
			r := c.hangup(ctx, "time-limit")
			return nil, &r
		}
		vctx, done := c.verbContext(ctx)
		st, err := c.runVerb(vctx, doc, v)
		done()
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
	r := c.hangupAnswered(ctx, "end-of-document")
	return nil, &r
}

// runVerb runs one verb. A media verb that ran resets the redirect-loop
// counter: the caller spent time with the app.
func (c *Call) runVerb(ctx context.Context, doc *document, v verbs.Verb) (step, error) {
	switch v := v.(type) {
	case *verbs.Say, *verbs.Play, *verbs.Pause:
		c.fetches = 0
		if _, ok := v.(*verbs.Pause); !ok {
			if err := c.ensureAnswered(ctx); err != nil {
				return step{}, err
			}
		}
		_, err := c.prompt(ctx, doc, v, nil)
		return step{}, err
	case *verbs.Gather:
		c.fetches = 0
		return c.gather(ctx, doc, v)
	case *verbs.Record:
		c.fetches = 0
		return c.record(ctx, doc, v)
	case *verbs.Hangup:
		r := c.hangupAnswered(ctx, "hangup-verb")
		return step{end: &r}, nil
	case *verbs.Reject:
		return c.reject(ctx, v)
	case *verbs.Redirect:
		return c.redirect(doc, v)
	case *verbs.Dial:
		c.fetches = 0
		return c.handOff(ctx, doc, v, v.Action, v.Method, !v.AnswerOnBridge, func(ctx context.Context) (Outcome, error) { return c.leg.Dial(ctx, v) })
	case *verbs.Enqueue:
		c.fetches = 0
		return c.handOff(ctx, doc, v, v.Action, v.Method, true, func(ctx context.Context) (Outcome, error) { return c.leg.Enqueue(ctx, v) })
	case *verbs.Connect:
		c.fetches = 0
		return c.handOff(ctx, doc, v, v.Action, v.Method, true, func(ctx context.Context) (Outcome, error) { return c.leg.Connect(ctx, v) })
	case *verbs.Refer:
		c.fetches = 0
		return c.handOff(ctx, doc, v, v.Action, v.Method, true, func(ctx context.Context) (Outcome, error) { return c.leg.Refer(ctx, v) })
	case *verbs.Start:
		return c.fork(ctx, v, func(ctx context.Context) error { return c.leg.Start(ctx, v) })
	case *verbs.Stop:
		return c.fork(ctx, v, func(ctx context.Context) error { return c.leg.Stop(ctx, v) })
	case *verbs.Leave:
		// Leave only means something inside an Enqueue waitUrl document.
		c.warn("<Leave> outside a queue wait document is ignored", 0)
		return step{}, nil
	}
	c.unsupported(v)
	return step{}, nil
}

// unsupported reports a verb this runtime cannot run and moves on, so a
// caller is never left in silence without a trace of why.
func (c *Call) unsupported(v verbs.Verb) {
	p := v.Position()
	c.fail(fmt.Sprintf("%d:%d: <%s> is not supported by texml yet; skipped", p.Line, p.Col, v.Name()), 0)
}

// prompt plays one Say, Play or Pause with its loop count. interrupt, when
// set, lets caller input stop it (Gather bargeIn); the input is returned.
func (c *Call) prompt(ctx context.Context, doc *document, v verbs.Verb, interrupt *InputSpec) (*Input, error) {
	loop := 1
	var media string // Play's URL, resolved against the document (§10.14)
	switch v := v.(type) {
	case *verbs.Say:
		loop = v.Loop
	case *verbs.Play:
		loop = v.Loop
		if v.Digits != "" {
			c.trace("digits", map[string]any{"digits": v.Digits})
			return nil, c.leg.SendDigits(ctx, v.Digits)
		}
		u, err := c.resolve(doc, v.URL)
		if err != nil || v.URL == "" {
			p := v.Position()
			c.fail(fmt.Sprintf("%d:%d: <Play> has no valid URL %q; skipped", p.Line, p.Col, v.URL), 0)
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
			in, err = c.leg.Pause(ctx, time.Duration(v.Length)*time.Second, p)
		default:
			return nil, fmt.Errorf("<%s> cannot be a prompt", v.Name())
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
	c.trace("reject", map[string]any{"reason": v.Reason})
	if err := c.leg.Reject(context.WithoutCancel(ctx), v.Reason); err != nil {
		c.log.Warn("reject", "err", err)
	}
	status := "no-answer"
	if v.Reason == "busy" {
		status = "busy"
	}
	return step{end: &Result{Status: status, Reason: "reject"}}, nil
}

func (c *Call) redirect(doc *document, v *verbs.Redirect) (step, error) {
	u, err := fetcher.Resolve(doc.url, v.URL)
	if err != nil || v.URL == "" {
		c.fail(fmt.Sprintf("<Redirect> has no valid URL %q", v.URL), 0)
		return step{}, nil
	}
	return step{next: &request{url: u, method: methodOr(v.Method)}}, nil
}

// action builds the request for a verb's action URL; an empty action
// resolves to the current document URL (Gather, Record).
func (c *Call) action(doc *document, action, method string, params url.Values) (*request, error) {
	u := doc.url
	if action != "" {
		var err error
		if u, err = fetcher.Resolve(doc.url, action); err != nil {
			return nil, fmt.Errorf("action %q: %w", action, err)
		}
	}
	return &request{url: u, method: methodOr(method), params: params}, nil
}

// handOff runs a verb the leg performs whole (Dial, Enqueue, Connect,
// Refer). With an action, the action is requested with the outcome's
// parameters; without one, the next verb runs (reference §10.3). When the
// caller hung up during the verb, the action is still requested, but its
// document is ignored (§10.9).
func (c *Call) handOff(ctx context.Context, doc *document, v verbs.Verb, action, method string, answer bool, run func(context.Context) (Outcome, error)) (step, error) {
	if answer {
		if err := c.ensureAnswered(ctx); err != nil {
			return step{}, err
		}
	}
	out, err := run(ctx)
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
	if out.CallerHungUp {
		c.hungUp = true
		c.status = "completed"
	}
	if c.answered.IsZero() && !out.Answered.IsZero() {
		// answerOnBridge: the leg answered when the callee did.
		c.markAnswered(out.Answered)
	}
	if action == "" {
		if out.CallerHungUp {
			r := c.callerHangup()
			return step{end: &r}, nil
		}
		return step{}, nil
	}
	req, err := c.action(doc, action, method, out.Params)
	if err != nil {
		return step{}, err
	}
	if out.CallerHungUp {
		c.postIgnored(ctx, req)
		r := c.callerHangup()
		return step{end: &r}, nil
	}
	return step{next: req}, nil
}

// postIgnored requests an action after the caller hung up; Twilio makes
// the request and ignores the TwiML it returns (reference §10.9).
func (c *Call) postIgnored(ctx context.Context, req *request) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := c.fetchDocument(ctx, req); err != nil {
		c.log.Warn("action after hangup", "url", req.url, "err", err)
	}
}

func (c *Call) fork(ctx context.Context, v verbs.Verb, run func(context.Context) error) (step, error) {
	err := run(ctx)
	if errors.Is(err, ErrUnsupported) {
		c.fail(fmt.Sprintf("<%s>: %v", v.Name(), err), 0)
		return step{}, nil
	}
	return step{}, err
}
