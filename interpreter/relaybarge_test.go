package interpreter

import "testing"

func TestIsBackchannel(t *testing.T) {
	for _, tc := range []struct {
		text, lang string
		want       bool
	}{
		{"okay", "en-US", true},
		{"Uh-huh.", "en-US", true},
		{"uh huh", "en-GB", true},
		{"Yeah, I see. Got it!", "en-US", true},
		{"mm hmm okay", "en-US", true},
		{"", "en-US", true}, // no words: nothing to interrupt with
		{"", "de-DE", true},
		{"wait", "en-US", false},
		{"yeah but wait", "en-US", false},
		{"I see a problem", "en-US", false},
		{"okay", "de-DE", false}, // the list is English
		{"ja", "de-DE", false},
	} {
		if got := isBackchannel(tc.text, tc.lang); got != tc.want {
			t.Errorf("isBackchannel(%q, %q) = %v, want %v", tc.text, tc.lang, got, tc.want)
		}
	}
}
