// Package verbs is the TwiML/TeXML voice document model: it parses XML
// (github.com/beevik/etree) into typed verbs with Twilio's documented
// defaults applied, and validates nesting and attribute values, reporting
// diagnostics with line:column positions and Twilio error codes.
//
// The package does no I/O; the interpreter decides what each verb does.
package verbs

// Pos is a 1-based line and column in the source document.
type Pos struct {
	Line int
	Col  int
}

// Position returns p; embedding Pos gives every verb the method.
func (p Pos) Position() Pos { return p }

// Verb is one executable element of a <Response>.
type Verb interface {
	// Name is the element name as written in the document (e.g. "Say").
	Name() string
	// Position is where the element starts in the document.
	Position() Pos
}

// Document is a parsed <Response>.
type Document struct {
	Verbs       []Verb
	Diagnostics []Diagnostic
}

// Param is a <Parameter name value/> child.
type Param struct {
	Name  string
	Value string
}

// Say speaks text with TTS. Defaults: voice "man", language "en-US", loop 1.
// Loop 0 means repeat until the call ends or the enclosing Gather gets input.
type Say struct {
	Pos
	Text     string // plain text with SSML tags stripped, whitespace collapsed
	SSML     string // inner XML as written (SSML children kept), "" when plain text
	Voice    string
	Language string
	Loop     int
}

// Play plays an audio URL, or sends DTMF when Digits is set.
// Loop 0 means repeat until hangup or Gather input.
type Play struct {
	Pos
	URL    string
	Loop   int
	Digits string // 0-9 * # w W; when set, URL is ignored
}

// Pause waits Length seconds (default 1).
type Pause struct {
	Pos
	Length int
}

// Gather collects DTMF and/or speech. Defaults per Twilio: method POST,
// input [dtmf], timeout 5, finishOnKey "#", speechTimeout = timeout,
// maxSpeechTime 60, language en-US, bargeIn true, profanityFilter true.
// In TeXML the method defaults to the application's (Dialect).
type Gather struct {
	Pos
	Action                      string   // "" = current document URL
	Method                      string   // "" (TeXML, when not written): the application's method
	Input                       []string // "dtmf", "speech"
	Timeout                     int
	FinishOnKey                 string // "" disables the terminator
	NumDigits                   int    // 0 = unlimited
	SpeechTimeout               string // seconds as a decimal string, or "auto"
	MaxSpeechTime               int
	SpeechModel                 string
	Enhanced                    bool
	Hints                       string
	Language                    string
	ProfanityFilter             bool
	PartialResultCallback       string
	PartialResultCallbackMethod string
	BargeIn                     bool
	ActionOnEmptyResult         bool
	Debug                       bool
	// TeXML extras.
	TranscriptionEngine string
	UseEnhanced         bool
	// Prompts are the nested Say, Play and Pause verbs in order.
	Prompts []Verb
}

// Record records the caller. Defaults: method POST, timeout 5 (0 in
// TeXML: Dialect.RecordTimeout), finishOnKey
// "1234567890*#", maxLength 3600, playBeep true, trim "trim-silence",
// recordingStatusCallbackMethod POST, recordingStatusCallbackEvent [completed].
type Record struct {
	Pos
	Action                        string // "" = current document URL
	Method                        string
	Timeout                       int
	FinishOnKey                   string
	MaxLength                     int
	PlayBeep                      bool
	Trim                          string
	RecordingStatusCallback       string
	RecordingStatusCallbackMethod string
	RecordingStatusCallbackEvent  []string
	Transcribe                    bool
	TranscribeCallback            string
	RecordingChannels             string
}

// Hangup ends the call.
type Hangup struct {
	Pos
	Params []Param
}

// Reject refuses an unanswered call. Reason is "rejected" (default) or "busy".
type Reject struct {
	Pos
	Reason string
	Params []Param
}

// Redirect transfers control to URL (method default POST).
type Redirect struct {
	Pos
	URL    string // "" re-requests the current document
	Method string
}

// Leave removes the caller from a queue (valid in an Enqueue waitUrl document).
type Leave struct{ Pos }

// Dial connects the caller to another party. Defaults: method POST,
// timeout 30, timeLimit 14400, record do-not-record, recordingTrack both,
// trim do-not-trim, ringTone us.
type Dial struct {
	Pos
	Action                        string // "" = continue with the next verb
	Method                        string
	Timeout                       int
	CallerID                      string
	CallReason                    string
	HangupOnStar                  bool
	TimeLimit                     int
	Record                        string
	RecordingTrack                string
	RecordingStatusCallback       string
	RecordingStatusCallbackMethod string
	RecordingStatusCallbackEvent  []string
	Trim                          string
	AnswerOnBridge                bool
	RingTone                      string
	Sequential                    bool
	ReferURL                      string
	ReferMethod                   string
	Events                        string
	FromDisplayName               string // TeXML
	// Nouns are the dialed targets. A bare number body becomes one *Number.
	Nouns []Noun
}

// Noun is a target inside Dial, Connect, Start, Stop or Refer.
type Noun interface {
	// Name is the element name (e.g. "Number").
	Name() string
	// Position is where the element starts in the document.
	Position() Pos
}

// Endpoint holds the attributes shared by Number, Client and Sip.
type Endpoint struct {
	URL                  string // whisper TwiML run on the callee before bridging
	Method               string
	StatusCallback       string
	StatusCallbackMethod string
	StatusCallbackEvent  []string
	// Answering machine detection on the answered callee, Number and
	// Sip only (https://www.twilio.com/docs/voice/twiml/number):
	// MachineDetection is Enable or DetectMessageEnd ("" = none); the
	// tuning values are 0 for Twilio's default; the result goes to
	// AMDStatusCallback with AMDStatusCallbackMethod ("" = POST).
	MachineDetection                   string
	MachineDetectionTimeout            int // seconds, 3-60 (default 30)
	MachineDetectionSpeechThreshold    int // ms, 1000-6000 (default 2400)
	MachineDetectionSpeechEndThreshold int // ms, 500-5000 (default 1200)
	MachineDetectionSilenceTimeout     int // ms, 2000-10000 (default 5000)
	AMDStatusCallback                  string
	AMDStatusCallbackMethod            string
}

// Number dials a phone number.
type Number struct {
	Pos
	Endpoint
	Number     string
	SendDigits string
	BYOC       string
}

// Client dials a registered client identity.
type Client struct {
	Pos
	Endpoint
	Identity string
	Params   []Param
}

// Sip dials a SIP URI.
type Sip struct {
	Pos
	Endpoint
	URI      string
	Username string
	Password string
	Headers  []Param
}

// Conference joins a named conference room. Defaults: beep "true",
// startConferenceOnEnter true, waitMethod POST, maxParticipants 250,
// record do-not-record, trim trim-silence.
type Conference struct {
	Pos
	Room                          string
	Muted                         bool
	Beep                          string
	StartConferenceOnEnter        bool
	EndConferenceOnExit           bool
	WaitURL                       string
	WaitURLSet                    bool // waitUrl="" (silence) differs from absent (hold music)
	WaitMethod                    string
	MaxParticipants               int
	Record                        string
	Region                        string
	Coach                         string
	Trim                          string
	StatusCallback                string
	StatusCallbackMethod          string
	StatusCallbackEvent           []string
	RecordingStatusCallback       string
	RecordingStatusCallbackMethod string
	RecordingStatusCallbackEvent  []string
	JitterBufferSize              string
	ParticipantLabel              string
}

// Queue, inside Dial, bridges to the member at the front of a queue.
type Queue struct {
	Pos
	Queue  string
	URL    string
	Method string
}

// Application, Sim and WhatsApp are Dial nouns kept for validation and
// diagnostics; the runtime reports them as unsupported.
type Application struct {
	Pos
	Endpoint
	ApplicationSid string
	CustomerID     string
	CopyParentTo   bool
	Params         []Param
}

// Sim dials a wireless SIM.
type Sim struct {
	Pos
	Sid string
}

// WhatsApp dials a WhatsApp voice number.
type WhatsApp struct {
	Pos
	Endpoint
	Number string
}

// Enqueue places the caller in a named queue. Defaults: method POST,
// waitUrlMethod POST.
type Enqueue struct {
	Pos
	Queue         string
	Action        string // "" = continue with the next verb
	Method        string
	WaitURL       string
	WaitURLMethod string
	MaxQueueSize  int
	WorkflowSid   string
	Task          string // JSON body of a nested <Task>
	TaskPriority  int
	TaskTimeout   int
}

// Connect blocks while a media session runs (Stream, ConversationRelay, ...).
type Connect struct {
	Pos
	Action string // "" = continue with the next verb
	Method string
	Nouns  []Noun
}

// Stream forks or connects call audio to a WebSocket.
// Defaults: track inbound_track, statusCallbackMethod POST.
type Stream struct {
	Pos
	URL                       string
	StreamName                string // the "name" attribute
	Track                     string
	StatusCallback            string
	StatusCallbackMethod      string
	ConnectorName             string
	Codec                     string // TeXML
	BidirectionalMode         string // TeXML
	BidirectionalCodec        string // TeXML
	BidirectionalSamplingRate int    // TeXML
	Params                    []Param
}

// ConversationRelay connects the call to an AI agent over a WebSocket.
type ConversationRelay struct {
	Pos
	URL string
	// Attrs holds every attribute by its canonical camelCase name; names are
	// matched case-insensitively because helper libraries differ.
	Attrs     map[string]string
	Languages []map[string]string
	Params    []Param
}

// Start forks media asynchronously (Stream, Siprec, Transcription,
// Recording, Suppression).
type Start struct {
	Pos
	Action string
	Method string
	Nouns  []Noun
}

// Stop ends forks started by Start.
type Stop struct {
	Pos
	Nouns []Noun
}

// Refer transfers a SIP call with REFER.
type Refer struct {
	Pos
	Action string
	Method string
	Target *Sip
}

// Element is any verb or noun without a dedicated type: Pay, Prompt, Sms,
// Echo, Siprec, Transcription, Recording, Suppression, VirtualAgent, Room,
// AIGather, HttpRequest, ... Its attributes and children are kept as written.
type Element struct {
	Pos
	Tag      string
	Attrs    map[string]string
	Text     string
	Children []*Element
	// Verbs holds typed copies of the Say, Play and Pause children of a
	// verb container such as <Prompt>, in order; Children keeps them too.
	Verbs []Verb
}

// Name implements Verb.
func (*Say) Name() string { return "Say" }

// Name implements Verb.
func (*Play) Name() string { return "Play" }

// Name implements Verb.
func (*Pause) Name() string { return "Pause" }

// Name implements Verb.
func (*Gather) Name() string { return "Gather" }

// Name implements Verb.
func (*Record) Name() string { return "Record" }

// Name implements Verb.
func (*Hangup) Name() string { return "Hangup" }

// Name implements Verb.
func (*Reject) Name() string { return "Reject" }

// Name implements Verb.
func (*Redirect) Name() string { return "Redirect" }

// Name implements Verb.
func (*Leave) Name() string { return "Leave" }

// Name implements Verb.
func (*Dial) Name() string { return "Dial" }

// Name implements Noun.
func (*Number) Name() string { return "Number" }

// Name implements Noun.
func (*Client) Name() string { return "Client" }

// Name implements Noun.
func (*Sip) Name() string { return "Sip" }

// Name implements Noun.
func (*Conference) Name() string { return "Conference" }

// Name implements Noun.
func (*Queue) Name() string { return "Queue" }

// Name implements Noun.
func (*Application) Name() string { return "Application" }

// Name implements Noun.
func (*Sim) Name() string { return "Sim" }

// Name implements Noun.
func (*WhatsApp) Name() string { return "WhatsApp" }

// Name implements Verb.
func (*Enqueue) Name() string { return "Enqueue" }

// Name implements Verb.
func (*Connect) Name() string { return "Connect" }

// Name implements Noun.
func (*Stream) Name() string { return "Stream" }

// Name implements Noun.
func (*ConversationRelay) Name() string { return "ConversationRelay" }

// Name implements Verb.
func (*Start) Name() string { return "Start" }

// Name implements Verb.
func (*Stop) Name() string { return "Stop" }

// Name implements Verb.
func (*Refer) Name() string { return "Refer" }

// Name implements Verb and Noun; it is the element's tag.
func (e *Element) Name() string { return e.Tag }
