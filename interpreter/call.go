// Package interpreter runs one call's TwiML: it fetches documents, runs their
// verbs against a Leg, follows action/Redirect/fallback URLs and sends
// status callbacks, with the semantics Twilio documents.
package interpreter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/stream"
	"github.com/texml/texml/verbs"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxDuration = 4 * time.Hour // Twilio's default call time limit
	// DefaultMaxFetches bounds documents fetched in a row without the call
	// spending any time with the caller (a Redirect loop). Twilio gives no
	// number; 50 is far above any real app's chain of redirects.
	DefaultMaxFetches = 50
	// APIVersion is TwiML's ApiVersion; a Config's Dialect gives it
	// (verbs.Dialect.APIVersion).
	APIVersion = "2010-04-01"
)

// Config describes one call.
type Config struct {
	URL string // voice URL: http(s) or file URL
	// Twiml, when set, is the call's first document instead of one
	// fetched from URL (the REST API's "Twiml" parameter); relative
	// URLs in it resolve against URL.
	Twiml          string
	Method         string // default POST
	FallbackURL    string
	FallbackMethod string // default POST

	StatusCallback       string
	StatusCallbackMethod string   // default POST
	StatusCallbackEvents []string // default [completed]

	CallSid       string // default: a new CA… sid
	AccountSid    string // default: AC + 32 zeros
	From, To      string
	Direction     string // default inbound
	ParentCallSid string
	APIVersion    string     // default: the Dialect's (2010-04-01, v2/texml)
	ExtraParams   url.Values // sent with every request (SipCallId, SipHeader_X-…)

	// Dialect is the platform whose rules the call follows: TwiML (the
	// zero value) or TeXML, whose differing defaults, parameters and
	// checks the README's "TeXML dialect" lists. A Dial child inherits it.
	Dialect verbs.Dialect
	// ConnectionID is Telnyx's ConnectionId parameter (the TeXML
	// application's id), sent in the TeXML dialect when set.
	ConnectionID string
	// CallerID is Telnyx's CallerId parameter, the caller's display name
	// (the SIP From's); empty: From. Sent in the TeXML dialect only.
	CallerID string
	// Signing, when set, signs the call's documents and callbacks
	// instead of the Fetcher's and Dispatcher's own settings: a TeXML
	// application's Ed25519 key, a TwiML one's auth token. A Dial child
	// inherits it.
	Signing *fetcher.Signing

	// Answering machine detection of an outbound-api call: Twilio's Call
	// create parameters
	// (https://www.twilio.com/docs/voice/answering-machine-detection).
	// MachineDetection "" turns it off; zero durations take Twilio's
	// defaults. CheckMachineDetection validates them.
	MachineDetection MachineMode
	// MachineDetectionTimeout is Twilio's MachineDetectionTimeout (3-59 s).
	MachineDetectionTimeout time.Duration
	// MachineDetectionSpeechThreshold: 1000-6000 ms.
	MachineDetectionSpeechThreshold time.Duration
	// MachineDetectionSpeechEndThreshold: 500-5000 ms.
	MachineDetectionSpeechEndThreshold time.Duration
	// MachineDetectionSilenceTimeout: 2000-10000 ms.
	MachineDetectionSilenceTimeout time.Duration
	// AsyncAMD is Twilio's AsyncAmd: the Url is fetched at once and the
	// result goes to AsyncAMDStatusCallback (absolute, or relative to
	// URL) with AsyncAMDStatusCallbackMethod (default POST).
	AsyncAMD                     bool
	AsyncAMDStatusCallback       string
	AsyncAMDStatusCallbackMethod string

	// RecordingBaseURL prefixes RecordingUrl, e.g. "http://host:8080".
	RecordingBaseURL string
	MaxDuration      time.Duration
	MaxFetches       int

	Clock Clock
	// Dialer places <Dial>'s child legs; nil makes every Dial fail
	// (DialCallStatus=failed) with an error event.
	Dialer Dialer
	// Queues holds <Enqueue>d calls for <Dial><Queue>; nil makes both
	// fail with an error event.
	Queues Queues
	// Conferences runs <Dial><Conference> rooms; nil leaves them to a
	// leg's HandOff (the simulator's scripted outcomes), or fails them.
	Conferences Conferences
	// Streams opens the WebSockets of <Connect><Stream> and
	// <Start><Stream>; nil checks certificates and the default address
	// policy, without signing.
	Streams *stream.Dialer
	// Voice renders the agent's speech and sounds of
	// <Connect><ConversationRelay>; nil fails a relay session.
	Voice  Voice
	Tracer Tracer
	Logger *slog.Logger

	// Observe, when set, is told how long each verb of a document ran,
	// by verb name ("Say", "Gather"), so that a server can keep verb
	// duration metrics without the interpreter knowing about them. It
	// runs on the call's goroutine and must not block.
	Observe func(verb string, d time.Duration)

	// Record, when set, records the call from its answer to its end
	// (the REST API's Record and its options).
	Record *RecordOptions

	// OnStatus, when set, is told every change of the call's status
	// (and of its Dial children's), whether or not the app asked for
	// status callbacks: the REST API's call records follow it. It runs
	// on the call's goroutine (or a Dialer's) and must not block.
	OnStatus func(StatusChange)

	// Geo, when set, remembers the geography of From and To (FromCountry,
	// ToState, ...) across the calls that share it; nil derives it for
	// each call.
	Geo *GeoCache

	// Detach, when set, runs run on a goroutine that outlives this call
	// and that the embedder waits for when it shuts down, with a context
	// that ends then: a Dial child that a live update took out of its
	// bridge runs its new document there, as a call of its own
	// (childupdate.go). nil: such updates are refused with
	// ErrChildRedirect. A Dial child inherits it.
	Detach func(run func(root context.Context))
}

// Fetcher fetches documents; *fetcher.Fetcher implements it.
type Fetcher interface {
	Fetch(ctx context.Context, r fetcher.Request) (*fetcher.Response, error)
}

// Result is how a call ended.
type Result struct {
	Status   string        // final CallStatus: completed, busy, failed, no-answer, canceled
	Reason   string        // hangup reason (see README: trace events)
	Duration time.Duration // answered time, zero when never answered
	Err      error         // the application error that ended the call, if any
}

// Update is a live change to a running call (Twilio's POST /Calls/{Sid}).
type Update struct {
	URL    string // fetch a new document
	Method string
	Twiml  string // or run this document
	Hangup bool   // or end the call (Status=completed)
	// FallbackURL and StatusCallback, when set, replace the call's from
	// this update on (with their methods, when set).
	FallbackURL, FallbackMethod          string
	StatusCallback, StatusCallbackMethod string
}

// Call is one running call. Create it with New, run it with Run; Update
// may be called from any goroutine while Run runs.
type Call struct {
	cfg   Config
	leg   Leg
	fetch Fetcher
	cbs   *Dispatcher
	log   *slog.Logger
	jar   http.CookieJar
	geo   url.Values // FromCountry, FromState, ... derived from From and To (geo.go)

	start time.Time
	// initiated is when the call began, TeXML's CallInitiatedAt: start,
	// or for a Dial child the moment it was dialed.
	initiated time.Time
	answered  time.Time
	hungUp    bool   // the caller is gone: actions are posted, their documents ignored
	final     string // the final CallStatus, once the call has ended
	turn      int
	seq       int // status callback SequenceNumber
	fetches   int // documents fetched since the caller last spent time on the call
	// transfer is a REFER from a dialed party that was accepted and
	// whose outcome (the next Dial's) has not been notified yet.
	transfer *pendingTransfer
	// mode is the kind of document the call runs now: Main, or a nested
	// document whose end returns to the verb that started it (a Dial
	// child's whisper, an Enqueue wait document, a Queue url document).
	mode    verbs.Kind
	sipCode int // a child's final SIP response code, for its completed callback

	// bg counts the call's goroutines (asynchronous machine detection,
	// its own and its Dial children's); Run waits for them.
	bg sync.WaitGroup

	// life is the call's context, for forks that outlive the verb that
	// started them (<Start><Stream>); streams are those forks, and
	// streamWG counts their goroutines.
	life     context.Context
	streams  []*mediaStream
	streamWG sync.WaitGroup
	// recordings are the call's running <Start><Recording>s, touched by
	// the call's goroutine only.
	recordings []*startedRecording
	// transcriptions are its running <Start><Transcription>s, likewise.
	transcriptions []*transcription
	// sipRecs are its <Start><Siprec>s and the REST API's, guarded by
	// smu.
	sipRecs []*sipRec
	// smu guards streams, sipRecs, forksClosed and life for the REST
	// API's StartStream, StopStream, StartSiprec and StopSiprec, which
	// run on other goroutines.
	smu         sync.Mutex
	forksClosed bool // the call is over: no more forks

	mu         sync.Mutex
	answeredBy string                  // machine detection's AnsweredBy, once decided
	running    bool                    // Run has started and the call can still change course
	cancel     context.CancelCauseFunc // cancels the running step, nil between steps
	pending    *Update
	// child, while set, carries out updates of a Dial child: its
	// parent's Dial runs it (childupdate.go).
	child func(Update) error
}

var errUpdated = errors.New("call updated")

// ErrTimeLimit ends a call that reached Config.MaxDuration: the call's
// context is canceled with it, on the call's clock.
var ErrTimeLimit = errors.New("call time limit reached")

// Result.Reason of nested documents (see Call.mode): docDone when one ran
// to its end (a whisper's callee is to be connected, a wait document is
// to be requested again), docStopped when the verb that started it ended
// it (the callee hung up, the waiting caller was dequeued, a live update),
// docLeave after <Leave>.
const (
	docDone    = "document-done"
	docStopped = "stopped"
	docLeave   = "leave"
)

// New prepares a call. cbs may be nil when no callbacks are configured.
func New(leg Leg, f Fetcher, cbs *Dispatcher, cfg Config) *Call {
	cfg.Method = methodOr(cfg.Method)
	cfg.FallbackMethod = methodOr(cfg.FallbackMethod)
	cfg.StatusCallbackMethod = methodOr(cfg.StatusCallbackMethod)
	if len(cfg.StatusCallbackEvents) == 0 {
		cfg.StatusCallbackEvents = []string{"completed"}
	}
	if cfg.CallSid == "" {
		cfg.CallSid = NewSid("CA")
	}
	if cfg.AccountSid == "" {
		cfg.AccountSid = "AC" + strings.Repeat("0", 32)
	}
	if cfg.Direction == "" {
		cfg.Direction = "inbound"
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = cfg.Dialect.APIVersion()
	}
	if cfg.MaxDuration <= 0 {
		cfg.MaxDuration = DefaultMaxDuration
	}
	if cfg.MaxFetches <= 0 {
		cfg.MaxFetches = DefaultMaxFetches
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Streams == nil {
		cfg.Streams = &stream.Dialer{}
	}
	if cfg.Tracer == nil {
		cfg.Tracer = TracerFunc(func(Event) {})
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Call{
		cfg:   cfg,
		leg:   leg,
		fetch: f,
		cbs:   cbs,
		log:   cfg.Logger.With("call_sid", cfg.CallSid),
		jar:   fetcher.NewJar(),
		geo:   geoParams(cfg.Geo, cfg.From, cfg.To, cfg.ExtraParams),
	}
}

// status is the CallStatus the app sees now. It is derived from the call's
// state so that it can never disagree with it.
func (c *Call) status() string {
	switch {
	case c.final != "":
		return c.final
	case c.hungUp:
		return "completed"
	case !c.answered.IsZero():
		return "in-progress"
	}
	return "ringing"
}

// Sid returns the call's CallSid.
func (c *Call) Sid() string { return c.cfg.CallSid }

// NewSid returns prefix + 32 random hex digits, the shape of Twilio SIDs.
func NewSid(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return prefix + hex.EncodeToString(b[:])
}

func methodOr(m string) string {
	m = strings.ToUpper(strings.TrimSpace(m))
	if m == "" {
		return http.MethodPost
	}
	return m
}

// Update interrupts the current verb and applies u: a new document or a
// hangup. It returns an error when the call has not started, has ended or
// is ending (hanging up, speaking the application error), because the
// update could no longer be applied.
func (c *Call) Update(u Update) error {
	if u.URL == "" && u.Twiml == "" && !u.Hangup {
		return errors.New("update: need a URL, TwiML or hangup")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.child != nil {
		return c.child(u)
	}
	if !c.running {
		return errors.New("update: the call is not running")
	}
	c.pending = &u
	if c.cancel != nil {
		c.cancel(errUpdated)
	}
	return nil
}

// setRunning opens or closes the call to live updates.
func (c *Call) setRunning(on bool) {
	c.mu.Lock()
	c.running = on
	c.mu.Unlock()
}

func (c *Call) takeUpdate() *Update {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.pending
	c.pending = nil
	if c.hungUp {
		return nil // too late: the caller is gone
	}
	return u
}

// verbContext derives a context for one step that Update can cancel.
// Steps nest (the verbs of an Enqueue's wait document run inside the
// Enqueue's step): the end of an inner step makes the outer one the one
// an update cancels again.
func (c *Call) verbContext(ctx context.Context) (context.Context, func()) {
	vctx, cancel := context.WithCancelCause(ctx)
	c.mu.Lock()
	outer := c.cancel
	c.cancel = cancel
	pending := c.pending != nil
	c.mu.Unlock()
	if pending {
		cancel(errUpdated)
	}
	return vctx, func() {
		c.mu.Lock()
		c.cancel = outer
		pending = c.pending != nil
		c.mu.Unlock()
		cancel(nil)
		if pending && outer != nil {
			// An update that stopped an inner step stops the outer one
			// too (the Enqueue whose wait document it interrupted).
			outer(errUpdated)
		}
	}
}

// updatePending reports whether a live update waits to be applied.
func (c *Call) updatePending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending != nil
}

func (c *Call) elapsed() time.Duration { return c.cfg.Clock.Now().Sub(c.start) }

func (c *Call) trace(name string, fields map[string]any) {
	c.cfg.Tracer.Trace(Event{Name: name, T: c.elapsed(), Fields: fields})
}

func (c *Call) warn(msg string, code int) { c.report(verbs.Warning, msg, code) }

func (c *Call) fail(msg string, code int) { c.report(verbs.Error, msg, code) }

// report traces a "warning" or "error" event and logs it.
func (c *Call) report(sev verbs.Severity, msg string, code int) {
	f := map[string]any{"message": msg}
	if code != 0 {
		f["code"] = code
	}
	c.trace(sev.String(), f)
	level := slog.LevelWarn
	if sev == verbs.Error {
		level = slog.LevelError
	}
	c.log.Log(context.Background(), level, msg, "code", code)
}

// baseParams are the standard request parameters (Twilio's voice webhook
// page, https://www.twilio.com/docs/usage/webhooks/voice-webhooks).
func (c *Call) baseParams() url.Values {
	p := url.Values{}
	p.Set("CallSid", c.cfg.CallSid)
	p.Set("AccountSid", c.cfg.AccountSid)
	p.Set("From", c.cfg.From)
	p.Set("To", c.cfg.To)
	p.Set("Caller", c.cfg.From)
	p.Set("Called", c.cfg.To)
	p.Set("CallStatus", c.status())
	p.Set("Direction", c.cfg.Direction)
	p.Set("ApiVersion", c.cfg.APIVersion)
	if c.cfg.ParentCallSid != "" {
		p.Set("ParentCallSid", c.cfg.ParentCallSid)
	}
	if a := c.AnsweredBy(); a != "" {
		// Once machine detection has decided, every later request of the
		// call says who answered, status callbacks included (Twilio's
		// Call resource, "answered_by").
		p.Set("AnsweredBy", a)
	}
	for k, vs := range c.geo {
		p[k] = append([]string(nil), vs...)
	}
	if c.cfg.Dialect == verbs.TeXML {
		c.texmlParams(p)
	}
	for k, vs := range c.cfg.ExtraParams {
		p[k] = append([]string(nil), vs...)
	}
	return p
}

func merge(dst, src url.Values) url.Values {
	for k, vs := range src {
		dst[k] = append([]string(nil), vs...)
	}
	return dst
}

func (c *Call) ensureAnswered(ctx context.Context) error {
	if !c.answered.IsZero() {
		return nil
	}
	if err := c.leg.Answer(ctx); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	c.markAnswered(c.cfg.Clock.Now())
	return nil
}

// markAnswered records that the caller was answered at time at.
func (c *Call) markAnswered(at time.Time) {
	c.answered = at
	c.cfg.Tracer.Trace(Event{Name: "answer", T: at.Sub(c.start)})
	c.statusEvent("answered", at)
}
