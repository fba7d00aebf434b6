package conference

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store/memory"
)

// pages serves documents and audio by URL.
type pages map[string]string

func (p pages) Fetch(_ context.Context, r fetcher.Request) (*fetcher.Response, error) {
	body, ok := p[r.URL]
	if !ok {
		return nil, &fetcher.Error{Code: 11200, URL: r.URL, Status: 404, Err: errors.New("404 Not Found")}
	}
	kind := fetcher.TwiML
	if len(r.URL) > 4 && r.URL[len(r.URL)-4:] == ".wav" {
		kind = fetcher.Audio
	}
	return &fetcher.Response{URL: r.URL, RequestURL: r.URL, Status: 200, Kind: kind, Body: []byte(body)}, nil
}

func TestAnnounce(t *testing.T) {
	docs := pages{
		"http://app/announce": `<Response><Say voice="alice">Welcome</Say><Pause length="2"/><Play loop="2">/chime.wav</Play><Gather/><Redirect>/more</Redirect><Say>never</Say></Response>`,
		"http://app/more":     `<Response><Say>Goodbye</Say></Response>`,
		"http://app/tone.wav": "RIFF",
	}
	cb := &posts{}
	mixer := &fakeMixer{}
	s := New(memory.New().Conferences, mixer, Options{Node: "here", Fetcher: docs})
	var seats []interpreter.Seat
	for i, sid := range []string{"CAhost", "CAguest"} {
		p := interpreter.Participant{CallSid: sid, StartOnEnter: true}
		if i == 0 {
			p.StatusCallback = interpreter.StatusCallback{URL: "http://app/conf", Events: []string{"announcement"}, Post: cb.post}
		}
		seat, err := s.Join(context.Background(), "room", p)
		if err != nil {
			t.Fatal(err)
		}
		seats = append(seats, seat)
	}
	for _, seat := range seats {
		seat.Enter()
	}
	mix := mixer.mixes[0]
	ctx := context.Background()
	wait := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for len(cb.events()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d callbacks, want %d: %v", len(cb.events()), n, cb.events())
			}
			time.Sleep(5 * time.Millisecond) // the fetch runs on its own goroutine
		}
	}

	if err := s.Announce(ctx, "room", "", "http://app/announce", "GET"); err != nil {
		t.Fatal(err)
	}
	wait(1)
	mix.mu.Lock()
	a := mix.announced[0]
	mix.mu.Unlock()
	want := []interpreter.AnnouncePart{
		{Speech: &interpreter.Speech{Text: "Welcome", Voice: "alice"}, Loop: 1},
		{Pause: 2 * time.Second},
		{URL: "http://app/chime.wav", Loop: 2},
		{Speech: &interpreter.Speech{Text: "Goodbye"}, Loop: 1},
	}
	if len(a.parts) != len(want) || a.to != nil {
		t.Fatalf("announced %+v to %v, want %d parts to everyone", a.parts, a.to, len(want))
	}
	for i, p := range a.parts {
		w := want[i]
		if (p.Speech == nil) != (w.Speech == nil) || p.Speech != nil && (p.Speech.Text != w.Speech.Text || w.Speech.Voice != "" && p.Speech.Voice != w.Speech.Voice) ||
			p.URL != w.URL || p.Pause != w.Pause || p.Loop != w.Loop {
			t.Errorf("part %d: %+v, want %+v", i, p, w)
		}
	}
	if ev := cb.events(); ev[0] != "announcement-end" {
		t.Errorf("events %v", ev)
	}

	// To one participant, audio at the URL itself.
	if err := s.Announce(ctx, "room", "CAguest", "http://app/tone.wav", ""); err != nil {
		t.Fatal(err)
	}
	wait(2)
	mix.mu.Lock()
	b := mix.announced[1]
	mix.mu.Unlock()
	if len(b.parts) != 1 || b.parts[0].URL != "http://app/tone.wav" || b.to == nil {
		t.Errorf("announced %+v to %v, want the audio to CAguest", b.parts, b.to)
	}
	if v := cb.last("announcement-end"); v == nil || v.Get("CallSid") != "CAguest" {
		t.Errorf("announcement-end to one: %v", v)
	}

	// A URL that fails: announcement-fail with the reason; nothing played.
	if err := s.Announce(ctx, "room", "", "http://app/missing", ""); err != nil {
		t.Fatal(err)
	}
	wait(3)
	if v := cb.last("announcement-fail"); v == nil || v.Get("ReasonAnnouncementFailed") == "" {
		t.Errorf("announcement-fail: %v", v)
	}
	for _, tc := range []struct{ room, sid string }{{"nowhere", ""}, {"room", "CAnobody"}} {
		if err := s.Announce(ctx, tc.room, tc.sid, "http://app/announce", ""); !errors.Is(err, ErrNotHere) {
			t.Errorf("announce in %s to %q: %v, want ErrNotHere", tc.room, tc.sid, err)
		}
	}
}

// A participant's HoldUrl becomes its hold music.
func TestHoldMusic(t *testing.T) {
	docs := pages{"http://app/hold.xml": `<Response><Play>/music.wav</Play></Response>`}
	mixer := &fakeMixer{}
	s := New(memory.New().Conferences, mixer, Options{Node: "here", Fetcher: docs})
	ctx := context.Background()
	var seats []interpreter.Seat
	for _, sid := range []string{"CAhost", "CAguest"} {
		seat, err := s.Join(ctx, "room", interpreter.Participant{CallSid: sid, StartOnEnter: true})
		if err != nil {
			t.Fatal(err)
		}
		seats = append(seats, seat)
	}
	for _, seat := range seats {
		seat.Enter()
	}
	yes := true
	if err := s.UpdateParticipant(ctx, "room", "CAguest", ParticipantUpdate{Hold: &yes, HoldURL: "http://app/hold.xml"}); err != nil {
		t.Fatal(err)
	}
	mix := mixer.mixes[0]
	deadline := time.Now().Add(5 * time.Second)
	for {
		mix.mu.Lock()
		n := len(mix.held)
		mix.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no hold music set")
		}
		time.Sleep(5 * time.Millisecond) // the fetch runs on its own goroutine
	}
	mix.mu.Lock()
	h := mix.held[0]
	mix.mu.Unlock()
	if len(h.parts) != 1 || h.parts[0].URL != "http://app/music.wav" || h.to == nil {
		t.Errorf("hold music %+v to %v", h.parts, h.to)
	}
}
