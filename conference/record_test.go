package conference

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store/memory"
)

// stepClock is a clock that moves only when the test says.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error { return nil }

func (c *stepClock) AfterFunc(time.Duration, func()) func() bool { return func() bool { return false } }

// posts collects the callbacks a room sends.
type posts struct {
	mu   sync.Mutex
	list []url.Values
}

func (p *posts) post(_, _ string, params url.Values) {
	p.mu.Lock()
	p.list = append(p.list, params)
	p.mu.Unlock()
}

// field lists one parameter of every callback, in order.
func (p *posts) field(name string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, v := range p.list {
		out = append(out, v.Get(name))
	}
	return out
}

func (p *posts) statuses() []string { return p.field("RecordingStatus") }

func (p *posts) events() []string { return p.field("StatusCallbackEvent") }

// last returns the latest callback of event, nil if none came.
func (p *posts) last(event string) url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.list) - 1; i >= 0; i-- {
		if p.list[i].Get("StatusCallbackEvent") == event {
			return p.list[i]
		}
	}
	return nil
}

// TestRoomRecording: the room records from its start (the second
// participant, not the first) to its end with the settings of the
// participant that created it, and reports in-progress and completed to
// that participant's recordingStatusCallback; a later participant's
// record attributes are ignored.
func TestRoomRecording(t *testing.T) {
	clk := &stepClock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	st := memory.New()
	defer st.Close()
	mixer := &fakeMixer{}
	s := New(st.Conferences, mixer, Options{Node: "n1", Clock: clk, AccountSid: "ACtest"})
	var first, second posts
	rec := func(sid string, p *posts) *interpreter.RoomRecording {
		return &interpreter.RoomRecording{Sid: sid, URL: "http://h/Recordings/" + sid, Trim: sid == "RE1",
			StatusCallback: interpreter.StatusCallback{URL: "/rec", Method: "POST",
				Events: []string{"in-progress", "completed", "absent"}, Post: p.post}}
	}
	ctx := context.Background()
	a, err := s.Join(ctx, "room", interpreter.Participant{CallSid: "CA1", Record: rec("RE1", &first)})
	if err != nil {
		t.Fatal(err)
	}
	clk.add(3 * time.Second)
	b, err := s.Join(ctx, "room", interpreter.Participant{CallSid: "CA2", StartOnEnter: true, Record: rec("RE2", &second)})
	if err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	if mixer.count() != 1 || len(mixer.mixes[0].recs) != 1 {
		t.Fatalf("%d mixes; want one, recording once", mixer.count())
	}
	r := mixer.mixes[0].recs[0]
	// The account and the room go into the recording's sidecar, for the
	// REST API.
	if want := (interpreter.MixRecordSpec{Sid: "RE1", Trim: true, AccountSid: "ACtest", ConferenceSid: r.spec.ConferenceSid}); r.spec != want || !strings.HasPrefix(r.spec.ConferenceSid, "CF") {
		t.Errorf("recording %+v, want the creator's %+v", r.spec, want)
	}
	clk.add(10 * time.Second)
	a.Leave(ctx)
	if r.stopped {
		t.Errorf("the recording stopped while the room goes on")
	}
	b.Leave(ctx)
	if !r.stopped || r.late {
		t.Errorf("stopped %v, after Close %v: want stopped as the room ended, before its mix closed", r.stopped, r.late)
	}
	if got := first.statuses(); len(got) != 2 || got[0] != "in-progress" || got[1] != "completed" {
		t.Fatalf("creator's callbacks %v, want [in-progress completed]", got)
	}
	if n := len(second.statuses()); n != 0 {
		t.Errorf("%d callbacks to the second participant's recordingStatusCallback, want none", n)
	}
	want := url.Values{
		"AccountSid": {"ACtest"}, "ConferenceSid": {a.Sid()}, "RecordingSid": {"RE1"},
		"RecordingUrl": {"http://h/Recordings/RE1"}, "RecordingStatus": {"completed"},
		"RecordingDuration": {"7"}, "RecordingChannels": {"1"}, "RecordingSource": {"DialConference"},
		"RecordingStartTime": {start.Format(time.RFC1123Z)}, "ErrorCode": {"0"},
	}
	got := first.list[1]
	for k, v := range want {
		if got.Get(k) != v[0] {
			t.Errorf("completed %s = %q, want %q", k, got.Get(k), v[0])
		}
	}
	if _, ok := got["CallSid"]; ok {
		t.Errorf("completed carries CallSid %q: a conference recording is the room's", got.Get("CallSid"))
	}
	if _, ok := first.list[0]["RecordingDuration"]; ok {
		t.Errorf("in-progress carries a RecordingDuration")
	}
}

// TestRoomRecordingOutcomes: the events a recording sends, whether
// nothing was kept, and a mix that cannot record.
func TestRoomRecordingOutcomes(t *testing.T) {
	tests := []struct {
		name   string
		events []string
		empty  bool  // the recording kept nothing
		recErr error // Record fails
		want   []string
	}{
		{"default event is completed", nil, false, nil, []string{"completed"}},
		{"absent when nothing was kept", []string{"completed", "absent"}, true, nil, []string{"absent"}},
		{"in-progress only", []string{"in-progress"}, false, nil, []string{"in-progress"}},
		{"no recording, no callbacks", []string{"in-progress", "completed", "absent"}, false, errors.New("disk full"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := memory.New()
			defer st.Close()
			mixer := &fakeMixer{recErr: tt.recErr}
			s := New(st.Conferences, mixer, Options{Node: "n1"})
			var p posts
			rr := &interpreter.RoomRecording{Sid: "RE1", StatusCallback: interpreter.StatusCallback{URL: "/rec", Events: tt.events, Post: p.post}}
			ctx := context.Background()
			a, err := s.Join(ctx, "room", interpreter.Participant{CallSid: "CA1", StartOnEnter: true, Record: rr})
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.Join(ctx, "room", interpreter.Participant{CallSid: "CA2"})
			if err != nil {
				t.Fatal(err)
			}
			x := mixer.mixes[0]
			if tt.empty {
				x.recs[0].out = interpreter.Recording{Empty: true}
			}
			if b.State() != interpreter.SeatTalking {
				t.Errorf("the conference did not start: %v", b.State())
			}
			a.Leave(ctx)
			b.Leave(ctx)
			got := p.statuses()
			if len(got) != len(tt.want) {
				t.Fatalf("callbacks %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("callbacks %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestRoomNotRecorded: a room whose creator did not ask for a recording
// is not recorded, even when a later participant asks.
func TestRoomNotRecorded(t *testing.T) {
	st := memory.New()
	defer st.Close()
	mixer := &fakeMixer{}
	s := New(st.Conferences, mixer, Options{Node: "n1"})
	ctx := context.Background()
	a, err := s.Join(ctx, "room", interpreter.Participant{CallSid: "CA1", StartOnEnter: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Join(ctx, "room", interpreter.Participant{CallSid: "CA2", Record: &interpreter.RoomRecording{Sid: "RE2"}})
	if err != nil {
		t.Fatal(err)
	}
	a.Leave(ctx)
	b.Leave(ctx)
	if n := len(mixer.mixes[0].recs); n != 0 {
		t.Errorf("%d recordings of a room its creator did not record", n)
	}
}
