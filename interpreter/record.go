package interpreter

import (
	"context"
	"errors"
	"github.com/texml/texml/fetcher"
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
	status := c.newRecordingStatus(doc, r.Name(), r.RecordingStatusCallback, r.RecordingStatusCallbackMethod,
		r.RecordingStatusCallbackEvent, sid, "RecordVerb", 1)
	status.started = c.cfg.Clock.Now()
	status.send("in-progress", 0)

	rec, err := c.leg.Record(ctx, RecordSpec{
		Turn: c.turn, Sid: sid, AccountSid: c.cfg.AccountSid, CallSid: c.cfg.CallSid, Timeout: secs(r.Timeout), FinishOnKey: r.FinishOnKey,
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
		status.send("absent", 0)
		if hung {
			c.hungUp = true
			r := c.callerHangup()
			return step{end: &r}, nil
		}
		return step{}, nil // empty recordings skip the action (Record page)
	}
	status.send("completed", rec.Duration)
	params := url.Values{}
	params.Set("RecordingUrl", status.recURL)
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

// recordingStatus sends the status callbacks of one recording
// (recordingStatusCallback, …Method, …Event of Record and Dial; Twilio's
// Record page, "recordingStatusCallback").
type recordingStatus struct {
	c        *Call
	url      string // "" when the verb asks for no callbacks
	method   string
	events   map[string]bool
	sid      string
	recURL   string // RecordingUrl
	source   string // RecordingSource: RecordVerb, DialVerb
	channels int
	started  time.Time // RecordingStartTime, set when the recording starts
}

// newRecordingStatus prepares the callbacks of the recording sid made by
// verb; events defaults to completed.
func (c *Call) newRecordingStatus(doc *document, verb, cb, method string, events []string, sid, source string, channels int) *recordingStatus {
	s := &recordingStatus{c: c, method: methodOr(method), events: map[string]bool{}, sid: sid,
		recURL: c.recordingURL(sid), source: source, channels: channels}
	for _, e := range events {
		s.events[e] = true
	}
	if len(s.events) == 0 {
		s.events["completed"] = true
	}
	if cb != "" {
		if req := c.target(doc, verb, cb, ""); req.bad != nil {
			c.fail(req.bad.Error(), 11100)
		} else {
			s.url = req.url
		}
	}
	return s
}

// send posts the callback of one status (in-progress, completed,
// absent) if it was asked for; dur is the recording's length.
func (s *recordingStatus) send(status string, dur time.Duration) {
	if s.url == "" || !s.events[status] {
		return
	}
	c := s.c
	p := c.baseParams()
	p.Set("RecordingSid", s.sid)
	p.Set("RecordingUrl", s.recURL)
	p.Set("RecordingStatus", status)
	p.Set("RecordingChannels", strconv.Itoa(s.channels))
	p.Set("RecordingSource", s.source)
	p.Set("RecordingStartTime", s.started.UTC().Format(time.RFC1123Z))
	if status == "completed" {
		p.Set("RecordingDuration", strconv.Itoa(wholeSeconds(dur)))
	}
	c.post("recording-status", s.url, s.method, p)
}

// recordingURL is where the recording sid is served (the Recordings
// resource's media URL).
func (c *Call) recordingURL(sid string) string {
	return strings.TrimRight(c.cfg.RecordingBaseURL, "/") + "/2010-04-01/Accounts/" + c.cfg.AccountSid + "/Recordings/" + sid
}

func wholeSeconds(d time.Duration) int { return int(math.Round(d.Seconds())) }

// post queues an asynchronous callback; it never blocks the call.
func (c *Call) post(kind, u, method string, params url.Values) {
	if c.cbs == nil {
		c.log.Warn("callback dropped: no dispatcher", "kind", kind, "url", fetcher.Redact(u))
		return
	}
	c.cbs.Send(Callback{Kind: kind, URL: u, Method: method, Params: params, CallSid: c.cfg.CallSid, Signing: c.cfg.Signing,
		Tracer: c.cfg.Tracer, T: c.elapsed()})
}
