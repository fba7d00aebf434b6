package media_test

import (
	"math"
	"sync"
	"testing"

	"github.com/texml/texml/media"
	"github.com/texml/texml/media/audio"
)

// endpoint is the least Endpoint: one tap, one output.
type endpoint struct {
	mu  sync.Mutex
	tap media.Sink
	out media.Source
}

func (e *endpoint) Format() media.Format  { return media.Format{Codec: media.PCMU} }
func (e *endpoint) Done() <-chan struct{} { return nil }

func (e *endpoint) SetOutput(s media.Source) func() {
	e.mu.Lock()
	e.out = s
	e.mu.Unlock()
	return func() {}
}

func (e *endpoint) Tap(k media.Sink) func() {
	e.mu.Lock()
	e.tap = k
	e.mu.Unlock()
	return func() {}
}

// speech is one OnSpeech call.
type speech struct {
	m  *media.Member
	on bool
}

// Speech events follow a member's voice activity, as the VAD of package
// audio judges it: a start when it talks, a stop once the hangover has
// passed, and nothing for a member who stays silent.
func TestMixerSpeech(t *testing.T) {
	x := media.NewMixer(media.MixerOptions{Detector: func() media.SpeechDetector {
		return audio.NewVAD(audio.VADOptions{})
	}})
	defer x.Close()
	var (
		mu     sync.Mutex
		events []speech
	)
	x.OnSpeech(func(m *media.Member, on bool) {
		mu.Lock()
		events = append(events, speech{m, on})
		mu.Unlock()
	})
	talker, quiet := &endpoint{}, &endpoint{}
	mt := x.Add(talker, media.MemberOptions{Muted: true}) // muted members are still detected
	x.Add(quiet, media.MemberOptions{})
	frame := make([]int16, media.FrameSamples)
	pos := 0
	feed := func(frames int, amp float64) {
		for range frames {
			for i := range frame {
				frame[i] = int16(amp * math.Sin(2*math.Pi*300*float64(pos)/media.SampleRate))
				pos++
			}
			talker.tap.Write(frame)
			quiet.tap.Write(make([]int16, media.FrameSamples))
			_, _ = talker.out.Read(frame)
			_, _ = quiet.out.Read(frame)
		}
	}
	feed(10, 0)
	feed(25, 3000) // about -20 dBFS
	mu.Lock()
	got := append([]speech(nil), events...)
	mu.Unlock()
	if len(got) != 1 || got[0] != (speech{mt, true}) {
		t.Fatalf("after talking: %v, want one start of the talker", got)
	}
	feed(30, 0) // longer than the 300 ms hangover
	mu.Lock()
	got = append([]speech(nil), events...)
	mu.Unlock()
	if len(got) != 2 || got[1] != (speech{mt, false}) {
		t.Fatalf("after the talker stopped: %v, want a start and a stop", got)
	}
}
