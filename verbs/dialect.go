package verbs

import (
	"errors"
	"strings"
)

// Dialect is the platform whose rules a call follows: Twilio's TwiML or
// Telnyx's TeXML. The two share their verbs and most attributes; a
// Dialect holds where they differ, so that each rule is written once and
// the parser, the interpreter and the REST API ask it
// (https://developers.telnyx.com/docs/voice/programmable-voice/texml-twiml-compatibility).
// The zero value is TwiML.
type Dialect uint8

// The dialects.
const (
	// TwiML is Twilio's language and platform behaviour, the default.
	TwiML Dialect = iota
	// TeXML is Telnyx's: the differences are listed on each method.
	TeXML
)

// ErrDialect is wrapped by ParseDialect's error for an unknown name.
var ErrDialect = errors.New(`unknown dialect: want "twiml" or "texml"`)

// ParseDialect reads a dialect's name, case-insensitively; "" is TwiML.
func ParseDialect(s string) (Dialect, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "twiml":
		return TwiML, nil
	case "texml":
		return TeXML, nil
	}
	return TwiML, ErrDialect
}

// String returns the dialect's name as configuration spells it.
func (d Dialect) String() string {
	if d == TeXML {
		return "texml"
	}
	return "twiml"
}

// UnmarshalText reads a dialect's name, so that YAML configuration and
// flags can hold one.
func (d *Dialect) UnmarshalText(b []byte) error {
	v, err := ParseDialect(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText writes the dialect's name.
func (d Dialect) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Parse parses a document as Parse does, with the dialect's defaults and
// checks (see GatherMethodFromApp, RecordTimeout, RingTimeout, TimeLimit
// and Supports).
func (d Dialect) Parse(data []byte, kind Kind) (*Document, error) { return parse(data, kind, d) }

// APIVersion is the ApiVersion request parameter: Twilio's "2010-04-01",
// Telnyx's "v2/texml"
// (https://developers.telnyx.com/api-reference/callbacks/texml-call-initiated).
func (d Dialect) APIVersion() string {
	if d == TeXML {
		return "v2/texml"
	}
	return "2010-04-01"
}

// GatherMethodFromApp reports whether <Gather>'s action is requested with
// the application's method (the method of the call's voice URL) rather
// than POST when the document gives none. TeXML's Gather has no method
// attribute: "Same method (GET/POST) as set for the TeXML application is
// used" (https://developers.telnyx.com/docs/voice/programmable-voice/texml-verbs/gather).
// A method written anyway is still honoured, so that a Twilio document
// keeps working.
func (d Dialect) GatherMethodFromApp() bool { return d == TeXML }

// RecordTimeout is <Record>'s timeout when the document gives none, in
// seconds of silence that end the recording; 0 means silence never ends
// it. Twilio's default is 5
// (https://www.twilio.com/docs/voice/twiml/record#timeout), Telnyx's 0,
// "0 for infinite"
// (https://developers.telnyx.com/docs/voice/programmable-voice/texml-verbs/record).
func (d Dialect) RecordTimeout() int {
	if d == TeXML {
		return 0
	}
	return 5
}

// RingTimeoutRange is the range of <Dial timeout>, in seconds: Twilio's
// 5-600 (https://www.twilio.com/docs/voice/twiml/dial#timeout), Telnyx's
// 5-120 (https://developers.telnyx.com/docs/voice/programmable-voice/texml-verbs/dial).
func (d Dialect) RingTimeoutRange() (lo, hi int) {
	if d == TeXML {
		return 5, 120
	}
	return 5, 600
}

// TimeLimitRange is the range of <Dial timeLimit>, in seconds; hi 0 means
// no upper bound beyond the call's own limit. Twilio gives no minimum
// and caps a call at its time limit
// (https://www.twilio.com/docs/voice/twiml/dial#timelimit); Telnyx
// allows 60-14400
// (https://developers.telnyx.com/docs/voice/programmable-voice/texml-verbs/dial).
func (d Dialect) TimeLimitRange() (lo, hi int) {
	if d == TeXML {
		return 60, 14400
	}
	return 1, 0
}

// RingTimeout clamps a Dial timeout to RingTimeoutRange, as the
// platforms use the nearest allowed value.
func (d Dialect) RingTimeout(n int) int {
	lo, hi := d.RingTimeoutRange()
	return min(max(n, lo), hi)
}

// TimeLimit clamps a Dial timeLimit to TimeLimitRange.
func (d Dialect) TimeLimit(n int) int {
	lo, hi := d.TimeLimitRange()
	n = max(n, lo)
	if hi > 0 {
		n = min(n, hi)
	}
	return n
}

// Supports reports whether a Dial noun exists in the dialect. TeXML has
// no <Client>: Telnyx lists it as not supported
// (https://developers.telnyx.com/docs/voice/programmable-voice/texml-twiml-compatibility).
func (d Dialect) Supports(noun string) bool {
	return !(d == TeXML && noun == "Client")
}
