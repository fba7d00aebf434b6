package stream

import (
	"testing"
	"time"

	"github.com/texml/texml/media"
)

// TestMaxPlayout: the app's audio waiting to be played is capped at
// DefaultMaxPlayout, about 2 minutes; what does not fit is discarded and
// counted in Stats.Discarded (the trace's discarded_ms), as the README's
// Media streams section says. Twilio's page lets a bidirectional app send
// media of any length, played in order
// (https://www.twilio.com/docs/voice/media-streams/websocket-messages#send-a-media-message);
// the cap is texml's bound on a runaway app's memory. Marks keep their
// place behind the audio kept.
func TestMaxPlayout(t *testing.T) {
	a := newApp(t, false, false)
	s, ac := open(t, a, config(true, nil))
	sid := s.Sid()
	const rate = media.SampleRate
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	// 100 s fits; of the next 30 s only 20 s fit; the 1 s after the mark
	// does not fit at all.
	ac.send(t, appMedia(sid, 100*rate, 0x10))
	ac.send(t, appMedia(sid, 30*rate, 0x20))
	ac.send(t, map[string]any{"event": "mark", "streamSid": sid, "mark": map[string]any{"name": "full"}})
	ac.send(t, appMedia(sid, 1*rate, 0x30))
	// The reader applies the messages in order: once the last media is
	// counted, the mark is queued too.
	waitFor(t, func() bool { return s.Stats().Received == sec(131) })
	if st := s.Stats(); st.Discarded != sec(11) || st.Played != 0 {
		t.Fatalf("stats %+v: want 11 s discarded (10 s of the second message, all of the third), none played yet", st)
	}

	frame := make([]int16, media.FrameSamples)
	var first, second [media.FrameSamples]int16
	s.playCodec.Decode(first[:], bytesOf(0x10))
	s.playCodec.Decode(second[:], bytesOf(0x20))
	frames := 0
	for s.Next(frame) {
		frames++
		want := &first
		if frames > 100*rate/media.FrameSamples {
			want = &second
		}
		if [media.FrameSamples]int16(frame) != *want {
			t.Fatalf("frame %d is not the audio kept, in order (the first 100 s, then 20 s of the second message)", frames)
		}
	}
	if want := int(DefaultMaxPlayout / media.FrameDuration); frames != want {
		t.Errorf("%d frames played, want %d: the cap, %v", frames, want, DefaultMaxPlayout)
	}
	if name := ac.until(t, "mark")["mark"].(map[string]any)["name"]; name != "full" {
		t.Errorf("mark %v echoed, want full", name)
	}
	if st := s.Stats(); st.Played != DefaultMaxPlayout || st.Discarded != sec(11) {
		t.Errorf("stats %+v: want the cap played and 11 s discarded", st)
	}

	// The cap bounds what waits, not what the app may send in all: once
	// played, there is room again.
	ac.send(t, appMedia(sid, 1*rate, 0x40))
	waitFor(t, func() bool { return s.Stats().Received == sec(132) })
	if st := s.Stats(); st.Discarded != sec(11) {
		t.Errorf("stats %+v: the second after the queue drained was discarded", st)
	}
}

// bytesOf is a frame of µ-law bytes b.
func bytesOf(b byte) []byte {
	f := make([]byte, media.FrameSamples)
	for i := range f {
		f[i] = b
	}
	return f
}
