package interpreter

import (
	"context"
	"errors"
	"fmt"
	"github.com/texml/texml/media/amd"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/texml/texml/fetcher"
)

// Answering machine detection (AMD), as Twilio runs it on outbound calls
// (https://www.twilio.com/docs/voice/answering-machine-detection): the
// leg listens to who answered (Leg.DetectMachine), the interpreter decides
// what the app learns and when. An outbound-api call detects first and
// then fetches its Url with AnsweredBy (synchronous AMD), or fetches at
// once and posts the result to AsyncAmdStatusCallback (AsyncAmd=true); a
// <Dial><Number> or <Sip> with machineDetection detects on the answered
// child leg alongside the Dial and posts to amdStatusCallback.

// MachineMode is Twilio's MachineDetection value.
type MachineMode string

// Machine detection modes.
const (
	// MachineEnable decides as soon as the answering party is
	// identified: human, machine_start, fax or unknown.
	MachineEnable MachineMode = "Enable"
	// MachineMessageEnd waits, once a machine is identified, for the
	// end of its greeting (a beep or silence), so that a message can be
	// left: machine_end_beep, machine_end_silence or machine_end_other.
	MachineMessageEnd MachineMode = "DetectMessageEnd"
)

// MachineDetection is what Leg.DetectMachine listens for: Twilio's AMD
// parameters. Zero durations take Twilio's defaults (30 s, 2400 ms,
// 1200 ms, 5000 ms).
type MachineDetection struct {
	Mode MachineMode
	// Timeout ends detection without a decision (AnsweredBy unknown, or
	// machine_end_other once a machine was identified).
	Timeout time.Duration
	// SpeechThreshold: speech longer than this is a machine.
	SpeechThreshold time.Duration
	// SpeechEndThreshold: silence this long ends a stretch of speech.
	SpeechEndThreshold time.Duration
	// SilenceTimeout: initial silence this long gives unknown.
	SilenceTimeout time.Duration
}

// MachineResult is a detection.
type MachineResult struct {
	// AnsweredBy is Twilio's value: human, machine_start,
	// machine_end_beep, machine_end_silence, machine_end_other, fax or
	// unknown.
	AnsweredBy string
	// Duration is the time from the start of detection to the decision,
	// Twilio's MachineDetectionDuration.
	Duration time.Duration
}

// ErrMachineDetection is wrapped by CheckMachineDetection's errors: the
// REST layer refuses the call (Twilio's 400) rather than placing it.
var ErrMachineDetection = errors.New("invalid answering machine detection parameter")

// amdRanges are the tuning parameters Twilio accepts on a Call create
// (https://www.twilio.com/docs/voice/answering-machine-detection,
// "Optional API tuning parameters"); media/amd's Options.Validate checks
// the same ranges (amd_test.go in this package holds them equal).
var amdRanges = [...]struct {
	name   string
	lo, hi time.Duration
	get    func(Config) time.Duration
}{
	{"MachineDetectionTimeout", 3 * time.Second, 59 * time.Second, func(c Config) time.Duration { return c.MachineDetectionTimeout }},
	{"MachineDetectionSpeechThreshold", 1000 * time.Millisecond, 6000 * time.Millisecond, func(c Config) time.Duration { return c.MachineDetectionSpeechThreshold }},
	{"MachineDetectionSpeechEndThreshold", 500 * time.Millisecond, 5000 * time.Millisecond, func(c Config) time.Duration { return c.MachineDetectionSpeechEndThreshold }},
	{"MachineDetectionSilenceTimeout", 2000 * time.Millisecond, 10000 * time.Millisecond, func(c Config) time.Duration { return c.MachineDetectionSilenceTimeout }},
}

// CheckMachineDetection reports the AMD parameters of c that Twilio would
// refuse on a Call create: an unknown MachineDetection, a tuning value out
// of range, an AsyncAmdStatusCallbackMethod other than GET or POST, an
// AsyncAmdStatusCallback that is not a URL. Zero values mean the default
// and pass. Every error wraps ErrMachineDetection; call it before placing
// the call.
func (c Config) CheckMachineDetection() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrMachineDetection))
	}
	switch c.MachineDetection {
	case "", MachineEnable, MachineMessageEnd:
	default:
		bad("MachineDetection %q: want Enable or DetectMessageEnd", string(c.MachineDetection))
	}
	for _, r := range amdRanges {
		if v := r.get(c); v != 0 && (v < r.lo || v > r.hi) {
			bad("%s %v: want %v to %v", r.name, v, r.lo, r.hi)
		}
	}
	switch strings.ToUpper(strings.TrimSpace(c.AsyncAMDStatusCallbackMethod)) {
	case "", "GET", "POST":
	default:
		bad("AsyncAmdStatusCallbackMethod %q: want GET or POST", c.AsyncAMDStatusCallbackMethod)
	}
	if cb := c.AsyncAMDStatusCallback; cb != "" {
		if _, err := url.Parse(strings.TrimSpace(cb)); err != nil {
			bad("AsyncAmdStatusCallback %q: %v", cb, err)
		}
	}
	return errors.Join(errs...)
}

// machineDetection is c's AMD parameters for the leg.
func (c Config) machineDetection() MachineDetection {
	return MachineDetection{Mode: c.MachineDetection, Timeout: c.MachineDetectionTimeout,
		SpeechThreshold: c.MachineDetectionSpeechThreshold, SpeechEndThreshold: c.MachineDetectionSpeechEndThreshold,
		SilenceTimeout: c.MachineDetectionSilenceTimeout}
}

// AnsweredBy returns who answered the call as machine detection decided
// (Twilio's AnsweredBy), or "" before a decision or without detection.
// It may be called from any goroutine, for the REST API's Call resource.
func (c *Call) AnsweredBy() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answeredBy
}

func (c *Call) setAnsweredBy(a string) {
	c.mu.Lock()
	c.answeredBy = a
	c.mu.Unlock()
}

// Spawner is implemented by clocks that must know every goroutine that
// waits on them: a virtual clock moves only once all of them wait
// (sim.Clock). The interpreter starts the goroutines of a call that wait
// on its clock (asynchronous AMD) with Go when the Clock has it.
type Spawner interface {
	Go(f func())
}

// spawn runs f on a goroutine of the call, as a party of its clock.
func (c *Call) spawn(f func()) {
	c.bg.Add(1)
	run := func() {
		defer c.bg.Done()
		f()
	}
	if s, ok := c.cfg.Clock.(Spawner); ok {
		s.Go(run)
		return
	}
	go run()
}

// startDetection runs an outbound-api call's machine detection, if it has
// one, before the first request. Synchronous AMD blocks until the
// decision and adds AnsweredBy and MachineDetectionDuration to first;
// AsyncAmd starts detection alongside the call and returns at once. A
// non-nil Result means the call ended during detection.
func (c *Call) startDetection(ctx context.Context, first *request) *Result {
	if c.cfg.MachineDetection == "" || !strings.HasPrefix(c.cfg.Direction, "outbound") {
		return nil
	}
	d := c.cfg.machineDetection()
	if c.cfg.AsyncAMD {
		cb := ""
		if c.cfg.AsyncAMDStatusCallback != "" {
			u, err := fetcher.Resolve(c.cfg.URL, c.cfg.AsyncAMDStatusCallback)
			if err != nil {
				c.fail(fmt.Sprintf("AsyncAmdStatusCallback %q: %v", c.cfg.AsyncAMDStatusCallback, err), 21263)
			} else {
				cb = u
			}
		} else {
			c.warn("AsyncAmd without an AsyncAmdStatusCallback: the result is only on the call (AnsweredBy)", 21262)
		}
		c.detectAsync(ctx, c, c.leg, d, cb, methodOr(c.cfg.AsyncAMDStatusCallbackMethod))
		return nil
	}
	r, err := c.detect(ctx, c.leg, d, false)
	if err != nil {
		res := c.endOnError(ctx, err)
		return &res
	}
	first.params = url.Values{"MachineDetectionDuration": {ms(r.Duration)}}
	return nil
}

// detect runs one detection on leg, the leg of c (a call, or a Dial's
// child), and records its result on c.
func (c *Call) detect(ctx context.Context, leg Leg, d MachineDetection, async bool) (MachineResult, error) {
	r, err := leg.DetectMachine(ctx, d)
	if err != nil {
		c.log.Info("machine detection ended without a decision", "err", err)
		return r, fmt.Errorf("machine detection: %w", err)
	}
	c.setAnsweredBy(r.AnsweredBy)
	c.trace("amd", map[string]any{"answered_by": r.AnsweredBy, "duration_ms": r.Duration.Milliseconds(), "async": async})
	c.log.Info("machine detection", "answered_by", r.AnsweredBy, "duration", r.Duration)
	return r, nil
}

// detectAsync runs ch's detection on leg alongside the call (a goroutine
// of c that ends with ctx), then posts the result to cb when there is one:
// Twilio's AsyncAmdStatusCallback and amdStatusCallback parameters,
// CallSid, AccountSid, AnsweredBy and MachineDetectionDuration.
func (c *Call) detectAsync(ctx context.Context, ch *Call, leg Leg, d MachineDetection, cb, method string) {
	c.spawn(func() {
		r, err := ch.detect(ctx, leg, d, true)
		if err != nil || cb == "" {
			return
		}
		ch.post("amd-status", cb, method, url.Values{
			"CallSid": {ch.cfg.CallSid}, "AccountSid": {ch.cfg.AccountSid},
			"AnsweredBy": {r.AnsweredBy}, "MachineDetectionDuration": {ms(r.Duration)},
		})
	})
}

// forkDetection takes a Number's or Sip's machineDetection attributes
// for f, with amdStatusCallback resolved against the document.
func (c *Call) forkDetection(doc *document, noun string, f *fork) {
	ep := f.ep
	milli := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	f.amd = &MachineDetection{Mode: MachineMode(ep.MachineDetection), Timeout: secs(ep.MachineDetectionTimeout),
		SpeechThreshold: milli(ep.MachineDetectionSpeechThreshold), SpeechEndThreshold: milli(ep.MachineDetectionSpeechEndThreshold),
		SilenceTimeout: milli(ep.MachineDetectionSilenceTimeout)}
	if ep.AMDStatusCallback == "" {
		// Twilio's warning 21262: the result is only on the call.
		c.warn(fmt.Sprintf("<%s machineDetection> without amdStatusCallback: the result is only on the call (AnsweredBy)", noun), 21262)
		return
	}
	req := c.target(doc, noun, ep.AMDStatusCallback, ep.AMDStatusCallbackMethod)
	if req.bad != nil {
		c.fail(req.bad.Error(), 11100)
		return
	}
	f.amdCB, f.amdMethod = req.url, req.method
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// Options are the detector's options for d (package media/amd, which
// both legs run).
func (d MachineDetection) Options() (amd.Options, error) {
	o := amd.Options{Timeout: d.Timeout, SpeechThreshold: d.SpeechThreshold,
		SpeechEndThreshold: d.SpeechEndThreshold, SilenceTimeout: d.SilenceTimeout}
	if d.Mode != "" {
		m, err := amd.ParseMode(string(d.Mode))
		if err != nil {
			return o, fmt.Errorf("detect machine: %w", err)
		}
		o.Mode = m
	}
	return o, nil
}
