package media

import (
	"testing"
)

// TestTapSent checks that a sent-audio tap hears every packet time: the
// playing prompt, then silence once it ended, and nothing after untap.
func TestTapSent(t *testing.T) {
	p, _, tick := manualPacer(t)
	c := newCapture(t)
	s := newSession(t, p, c.addr(), nil)
	rec := &recorder{}
	untap := s.TapSent(rec)
	done := s.Play(&toneSource{freq: 440, amp: 8000, total: 3 * FrameSamples})
	tick(5)
	if err := <-done; err != nil {
		t.Fatalf("playback: %v", err)
	}
	untap()
	untap() // idempotent
	tick(2)
	frames := rec.Frames()
	if len(frames) != 5 {
		t.Fatalf("%d frames tapped, want one per packet time (5)", len(frames))
	}
	for i, f := range frames {
		loud := rms(f) > 1000
		if want := i < 3; loud != want {
			t.Errorf("frame %d: rms %.0f; want the tone in the first 3 frames, silence after", i, rms(f))
		}
	}
}

// TestTapSentHeld checks that a held session, which sends nothing, taps
// nothing.
func TestTapSentHeld(t *testing.T) {
	p, _, tick := manualPacer(t)
	s := newSession(t, p, newCapture(t).addr(), func(c *SessionConfig) { c.Held = true })
	rec := &recorder{}
	defer s.TapSent(rec)()
	tick(3)
	if n := len(rec.Frames()); n != 0 {
		t.Errorf("%d frames tapped on hold, want none", n)
	}
}
