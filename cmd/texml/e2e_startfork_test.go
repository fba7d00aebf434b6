package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// TestStartRecordingAndTranscription runs <Start><Recording> and
// <Start><Transcription> on a real call through texml serve
// (https://www.twilio.com/docs/voice/twiml/recording,
// https://www.twilio.com/docs/voice/twiml/transcription): the caller
// says a word (espeak-ng) while the document pauses; pocketsphinx's
// transcript of it reaches the transcription-content callback, and the
// recording, stopped by the call's end, is a two-channel file with the
// caller on the left and what it heard (silence) on the right, reported
// completed with RecordingSource StartCallRecordingTwiML.
func TestStartRecordingAndTranscription(t *testing.T) {
	a := newApp(t, map[string]string{
		"/voice": `<Response><Start><Recording name="rec" channels="dual" recordingStatusCallback="/rec"/>` +
			`<Transcription name="tr" track="inbound_track" hints="sales, support, billing" partialResults="true" statusCallbackUrl="/tr"/></Start>` +
			`<Pause length="5"/><Hangup/></Response>`,
		"/rec": ``,
		"/tr":  ``,
	})
	s := startSpeechServe(t, a.srv.URL+"/voice")
	voice := speak(t, "billing")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 10*time.Second, func(c *sipphone.Call) {
		c.Silence(time.Second)
		c.Talk(voice)
		c.Listen(8 * time.Second)
	})
	if c.FinalCode() != 200 || !c.RemoteHangup() {
		t.Fatalf("answer %d, texml hung up %v", c.FinalCode(), c.RemoteHangup())
	}

	// The recording: completed at the call's end, two channels.
	st, ok := a.waitRequest(t, "/rec", 5*time.Second)
	if !ok {
		t.Fatal("recordingStatusCallback never requested")
	}
	if st.Get("RecordingStatus") != "completed" || st.Get("RecordingSource") != "StartCallRecordingTwiML" ||
		st.Get("RecordingChannels") != "2" || !strings.HasPrefix(st.Get("RecordingSid"), "RE") {
		t.Errorf("recording status callback %v, want completed, 2 channels, StartCallRecordingTwiML", st)
	}
	w := parseAnyWAV(t, getRecording(t, st.Get("RecordingUrl"), ".wav"))
	if w.channels != 2 {
		t.Fatalf("%d channels, want 2", w.channels)
	}
	if d := w.duration(); d < 4*time.Second || d > 7*time.Second {
		t.Errorf("recording lasts %v, want about the 5 s pause", d)
	}
	var l, r []int16
	for i := 0; i+1 < len(w.samples); i += 2 {
		l, r = append(l, w.samples[i]), append(r, w.samples[i+1])
	}
	if v := sipphone.VoicedTime(l); v < 300*time.Millisecond {
		t.Errorf("left channel (the caller) voiced %v, want the word", v)
	}
	if v := sipphone.VoicedTime(r); v > 100*time.Millisecond {
		t.Errorf("right channel (what the caller heard: a pause) voiced %v, want silence", v)
	}

	// The transcription: started, partial results, the word, stopped.
	deadline := time.Now().Add(5 * time.Second)
	var events []string
	var heard string
	partials := 0
	for time.Now().Before(deadline) {
		events, heard, partials = nil, "", 0
		for _, p := range a.requests("/tr") {
			events = append(events, p.Get("TranscriptionEvent"))
			if p.Get("TranscriptionEvent") != "transcription-content" {
				continue
			}
			var data struct {
				Transcript string  `json:"transcript"`
				Confidence float64 `json:"confidence"`
			}
			if err := json.Unmarshal([]byte(p.Get("TranscriptionData")), &data); err != nil {
				t.Fatalf("TranscriptionData %q: %v", p.Get("TranscriptionData"), err)
			}
			if p.Get("Track") != "inbound_track" || data.Confidence <= 0 || data.Confidence > 1 {
				t.Errorf("transcription-content %v", p)
			}
			if p.Get("Final") == "false" {
				// partialResults: the speech so far, while it goes on.
				partials++
				continue
			}
			heard += data.Transcript + " "
		}
		if strings.Contains(strings.Join(events, " "), "transcription-stopped") {
			break
		}
		time.Sleep(50 * time.Millisecond) // the callbacks are asynchronous, as in waitRequest
	}
	t.Logf("transcription callbacks %v; heard %q, %d partial results", events, heard, partials)
	if partials == 0 {
		t.Error("no partial result (Final=false) while the caller spoke, with partialResults")
	}
	if !strings.Contains(strings.Join(events, " "), "transcription-started") || !strings.Contains(strings.Join(events, " "), "transcription-stopped") {
		t.Errorf("transcription events %v, want started and stopped", events)
	}
	if !strings.Contains(strings.ToLower(heard), "billing") {
		t.Errorf("transcripts %q, want billing", heard)
	}
	waitIdle(t, s)
}
