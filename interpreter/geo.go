package interpreter

import (
	"net/url"
	"regexp"

	"github.com/nyaruka/phonenumbers"
)

// Geographic request parameters (Twilio's voice webhook page). Twilio sends
// FromCountry, FromState, ToCountry, ToState and the legacy Caller*/Called*
// aliases with the same values, from its own lookup of the numbers; apps
// branch on them (a language by FromCountry, an office by FromState).
// texml derives what it honestly can from an E.164 number with
// libphonenumber's data:
//
//   - the country, ISO 3166-1 alpha-2, of a number the library considers
//     valid ("+442071234567" → GB);
//   - for a NANP number (+1) in the US or Canada, the two-letter state or
//     province, from the library's geocoding description of the number:
//     either "San Francisco, CA" (the code after the comma) or the name of
//     the area code's state or province ("Texas"), looked up in
//     stateCodes. An area code shared by several provinces (902, 867) or
//     not tied to a place (500, 800) gives no state.
//
// City and ZIP are not derived: the library's city is a guess by exchange,
// and it has no postal codes. Unknown values are left out rather than sent
// empty. Config.ExtraParams set explicitly win over derived values.

// geoParams returns the geographic parameters for from and to, looked up
// through cache (nil: no cache), leaving out every key set in extra. A value set in extra for one name of a pair
// (FromState) is used for its alias (CallerState) too, since Twilio sends
// both with the same value.
func geoParams(cache *GeoCache, from, to string, extra url.Values) url.Values {
	p := url.Values{}
	for _, party := range []struct {
		number      string
		name, alias string
	}{{from, "From", "Caller"}, {to, "To", "Called"}} {
		g := cache.lookup(party.number)
		for _, f := range []struct{ suffix, derived string }{{"Country", g.country}, {"State", g.state}} {
			name, alias := party.name+f.suffix, party.alias+f.suffix
			v := f.derived
			if _, ok := extra[name]; ok {
				v = extra.Get(name)
			} else if _, ok := extra[alias]; ok {
				v = extra.Get(alias)
			}
			for _, k := range []string{name, alias} {
				if _, ok := extra[k]; !ok && v != "" {
					p.Set(k, v)
				}
			}
		}
	}
	return p
}

// numberGeo is what lookupGeo found; empty fields are unknown.
type numberGeo struct {
	country string // ISO 3166-1 alpha-2
	state   string // US state or Canadian province, two letters
}

// e164 is the shape of an E.164 number: "+", a country code, at most 15
// digits in all. Anything else (client:alice, sip:…, anonymous) has no
// geography.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// cityState matches a geocoding description that ends in a two-letter
// state or province code: "San Francisco, CA", "100 Mile House, BC".
var cityState = regexp.MustCompile(`, ([A-Z]{2})$`)

// lookupGeo derives the country and, for US and Canadian numbers, the
// state or province of an E.164 number.
func lookupGeo(number string) numberGeo {
	var g numberGeo
	if !e164.MatchString(number) {
		return g
	}
	n, err := phonenumbers.Parse(number, "")
	if err != nil || !phonenumbers.IsValidNumber(n) {
		// Not a number in service anywhere, such as Twilio's anonymous
		// caller +266696687 (Lesotho's code, but no Lesotho number).
		return g
	}
	g.country = phonenumbers.GetRegionCodeForNumber(n)
	if g.country == "ZZ" {
		g.country = "" // a non-geographic code (+800, +882)
	}
	if n.GetCountryCode() != 1 || (g.country != "US" && g.country != "CA") {
		return g
	}
	desc, err := phonenumbers.GetGeocodingForNumber(n, "en")
	if err != nil {
		return g
	}
	if m := cityState.FindStringSubmatch(desc); m != nil {
		g.state = m[1]
	} else {
		g.state = stateCodes[desc]
	}
	return g
}

// stateCodes maps the names libphonenumber's English geocoding data gives
// to whole US and Canadian area codes to their USPS and Canada Post codes.
// The spellings are the library's own ("Washington State", "Washington
// D.C.", and "British Colombia" for some 236/672 numbers); a test checks
// that every description the library gives a US or Canadian area code is
// either here, of the "City, ST" form, or knowingly ambiguous.
var stateCodes = map[string]string{
	"Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
	"Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA",
	"Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
	"Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
	"Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO",
	"Montana": "MT", "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ",
	"New Mexico": "NM", "New York": "NY", "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH",
	"Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC",
	"South Dakota": "SD", "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT",
	"Virginia": "VA", "Washington State": "WA", "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
	"Washington D.C.": "DC",

	"Alberta": "AB", "British Columbia": "BC", "British Colombia": "BC", "Manitoba": "MB",
	"New Brunswick": "NB", "Newfoundland and Labrador": "NL", "Nova Scotia": "NS", "Ontario": "ON",
	"Prince Edward Island": "PE", "Quebec": "QC", "Saskatchewan": "SK", "Northwest Territories": "NT",
	"Nunavut": "NU", "Yukon": "YT",
}
