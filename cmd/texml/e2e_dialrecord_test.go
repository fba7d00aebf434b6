package main

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// TestDialRecordDual records a real bridged call through texml serve:
// the caller says one tone, the callee another, and the file that
// RecordingUrl serves has the caller on the left channel and the callee
// on the right; the action and the recording status callback agree on
// it.
func TestDialRecordDual(t *testing.T) {
	const callerTone, calleeTone = 600.0, 1400.0
	callee := sipphone.New(t)
	callee.Answer(sipphone.Behaviour{Ring: 300 * time.Millisecond, HangupAfter: 3 * time.Second,
		Then: func(c *sipphone.Call) {
			c.Silence(700 * time.Millisecond)
			c.Tone(calleeTone, time.Second)
		}})
	a := newApp(t, map[string]string{
		"/voice": `<Response><Dial record="record-from-answer-dual" action="/dialed" recordingStatusCallback="/recstatus">` +
			`<Sip>` + callee.URI("agent") + `</Sip></Dial></Response>`,
		"/dialed":    `<Response><Hangup/></Response>`,
		"/recstatus": ``,
	})
	s := startServe(t, a.srv.URL+"/voice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 10*time.Second, func(c *sipphone.Call) {
		time.Sleep(500 * time.Millisecond) // the callee rings 300 ms
		c.Tone(callerTone, time.Second)
		c.Listen(8 * time.Second)
	})
	if c.FinalCode() != 200 || !c.RemoteHangup() {
		t.Fatalf("answer %d, texml hung up %v", c.FinalCode(), c.RemoteHangup())
	}
	p := waitRequest(t, a, "/dialed", 5*time.Second)
	sid := p.Get("RecordingSid")
	wantURL := "http://" + s.httpLn.Addr().String() + "/2010-04-01/Accounts/" + p.Get("AccountSid") + "/Recordings/" + sid
	if !regexp.MustCompile(`^RE[0-9a-f]{32}$`).MatchString(sid) || p.Get("RecordingUrl") != wantURL {
		t.Fatalf("action params %v: want RecordingSid and RecordingUrl %s", p, wantURL)
	}
	if d, err := strconv.Atoi(p.Get("RecordingDuration")); err != nil || d < 2 || d > 4 {
		t.Errorf("RecordingDuration %q, want the 3 s the callee stayed", p.Get("RecordingDuration"))
	}
	w := parseAnyWAV(t, getRecording(t, wantURL, ".wav"))
	if w.channels != 2 {
		t.Fatalf("%d channels, want 2", w.channels)
	}
	wantChannels(t, w, callerTone, calleeTone)
	st, ok := a.waitRequest(t, "/recstatus", 5*time.Second)
	switch {
	case !ok:
		t.Error("recordingStatusCallback never requested")
	case st.Get("RecordingStatus") != "completed" || st.Get("RecordingSid") != sid || st.Get("RecordingUrl") != wantURL ||
		st.Get("RecordingChannels") != "2" || st.Get("RecordingSource") != "DialVerb" || st.Get("CallSid") != p.Get("CallSid") ||
		st.Get("RecordingDuration") != p.Get("RecordingDuration"):
		t.Errorf("recording status callback %v, want completed, 2 channels, DialVerb, for %s", st, sid)
	}
}

// wantChannels checks a stereo recording: the left channel has the tone
// left and not right, the right channel the other way round.
func wantChannels(t *testing.T, w wavFile, left, right float64) {
	t.Helper()
	if w.channels != 2 {
		t.Fatalf("%d channels, want 2", w.channels)
	}
	var l, r []int16
	for i := 0; i+1 < len(w.samples); i += 2 {
		l, r = append(l, w.samples[i]), append(r, w.samples[i+1])
	}
	if !sipphone.HasTone(l, left) || sipphone.HasTone(l, right) {
		t.Errorf("left channel: %v Hz %v, %v Hz %v; want the first alone", left, sipphone.HasTone(l, left), right, sipphone.HasTone(l, right))
	}
	if !sipphone.HasTone(r, right) || sipphone.HasTone(r, left) {
		t.Errorf("right channel: %v Hz %v, %v Hz %v; want the first alone", right, sipphone.HasTone(r, right), left, sipphone.HasTone(r, left))
	}
}
