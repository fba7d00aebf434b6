package verbs

import "fmt"

// Severity says whether a diagnostic stops a linter run (Error) or only
// informs (Warning). Twilio logs both in its debugger; the interpreter runs a
// document with error diagnostics anyway, skipping the invalid elements, the
// way Twilio does, unless Parse itself fails.
type Severity int

// Severities, least severe first.
const (
	Warning Severity = iota
	Error
)

// String returns "warning" or "error".
func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// Diagnostic is one finding about a document.
type Diagnostic struct {
	Pos
	Severity Severity
	Code     int // Twilio error/warning code, 0 when none applies
	Message  string
}

// String formats the diagnostic as "line:col: severity: message [code]".
func (d Diagnostic) String() string {
	if d.Code != 0 {
		return fmt.Sprintf("%d:%d: %s: %s [%d]", d.Line, d.Col, d.Severity, d.Message, d.Code)
	}
	return fmt.Sprintf("%d:%d: %s: %s", d.Line, d.Col, d.Severity, d.Message)
}

// Kind is the context a document is fetched in. Some contexts allow only a
// subset of verbs: see the url and waitUrl attributes on the Number, Queue,
// Enqueue and Conference pages under https://www.twilio.com/docs/voice/twiml.
type Kind int

// Document kinds.
const (
	Main           Kind = iota // voice URL, action, Redirect: any verb
	Whisper                    // Number/Client/Sip url: no Dial
	QueueURL                   // Dial><Queue url: Play, Say, Pause, Redirect
	EnqueueWait                // Enqueue waitUrl: Play, Say, Pause, Hangup, Redirect, Leave, Gather
	ConferenceWait             // Conference waitUrl, announceUrl, holdUrl: Play, Say, Pause, Redirect
)

// Limits on what Parse accepts.
const (
	MaxDocumentSize = 1 << 20 // bytes
	MaxDepth        = 64      // element nesting
)

// ParseError is a fatal document error: the document cannot run at all.
// Code is 12100 (document parse failure) for malformed XML, a wrong root
// element, a document over MaxDocumentSize or nested deeper than MaxDepth.
type ParseError struct {
	Pos
	Code    int
	Message string
	// Err is the underlying decoder error when there is one, so callers can
	// inspect it with errors.Is and errors.As.
	Err error
}

// Error implements error.
func (e *ParseError) Error() string {
	return fmt.Sprintf("%d:%d: %s [%d]", e.Line, e.Col, e.Message, e.Code)
}

// Unwrap returns the underlying decoder error, or nil.
func (e *ParseError) Unwrap() error { return e.Err }
