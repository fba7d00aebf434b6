package interpreter

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/texml/texml/relay"
	"github.com/texml/texml/verbs"
)

// Voice renders a ConversationRelay agent's side of the call: its text
// as speech and its play sources as sound, 8 kHz mono samples. The
// server gives it the same engines as <Say> and <Play>.
type Voice interface {
	Speak(ctx context.Context, s Speech) ([]int16, error)
	Sound(ctx context.Context, url string) ([]int16, error)
}

// errNoVoice is a relay's failure on a server without a speech engine.
var errNoVoice = errors.New("no text-to-speech engine is configured (Config.Voice)")

// relaySession is one <Connect><ConversationRelay>: the app's socket,
// the agent's voice (talker) and the caller's input, which the leg's
// callbacks hand to the loop of runRelay through an inbox.
type relaySession struct {
	c    *Call
	n    *verbs.ConversationRelay
	sess *relay.Session
	talk *talker
	id   string

	interruptible, greetingInterruptible string
	preemptible, dtmf, partial           bool
	report                               string // reportInputDuringAgentSpeech
	ttsLang, sttLang                     string
	// The options of debug and events: info messages when the agent
	// and the caller start and stop speaking (speaker-events), with the
	// agent's text as it is heard (tokens-played), and the socket's
	// round trip (debugging).
	speakerEvents, tokensPlayed, debugging bool
	// endSilence is speechTimeout: the pause that ends the caller's
	// utterance and sends its prompt; 0 for auto (the leg's own).
	endSilence time.Duration
	// sustain is interruptSensitivity as the voiced speech that
	// interrupts the agent: 0 (high) at its onset.
	sustain time.Duration
	// backchannel is ignoreBackchannel: speech interrupts the agent
	// only once its words are not all acknowledgments.
	backchannel bool
	// ctx is the session's, for the round-trip pings; set by run.
	ctx context.Context

	base string // the document's URL, which play sources resolve against
	url  string // the app's WebSocket, resolved against base

	// mu guards the inbox and what the leg's callbacks read.
	mu    sync.Mutex
	inbox []func()
	wake  chan struct{}
	held  bool // the caller's utterance began while the agent spoke on
	barge barge

	// The loop's own state.
	gone       bool // the app's messages are over
	restartSTT bool // the transcription language changed
	line       strings.Builder

	jobMu   sync.Mutex
	jobs    []renderJob
	jobWake chan struct{}
	renders sync.WaitGroup
}

// relayDefaults are ConversationRelay's defaults
// (https://www.twilio.com/docs/voice/twiml/connect/conversationrelay).
const (
	relayDefaultLanguage = "en-US"
	// relayRenderQueue bounds the pieces of the agent's speech waiting
	// to be rendered: beyond it an app that floods text is told so
	// (error message) and the excess is not spoken.
	relayRenderQueue = 1000
	// relayPingTimeout bounds one round-trip ping (debugging).
	relayPingTimeout = 10 * time.Second
	// interruptSensitivity="medium" and "low" interrupt the agent once
	// the caller's utterance has held this much voiced speech, not at
	// its onset as "high" (the default) does. Twilio documents the three
	// values but not their thresholds; these are texml's: a backchannel
	// ("uh-huh", "okay") or a cough is shorter than half a second of
	// voice, and low waits for a full second of it.
	relaySustainMedium = 500 * time.Millisecond
	relaySustainLow    = time.Second
)

// relayProviderAttrs name a cloud provider's engine or its options, on
// <ConversationRelay> or a <Language> child: texml speaks and listens
// with the server's own engines, so they are warned of and ignored.
var relayProviderAttrs = []string{"ttsProvider", "transcriptionProvider", "speechModel", "intelligenceService",
	"profanityFilter", "elevenlabsTextNormalization", "backgroundNoiseReduction", "deepgramSmartFormat"}

// connectRelay runs <Connect><ConversationRelay>: the caller talks with
// the app's agent, the platform turning speech into prompt messages and
// the app's text into speech, until the app sends end, closes its
// socket, or the caller hangs up; then the action, with the session's
// parameters, or the next verb.
func (c *Call) connectRelay(ctx context.Context, doc *document, v *verbs.Connect, n *verbs.ConversationRelay) (step, error) {
	if err := c.ensureAnswered(ctx); err != nil {
		return step{}, err
	}
	r, err := c.newRelay(doc, n)
	started := c.cfg.Clock.Now()
	if err != nil {
		return c.finish(ctx, doc, v, v.Action, v.Method, Outcome{Params: r.params("failed", started, "", err)})
	}
	status, handoff, err := r.run(ctx)
	p := r.params(status, started, handoff, err)
	if ctx.Err() != nil {
		cause := context.Cause(ctx)
		if !errors.Is(cause, ErrHangup) {
			return step{}, cause // an update or the time limit ends the Connect
		}
		return c.finish(ctx, doc, v, v.Action, v.Method, Outcome{Params: p, CallerHungUp: true})
	}
	return c.finish(ctx, doc, v, v.Action, v.Method, Outcome{Params: p})
}

// newRelay reads the noun's attributes. Its error (a bad url, no voice)
// fails the session before it starts.
func (c *Call) newRelay(doc *document, n *verbs.ConversationRelay) (*relaySession, error) {
	r := &relaySession{c: c, n: n, id: NewSid("VX"), wake: make(chan struct{}, 1)}
	a := n.Attrs
	lang := or(a["language"], relayDefaultLanguage)
	r.ttsLang, r.sttLang = or(a["ttsLanguage"], lang), or(a["transcriptionLanguage"], lang)
	r.interruptible = interruptAttr(a["interruptible"])
	r.greetingInterruptible = interruptAttr(a["welcomeGreetingInterruptible"])
	r.preemptible = a["preemptible"] == "true"
	r.dtmf = a["dtmfDetection"] == "true"
	r.partial = a["partialPrompts"] == "true"
	r.backchannel = a["ignoreBackchannel"] == "true"
	switch v := strings.ToLower(a["reportInputDuringAgentSpeech"]); v {
	case "true":
		r.report = relay.InterruptAny
	case "", "false":
		r.report = relay.InterruptNone
	default:
		r.report, _ = relay.InterruptValue(v)
	}
	switch strings.ToLower(strings.TrimSpace(a["interruptSensitivity"])) {
	case "medium":
		r.sustain = relaySustainMedium
	case "low":
		r.sustain = relaySustainLow
	}
	for _, name := range relayProviderAttrs {
		if a[name] != "" {
			c.warn(fmt.Sprintf("<ConversationRelay %s=%q>: texml uses its own engines (the server's text-to-speech and recognizer); ignored", name, a[name]), 0)
		}
	}
	for _, l := range n.Languages {
		// A <Language> child may name providers for its language too;
		// they are ignored as the element's own are.
		for _, name := range relayProviderAttrs {
			if l[name] != "" {
				c.warn(fmt.Sprintf("<ConversationRelay><Language code=%q %s=%q>: texml uses its own engines; ignored", l["code"], name, l[name]), 0)
			}
		}
	}
	// debug and events name the same options; the parser kept the known
	// ones (https://www.twilio.com/docs/voice/twiml/connect/conversationrelay).
	for _, name := range []string{"debug", "events"} {
		for _, o := range verbs.RelayDebugOptions(a[name]) {
			switch o {
			case "debugging":
				r.debugging = true
			case "speaker-events":
				r.speakerEvents = true
			case "tokens-played":
				r.tokensPlayed = true
			}
		}
	}
	// speechTimeout is auto or milliseconds, which the parser checked.
	if ms, err := strconv.Atoi(strings.TrimSpace(a["speechTimeout"])); err == nil && ms > 0 {
		r.endSilence = time.Duration(ms) * time.Millisecond
	}
	u, err := streamURL(doc.url, n.URL)
	if err != nil {
		return r, &urlError{verb: "ConversationRelay", url: n.URL, err: err}
	}
	if c.cfg.Voice == nil {
		return r, errNoVoice
	}
	r.url = u
	params := make(map[string]string, len(n.Params))
	for _, p := range n.Params {
		params[p.Name] = p.Value
	}
	callType := "PSTN"
	switch {
	case strings.HasPrefix(c.cfg.From, "client:"):
		callType = "CLIENT"
	case strings.HasPrefix(c.cfg.From, "sip:"):
		callType = "SIP"
	}
	status := strings.ToUpper(c.status())
	if c.cfg.Dialect == verbs.TeXML {
		status = "active"
	}
	r.sess = relay.New(relay.Config{
		SessionID: r.id, AccountSid: c.cfg.AccountSid, CallSid: c.cfg.CallSid, ParentCallSid: c.cfg.ParentCallSid,
		From: c.cfg.From, To: c.cfg.To, ForwardedFrom: c.cfg.ExtraParams.Get("ForwardedFrom"),
		CallerName: or(c.cfg.ExtraParams.Get("CallerName"), c.cfg.CallerID), Direction: c.cfg.Direction,
		CallType: callType, CallStatus: status, CustomParameters: params,
		Telnyx: c.cfg.Dialect == verbs.TeXML, Logger: c.log,
	})
	r.base, r.jobWake = doc.url, make(chan struct{}, 1)
	r.talk = newTalker(r.queueJob)
	r.talk.notify = r.talkEvent
	return r, nil
}

// interruptAttr reads an interruptible attribute; the parser checked
// its value, and its default is any.
func interruptAttr(v string) string {
	if s, err := relay.InterruptValue(v); err == nil && v != "" {
		return s
	}
	return relay.InterruptAny
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// params are the action's parameters for a session that ended with
// status (completed: the app sent end; ended: the call or the socket
// ended it; failed: it could not run), as the ConversationRelay page
// lists them (SessionId, SessionStatus, SessionDuration, HandoffData).
func (r *relaySession) params(status string, started time.Time, handoff string, err error) url.Values {
	p := url.Values{"SessionId": {r.id}, "SessionStatus": {status},
		"SessionDuration": {strconv.Itoa(int(r.c.cfg.Clock.Now().Sub(started).Seconds()))}}
	if handoff != "" {
		p.Set("HandoffData", handoff)
	}
	if err != nil && status == "failed" {
		code := 0
		var re *relay.Error
		if errors.As(err, &re) {
			code = re.Code
		}
		if code != 0 {
			p.Set("ErrorCode", strconv.Itoa(code))
		}
		p.Set("ErrorMessage", err.Error())
		r.c.fail(fmt.Sprintf("<ConversationRelay> %s: %v", or(r.url, r.n.URL), err), code)
	}
	r.c.trace("relay", map[string]any{"state": "ended", "sid": r.id, "status": status, "handoff": handoff})
	return p
}

// post queues work for the session's loop, from any goroutine; it never
// blocks.
func (r *relaySession) post(f func()) {
	r.mu.Lock()
	r.inbox = append(r.inbox, f)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run connects and holds the conversation until it ends. It returns
// the session's status, the app's handoffData and the failure, if any.
func (r *relaySession) run(ctx context.Context) (status, handoff string, err error) {
	c := r.c
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.renders.Add(1)
	go r.renderLoop(sctx)
	defer func() {
		cancel()
		r.renders.Wait()
	}()
	c.trace("relay", map[string]any{"state": "connecting", "sid": r.id, "url": r.url})
	if err := r.sess.Connect(ctx, c.cfg.Streams, r.url); err != nil {
		return "failed", "", err
	}
	closeCtx, closeCancel := context.WithTimeout(context.WithoutCancel(ctx), streamCloseTimeout)
	defer closeCancel()
	defer func() { _ = r.sess.Close(closeCtx) }()
	c.trace("relay", map[string]any{"state": "connected", "sid": r.id})
	r.ctx = sctx
	if r.debugging {
		r.roundTrip()
	}

	stopLeg, err := c.leg.Stream(sctx, StreamSpec{Play: r.talk, Digit: func(k byte) { r.digit(k) }, Who: "agent"})
	if err != nil {
		return "failed", "", fmt.Errorf("the leg cannot carry the session: %w", err)
	}
	defer stopLeg()
	stopSTT := r.listen(sctx)
	defer func() { stopSTT() }()

	if g := r.n.Attrs["welcomeGreeting"]; g != "" {
		r.talk.say(relay.Message{Kind: relay.Text, Token: g, Last: true}, r.ttsLang, r.greetingInterruptible, false)
		c.trace("relay", map[string]any{"state": "agent", "sid": r.id, "text": g})
	}
	// The app's messages join the caller's input in the inbox; the end
	// of them (the socket closed) is the last thing posted.
	go func() {
		for m := range r.sess.Messages() {
			r.post(func() { r.message(sctx, m, &status, &handoff) })
		}
		r.post(func() { r.gone = true })
	}()
	for {
		r.mu.Lock()
		work := r.inbox
		r.inbox = nil
		r.mu.Unlock()
		for _, f := range work {
			f()
			if status == "completed" {
				return status, handoff, nil
			}
			if r.restartSTT {
				r.restartSTT = false
				stopSTT()
				stopSTT = r.listen(sctx)
			}
		}
		if r.gone {
			if ctx.Err() != nil {
				return "ended", "", nil
			}
			// The app closed its socket without end: Twilio's 64105.
			return "failed", "", r.sess.Err()
		}
		if ctx.Err() != nil {
			return "ended", "", nil
		}
		// Wait on the call's clock, so that a simulated call's time
		// runs on meanwhile.
		wctx, wcancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-r.wake:
				wcancel()
			case <-wctx.Done():
			}
		}()
		_ = c.cfg.Clock.Sleep(wctx, c.cfg.MaxDuration)
		wcancel()
	}
}
