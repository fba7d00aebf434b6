package signaling

import (
	"testing"
	"time"

	"github.com/texml/texml/media"
	"github.com/texml/texml/media/amd"
)

// fakeNow is a clock the test moves by hand.
type fakeNow struct{ t time.Time }

func (f *fakeNow) now() time.Time { return f.t }

// TestAMDTap drives the tap as the session would: frames as packets
// arrive, idle ticks from DetectMachine's loop, on a clock moved by hand.
func TestAMDTap(t *testing.T) {
	const ms = time.Millisecond
	hello := amd.Party{{Kind: amd.Voice, For: 800 * ms}}
	tests := []struct {
		name string
		// packets is how long the peer sends packets (the rest is
		// silence without packets); fill is how much silence the
		// session inserts when packets resume, at resume.
		packets, resume, fill time.Duration
		want                  amd.AnsweredBy
		min, max              time.Duration
	}{
		{"packets all along", 3 * time.Second, 0, 0, amd.Human, 1980 * ms, 2060 * ms},
		{"a peer silent after its hello (DTX)", 800 * ms, 0, 0, amd.Human, 1980 * ms, 2100 * ms},
		{"no packets at all", 0, 0, 0, amd.Unknown, 5 * time.Second, 5 * time.Second},
		{"resumed packets after a gap the session fills", 800 * ms, 1500 * ms, 700 * ms, amd.Human, 1980 * ms, 2100 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeNow{t: time.Unix(1000, 0)}
			tap := newAMDTap(amd.Options{}, clk.now)
			frame := make([]int16, media.FrameSamples)
			step := 0
			for ; step < 1000; step++ {
				at := time.Duration(step) * media.FrameDuration
				clk.t = tap.began.Add(at)
				switch {
				case at < tt.packets:
					hello.Fill(frame, int(at/media.FrameDuration)*media.FrameSamples)
					tap.Write(frame)
				case tt.resume > 0 && at == tt.resume:
					clear(frame)
					for range int(tt.fill / media.FrameDuration) {
						tap.Write(frame)
					}
				}
				if step%2 == 0 {
					tap.idle() // the 40 ms ticker
				}
				select {
				case <-tap.done:
				default:
					continue
				}
				break
			}
			r := tap.result()
			if r.AnsweredBy != tt.want || r.Duration < tt.min || r.Duration > tt.max {
				t.Errorf("got %s after %v (of audio), want %s after %v-%v", r.AnsweredBy, r.Duration, tt.want, tt.min, tt.max)
			}
			if wall := clk.t.Sub(tap.began); wall < r.Duration-amdIdle || wall > r.Duration+amdIdle {
				t.Errorf("decided at %v on the clock, %v of audio: the detector's time and the clock's drifted apart", wall, r.Duration)
			}
		})
	}
}

func TestAMDTapWriteAllocs(t *testing.T) {
	clk := &fakeNow{t: time.Unix(1000, 0)}
	tap := newAMDTap(amd.Options{Mode: amd.DetectMessageEnd, Timeout: 59 * time.Second, SpeechEndThreshold: 5 * time.Second}, clk.now)
	speech := amd.Party{{Kind: amd.Voice, For: time.Minute}}
	frame := make([]int16, media.FrameSamples)
	off := 0
	allocs := testing.AllocsPerRun(500, func() {
		speech.Fill(frame, off)
		off += media.FrameSamples
		clk.t = clk.t.Add(media.FrameDuration)
		tap.Write(frame)
	})
	if allocs != 0 {
		t.Errorf("Write allocates %v times per frame, want 0", allocs)
	}
}
