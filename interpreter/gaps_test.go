package interpreter

import (
	"strings"
	"testing"

	"github.com/texml/texml/verbs"
)

// A recorded conference is no gap any more; a region still is.
func TestConferenceGaps(t *testing.T) {
	d := &verbs.Dial{Nouns: []verbs.Noun{&verbs.Conference{Room: "room", Record: "record-from-start", Trim: "trim-silence",
		RecordingStatusCallback: "/rec", Region: "ie1"}}}
	got := gaps(d)
	if len(got) != 1 || !strings.Contains(got[0].Message, "region") {
		t.Errorf("gaps %v, want the region warning alone", got)
	}
}
