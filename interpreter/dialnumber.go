package interpreter

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// DialNumber is the number a <Number> body asks for, as the trunks get
// it. Twilio takes E.164 or an unformatted US number
// (https://www.twilio.com/docs/voice/twiml/number) and warns of anything
// else (13223, https://www.twilio.com/docs/api/errors/13223: hyphens,
// parentheses). So:
//
//   - "+44 20 7946 0958", "+1-415-555-1234": the separators go (spaces,
//     hyphens, dots, parentheses), leaving E.164;
//   - "4155551234", "(415) 555-1234", "1 415 555 1234": a valid US number
//     of 10 digits (or 11 with the leading 1) becomes +14155551234, so
//     that a trunk matching "+1*" takes it as it would the E.164 form;
//   - other digits ("1001", "911", "00442079460958") are a private dial
//     plan's (an extension, a short code, a carrier's prefix): they go
//     as written, without the separators;
//   - anything else is not a phone number: it goes as written, and ok is
//     false, for the 13223 warning.
func DialNumber(body string) (number string, ok bool) {
	s := strings.TrimSpace(body)
	digits := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '-', '.', '(', ')':
			return -1
		}
		return r
	}, s)
	plus := strings.HasPrefix(digits, "+")
	digits = strings.TrimPrefix(digits, "+")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return s, false
	}
	if plus {
		// E.164 has at most 15 digits, the country code first (ITU-T E.164 §6).
		return "+" + digits, len(digits) <= 15
	}
	if n := len(digits); n == 10 || n == 11 && digits[0] == '1' {
		if p, err := phonenumbers.Parse(digits, "US"); err == nil && phonenumbers.IsValidNumberForRegion(p, "US") {
			return phonenumbers.Format(p, phonenumbers.E164), true
		}
	}
	return digits, true
}
