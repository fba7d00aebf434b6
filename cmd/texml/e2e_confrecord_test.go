package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// TestConferenceRecordTwoPhones records a real conference through texml
// serve: two phones in a room with record="record-from-start" each send
// their own tone, one after the other, and the mono WAV that the
// recordingStatusCallback's RecordingUrl serves from the recordings
// directory holds both, the mix everyone heard.
func TestConferenceRecordTwoPhones(t *testing.T) {
	const firstTone, secondTone = 1200.0, 1700.0 // above the hold music, apart from each other
	a := newApp(t, map[string]string{
		"/voice": `<Response><Dial><Conference beep="false" record="record-from-start" ` +
			`recordingStatusCallback="/recstatus" recordingStatusCallbackEvent="in-progress completed">room</Conference></Dial></Response>`,
		"/recstatus": ``,
	})
	s := startServe(t, a.srv.URL+"/voice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	start := time.Now().Add(1500 * time.Millisecond) // both are in the room by then
	var wg sync.WaitGroup
	for i, f := range []float64{firstTone, secondTone} {
		c := sipphone.New(t).Call(ctx, s.sipAddr, "room", sipphone.CallOptions{})
		if c.FinalCode() != 200 {
			t.Fatalf("phone %d got %d", i, c.FinalCode())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Listen(time.Until(start.Add(time.Duration(i) * 1500 * time.Millisecond)))
			c.Tone(f, time.Second)
			c.Listen(time.Until(start.Add(3500 * time.Millisecond)))
			_ = c.Hangup()
		}()
		time.Sleep(300 * time.Millisecond)
	}
	wg.Wait()

	done, began := waitStatus(t, a, "completed"), waitStatus(t, a, "in-progress")
	sid := done.Get("RecordingSid")
	wantURL := "http://" + s.httpLn.Addr().String() + "/2010-04-01/Accounts/" + done.Get("AccountSid") + "/Recordings/" + sid
	switch {
	case done.Get("RecordingUrl") != wantURL || done.Get("RecordingSource") != "DialConference" ||
		done.Get("RecordingChannels") != "1" || !strings.HasPrefix(done.Get("ConferenceSid"), "CF"):
		t.Errorf("completed callback %v, want DialConference, 1 channel, RecordingUrl %s", done, wantURL)
	case began.Get("RecordingSid") != sid || began.Get("ConferenceSid") != done.Get("ConferenceSid"):
		t.Errorf("in-progress %v and completed %v name different recordings", began, done)
	}
	if d, err := strconv.Atoi(done.Get("RecordingDuration")); err != nil || d < 2 || d > 5 {
		t.Errorf("RecordingDuration %q, want about the 2.5 s from the first tone to the end of the second", done.Get("RecordingDuration"))
	}
	if _, err := os.Stat(filepath.Join(s.f.recordingsDir, sid+".wav")); err != nil {
		t.Errorf("the recording is not in the recordings directory: %v", err)
	}
	w := parseAnyWAV(t, getRecording(t, wantURL, ""))
	if w.channels != 1 {
		t.Fatalf("%d channels, want 1", w.channels)
	}
	for _, f := range []float64{firstTone, secondTone} {
		if !sipphone.HasTone(w.samples, f) {
			t.Errorf("the recording (%d samples) lacks the %v Hz tone", len(w.samples), f)
		}
	}
}

// waitStatus waits for the recording status callback of status.
func waitStatus(t *testing.T, a *app, status string) url.Values {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		a.mu.Lock()
		for i, p := range a.path {
			if p == "/recstatus" && a.got[i].Get("RecordingStatus") == status {
				v := a.got[i]
				a.mu.Unlock()
				return v
			}
		}
		a.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s recording status callback", status)
	return nil
}
