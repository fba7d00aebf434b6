package interpreter

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/texml/texml/verbs"
)

func hasInput(inputs []string, kind string) bool {
	for _, in := range inputs {
		if strings.EqualFold(in, kind) {
			return true
		}
	}
	return false
}

// gatherSpec turns Gather's attributes into what the leg listens for.
func (c *Call) gatherSpec(g *verbs.Gather) InputSpec {
	spec := InputSpec{
		Turn:          c.turn,
		DTMF:          hasInput(g.Input, "dtmf"),
		Speech:        hasInput(g.Input, "speech"),
		Timeout:       secs(g.Timeout),
		MaxSpeechTime: secs(g.MaxSpeechTime),
		Language:      g.Language,
		Hints:         g.Hints,
		Model:         g.SpeechModel,
	}
	if !spec.DTMF && !spec.Speech {
		spec.DTMF = true
	}
	switch st := strings.TrimSpace(g.SpeechTimeout); {
	case strings.EqualFold(st, "auto"):
		spec.SpeechAuto = true
	case st == "":
		spec.SpeechTimeout = spec.Timeout
	default:
		f, err := strconv.ParseFloat(st, 64)
		if err != nil || f < 0 || f > maxSeconds {
			f = float64(g.Timeout)
		}
		spec.SpeechTimeout = time.Duration(f * float64(time.Second))
	}
	return spec
}

// gather runs <Gather> (https://www.twilio.com/docs/voice/twiml/gather): nested prompts
// (interruptible when bargeIn), then the timeout that starts only after
// the prompts finish and restarts after each digit. The finish key is not
// part of Digits; no input falls through to the next verb unless
// actionOnEmptyResult is set.
func (c *Call) gather(ctx context.Context, doc *document, g *verbs.Gather) (step, error) {
	if err := c.ensureAnswered(ctx); err != nil {
		return step{}, err
	}
	c.turn++
	spec := c.gatherSpec(g)
	if spec.Speech && g.PartialResultCallback != "" {
		spec.OnPartial = c.partials(doc, g)
	}
	var got gathered
	if err := c.collect(ctx, doc, g, spec, &got); err != nil {
		return step{}, err
	}
	said := ""
	if got.speech != nil {
		said = strings.TrimSpace(got.speech.Text)
	}
	c.trace("gather", map[string]any{"digits": string(got.digits), "speech": said, "finished_on_key": got.finished})
	if len(got.digits) == 0 && said == "" && !g.ActionOnEmptyResult {
		return step{}, nil // fall through (Gather page, "timeout"); an empty transcript is no input
	}
	params := url.Values{}
	if said != "" {
		params.Set("SpeechResult", got.speech.Text)
		params.Set("Confidence", strconv.FormatFloat(got.speech.Confidence, 'f', -1, 64))
		if g.Language != "" {
			params.Set("Language", g.Language)
		}
	} else {
		params.Set("Digits", string(got.digits))
		if spec.DTMF {
			params.Set("FinishedOnKey", got.finished)
		}
	}
	method := g.Method
	if method == "" {
		// TeXML: the application's method (verbs.Dialect.GatherMethodFromApp).
		method = c.cfg.Method
	}
	req := c.target(doc, g.Name(), g.Action, method)
	req.params = params
	return step{next: req}, nil
}

// gathered is what a Gather collected.
type gathered struct {
	digits   []byte
	finished string // the finishOnKey pressed, "" when another rule ended it
	speech   *Input
}

// take applies one input and reports whether collection is over.
func (got *gathered) take(g *verbs.Gather, spec InputSpec, in *Input) bool {
	switch in.Kind {
	case Digit:
		if !spec.DTMF {
			return false
		}
		if g.FinishOnKey != "" && strings.IndexByte(g.FinishOnKey, in.Digit) == 0 {
			got.finished = string(in.Digit)
			return true
		}
		got.digits = append(got.digits, in.Digit)
		return g.NumDigits > 0 && len(got.digits) >= g.NumDigits
	case SpeechResult:
		if !spec.Speech {
			return false
		}
		got.speech = in
		return true
	case SpeechStarted:
		return false // the prompts stop; the utterance is still being heard
	}
	return true // Timeout
}

// collect plays the prompts, interruptible when bargeIn, then waits for
// input until a completion rule fires.
func (c *Call) collect(ctx context.Context, doc *document, g *verbs.Gather, spec InputSpec, got *gathered) error {
	var interrupt *InputSpec
	if g.BargeIn {
		interrupt = &spec
	}
	for _, p := range g.Prompts {
		in, err := c.prompt(ctx, doc, p, interrupt)
		if err != nil {
			return err
		}
		if in != nil {
			if got.take(g, spec, in) {
				return nil
			}
			break // input stops the remaining prompts
		}
	}
	for {
		in, err := c.leg.WaitInput(ctx, spec)
		if err != nil {
			return err
		}
		if got.take(g, spec, in) {
			return nil
		}
	}
}

// partials returns the OnPartial hook that posts partialResultCallback
// requests. The leg may call it from its recognizer's goroutine, so it
// works on a snapshot of the call's parameters taken now and touches no
// call state.
func (c *Call) partials(doc *document, g *verbs.Gather) func(Partial) {
	req := c.target(doc, g.Name(), g.PartialResultCallback, g.PartialResultCallbackMethod)
	if req.bad != nil {
		c.fail(req.bad.Error(), 11100)
		return nil
	}
	base := c.baseParams()
	var seq atomic.Int64
	return func(p Partial) {
		params := merge(url.Values{}, base)
		params.Set("UnstableSpeechResult", p.Unstable)
		params.Set("StableSpeechResult", p.Stable)
		params.Set("SequenceNumber", strconv.FormatInt(seq.Add(1)-1, 10))
		c.post("partial", req.url, req.method, params)
	}
}
