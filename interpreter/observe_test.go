package interpreter_test

import (
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
)

// TestObserveVerbDurations checks that Config.Observe hears every verb
// with the time it took on the call's clock.
func TestObserveVerbDurations(t *testing.T) {
	type obs struct {
		verb string
		d    time.Duration
	}
	var got []obs
	cfg := interpreter.Config{Observe: func(verb string, d time.Duration) { got = append(got, obs{verb, d}) }}
	runCall(t, map[string]string{
		"http://app.test/voice": `<Response><Pause length="3"/><Redirect>/next</Redirect></Response>`,
		"http://app.test/next":  `<Response><Pause length="2"/><Hangup/></Response>`,
	}, sim.Options{}, cfg)
	want := []obs{{"Pause", 3 * time.Second}, {"Redirect", 0}, {"Pause", 2 * time.Second}, {"Hangup", 0}}
	if len(got) != len(want) {
		t.Fatalf("observed %v, want %v", got, want)
	}
	for i, w := range want {
		if got[i].verb != w.verb || got[i].d < w.d || got[i].d > w.d+100*time.Millisecond {
			t.Errorf("observation %d: %v, want %v", i, got[i], w)
		}
	}
}
