package signaling

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
	"github.com/texml/texml/interpreter"
)

// The tones the parties of a mix send. None is within 120 Hz of a sum,
// difference or third-order product of the others (what G.711's
// companding adds to a mix of two), nor of the beep; all are above the
// hold music, which has nothing above 1046 Hz.
var mixFreqs = []float64{1200, 1700, 1900}

// Levels of a tone, in dBFS, that count as heard and as not heard. The
// parties send at -10 dBFS, the beep is -12 dBFS.
const (
	heardDB    = -20
	notHeardDB = -40
)

// mixParty is a SIP leg answered by the server and the phone at its far
// end, which sends freq for as long as the call lasts.
type mixParty struct {
	leg  *Leg
	call *sipphone.Call
	freq float64
}

// newMixParties makes one call per frequency, from its own phone to a
// server whose handler answers and hands the leg over.
func newMixParties(t *testing.T, freqs ...float64) (*Server, []*mixParty) {
	t.Helper()
	legs := make(chan *Leg)
	srv := newTestServer(t, "", 2*len(freqs)+2, func(c *Config) {
		c.Handler = func(ctx context.Context, leg interpreter.Leg, _ interpreter.Config) interpreter.Result {
			if err := leg.Answer(ctx); err != nil {
				return interpreter.Result{Err: err}
			}
			select {
			case legs <- leg.(*Leg):
				<-ctx.Done() // the call lasts until the phone or the server ends it
			case <-ctx.Done():
			}
			return interpreter.Result{}
		}
	})
	// The tones end with the calls, when the phones close; wait for
	// them after that (cleanups run last first).
	var talking sync.WaitGroup
	t.Cleanup(talking.Wait)
	var ps []*mixParty
	for _, f := range freqs {
		ph := sipphone.New(t)
		calls := make(chan *sipphone.Call, 1)
		go func() { calls <- ph.Call(context.Background(), srv.addr.String(), "mix", sipphone.CallOptions{}) }()
		var leg *Leg
		select {
		case leg = <-legs:
		case <-time.After(10 * time.Second):
			t.Fatal("the call never reached the handler")
		}
		c := <-calls
		if c.FinalCode() != 200 {
			t.Fatalf("the call was answered with %d", c.FinalCode())
		}
		talking.Add(1)
		go func() {
			defer talking.Done()
			for !c.Ended() {
				c.Tone(f, 10*time.Second) // a whole number of periods: no click at the joins
			}
		}()
		ps = append(ps, &mixParty{leg: leg, call: c, freq: f})
	}
	return srv.Server, ps
}

// listen returns what each party hears during d, from settle on: long
// enough for every member's first mix to have reached its phone.
func listen(ps []*mixParty, settle, d time.Duration) [][]int16 {
	time.Sleep(settle)
	marks := make([]int, len(ps))
	for i, p := range ps {
		marks[i] = len(p.call.Audio())
	}
	time.Sleep(d)
	heard := make([][]int16, len(ps))
	for i, p := range ps {
		heard[i] = p.call.Audio()[marks[i]:]
	}
	return heard
}

// toneLevel is the level in dBFS of freq in s where it is strongest: the
// peak amplitude of a sine at freq over 100 ms, Hann-windowed, so that
// the other tones 200 Hz away do not leak into it.
func toneLevel(s []int16, freq float64) float64 {
	const n = sipphone.Rate / 10
	w := make([]int16, n)
	best := 0.0
	for i := 0; i+n <= len(s); i += n / 2 {
		for j := range w {
			w[j] = int16(float64(s[i+j]) * (0.5 - 0.5*math.Cos(2*math.Pi*float64(j)/n)))
		}
		// Goertzel gives a sine's amplitude squared; the window halves
		// the amplitude.
		best = max(best, 4*sipphone.Goertzel(w, freq))
	}
	return 10 * math.Log10(best)
}

// checkHears checks that s holds the tones of hears and none of the
// others of all.
func checkHears(t *testing.T, who string, s []int16, all, hears []float64) {
	t.Helper()
	for _, f := range all {
		db := toneLevel(s, f)
		want := false
		for _, h := range hears {
			want = want || h == f
		}
		switch {
		case want && db < heardDB:
			t.Errorf("%s: %v Hz at %.1f dBFS, want it heard (> %d dBFS)", who, f, db, heardDB)
		case !want && db > notHeardDB:
			t.Errorf("%s: %v Hz at %.1f dBFS, want it not heard (< %d dBFS)", who, f, db, notHeardDB)
		}
	}
}

// Three legs in one mix, each phone sending its own tone: who hears whom
// with each member option, set at Add or later with Set.
func TestMix(t *testing.T) {
	goroutineBaseline(t)
	srv, ps := newMixParties(t, mixFreqs...)
	f0, f1, f2 := mixFreqs[0], mixFreqs[1], mixFreqs[2]
	tests := []struct {
		name  string
		muted []int
		hold  []int
		coach map[int]int // coach → coached, by index
		set   bool        // Add with no options, then Set them
		hears [3][]float64
	}{
		{name: "everyone", hears: [3][]float64{{f1, f2}, {f0, f2}, {f0, f1}}},
		{name: "muted", muted: []int{0}, hears: [3][]float64{{f1, f2}, {f2}, {f1}}},
		{name: "muted by Set", muted: []int{0}, set: true, hears: [3][]float64{{f1, f2}, {f2}, {f1}}},
		// The coach hears everyone; the coached hears it too; the third
		// does not.
		{name: "coach", coach: map[int]int{2: 0}, hears: [3][]float64{{f1, f2}, {f0}, {f0, f1}}},
		{name: "coach by Set", coach: map[int]int{0: 1}, set: true, hears: [3][]float64{{f1, f2}, {f0, f2}, {f1}}},
		// The held member hears hold music alone (checked below).
		{name: "hold", hold: []int{0}, hears: [3][]float64{nil, {f2}, {f1}}},
		{name: "hold by Set", hold: []int{0}, set: true, hears: [3][]float64{nil, {f2}, {f1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := srv.NewMix()
			defer x.Close()
			members := make([]interpreter.MixMember, len(ps))
			opts := func(i int) interpreter.MixOptions {
				var o interpreter.MixOptions
				for _, m := range tt.muted {
					o.Muted = o.Muted || m == i
				}
				for _, h := range tt.hold {
					o.Hold = o.Hold || h == i
				}
				if c, ok := tt.coach[i]; ok {
					o.Coach = members[c] // nil until added: Set it then
				}
				return o
			}
			for i, p := range ps {
				var o interpreter.MixOptions
				if !tt.set {
					o = opts(i)
				}
				m, err := x.Add(p.leg, o)
				if err != nil {
					t.Fatal(err)
				}
				members[i] = m
			}
			if tt.set {
				for i, m := range members {
					m.Set(opts(i))
				}
			}
			heard := listen(ps, 300*time.Millisecond, time.Second)
			for i := range ps {
				checkHears(t, fmt.Sprintf("party %d", i), heard[i], mixFreqs, tt.hears[i])
			}
			for _, h := range tt.hold {
				if v := sipphone.VoicedTime(heard[h]); v < 700*time.Millisecond {
					t.Errorf("party %d on hold: %v of sound in 1 s, want hold music", h, v)
				}
			}
		})
	}
}

// Beep plays to every member but the one excepted, over the mix.
func TestMixBeep(t *testing.T) {
	srv, ps := newMixParties(t, mixFreqs...)
	f0, f1, f2 := mixFreqs[0], mixFreqs[1], mixFreqs[2]
	all := append([]float64{beepFreq}, mixFreqs...)
	x := srv.NewMix()
	defer x.Close()
	var members []interpreter.MixMember
	for _, p := range ps {
		m, err := x.Add(p.leg, interpreter.MixOptions{})
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, m)
	}
	for _, tt := range []struct {
		name   string
		except interpreter.MixMember
		hears  [3][]float64
	}{
		{"except one", members[2], [3][]float64{{beepFreq, f1, f2}, {beepFreq, f0, f2}, {f0, f1}}},
		{"to all", nil, [3][]float64{{beepFreq, f1, f2}, {beepFreq, f0, f2}, {beepFreq, f0, f1}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			time.Sleep(300 * time.Millisecond)
			x.Beep(tt.except)
			heard := listen(ps, 0, 800*time.Millisecond)
			for i := range ps {
				checkHears(t, fmt.Sprintf("party %d", i), heard[i], all, tt.hears[i])
			}
		})
	}
}

// OnSpeech reports each member, as Add returned it, starting to speak.
func TestMixSpeech(t *testing.T) {
	srv, ps := newMixParties(t, mixFreqs...)
	x := srv.NewMix()
	defer x.Close()
	type event struct {
		m        interpreter.MixMember
		speaking bool
	}
	events := make(chan event, 64)
	x.OnSpeech(func(m interpreter.MixMember, speaking bool) {
		select {
		case events <- event{m, speaking}:
		default:
		}
	})
	want := map[interpreter.MixMember]bool{}
	for _, p := range ps {
		m, err := x.Add(p.leg, interpreter.MixOptions{Muted: true}) // muted or not, it speaks
		if err != nil {
			t.Fatal(err)
		}
		want[m] = true
	}
	timeout := time.After(5 * time.Second)
	for len(want) > 0 {
		select {
		case e := <-events:
			if e.speaking {
				delete(want, e.m)
			}
		case <-timeout:
			t.Fatalf("%d members never reported speaking", len(want))
		}
	}
}

// otherLeg is a leg of another implementation.
type otherLeg struct{ interpreter.Leg }

// Remove is idempotent and safe once the call ended; Add refuses legs it
// cannot mix; nothing of the mix outlives Close.
func TestMixLifecycle(t *testing.T) {
	goroutineBaseline(t)
	srv, ps := newMixParties(t, mixFreqs...)
	x := srv.NewMix()
	for _, tt := range []struct {
		name string
		leg  interpreter.Leg
	}{{"other", otherLeg{}}, {"nil", nil}, {"nil SIP", (*Leg)(nil)}} {
		if _, err := x.Add(tt.leg, interpreter.MixOptions{}); err == nil || !strings.Contains(err.Error(), "cannot add") {
			t.Errorf("Add of a %s leg: %v, want an error", tt.name, err)
		}
	}
	var members []interpreter.MixMember
	for _, p := range ps {
		m, err := x.Add(p.leg, interpreter.MixOptions{})
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, m)
	}

	// Removed twice, then Set: party 0 hears silence and is not heard.
	members[0].Remove()
	members[0].Remove()
	members[0].Set(interpreter.MixOptions{Muted: true})
	heard := listen(ps, 300*time.Millisecond, time.Second)
	if v := sipphone.VoicedTime(heard[0]); v > 0 {
		t.Errorf("party 0, removed, heard %v of sound", v)
	}
	checkHears(t, "party 1", heard[1], mixFreqs, mixFreqs[2:3])
	checkHears(t, "party 2", heard[2], mixFreqs, mixFreqs[1:2])

	// Party 1 hangs up: its member is removed after its call ended, and
	// its leg can no longer be added.
	if err := ps[1].call.Hangup(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ps[1].leg.sess.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the leg's media did not end with its call")
	}
	members[1].Remove()
	members[1].Remove()
	if _, err := x.Add(ps[1].leg, interpreter.MixOptions{}); !errors.Is(err, interpreter.ErrHangup) {
		t.Errorf("Add of an ended leg: %v, want ErrHangup", err)
	}
	x.Beep(members[1]) // a removed member excepted: no one else is

	x.Close()
	x.Close()
	members[2].Remove()
	members[2].Set(interpreter.MixOptions{})
	if _, err := x.Add(ps[2].leg, interpreter.MixOptions{}); !errors.Is(err, ErrMixClosed) {
		t.Errorf("Add after Close: %v, want ErrMixClosed", err)
	}
	heard = listen(ps[2:], 300*time.Millisecond, 500*time.Millisecond)
	if v := sipphone.VoicedTime(heard[0]); v > 0 {
		t.Errorf("party 2, after Close, heard %v of sound", v)
	}
}

// Record writes the mix as everyone hears it to <dir>/<sid>.wav, one
// channel: the members that are heard, not the muted one nor a coach.
func TestMixRecord(t *testing.T) {
	srv, ps := newMixParties(t, mixFreqs...)
	x := srv.NewMix()
	defer x.Close()
	m0, err := x.Add(ps[0].leg, interpreter.MixOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Add(ps[1].leg, interpreter.MixOptions{Muted: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Add(ps[2].leg, interpreter.MixOptions{Coach: m0}); err != nil {
		t.Fatal(err)
	}
	rec, err := x.Record(interpreter.MixRecordSpec{Sid: "RE" + strings.Repeat("1", 32)})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	out, err := rec.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if out.Empty || out.Duration < time.Second || out.Duration > 2*time.Second {
		t.Errorf("recording of %v (empty %v), want the 1.5 s it ran", out.Duration, out.Empty)
	}
	if again, err := rec.Stop(); again != out || err != nil {
		t.Errorf("Stop again: %+v, %v; want %+v", again, err, out)
	}
	data, err := os.ReadFile(RecordingPath(srv.cfg.Media.RecordingsDir, "RE"+strings.Repeat("1", 32)))
	if err != nil {
		t.Fatal(err)
	}
	chans := wavChannels(t, data)
	if len(chans) != 1 {
		t.Fatalf("%d channels, want 1", len(chans))
	}
	checkHears(t, "the recording", chans[0], mixFreqs, []float64{mixFreqs[0]})
}

// A Mixer with no recordings directory refuses to record, and so does a
// closed mix.
func TestMixRecordRefused(t *testing.T) {
	if _, err := (Mixer{}).NewMix().Record(interpreter.MixRecordSpec{Sid: "RE1"}); err == nil {
		t.Error("Record without a recordings directory succeeded")
	}
	x := Mixer{RecordingsDir: t.TempDir()}.NewMix()
	x.Close()
	if _, err := x.Record(interpreter.MixRecordSpec{Sid: "RE1"}); !errors.Is(err, ErrMixClosed) {
		t.Errorf("Record after Close: %v, want ErrMixClosed", err)
	}
}
