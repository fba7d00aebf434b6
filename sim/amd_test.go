package sim

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media/amd"
)

func TestParseGreeting(t *testing.T) {
	s, ms := time.Second, time.Millisecond
	voice := func(d time.Duration) amd.Sound { return amd.Sound{Kind: amd.Voice, For: d} }
	tests := []struct {
		in   string
		want amd.Party
		ok   bool
	}{
		{"human", amd.Party{voice(s)}, true},
		{"human:0.6", amd.Party{voice(600 * ms)}, true},
		{"machine", amd.Party{voice(6 * s)}, true},
		{"machine:9", amd.Party{voice(9 * s)}, true},
		{"machine:beep", amd.Party{voice(6 * s), {Kind: amd.Beep, At: 6300 * ms, For: 500 * ms}}, true},
		{"machine:4.5:beep", amd.Party{voice(4500 * ms), {Kind: amd.Beep, At: 4800 * ms, For: 500 * ms}}, true},
		{"fax", amd.Party{{Kind: amd.FaxTone, For: 3 * s}}, true},
		{"silent", amd.Party{}, true},
		{"human:0", nil, false},
		{"machine:long", nil, false},
		{"robot", nil, false},
	}
	for _, tt := range tests {
		got, err := ParseGreeting(tt.in)
		if (err == nil) != tt.ok || (tt.ok && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("ParseGreeting(%q) = %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
	c, err := ParseCallee("+15551230000=ring:2,machine:8:beep,talk:20")
	if err != nil || len(c.Greeting) != 2 || c.Ring != 2*s || c.Talk != 20*s || c.Result != "answer" {
		t.Errorf("ParseCallee with a greeting: %+v, %v", c, err)
	}
	if _, err := ParseCallee("+15551230000=machine:x"); err == nil {
		t.Error("a bad greeting step parsed")
	}
}

// TestCalleeGreetingStartsAtItsAnswer: a callee's greeting is heard from
// its answer, not from the start of the call (heard from the start, the
// last second of this one would be a hello), and detection takes the
// greeting's time on the virtual clock.
func TestCalleeGreetingStartsAtItsAnswer(t *testing.T) {
	c, err := ParseCallee("+15551230000=ring:3,machine:4")
	if err != nil {
		t.Fatal(err)
	}
	caller := New(Options{Callees: []Callee{c}})
	ctx := context.Background()
	answered := make(chan interpreter.Leg, 1)
	_, err = caller.Dialer().Dial(ctx, interpreter.Target{Addr: "+15551230000"}, func(p interpreter.Progress) {
		if p.Kind == interpreter.Answered {
			answered <- p.Leg
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := caller.Sleep(ctx, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	callee := <-answered
	start := caller.Now()
	r, err := callee.DetectMachine(ctx, interpreter.MachineDetection{Mode: interpreter.MachineEnable})
	if err != nil || r.AnsweredBy != "machine_start" || r.Duration < 2400*time.Millisecond || r.Duration > 2500*time.Millisecond {
		t.Fatalf("DetectMachine = %+v, %v; want machine_start after SpeechThreshold", r, err)
	}
	if took := caller.Now().Sub(start); took != r.Duration {
		t.Errorf("detection took %v of virtual time, decided after %v", took, r.Duration)
	}
	if _, err := callee.DetectMachine(ctx, interpreter.MachineDetection{Mode: "Disable"}); err == nil || errors.Is(err, interpreter.ErrHangup) {
		t.Errorf("an unknown mode: %v", err)
	}
}
