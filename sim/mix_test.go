package sim

import (
	"context"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
)

// TestMixRecordingTrim: a simulated conference recording lasts from
// Record to Stop; trimmed, it keeps the time from the first moment a
// member is heard to the last, and nothing when nobody was heard.
func TestMixRecordingTrim(t *testing.T) {
	type step struct {
		at     time.Duration // from Record
		do     string        // add, mute, unmute, remove
		member int
	}
	tests := []struct {
		name       string
		steps      []step
		stop       time.Duration
		trim       time.Duration // the trimmed length; 0 = empty
		whole      time.Duration // the untrimmed one
		emptyWhole bool
	}{
		{"two talk from 2s to 9s", []step{{2 * time.Second, "add", 0}, {2 * time.Second, "add", 1}, {9 * time.Second, "remove", 0}, {9 * time.Second, "remove", 1}}, 12 * time.Second, 7 * time.Second, 12 * time.Second, false},
		{"still talking at Stop", []step{{1 * time.Second, "add", 0}}, 5 * time.Second, 4 * time.Second, 5 * time.Second, false},
		{"muted member is silence", []step{{1 * time.Second, "add", 0}, {3 * time.Second, "mute", 0}, {6 * time.Second, "add", 1}, {8 * time.Second, "remove", 1}}, 10 * time.Second, 7 * time.Second, 10 * time.Second, false},
		{"nobody heard", []step{{1 * time.Second, "add", 0}, {1 * time.Second, "mute", 0}}, 4 * time.Second, 0, 4 * time.Second, false},
		{"stopped at once", nil, 0, 0, 0, true},
	}
	for _, tt := range tests {
		for _, trim := range []bool{true, false} {
			clk := NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), false)
			x := Mixer{Clock: clk}.NewMix()
			legs := []*Leg{New(Options{Clock: clk}), New(Options{Clock: clk})}
			mem := make([]interpreter.MixMember, len(legs))
			rec, err := x.Record(interpreter.MixRecordSpec{Sid: "RE1", Trim: trim})
			if err != nil {
				t.Fatal(err)
			}
			began := clk.Now()
			wait := func(at time.Duration) {
				if d := at - clk.Now().Sub(began); d > 0 {
					if err := clk.Sleep(context.Background(), d); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, s := range tt.steps {
				wait(s.at)
				switch s.do {
				case "add":
					mem[s.member], err = x.Add(legs[s.member], interpreter.MixOptions{})
					if err != nil {
						t.Fatal(err)
					}
				case "mute":
					mem[s.member].Set(interpreter.MixOptions{Muted: true})
				case "remove":
					mem[s.member].Remove()
				}
			}
			wait(tt.stop)
			out, err := rec.Stop()
			if err != nil {
				t.Fatal(err)
			}
			want, empty := tt.whole, tt.emptyWhole
			if trim {
				want, empty = tt.trim, tt.trim == 0
			}
			if out.Duration != want || out.Empty != empty {
				t.Errorf("%s, trim %v: %v (empty %v), want %v (empty %v)", tt.name, trim, out.Duration, out.Empty, want, empty)
			}
			if again, _ := rec.Stop(); again != out {
				t.Errorf("%s: Stop again returned %+v, want %+v", tt.name, again, out)
			}
			x.Close()
		}
	}
}

// TestMixRecordNeedsClock: a Mixer without a clock cannot time a
// recording, and says so.
func TestMixRecordNeedsClock(t *testing.T) {
	if _, err := (Mixer{}).NewMix().Record(interpreter.MixRecordSpec{Sid: "RE1"}); err == nil {
		t.Error("Record without a Clock succeeded")
	}
}
