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

// record runs <Record> (https://www.twilio.com/docs/voice/twiml/record).
func (c *Call) record(ctx context.Context, doc *document, r *verbs.Record) (step, error) {
	if err := c.ensureAnswered(ctx); err != nil {
		return step{}, err
	}
	c.turn++
	sid := NewSid("RE")
	events := map[string]bool{}
	for _, e := range r.RecordingStatusCallbackEvent {
		events[e] = true
	}
	if len(events) == 0 {
		events["completed"] = true
	}
	cbURL := ""
	if r.RecordingStatusCallback != "" {
		if req := c.target(doc, r.Name(), r.RecordingStatusCallback, ""); req.bad != nil {
			c.fail(req.bad.Error(), 11100)
		} else {
			cbURL = req.url
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
		return step{}, nil // empty recordings skip the action (Record page)
	}
	recStatus("completed", rec.Duration)
	params := url.Values{}
	params.Set("RecordingUrl", recURL)
	params.Set("RecordingDuration", strconv.Itoa(wholeSeconds(rec.Duration)))
	params.Set("RecordingSid", sid)
	if rec.Digits != "" {
		params.Set("Digits", rec.Digits)
	}
	req := c.target(doc, r.Name(), r.Action, r.Method)
	req.params = params
	if hung {
		c.hungUp = true
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
