package interpreter

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

func TestLookupGeo(t *testing.T) {
	tests := []struct {
		number         string
		country, state string
	}{
		{"+14155551234", "US", "CA"}, // "San Francisco, CA"
		{"+12125551234", "US", "NY"}, // "New York, NY"
		{"+15125551234", "US", "TX"}, // area code only: "Texas"
		{"+12065550100", "US", "WA"}, // "Washington State"
		{"+12025551234", "US", "DC"}, // "Washington D.C."
		{"+14165551234", "CA", "ON"}, // "Ontario"
		{"+16045551234", "CA", "BC"},
		{"+19025551234", "CA", ""},  // Nova Scotia or Prince Edward Island
		{"+15005550006", "US", ""},  // Twilio test number: no place
		{"+18005551234", "US", ""},  // toll free
		{"+18765551234", "JM", ""},  // NANP, not the US or Canada
		{"+17875551234", "PR", ""},  // Puerto Rico is its own ISO country
		{"+442071234567", "GB", ""}, // no state outside the NANP
		{"+33142685300", "FR", ""},
		{"+266696687", "", ""},      // Twilio's "anonymous": not a valid number
		{"+15555555555", "", ""},    // no such area code
		{"14155551234", "", ""},     // not E.164: no "+"
		{"+1 415 555 1234", "", ""}, // not E.164: spaces
		{"client:alice", "", ""},
		{"sip:bob@example.com", "", ""},
		{"anonymous", "", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			g := lookupGeo(tt.number)
			if g.country != tt.country || g.state != tt.state {
				t.Errorf("lookupGeo(%q) = %q/%q, want %q/%q", tt.number, g.country, g.state, tt.country, tt.state)
			}
		})
	}
}

func TestGeoParams(t *testing.T) {
	tests := []struct {
		name     string
		from, to string
		extra    url.Values
		want     map[string]string // "" means absent
	}{
		{"derived", "+14155551234", "+14165551234", nil, map[string]string{
			"FromCountry": "US", "FromState": "CA", "CallerCountry": "US", "CallerState": "CA",
			"ToCountry": "CA", "ToState": "ON", "CalledCountry": "CA", "CalledState": "ON"}},
		{"unknown left out", "client:alice", "+442071234567", nil, map[string]string{
			"FromCountry": "", "FromState": "", "CallerCountry": "", "ToCountry": "GB", "ToState": "", "CalledCountry": "GB"}},
		{"explicit wins and is not repeated", "+14155551234", "+14165551234",
			url.Values{"FromState": {"TX"}, "ToCountry": {"MX"}}, map[string]string{
				"FromState": "", "CallerState": "TX", "FromCountry": "US",
				"ToCountry": "", "CalledCountry": "MX", "ToState": "ON"}},
		{"explicit alias used for the name", "+14155551234", "+14165551234",
			url.Values{"CallerCountry": {"DE"}}, map[string]string{"FromCountry": "DE", "CallerCountry": ""}},
		{"explicit empty value hides a derived one", "+14155551234", "",
			url.Values{"FromState": {""}}, map[string]string{"FromState": "", "CallerState": "", "FromCountry": "US"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := geoParams(nil, tt.from, tt.to, tt.extra)
			for k, v := range tt.want {
				_, has := p[k]
				if got := p.Get(k); got != v || (v == "" && has) {
					t.Errorf("%s = %q (present %v), want %q", k, got, has, v)
				}
			}
		})
	}
}

// TestStateForEveryAreaCode guards the name table against the library's
// data: every US or Canadian area code gives a state, unless its
// description names no single state or province.
func TestStateForEveryAreaCode(t *testing.T) {
	noState := map[string]bool{
		"United States": true, "Canada": true, // non-geographic area codes (500, 800, 600)
		"Nova Scotia/Prince Edward Island":    true, // 902, 782
		"Northwest Territories/Nunavut/Yukon": true, // 867
	}
	checked := 0
	for ac := 200; ac <= 999; ac++ {
		for _, exchange := range []int{234, 555, 678, 901} {
			number := fmt.Sprintf("+1%d%d1234", ac, exchange)
			n, err := phonenumbers.Parse(number, "")
			if err != nil || !phonenumbers.IsValidNumber(n) {
				continue
			}
			region := phonenumbers.GetRegionCodeForNumber(n)
			if region != "US" && region != "CA" {
				continue
			}
			desc, _ := phonenumbers.GetGeocodingForNumber(n, "en")
			checked++
			if g := lookupGeo(number); g.state == "" && !noState[desc] {
				t.Errorf("%s (%s, %q): no state", number, region, desc)
			}
		}
	}
	if checked < 1000 {
		t.Errorf("checked only %d numbers; the library's data changed shape", checked)
	}
}

func TestGeoCache(t *testing.T) {
	c := NewGeoCache(2)
	for range 2 {
		for _, n := range []string{"+14155551234", "+442071234567", "client:alice"} {
			if got, want := c.lookup(n), lookupGeo(n); got != want {
				t.Errorf("lookup(%q) = %+v, want %+v", n, got, want)
			}
		}
	}
	if n := len(c.m); n > 2 {
		t.Errorf("the cache holds %d numbers, more than its size 2", n)
	}
	var none *GeoCache
	if got := none.lookup("+14155551234"); got.country != "US" || got.state != "CA" {
		t.Errorf("a nil cache looked up %+v, want US/CA", got)
	}
}
