package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/interpreter"
)

// TestCallTranscriptParallelDial pins the readable transcript of a Dial
// that rings three parties at once: each party's events are indented and
// named, and the fork, early-media, bridge, unbridge and dialed events read
// as sentences.
func TestCallTranscriptParallelDial(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"voice.xml": `<Response><Dial action="after.xml" timeout="20" hangupOnStar="true">` +
			`<Number>+15551230001</Number>` +
			`<Number url="whisper.xml" sendDigits="12">+15551230002</Number>` +
			`<Client>carol</Client>` +
			`</Dial></Response>`,
		"whisper.xml": `<Response><Say>Call for you</Say></Response>`,
		"after.xml":   `<Response><Say>Back with the app</Say></Response>`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, stderr := texml(t, "call", filepath.Join(dir, "voice.xml"),
		"--callee", "+15551230001=ring:2,busy",
		"--callee", "+15551230002=ring:4,answer",
		"--callee", "client:carol=early,no-answer",
		"--input", "dtmf:*@12000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	base := "file://" + filepath.ToSlash(dir)
	if !strings.HasPrefix(base, "file:///") {
		base = "file:///" + strings.TrimPrefix(base, "file://")
	}
	out = strings.ReplaceAll(out, base, "file:///APP")
	out = regexp.MustCompile(`CA[0-9a-f]{32}`).ReplaceAllString(out, "CA…")
	want := `[   0.00s] → POST file:///APP/voice.xml (200)
[   0.00s] answered
[   0.00s] Dial Number:+15551230001, Number:+15551230002, Client:carol (ring 20s, in parallel)
[   0.00s]   Number:+15551230001 | calling
[   0.00s]   Number:+15551230002 | calling
[   0.00s]   Client:carol | calling
[   0.00s]   Number:+15551230001 | ringing (180)
[   0.00s]   Number:+15551230002 | ringing (180)
[   0.00s]   Client:carol | ringing, with early media (183)
[   0.00s]   Client:carol | caller hears its early media
[   2.00s]   Number:+15551230001 | busy (486)
[   4.00s]   Number:+15551230002 | answered
[   4.00s]   Number:+15551230002 | Send DTMF 12
[   4.20s]   Number:+15551230002 | → POST file:///APP/whisper.xml (200)
[   4.20s]   Number:+15551230002 | Say (man, en-US): "Call for you"
[   4.92s]   Client:carol | canceled
[   4.92s]   Number:+15551230002 | connected to the caller
[  12.00s] caller: dtmf:*@12000
[  12.00s] caller pressed * (hangupOnStar)
[  12.00s]   Number:+15551230002 | disconnected from the caller after 7s (hangup-on-star)
[  12.00s]   Number:+15551230002 | completed
[  12.00s] Dial ended: completed, dialed call lasted 8s
[  12.00s] → POST file:///APP/after.xml (200) DialBridged=true DialCallDuration=8 DialCallSid=CA… DialCallStatus=completed
[  12.00s] Say (man, en-US): "Back with the app"
[  13.02s] hangup: end-of-document
call ended: status completed, reason end-of-document, duration 13s (virtual call length 13.0s)
`
	if out != want {
		t.Errorf("transcript:\n%s\nwant:\n%s", out, want)
	}
}

// TestCallTranscriptMachineDetection: a simulated callee answers with a
// voicemail greeting and a beep; the transcript says what the detector
// decided, on the callee's line, when the beep ended.
func TestCallTranscriptMachineDetection(t *testing.T) {
	dir := t.TempDir()
	voice := filepath.Join(dir, "voice.xml")
	doc := `<Response><Dial><Number machineDetection="DetectMessageEnd">+15551230000</Number></Dial></Response>`
	if err := os.WriteFile(voice, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := texml(t, "call", voice, "--callee", "+15551230000=ring:3,machine:8:beep,talk:15")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, line := range []string{
		"[   3.00s]   Number:+15551230000 | answered\n",
		"[  11.82s]   Number:+15551230000 | answered by machine_end_beep (machine detection, 8.82s)\n",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("the transcript lacks %q:\n%s", line, out)
		}
	}
}

// TestPrintStreamClear pins the transcript line of an app's clear on a
// bidirectional stream, which drops the audio it had queued
// (https://www.twilio.com/docs/voice/media-streams/websocket-messages#send-a-clear-message):
// the README's Media streams section says a simulated call accounts
// clears in virtual time. The event's fields are the interpreter's
// (mediaStream.event: state clear, the stream's sid, dropped_ms); --trace
// json keeps them as they are.
func TestPrintStreamClear(t *testing.T) {
	e := interpreter.Event{Name: "stream", T: 1500 * time.Millisecond,
		Fields: map[string]any{"state": "clear", "sid": "MZ" + strings.Repeat("1", 32), "dropped_ms": int64(840)}}
	var text, js strings.Builder
	newPrinter(&text, false).Trace(e)
	if got, want := text.String(), "[   1.50s] stream: clear drops 840 ms\n"; got != want {
		t.Errorf("transcript line %q, want %q", got, want)
	}
	newPrinter(&js, true).Trace(e)
	if got, want := js.String(), `{"dropped_ms":840,"event":"stream","sid":"MZ11111111111111111111111111111111","state":"clear","t_ms":1500}`+"\n"; got != want {
		t.Errorf("json line %s, want %s", got, want)
	}
}
