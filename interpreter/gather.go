package interpreter

import (
	"context"
	"errors"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/texml/texml/verbs"
)

func secs(n int) time.Duration { return time.Duration(n) * time.Second }

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
		if err != nil || f < 0 {
			f = float64(g.Timeout)
		}
		spec.SpeechTimeout = time.Duration(f * float64(time.Second))
	}
	return spec
}

// gather runs <Gather> (reference §3.4 and §10.1–10.5): nested prompts
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
		if u, err := c.resolve(doc, g.PartialResultCallback); err == nil {
			seq := 0
			method := methodOr(g.PartialResultCallbackMethod)
			spec.OnPartial = func(p Partial) {
				params := c.baseParams()
				params.Set("UnstableSpeechResult", p.Unstable)
				params.Set("StableSpeechResult", p.Stable)
				params.Set("SequenceNumber", strconv.Itoa(seq))
				seq++
				c.post("partial", u, method, params)
			}
		}
	}

	var (
		digits   []byte
		finished string
		speech   *Input
	)
	// take applies one input and reports whether collection is over.
	take := func(in *Input) bool {
		switch in.Kind {
		case Digit:
			if !spec.DTMF {
				return false
			}
			if g.FinishOnKey != "" && strings.IndexByte(g.FinishOnKey, in.Digit) == 0 {
				finished = string(in.Digit)
				return true
			}
			digits = append(digits, in.Digit)
			return g.NumDigits > 0 && len(digits) >= g.NumDigits
		case SpeechResult:
			if !spec.Speech {
				return false
			}
			speech = in
			return true
		}
		return true // Timeout
	}

	var interrupt *InputSpec
	if g.BargeIn {
		interrupt = &spec
	}
	done := false
	for _, p := range g.Prompts {
		in, err := c.prompt(ctx, doc, p, interrupt)
		if err != nil {
			return step{}, err
		}
		if in != nil {
			done = take(in)
			break // input stops the remaining prompts
		}
	}
	for !done {
		in, err := c.leg.WaitInput(ctx, spec)
		if err != nil {
			return step{}, err
		}
		done = take(in)
	}

	params := url.Values{}
	switch {
	case speech != nil:
		params.Set("SpeechResult", speech.Text)
		params.Set("Confidence", strconv.FormatFloat(speech.Confidence, 'f', -1, 64))
		if g.Language != "" {
			params.Set("Language", g.Language)
		}
	default:
		params.Set("Digits", string(digits))
		if spec.DTMF {
			params.Set("FinishedOnKey", finished)
		}
	}
	c.trace("gather", map[string]any{"digits": string(digits), "speech": speechText(speech), "finished_on_key": finished})
	if len(digits) == 0 && speech == nil && !g.ActionOnEmptyResult {
		return step{}, nil // fall through (§10.4)
	}
	req, err := c.action(doc, g.Action, g.Method, params)
	if err != nil {
		return step{}, err
	}
	return step{next: req}, nil
}

func speechText(in *Input) string {
	if in == nil {
		return ""
	}
	return in.Text
}

func (c *Call) resolve(doc *document, ref string) (string, error) {
	r, err := c.action(doc, ref, "", nil)
	if err != nil {
		return "", err
	}
	return r.url, nil
}

// record runs <Record> (reference §3.6, §10.9, §10.10).
func (c *Call) record(ctx context.Context, doc *document, r *verbs.Record) (step, error) {
	if err := c.ensureAnswered(ctx); err != nil {
		return step{}, err
	}
	c.turn++
	sid := NewSid("RE")
	if r.Transcribe || r.TranscribeCallback != "" {
		c.warn("<Record transcribe> is not supported by texml yet; recording without transcription", 0)
	}
	events := map[string]bool{}
	for _, e := range r.RecordingStatusCallbackEvent {
		events[e] = true
	}
	if len(events) == 0 {
		events["completed"] = true
	}
	cbURL := ""
	if r.RecordingStatusCallback != "" {
		if u, err := c.resolve(doc, r.RecordingStatusCallback); err == nil {
			cbURL = u
		}
	}
	recURL := strings.TrimRight(c.cfg.RecordingBaseURL, "/") + "/2010-04-01/Accounts/" + c.cfg.AccountSid + "/Recordings/" + sid
	started := c.cfg.Clock.Now()
	recStatus := func(status string, dur time.Duration) {
		if cbURL == "" || !events[status] {
			return
		}
		p := c.baseParams()
		p.Set("RecordingSid", sid)
		p.Set("RecordingUrl", recURL)
		p.Set("RecordingStatus", status)
		p.Set("RecordingChannels", "1")
		p.Set("RecordingSource", "RecordVerb")
		p.Set("RecordingStartTime", started.UTC().Format(time.RFC1123Z))
		if status == "completed" {
			p.Set("RecordingDuration", strconv.Itoa(wholeSeconds(dur)))
		}
		c.post("recording-status", cbURL, methodOr(r.RecordingStatusCallbackMethod), p)
	}
	recStatus("in-progress", 0)

	rec, err := c.leg.Record(ctx, RecordSpec{
		Turn: c.turn, Sid: sid, Timeout: secs(r.Timeout), FinishOnKey: r.FinishOnKey,
		MaxLength: secs(r.MaxLength), PlayBeep: r.PlayBeep, Trim: r.Trim != "do-not-trim",
	})
	if errors.Is(err, ErrHangup) {
		rec.Digits, err = "hangup", nil
	}
	if err != nil {
		return step{}, err
	}
	hung := rec.Digits == "hangup"
	c.trace("record", map[string]any{"sid": sid, "duration": wholeSeconds(rec.Duration), "digits": rec.Digits, "empty": rec.Empty})
	if rec.Empty {
		recStatus("absent", 0)
		if hung {
			c.hungUp = true
			r := c.callerHangup()
			return step{end: &r}, nil
		}
		return step{}, nil // empty recordings skip the action (§10.10)
	}
	recStatus("completed", rec.Duration)
	params := url.Values{}
	params.Set("RecordingUrl", recURL)
	params.Set("RecordingDuration", strconv.Itoa(wholeSeconds(rec.Duration)))
	params.Set("RecordingSid", sid)
	if rec.Digits != "" {
		params.Set("Digits", rec.Digits)
	}
	req, err := c.action(doc, r.Action, r.Method, params)
	if err != nil {
		return step{}, err
	}
	if hung {
		c.hungUp = true
		c.status = "completed"
		c.postIgnored(ctx, req)
		r := c.callerHangup()
		return step{end: &r}, nil
	}
	return step{next: req}, nil
}

func wholeSeconds(d time.Duration) int { return int(math.Round(d.Seconds())) }

// post queues an asynchronous callback; it never blocks the call.
func (c *Call) post(kind, u, method string, params url.Values) {
	if c.cbs == nil {
		c.log.Warn("callback dropped: no dispatcher", "kind", kind, "url", u)
		return
	}
	c.cbs.Send(Callback{Kind: kind, URL: u, Method: method, Params: params, CallSid: c.cfg.CallSid,
		Tracer: c.cfg.Tracer, T: c.elapsed()})
}
