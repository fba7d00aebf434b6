package interpreter

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/texml/texml/verbs"
)

// Leg is one call leg as the interpreter sees it, inbound or outbound: the
// media and signaling primitives that verbs need. The interpreter owns verb
// semantics (Gather timing, action defaults, Dial forks and bridging); a
// Leg never receives a whole verb. Implementations: the simulated leg
// (package sim) and the SIP/RTP leg (package signaling); both pass one
// contract test suite (interpreter/legtest).
//
// Every blocking method returns promptly when ctx is done, with
// context.Cause(ctx). When the far end hangs up, blocking methods return an
// error that matches ErrHangup (Record returns what it captured with it),
// and the owner of the leg learns it at once: an inbound leg cancels the
// call's context with cause ErrHangup, an outbound leg reports Ended to
// its Dial progress callback.
type Leg interface {
	// Answer answers the call; calling it again is a no-op.
	Answer(ctx context.Context) error
	// Reject refuses an unanswered call; reason is "rejected" or "busy".
	Reject(ctx context.Context, reason string) error
	// Hangup ends the call from our side.
	Hangup(ctx context.Context) error

	// Say, Play and Pause render one prompt. When p.Interrupt is set, caller
	// input matching it stops the prompt at once and is returned; otherwise
	// the returned Input is nil.
	Say(ctx context.Context, s Speech, p Prompt) (*Input, error)
	Play(ctx context.Context, url string, p Prompt) (*Input, error)
	Pause(ctx context.Context, d time.Duration, p Prompt) (*Input, error)
	// SendDigits sends DTMF into the call ("w" = 0.5 s pause, "W" = 1 s).
	SendDigits(ctx context.Context, digits string) error

	// WaitInput waits for one input event: a DTMF digit, a final speech
	// result, or a Timeout event when nothing starts within spec.Timeout.
	WaitInput(ctx context.Context, spec InputSpec) (*Input, error)

	// Record captures the caller's audio into the recording named r.Sid.
	Record(ctx context.Context, r RecordSpec) (Recording, error)
	// RecordCall starts recording the call in the background, under
	// r.Sid, and returns at once: what this leg's party says and what a
	// peer (CallRecording.Peer) says, until Stop. It keeps recording
	// while other primitives run (Dial record). The interpreter decides
	// when it starts and stops and which peer is heard.
	RecordCall(r CallRecordSpec) (CallRecording, error)

	// EarlyMedia opens media to an unanswered caller before the answer
	// (SIP: 183 Session Progress with SDP), so that the caller can hear
	// ringback or a callee's early media (Dial answerOnBridge). It is a
	// no-op once called or once answered.
	EarlyMedia(ctx context.Context) error
	// Ringback plays the ring tone of a country (Dial ringTone: "us",
	// "uk", ...) to the caller until stop is called or another sound
	// replaces it.
	Ringback(tone string) (stop func())
	// Bridge connects this leg's media with peer's, both ways, until stop
	// is called or either leg ends. peer comes from the Dialer that serves
	// this leg's calls, so it is of the same implementation.
	Bridge(peer Leg) (stop func(), err error)

	// DetectMachine listens to what this leg's party makes heard from now
	// on and decides who answered, with Twilio's AMD rules and
	// parameters (answering-machine-detection page): speech longer than
	// d.SpeechThreshold is a machine, a short utterance ended by
	// d.SpeechEndThreshold of silence a human, and so on. It returns the
	// decision, an error matching ErrHangup when the party hangs up
	// first, or context.Cause(ctx) when ctx ends first. It may run on
	// another goroutine alongside the leg's other primitives
	// (asynchronous AMD: the call's document plays while the detector
	// listens) and must not disturb them.
	DetectMachine(ctx context.Context, d MachineDetection) (MachineResult, error)

	// Stream hands this leg's audio to a media stream and returns at
	// once: the tracks s asks for go to s.Sink, frame by frame, and when
	// s.Play is set what it gives replaces whatever the party heard
	// (<Connect><Stream>). It goes on alongside the leg's other
	// primitives (<Start><Stream> while the next verbs run) until stop
	// is called or ctx ends; stop is idempotent and returns once nothing
	// more reaches s. The protocol spoken to the app is the
	// interpreter's; the leg only moves audio.
	Stream(ctx context.Context, s StreamSpec) (stop func(), err error)

	// Transcribe transcribes the tracks t asks for, utterance by
	// utterance, and returns at once: each final result goes to t.Result.
	// It goes on alongside the leg's other primitives (<Start>
	// <Transcription> while the next verbs run) until stop is called or
	// ctx ends; stop is idempotent and returns once nothing more reaches
	// t.Result. A leg without a recognizer returns ErrNoRecognizer.
	Transcribe(ctx context.Context, t TranscribeSpec) (stop func(), err error)

	// Refer asks this leg's party to call t instead (SIP REFER in the
	// leg's dialog, RFC 3515) and follows the transfer: it returns once
	// the party refuses the REFER, or a NOTIFY reports the target's
	// final answer, or t.Timeout passes after the REFER was accepted
	// with what was heard by then. The interpreter decides what the
	// outcome means (<Refer>'s action, ending the call). A leg whose
	// party cannot be referred (not SIP) returns ErrUnsupported.
	Refer(ctx context.Context, t ReferTarget) (ReferResult, error)

	// Siprec opens a SIPREC recording session (RFC 7866) from this leg,
	// the session recording client, to the recording server that
	// s.Connector names, and returns at once: the server's answer comes
	// later, to s.Started, and the audio of the tracks s asks for then
	// goes to it, one RTP stream per track, alongside the leg's other
	// primitives (<Start><Siprec> while the next verbs run). It goes on
	// until stop is called, ctx ends, or the server ends it (s.Ended).
	// stop is idempotent; when it returns the session is over (BYE or
	// CANCEL sent, RTP ports released) and no callback of s runs any
	// more. A connector that names no server gives ErrUnknownConnector
	// at once.
	Siprec(ctx context.Context, s SiprecSpec) (stop func(), err error)
}

// ErrUnknownConnector is Siprec's error for a connectorName that is
// neither a configured SIPREC connector nor a sip: URI.
var ErrUnknownConnector = errors.New("unknown SIPREC connector")

// SiprecSpec is a SIPREC recording session (RFC 7866) as the interpreter
// asks for it; the leg speaks the protocol.
type SiprecSpec struct {
	// Connector is the connectorName: a configured connector's name, or
	// (a texml extension) the recording server's sip: URI itself.
	Connector string
	// Inbound and Outbound choose the tracks: what the leg's party says
	// (stream label 1), and what it hears (label 2).
	Inbound, Outbound bool
	// Sid (SR…), AccountSid, CallSid, From and To identify the recorded
	// call in the recording metadata (RFC 7865).
	Sid, AccountSid, CallSid, From, To string
	// Params are the noun's <Parameter>s, sent as extension data of
	// the metadata.
	Params []verbs.Param
	// Started is called once, from a goroutine of the leg's, when the
	// server has answered and the audio flows to it.
	Started func()
	// Ended is called at most once, from a goroutine of the leg's, when
	// the session ends other than by stop or ctx: with nil when the
	// server hung up (BYE), with the failure when it refused the
	// session, could not be reached, or its media failed.
	Ended func(err error)
}

// SiprecError is a recording server's refusal of a SIPREC session: its
// final SIP status.
type SiprecError struct {
	Code   int
	Reason string
}

// Error implements error.
func (e *SiprecError) Error() string {
	return fmt.Sprintf("the recording server answered %d %s", e.Code, e.Reason)
}

// ErrNoRecognizer is Transcribe's error on a leg without a speech
// recognizer.
var ErrNoRecognizer = errors.New("no speech recognizer is configured")

// TranscribeSpec is what a real-time transcription listens to.
type TranscribeSpec struct {
	// Inbound and Outbound choose the tracks: what the leg's party says,
	// and what it hears.
	Inbound, Outbound bool
	// Language (BCP-47) and Hints (comma-separated phrases) guide the
	// recognizer, as for Gather.
	Language, Hints string
	// Result receives each final transcript, from a goroutine of the
	// leg's, one at a time; it must not block for long.
	Result func(Transcript)
	// Speaking, when set, is told the moment the party starts an
	// utterance on a track (voice activity), before any transcript: a
	// ConversationRelay agent is interrupted then. Same goroutine rules
	// as Result.
	Speaking func(Track)
	// Sustained, when set with SustainAfter, is told once an utterance
	// whose onset Speaking heard has held SustainAfter of voiced audio
	// (once per utterance; never for a shorter one): a ConversationRelay
	// agent with interruptSensitivity medium or low is interrupted then,
	// so that a short sound ("uh-huh", a cough) does not cut it off.
	// Same goroutine rules as Result.
	Sustained    func(Track)
	SustainAfter time.Duration
	// Partial, when set, receives interim transcripts of the utterance
	// in progress (the words so far), which a later Partial or the final
	// Result replaces. Same goroutine rules as Result.
	Partial func(Transcript)
	// Ended, when set, is told when an utterance whose onset Speaking
	// heard is over (its end-of-speech pause has passed), before its
	// final Result, if it has words. Same goroutine rules as Result.
	Ended func(Track)
	// EndSilence is the pause that ends an utterance
	// (<ConversationRelay speechTimeout>); 0 is the leg's own end of
	// speech, as speechTimeout="auto". A streaming recognizer endpoints
	// by itself, so it is sent to the provider (stt.StreamRequest's
	// EndSilence; 0 leaves it to its own endpointing), which honours it
	// if it can.
	EndSilence time.Duration
}

// Transcript is one utterance transcribed.
type Transcript struct {
	Track      Track // TrackInbound or TrackOutbound
	Text       string
	Confidence float64
}

// StreamSpec is what a media stream takes from a leg and gives it.
type StreamSpec struct {
	// Inbound and Outbound choose the tracks: what the leg's party says,
	// and what it hears (prompts, a bridge peer, the stream's own Play).
	Inbound, Outbound bool
	// Sink receives the tracks' audio: 20 ms frames of 8 kHz linear PCM
	// (TrackInbound or TrackOutbound), in order per track. It is called
	// on the leg's media goroutines, which may be shared with other
	// calls: it must not block, and must copy what it keeps.
	Sink func(track Track, frame []int16)
	// Digit, when set, receives the party's DTMF keys. Only a stream
	// that plays (Connect) takes them: no other primitive listens then.
	Digit func(key byte)
	// Play, when set, is what the party hears from now on, read once
	// per 20 ms packet time.
	Play Player
	// Who names what plays, for the leg's traces: "" for a Media
	// Streams app, "agent" for a ConversationRelay agent.
	Who string
}

// Player is audio the leg plays at its own pace: the app's audio on a
// bidirectional stream.
type Player interface {
	// Next fills frame (20 ms) with the next audio and reports whether
	// there was any; false plays silence. It must not block: it runs on
	// a pacer shared with other calls.
	Next(frame []int16) bool
}

// Errors a Leg returns.
var (
	// ErrHangup means the caller hung up; the call's context is done.
	ErrHangup = errors.New("caller hung up")
	// ErrUnsupported means the leg cannot run this verb or noun yet.
	ErrUnsupported = errors.New("not supported by this leg")
)

// MediaError is a failure that a verb survives: the interpreter reports it
// with its Twilio code (11200 for a Play URL that is not audio) and goes on
// with the next verb, as Twilio does.
type MediaError struct {
	Code int // Twilio error code, 0 when none applies
	Err  error
}

// Error implements error.
func (e *MediaError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *MediaError) Unwrap() error { return e.Err }

// Speech is one text-to-speech request.
type Speech struct {
	Text     string // plain text
	SSML     string // inner SSML markup, "" for plain text
	Voice    string
	Language string
}

// Prompt says how a prompt may be interrupted.
type Prompt struct {
	// Interrupt, when non-nil, lets matching caller input stop the prompt
	// (Gather bargeIn). Nil means the prompt plays to its end.
	Interrupt *InputSpec
	// Iteration counts repeats of a looping prompt (0 = first play).
	Iteration int
}

// InputKind tells what an Input carries.
type InputKind int

// Input kinds.
const (
	Timeout      InputKind = iota // nothing started within InputSpec.Timeout
	Digit                         // one DTMF key in Input.Digit
	SpeechResult                  // a final transcript in Input.Text
	// SpeechStarted: the caller began to speak during a prompt, which
	// stopped; the transcript comes from the next WaitInput.
	SpeechStarted
)

// Input is one event from the caller.
type Input struct {
	Kind       InputKind
	Digit      byte
	Text       string
	Confidence float64
}

// InputSpec describes what the interpreter is listening for.
type InputSpec struct {
	// Turn numbers the interpreter's listening turns: each Gather or Record
	// is a new turn. A scripted caller answers one turn with one input.
	Turn          int
	DTMF          bool
	Speech        bool
	Timeout       time.Duration // wait for input to start (or the next digit)
	SpeechTimeout time.Duration // silence that ends speech; 0 with SpeechAuto
	SpeechAuto    bool          // speechTimeout="auto": end at a natural pause
	MaxSpeechTime time.Duration
	Language      string
	Hints         string
	Model         string
	// OnPartial, when set, receives interim transcripts. It may be called
	// from another goroutine and must not block.
	OnPartial func(Partial)
}

// Partial is an interim speech result.
type Partial struct {
	Stable   string
	Unstable string
}

// RecordSpec is what Record captures.
type RecordSpec struct {
	Turn    int    // see InputSpec.Turn
	Sid     string // RE…; the leg stores the audio under it
	Timeout time.Duration
	// AccountSid and CallSid are kept beside the audio, for the REST
	// API's Recordings resource.
	AccountSid, CallSid string
	FinishOnKey         string
	MaxLength           time.Duration
	PlayBeep            bool
	Trim                bool
}

// Recording is the result of Record, and of CallRecording.Stop.
type Recording struct {
	Duration time.Duration
	// Digits is the key that ended the recording, "hangup" when the
	// caller hung up, or "" when silence or maxLength ended it (Record
	// only).
	Digits string
	// Empty means nothing was captured: Twilio then skips the action.
	Empty bool
}

// CallRecordSpec is what RecordCall captures.
type CallRecordSpec struct {
	Sid string // RE…; the leg stores the audio under it
	// AccountSid and CallSid are kept beside the audio, for the REST
	// API's Recordings resource.
	AccountSid, CallSid string
	// Dual records two channels: this leg's party on the left (channel
	// 1), the peer on the right (channel 2). Otherwise both are mixed
	// into one.
	Dual bool
	// Track is whose audio is kept; the other side is silence.
	Track Track
	// Trim drops the silence at both ends.
	Trim bool
	// Heard makes the far side everything this leg's party hears (what
	// the leg sends it: prompts, a bridged party, a conference), rather
	// than a peer's voice set with CallRecording.Peer: the recording of
	// a whole call (the REST API's Record).
	Heard bool
	// Source is the recording's RecordingSource (RecordVerb, DialVerb,
	// OutboundAPI), kept beside the audio; "" is DialVerb.
	Source string
}

// Track selects the audio of a call recording, as seen from the leg that
// records.
type Track int

// Tracks.
const (
	TrackBoth     Track = iota // both parties
	TrackInbound               // what this leg's party says
	TrackOutbound              // what it hears from the peer
)

// CallRecording is a recording made by RecordCall. Its methods are called
// by the goroutine that started it.
type CallRecording interface {
	// Peer makes peer's audio the far side of the recording from now on,
	// in place of the previous peer; nil leaves that side silent. peer
	// comes from the Dialer that serves the leg's calls, as for Bridge.
	Peer(peer Leg) error
	// Stop ends the recording and stores it. Its Duration is the
	// recording's length (after trimming); Empty means nothing was kept
	// and nothing is stored. Calling Stop again returns the same.
	Stop() (Recording, error)
}

// HandOff is implemented by legs that still run a Dial to a Conference as
// a whole verb: the simulated leg's scripted outcomes. It moves into the
// interpreter over the Dialer, media and store seams as Dial and Enqueue
// did; a leg without HandOff (a SIP leg) makes it fail with a clear error.
type HandOff interface {
	// DialRoom runs a Dial whose one noun is a Conference.
	DialRoom(ctx context.Context, d *verbs.Dial) (Outcome, error)
}

// Outcome is the result of a verb handed to the leg.
type Outcome struct {
	// Params are the verb's action parameters (DialCallStatus, ...).
	Params url.Values
	// CallerHungUp means the caller hung up during the verb; the action is
	// still requested but its document is not run.
	CallerHungUp bool
	// Answered is when the leg answered the caller during the verb; zero
	// if it did not.
	Answered time.Time
}
