package signaling

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
	"github.com/texml/texml/interpreter"
)

// Tones the parties say in the call recording tests: one each, so that a
// channel's content tells whose it is.
const (
	callerTone = 600.0
	calleeTone = 1400.0
)

// recordedCall is a caller bridged to a callee through the Server, as
// <Dial> connects them, with both phones' talking under the test's
// control.
type recordedCall struct {
	h             *sipHarness
	caller        interpreter.Leg // the inbound leg
	callee        interpreter.Leg // the outbound leg
	callerPhone   *sipphone.Call
	calleeTalks   chan func(*sipphone.Call)
	stopBridge    func()
	recordingsDir string
}

func newRecordedCall(t *testing.T) *recordedCall {
	t.Helper()
	h := newSIPHarness(t)
	rc := &recordedCall{h: h, calleeTalks: make(chan func(*sipphone.Call), 1),
		recordingsDir: h.srv.cfg.Media.RecordingsDir}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)

	caller := sipphone.New(t)
	calls := make(chan *sipphone.Call, 1)
	go func() { calls <- caller.Call(ctx, h.addr, "recorded", sipphone.CallOptions{}) }()
	select {
	case got := <-h.legs:
		rc.caller = got.leg
	case <-ctx.Done():
		t.Fatal("the call never reached the handler")
	}
	rc.callerPhone = <-calls
	if rc.callerPhone.FinalCode() != 200 {
		t.Fatalf("the caller's call was answered with %d", rc.callerPhone.FinalCode())
	}
	t.Cleanup(func() { _ = rc.callerPhone.Hangup() })

	callee := sipphone.New(t)
	callee.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) {
		for {
			select {
			case talk := <-rc.calleeTalks:
				talk(c)
			case <-c.Done():
				return
			}
		}
	}})
	answered := make(chan interpreter.Leg, 1)
	att, err := h.srv.Dial(ctx, interpreter.Target{Kind: interpreter.SIPTarget, Addr: callee.URI("callee"),
		From: "+15550001111", CallSid: interpreter.NewSid("CA"), Timeout: 10 * time.Second},
		func(p interpreter.Progress) {
			if p.Kind == interpreter.Answered {
				answered <- p.Leg
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(att.Cancel)
	select {
	case rc.callee = <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("the callee did not answer")
	}
	rc.stopBridge, err = rc.caller.Bridge(rc.callee)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.stopBridge)
	return rc
}

// record records the bridged call: lead of silence, then the caller
// says callerTone for 1 s and the callee calleeTone from 0.5 s to 1.5 s,
// then tail of silence. It returns the recording and its file (nil when
// Empty).
func (rc *recordedCall) record(t *testing.T, spec interpreter.CallRecordSpec, lead, tail time.Duration) (interpreter.Recording, []byte) {
	t.Helper()
	spec.Sid = interpreter.NewSid("RE")
	rec, err := rc.caller.RecordCall(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Peer(rc.callee); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(lead)
	calleeDone := make(chan struct{})
	rc.calleeTalks <- func(c *sipphone.Call) {
		defer close(calleeDone)
		time.Sleep(time.Until(start.Add(500 * time.Millisecond)))
		c.Tone(calleeTone, time.Second)
	}
	time.Sleep(time.Until(start))
	rc.callerPhone.Tone(callerTone, time.Second)
	<-calleeDone
	time.Sleep(tail)
	got, err := rec.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if got.Empty {
		return got, nil
	}
	data, err := os.ReadFile(RecordingPath(rc.recordingsDir, spec.Sid))
	if err != nil {
		t.Fatal(err)
	}
	return got, data
}

// wavChannels splits a recording's data chunk into its channels.
func wavChannels(t *testing.T, data []byte) [][]int16 {
	t.Helper()
	le := binary.LittleEndian
	if len(data) < 44 || string(data[:4]) != "RIFF" || string(data[36:40]) != "data" || le.Uint32(data[24:]) != 8000 {
		t.Fatalf("not an 8 kHz WAV file this package writes: % x", data[:min(44, len(data))])
	}
	ch := int(le.Uint16(data[22:]))
	pcm := data[44 : 44+int(le.Uint32(data[40:]))]
	out := make([][]int16, ch)
	for i := 0; i+2*ch <= len(pcm); i += 2 * ch {
		for c := range ch {
			out[c] = append(out[c], int16(le.Uint16(pcm[i+2*c:])))
		}
	}
	return out
}

// onset is when s starts 100 ms of freq (to 12.5 ms), -1 if it never
// does.
func onset(s []int16, freq float64) time.Duration {
	const win = 800
	for i := 0; i+win <= len(s); i += win / 8 {
		if sipphone.HasTone(s[i:i+win], freq) {
			return time.Duration(i) * time.Second / 8000
		}
	}
	return -1
}

func TestRecordCallDualPutsTheCallerLeftAndTheCalleeRight(t *testing.T) {
	rc := newRecordedCall(t)
	got, data := rc.record(t, interpreter.CallRecordSpec{Dual: true}, 200*time.Millisecond, 300*time.Millisecond)
	chans := wavChannels(t, data)
	if len(chans) != 2 {
		t.Fatalf("%d channels, want 2", len(chans))
	}
	left, right := chans[0], chans[1]
	if d := time.Duration(len(left)) * time.Second / 8000; d != got.Duration || d < 1900*time.Millisecond || d > 2500*time.Millisecond {
		t.Errorf("%v of audio, Duration %v; want the same, about 2 s", d, got.Duration)
	}
	if !sipphone.HasTone(left, callerTone) || sipphone.HasTone(left, calleeTone) {
		t.Errorf("left channel: caller's tone %v, callee's %v; want only the caller's", sipphone.HasTone(left, callerTone), sipphone.HasTone(left, calleeTone))
	}
	if !sipphone.HasTone(right, calleeTone) || sipphone.HasTone(right, callerTone) {
		t.Errorf("right channel: callee's tone %v, caller's %v; want only the callee's", sipphone.HasTone(right, calleeTone), sipphone.HasTone(right, callerTone))
	}
	// The channels are in step: the callee started 500 ms after the caller.
	if gap := onset(right, calleeTone) - onset(left, callerTone); gap < 350*time.Millisecond || gap > 650*time.Millisecond {
		t.Errorf("the callee's tone starts %v after the caller's, want about 500 ms", gap)
	}
}

func TestRecordCallMonoMixesBoth(t *testing.T) {
	rc := newRecordedCall(t)
	_, data := rc.record(t, interpreter.CallRecordSpec{}, 200*time.Millisecond, 300*time.Millisecond)
	chans := wavChannels(t, data)
	if len(chans) != 1 {
		t.Fatalf("%d channels, want 1", len(chans))
	}
	if !sipphone.HasTone(chans[0], callerTone) || !sipphone.HasTone(chans[0], calleeTone) {
		t.Errorf("caller's tone %v, callee's %v; want both mixed", sipphone.HasTone(chans[0], callerTone), sipphone.HasTone(chans[0], calleeTone))
	}
}

func TestRecordCallTracks(t *testing.T) {
	rc := newRecordedCall(t)
	_, in := rc.record(t, interpreter.CallRecordSpec{Track: interpreter.TrackInbound}, 100*time.Millisecond, 100*time.Millisecond)
	if s := wavChannels(t, in)[0]; !sipphone.HasTone(s, callerTone) || sipphone.HasTone(s, calleeTone) {
		t.Error("recordingTrack=inbound: want what the caller says, and only that")
	}
	_, out := rc.record(t, interpreter.CallRecordSpec{Track: interpreter.TrackOutbound}, 100*time.Millisecond, 100*time.Millisecond)
	if s := wavChannels(t, out)[0]; !sipphone.HasTone(s, calleeTone) || sipphone.HasTone(s, callerTone) {
		t.Error("recordingTrack=outbound: want what the caller hears, and only that")
	}
}

func TestRecordCallTrimsSilence(t *testing.T) {
	rc := newRecordedCall(t)
	// A second of silence before and after 1.5 s of tones.
	got, data := rc.record(t, interpreter.CallRecordSpec{Dual: true, Trim: true}, time.Second, time.Second)
	chans := wavChannels(t, data)
	d := time.Duration(len(chans[0])) * time.Second / 8000
	if d != got.Duration || d < 1400*time.Millisecond || d > 2*time.Second {
		t.Errorf("trimmed to %v (Duration %v), want the 1.5 s of tones and a little margin", d, got.Duration)
	}
	if on := onset(chans[0], callerTone); on < 0 || on > 250*time.Millisecond {
		t.Errorf("the caller's tone starts %v into the trimmed recording, want at once", on)
	}
	if !sipphone.HasTone(chans[1], calleeTone) {
		t.Error("the trim lost the callee's tone")
	}
}

func TestRecordCallOfSilenceTrimsToNothing(t *testing.T) {
	rc := newRecordedCall(t)
	rec, err := rc.caller.RecordCall(interpreter.CallRecordSpec{Sid: interpreter.NewSid("RE"), Trim: true})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	got, err := rec.Stop()
	if err != nil || !got.Empty || got.Duration != 0 {
		t.Errorf("Stop = %+v, %v; want an empty recording", got, err)
	}
	entries, _ := os.ReadDir(rc.recordingsDir)
	if len(entries) != 0 {
		t.Errorf("an empty recording left %d files", len(entries))
	}
}

func TestRecordCallWritesItsInfo(t *testing.T) {
	rc := newRecordedCall(t)
	before := time.Now()
	spec := interpreter.CallRecordSpec{Dual: true, AccountSid: "AC" + strings.Repeat("1", 32), CallSid: "CA" + strings.Repeat("2", 32)}
	got, _ := rc.record(t, spec, 200*time.Millisecond, 300*time.Millisecond)
	entries, err := os.ReadDir(rc.recordingsDir)
	if err != nil {
		t.Fatal(err)
	}
	var sid string
	for _, e := range entries {
		if s, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			sid = s
		}
	}
	if sid == "" {
		t.Fatalf("no sidecar among %v", entries)
	}
	info, err := ReadRecordingInfo(rc.recordingsDir, sid)
	if err != nil {
		t.Fatal(err)
	}
	want := RecordingInfo{Sid: sid, AccountSid: spec.AccountSid, CallSid: spec.CallSid, Source: "DialVerb", Channels: 2,
		StartTime: info.StartTime, DurationMS: got.Duration.Milliseconds()}
	if info != want || info.StartTime.Before(before) || info.StartTime.After(time.Now()) {
		t.Errorf("info %+v, want %+v started after %v", info, want, before)
	}
}

func TestRecordingInfoMissing(t *testing.T) {
	if _, err := ReadRecordingInfo(t.TempDir(), "RE"+strings.Repeat("0", 32)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err %v, want fs.ErrNotExist", err)
	}
}
