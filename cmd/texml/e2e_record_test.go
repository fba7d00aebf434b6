package main

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// sentence is about two seconds of speech for the caller to record.
const sentence = "one two three four five six"

// wavFile is a parsed WAV recording.
type wavFile struct {
	rate, channels, bits int
	samples              []int16
}

func (w wavFile) duration() time.Duration {
	return time.Duration(len(w.samples)/max(w.channels, 1)) * time.Second / time.Duration(w.rate)
}

// parseWAV reads a mono PCM WAV file, chunk by chunk, written here apart
// from texml's decoder.
func parseWAV(t *testing.T, data []byte) wavFile {
	t.Helper()
	w := parseAnyWAV(t, data)
	if w.channels != 1 {
		t.Fatalf("WAV with %d channels; want mono", w.channels)
	}
	return w
}

// parseAnyWAV is parseWAV for mono or stereo files; stereo samples stay
// interleaved.
func parseAnyWAV(t *testing.T, data []byte) wavFile {
	t.Helper()
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		t.Fatalf("not a WAV file: %q", data[:min(len(data), 16)])
	}
	var w wavFile
	for off := 12; off+8 <= len(data); {
		id, size := string(data[off:off+4]), int(binary.LittleEndian.Uint32(data[off+4:]))
		body := data[off+8 : min(off+8+size, len(data))]
		switch id {
		case "fmt ":
			if binary.LittleEndian.Uint16(body) != 1 {
				t.Fatalf("WAV format %d, want PCM", binary.LittleEndian.Uint16(body))
			}
			w.channels = int(binary.LittleEndian.Uint16(body[2:]))
			w.rate = int(binary.LittleEndian.Uint32(body[4:]))
			w.bits = int(binary.LittleEndian.Uint16(body[14:]))
		case "data":
			for i := 0; i+1 < len(body); i += 2 {
				w.samples = append(w.samples, int16(binary.LittleEndian.Uint16(body[i:])))
			}
		}
		off += 8 + size + size%2
	}
	if w.rate != 8000 || (w.channels != 1 && w.channels != 2) || w.bits != 16 {
		t.Fatalf("WAV %d Hz, %d channels, %d bits; want 8000 Hz mono or stereo 16-bit", w.rate, w.channels, w.bits)
	}
	return w
}

// fetchRecording GETs a mono RecordingUrl (with suffix "" or ".wav").
func fetchRecording(t *testing.T, recURL, suffix string) wavFile {
	t.Helper()
	return parseWAV(t, getRecording(t, recURL, suffix))
}

// getRecording GETs a RecordingUrl (with suffix "" or ".wav") and returns
// the file.
func getRecording(t *testing.T, recURL, suffix string) []byte {
	t.Helper()
	code, body, h := httpGet(t, recURL+suffix)
	if code != 200 {
		t.Fatalf("GET %s%s: %d %s", recURL, suffix, code, body)
	}
	if ct := h.Get("Content-Type"); !strings.Contains(ct, "wav") {
		t.Errorf("GET %s%s: Content-Type %q", recURL, suffix, ct)
	}
	return body
}

func abs(d time.Duration) time.Duration { return max(d, -d) }

// TestRecordTalkThenSilence: the caller hears the beep, talks for about
// two seconds and falls silent; the silence timeout ends the recording,
// trimmed to the speech, and the action, the status callback and our HTTP
// server all agree on it.
func TestRecordTalkThenSilence(t *testing.T) {
	a := newApp(t, map[string]string{
		"/voice":     `<Response><Record action="/rec" timeout="2" maxLength="20" recordingStatusCallback="/recstatus"/></Response>`,
		"/rec":       `<Response><Hangup/></Response>`,
		"/recstatus": ``,
	})
	s := startServe(t, a.srv.URL+"/voice")
	voice := speak(t, sentence)
	spoken := spokenLength(voice)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var talkedAt, stoppedAt time.Duration
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, time.Second, func(c *sipphone.Call) {
		c.Silence(800 * time.Millisecond) // the beep: 500 ms
		talkedAt = c.Duration()
		c.Talk(voice)
		stoppedAt = c.Duration()
		c.Listen(8 * time.Second)
	})
	if c.FinalCode() != 200 || !c.RemoteHangup() {
		t.Fatalf("answer %d, texml hung up %v", c.FinalCode(), c.RemoteHangup())
	}
	// The beep (1 kHz, 500 ms) is all the phone hears, and it comes
	// before the caller talks.
	heard := c.Audio()
	if f := sipphone.DominantFreq(heard); math.Abs(f-1000) > 50 {
		t.Errorf("heard %.0f Hz, want the 1 kHz beep", f)
	}
	if v := sipphone.VoicedTime(heard); v < 400*time.Millisecond || v > 600*time.Millisecond {
		t.Errorf("heard %v of audio, want the 500 ms beep", v)
	}
	if b := sipphone.VoicedTime(heard[:min(len(heard), int(talkedAt.Seconds()*8000))]); b < 400*time.Millisecond {
		t.Errorf("only %v of beep before the caller talked", b)
	}
	// Silence (2 s) ended it, not the caller: the call ends about 2 s
	// after the talking.
	if d := c.Duration(); d < stoppedAt+1500*time.Millisecond || d > stoppedAt+4*time.Second {
		t.Errorf("call ended %v after talking stopped, want about 2 s (the timeout)", d-stoppedAt)
	}

	p, ok := a.request("/rec")
	if !ok {
		t.Fatal("Record action never requested")
	}
	sid := p.Get("RecordingSid")
	if !regexp.MustCompile(`^RE[0-9a-f]{32}$`).MatchString(sid) {
		t.Errorf("RecordingSid %q", sid)
	}
	wantURL := "http://" + s.httpLn.Addr().String() + "/2010-04-01/Accounts/" + p.Get("AccountSid") + "/Recordings/" + sid
	if p.Get("RecordingUrl") != wantURL {
		t.Errorf("RecordingUrl %q, want %q", p.Get("RecordingUrl"), wantURL)
	}
	if p.Has("Digits") {
		t.Errorf("Digits %q, want none when silence ends the recording", p.Get("Digits"))
	}
	dur, err := strconv.Atoi(p.Get("RecordingDuration"))
	if err != nil || abs(time.Duration(dur)*time.Second-spoken) > 700*time.Millisecond {
		t.Errorf("RecordingDuration %q, want about %v (the speech, silence trimmed)", p.Get("RecordingDuration"), spoken)
	}
	for _, suffix := range []string{"", ".wav"} {
		w := fetchRecording(t, wantURL, suffix)
		// Trimmed: the speech plus at most 100 ms of margin at each end;
		// untrimmed it would also hold the 2 s of silence.
		if d := w.duration(); d < spoken-100*time.Millisecond || d > spoken+400*time.Millisecond {
			t.Errorf("GET %s: %v of audio, want about %v", suffix, d, spoken)
		}
		if f := sipphone.DominantFreq(w.samples); math.Abs(f-1000) < 100 {
			t.Errorf("the recording holds the beep (%.0f Hz)", f)
		}
	}
	st, ok := a.waitRequest(t, "/recstatus", 5*time.Second)
	switch {
	case !ok:
		t.Error("recordingStatusCallback never requested")
	case st.Get("RecordingStatus") != "completed" || st.Get("RecordingSid") != sid ||
		st.Get("RecordingUrl") != wantURL || st.Get("RecordingDuration") != p.Get("RecordingDuration"):
		t.Errorf("recording status callback %v, want completed for %s", st, sid)
	}
}

// TestRecordFinishOnKey ends a recording with # sent as RFC 4733.
func TestRecordFinishOnKey(t *testing.T) {
	a := newApp(t, map[string]string{
		"/voice": `<Response><Record action="/rec" timeout="10" finishOnKey="#" playBeep="false"/></Response>`,
		"/rec":   `<Response><Hangup/></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice")
	voice := speak(t, sentence)
	var pressed time.Duration
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 8*time.Second, func(c *sipphone.Call) {
		c.Silence(200 * time.Millisecond)
		c.Talk(voice)
		if err := c.DTMF("#"); err != nil {
			t.Error(err)
		}
		pressed = c.Duration()
		c.Listen(8 * time.Second)
	})
	if !c.RemoteHangup() || c.Duration() > pressed+2*time.Second {
		t.Errorf("call ended %v after the key (by texml: %v), want at once", c.Duration()-pressed, c.RemoteHangup())
	}
	p, ok := a.request("/rec")
	if !ok || p.Get("Digits") != "#" || p.Get("RecordingUrl") == "" {
		t.Fatalf("action %v (requested %v), want Digits=# and a RecordingUrl", p, ok)
	}
	w := fetchRecording(t, p.Get("RecordingUrl"), "")
	if d, spoken := w.duration(), spokenLength(voice); d < spoken-100*time.Millisecond || d > spoken+400*time.Millisecond {
		t.Errorf("recorded %v, want about %v", d, spoken)
	}
}

// TestRecordCallerHangsUp: the caller hangs up in the middle of talking.
// The action is still requested, with Digits=hangup, and what was said up
// to the BYE is in the file.
func TestRecordCallerHangsUp(t *testing.T) {
	a := newApp(t, map[string]string{
		"/voice": `<Response><Record action="/rec" timeout="5" playBeep="false"/></Response>`,
		"/rec":   `<Response><Say>never played</Say></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice")
	voice := speak(t, "one two three four five six seven eight nine ten")
	said := voice[:int(1.6*8000)] // cut off mid-sentence
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 0, func(c *sipphone.Call) {
		c.Talk(said)
	})
	if c.FinalCode() != 200 || c.RemoteHangup() {
		t.Fatalf("answer %d; texml hung up before the caller did: %v", c.FinalCode(), c.RemoteHangup())
	}
	p, ok := a.waitRequest(t, "/rec", 5*time.Second)
	if !ok || p.Get("Digits") != "hangup" {
		t.Fatalf("action %v (requested %v), want Digits=hangup", p, ok)
	}
	sid := p.Get("RecordingSid")
	if _, err := os.Stat(filepath.Join(s.f.recordingsDir, sid+".wav")); err != nil {
		t.Errorf("recording file: %v", err)
	}
	w := fetchRecording(t, p.Get("RecordingUrl"), ".wav")
	// Everything up to the BYE: the speech in the cut-off audio, give or
	// take a packet or two in flight.
	if d, spoken := w.duration(), spokenLength(said); d < spoken-100*time.Millisecond {
		t.Errorf("recorded %v of the %v said before hanging up", d, spoken)
	}
	if v := sipphone.VoicedTime(w.samples); v < spokenLength(said)/2 {
		t.Errorf("the recording has only %v of voiced audio", v)
	}
	waitIdle(t, s)
}

// TestRecordSilentCaller: a caller who says nothing, whether the phone
// sends silent packets or none at all (silence suppression), leaves an
// empty recording: no action, no file, and the document goes on.
func TestRecordSilentCaller(t *testing.T) {
	a := newApp(t, map[string]string{
		"/voice": `<Response><Record action="/rec" timeout="2" playBeep="false"/><Redirect>/after</Redirect></Response>`,
		"/rec":   `<Response><Hangup/></Response>`,
		"/after": `<Response><Hangup/></Response>`,
	})
	s := startServe(t, a.srv.URL+"/voice")
	for _, tt := range []struct {
		name   string
		listen func(c *sipphone.Call)
	}{
		{"silent packets", func(c *sipphone.Call) { c.Listen(8 * time.Second) }},
		{"no packets", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			before := len(a.requests("/after"))
			c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, 8*time.Second, tt.listen)
			if d := c.Duration(); !c.RemoteHangup() || d < 1500*time.Millisecond || d > 4*time.Second {
				t.Errorf("call ended after %v (by texml: %v), want about 2 s (the timeout)", d, c.RemoteHangup())
			}
			if n := len(a.requests("/after")); n != before+1 {
				t.Errorf("the document did not go on after the empty recording")
			}
			if got := a.requests("/rec"); len(got) != 0 {
				t.Errorf("action requested for an empty recording: %v", got)
			}
			files, _ := filepath.Glob(filepath.Join(s.f.recordingsDir, "*"))
			if len(files) != 0 {
				t.Errorf("empty recording left files: %v", files)
			}
		})
	}
}
