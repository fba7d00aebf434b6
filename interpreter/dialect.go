package interpreter

import (
	"net/url"
	"time"

	"github.com/texml/texml/verbs"
)

// The request parameters and formats of the TeXML dialect
// (Config.Dialect). The rules of documents (defaults, ranges, nouns) are
// verbs.Dialect's; these are the ones about requests.

// telnyxTime is how Telnyx writes times in its requests: ISO 8601 in
// UTC with milliseconds, "2024-01-15T10:30:26.028Z"
// (https://developers.telnyx.com/api-reference/callbacks/texml-call-initiated).
const telnyxTime = "2006-01-02T15:04:05.000Z07:00"

// texmlParams adds the Telnyx parameters that texml can fill honestly
// (https://developers.telnyx.com/api-reference/callbacks/texml-call-initiated):
// CallerId (the caller's display name, or From), CallInitiatedAt (when
// the call began), and ConnectionId (the application's id) when the
// configuration gives one. Left out because texml has no true value for
// them: CallSidLegacy and ParentCallSidLegacy (ids of Telnyx's older call
// API), CallSessionId and CallLegId, ShakenStirAttestation and
// ShakenStirValidated (no STIR/SHAKEN verification here). Codec and
// SamplingRate come with an inbound SIP call's ExtraParams when its offer
// named the codec (signaling).
func (c *Call) texmlParams(p url.Values) {
	id := c.cfg.CallerID
	if id == "" {
		id = c.cfg.From
	}
	p.Set("CallerId", id)
	at := c.initiated
	if at.IsZero() {
		at = c.start
	}
	if !at.IsZero() {
		p.Set("CallInitiatedAt", at.UTC().Format(telnyxTime))
	}
	if c.cfg.ConnectionID != "" {
		p.Set("ConnectionId", c.cfg.ConnectionID)
	}
}

// timestamp formats a status callback's Timestamp: RFC 2822 as Twilio
// sends it (https://www.twilio.com/docs/voice/api/call-resource#statuscallback),
// ISO 8601 as Telnyx does.
func (c *Call) timestamp(at time.Time) string {
	if c.cfg.Dialect == verbs.TeXML {
		return at.UTC().Format(telnyxTime)
	}
	return at.UTC().Format(time.RFC1123Z)
}
