package main

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// Real-call tests of <Dial> forms that the simulator and the conformance
// suite cover but no call through the server did: the Go test phone (or
// SIPp) calls texml, whose app dials another test phone (or SIPp), and
// the test checks what each side heard and what the app was told.

// formCall is one call into a texml service answering with docs (the
// Dial in "/voice", its action "/dialed" hanging up unless docs say
// otherwise), started with extra serve flags. The caller runs act once
// answered and holds the line up to hold. pre is the audio the caller
// received before texml's final response: ringback and early media.
type formCall struct {
	app    *app
	caller *sipphone.Call
	pre    []int16
}

func placeFormCall(t *testing.T, docs map[string]string, flags []string, hold time.Duration, act func(c *sipphone.Call)) formCall {
	t.Helper()
	all := map[string]string{"/dialed": `<Response><Hangup/></Response>`}
	for k, v := range docs {
		all[k] = v
	}
	a := newApp(t, all)
	s := startServe(t, a.srv.URL+"/voice", flags...)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	c := sipphone.New(t).Call(ctx, s.sipAddr, "test", sipphone.CallOptions{})
	// Call returns at the final response: what was recorded until now
	// is what the caller heard while it was not answered.
	pre := c.Audio()
	if c.FinalCode() != 200 {
		t.Fatalf("caller got %d, want 200", c.FinalCode())
	}
	if act != nil {
		act(c)
	}
	_ = c.HangupAfter(hold) // texml's BYE may cross ours
	return formCall{app: a, caller: c, pre: pre}
}

// trunkTo is the serve flag that routes every <Number> to a callee.
func trunkTo(addr string) []string { return []string{"--sip-trunk", "sip:" + addr} }

// TestDialFormsAnswerOnBridge: with answerOnBridge the caller gets no
// 200 OK until the callee answers, but hears something meanwhile, over
// texml's 183 with SDP: the callee's early media when it sends some, the
// ringTone's ringback when it only rings (180 without SDP).
func TestDialFormsAnswerOnBridge(t *testing.T) {
	tests := []struct {
		name   string
		attrs  string
		callee sipphone.Behaviour
		ring   time.Duration // the callee answers after this
		check  func(t *testing.T, pre []int16)
	}{
		{name: "callee-early-media", callee: sipphone.Behaviour{EarlyMedia: 1200},
			ring: 3 * time.Second, check: func(t *testing.T, pre []int16) {
				// 150 frames of 1,200 Hz were sent; texml's own ringback
				// fills the time before the callee's 183.
				if got := toneFrames(pre, 1200); got < 75 {
					t.Errorf("before the answer the caller heard the callee's 1,200 Hz early media in %d frames, want at least 75 of the 150 sent", got)
				}
			}},
		{name: "ringback-us", attrs: ` ringTone="us"`, callee: sipphone.Behaviour{},
			ring: 4500 * time.Millisecond, check: func(t *testing.T, pre []int16) {
				// E.180 US ringback: 440+480 Hz, 2 s on, 4 s off. The callee
				// answers 4.5 s in, so the caller heard one burst and the
				// start of the pause.
				on, off := ringCadence(pre)
				if on < 1200*time.Millisecond || on > 2500*time.Millisecond {
					t.Errorf("the first 440+480 Hz burst lasted %v, want the US cadence's 2 s", on)
				}
				if off < time.Second {
					t.Errorf("the ringback paused %v after its burst, want at least 1 s (US cadence: 4 s off)", off)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			callee := sipphone.New(t)
			b := tc.callee
			b.Ring = tc.ring
			b.Then = func(c *sipphone.Call) { c.Listen(20 * time.Second) }
			callee.Answer(b)
			fc := placeFormCall(t, map[string]string{
				"/voice": fmt.Sprintf(`<Response><Dial action="/dialed" answerOnBridge="true"%s><Sip>%s</Sip></Dial></Response>`, tc.attrs, callee.URI("agent")),
			}, nil, 2*time.Second, nil)
			if d := fc.caller.AnswerDelay(); d < tc.ring-300*time.Millisecond {
				t.Errorf("the caller was answered %v after its INVITE, before the callee answered (%v)", d, tc.ring)
			}
			early := false
			for _, r := range fc.caller.ProvisionalResponses() {
				if r.StatusCode == 183 && strings.Contains(string(r.Body()), "m=audio") {
					early = true
				}
			}
			if !early {
				t.Errorf("the caller got provisional responses %v and none was a 183 with SDP", fc.caller.Provisional())
			}
			tc.check(t, fc.pre)
			if p := waitRequest(t, fc.app, "/dialed", 20*time.Second); p.Get("DialCallStatus") != "completed" {
				t.Errorf("DialCallStatus=%q, want completed", p.Get("DialCallStatus"))
			}
		})
	}
}

// ringCadence measures US ringback in s, in 50 ms windows: how long its
// first run of 440+480 Hz lasted (on), and the silence right after it
// (off). A window counts as ringback when both frequencies carry a large
// part of its power, which a single tone (425 Hz, say) does not.
func ringCadence(s []int16) (on, off time.Duration) {
	const win = 400 // 50 ms
	const step = 50 * time.Millisecond
	state := 0 // 0 before the burst, 1 in it, 2 in the pause after it
	for i := 0; i+win <= len(s); i += win {
		w := s[i : i+win]
		var sum float64
		for _, v := range w {
			x := float64(v) / 32768
			sum += x * x
		}
		ms := sum / win
		silent := ms < 1e-4 // -40 dBFS
		ring := !silent && sipphone.Goertzel(w, 440) >= ms/2 && sipphone.Goertzel(w, 480) >= ms/2
		switch {
		case state == 0 && ring:
			state, on = 1, step
		case state == 1 && ring:
			on += step
		case state == 1 && silent:
			state, off = 2, step
		case state == 1:
			// a window straddling the burst's ramp: neither
		case state == 2 && silent:
			off += step
		case state == 2:
			return on, off
		}
	}
	return on, off
}

// TestDialFormsTimeLimit: a bridge with timeLimit="2" ends about 2 s
// after the callee answers: the callee gets BYE, the action gets
// completed with DialCallDuration 2 and hangs up the caller.
func TestDialFormsTimeLimit(t *testing.T) {
	t.Parallel()
	callee := sipphone.New(t)
	callee.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) { c.Listen(30 * time.Second) }})
	fc := placeFormCall(t, map[string]string{
		"/voice": fmt.Sprintf(`<Response><Dial action="/dialed" timeLimit="2"><Sip>%s</Sip></Dial></Response>`, callee.URI("agent")),
	}, nil, 20*time.Second, nil)
	in := callee.Next(5 * time.Second)
	if !in.Wait(10 * time.Second) {
		t.Fatal("the callee's call did not end")
	}
	cc := in.Call()
	if !cc.RemoteHangup() {
		t.Error("the callee's call ended without texml's BYE")
	}
	if d := cc.Duration(); d < 1800*time.Millisecond || d > 4*time.Second {
		t.Errorf("the callee was bridged %v, want about the 2 s timeLimit", d)
	}
	if !fc.caller.RemoteHangup() || fc.caller.Duration() > 10*time.Second {
		t.Errorf("the caller: texml's BYE %v after %v, want the action's Hangup soon after the time limit", fc.caller.RemoteHangup(), fc.caller.Duration())
	}
	p := waitRequest(t, fc.app, "/dialed", 10*time.Second)
	if d, _ := strconv.Atoi(p.Get("DialCallDuration")); p.Get("DialCallStatus") != "completed" || d < 2 || d > 3 {
		t.Errorf("action DialCallStatus=%q DialCallDuration=%q, want completed and 2", p.Get("DialCallStatus"), p.Get("DialCallDuration"))
	}
}

// TestDialFormsSendDigits: <Number sendDigits> through a trunk plays the
// digits to the callee as RFC 4733 events once it has answered.
func TestDialFormsSendDigits(t *testing.T) {
	t.Parallel()
	callee := sipphone.New(t)
	type heard struct{ atAnswer, later string }
	got := make(chan heard, 1)
	callee.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) {
		h := heard{atAnswer: c.ReceivedDigits()}
		deadline := time.Now().Add(8 * time.Second)
		for !strings.Contains(c.ReceivedDigits(), "1234") && !c.Ended() && time.Now().Before(deadline) {
			c.Silence(100 * time.Millisecond) // listens, as a phone does
		}
		h.later = c.ReceivedDigits()
		got <- h
		// Then talks a while over the bridge, which comes once the
		// last digit's event has ended, and hangs up: the Dial ends
		// when the callee is done, not on the caller's timer.
		c.Listen(time.Second)
		_ = c.Hangup()
	}})
	fc := placeFormCall(t, map[string]string{
		"/voice": `<Response><Dial action="/dialed"><Number sendDigits="1234">+15551230000</Number></Dial></Response>`,
	}, trunkTo(callee.Addr()), 20*time.Second, nil)
	select {
	case h := <-got:
		if h.atAnswer != "" {
			t.Errorf("the callee had received %q before it answered", h.atAnswer)
		}
		if h.later != "1234" {
			t.Errorf("the callee received the events %q, want 1234", h.later)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the callee never answered")
	}
	if p := waitRequest(t, fc.app, "/dialed", 10*time.Second); p.Get("DialCallStatus") != "completed" {
		t.Errorf("DialCallStatus=%q, want completed", p.Get("DialCallStatus"))
	}
}

// TestDialFormsSequential: with sequential="true" the second noun is
// dialed only once the first has failed (486 Busy Here), and answers.
func TestDialFormsSequential(t *testing.T) {
	t.Parallel()
	busy, answer := sipphone.New(t), sipphone.New(t)
	busy.Answer(sipphone.Behaviour{Ring: 1500 * time.Millisecond, Reject: 486})
	// What the busy phone had answered when the second INVITE arrived.
	firstCode := make(chan int, 1)
	answer.OnInvite(func(in *sipphone.Incoming) {
		code := -1 // no INVITE at the busy phone yet
		if prior := busy.Incoming(); len(prior) > 0 {
			code = prior[0].Code()
		}
		firstCode <- code
		if in.Ring() != nil {
			return
		}
		if c, err := in.Accept(); err == nil {
			// Hangs up itself: the Dial ends with the bridge, not with
			// the caller's patience, however long the busy phone took.
			c.Listen(time.Second)
			_ = c.Hangup()
		}
	})
	fc := placeFormCall(t, map[string]string{
		"/voice": fmt.Sprintf(`<Response><Dial action="/dialed" sequential="true"><Sip>%s</Sip><Sip>%s</Sip></Dial></Response>`,
			busy.URI("first"), answer.URI("second")),
	}, nil, 20*time.Second, nil)
	select {
	case code := <-firstCode:
		if code != 486 {
			t.Errorf("the second noun was dialed while the first had answered %d, want after its 486", code)
		}
	default:
		t.Fatal("the second noun was never dialed")
	}
	p := waitRequest(t, fc.app, "/dialed", 10*time.Second)
	if p.Get("DialCallStatus") != "completed" || p.Get("DialBridged") != "true" {
		t.Errorf("action %v, want the second noun bridged", p)
	}
	if n := len(busy.Incoming()); n != 1 {
		t.Errorf("the first noun got %d INVITEs, want 1", n)
	}
}

// TestDialFormsChildStatusCallbacks: a <Number>'s statusCallback gets the
// child leg's initiated, ringing, answered and completed events, in order,
// as the child (its own CallSid, the caller's as ParentCallSid,
// Direction outbound-dial), the completed one with CallDuration and
// SipResponseCode.
func TestDialFormsChildStatusCallbacks(t *testing.T) {
	t.Parallel()
	callee := sipphone.New(t)
	callee.Answer(sipphone.Behaviour{Ring: 500 * time.Millisecond, HangupAfter: 2 * time.Second})
	fc := placeFormCall(t, map[string]string{
		"/voice": `<Response><Dial action="/dialed"><Number statusCallback="/child" statusCallbackEvent="initiated ringing answered completed">+15551230000</Number></Dial></Response>`,
	}, trunkTo(callee.Addr()), 15*time.Second, nil)
	parent := waitRequest(t, fc.app, "/voice", time.Second).Get("CallSid")
	dialed := waitRequest(t, fc.app, "/dialed", 10*time.Second)
	var events []url.Values
	deadline := time.Now().Add(10 * time.Second)
	for events = fc.app.requests("/child"); len(events) < 4 && time.Now().Before(deadline); events = fc.app.requests("/child") {
		time.Sleep(50 * time.Millisecond) // polls the app's log
	}
	var statuses []string
	for _, e := range events {
		statuses = append(statuses, e.Get("CallStatus"))
	}
	if want := "initiated ringing in-progress completed"; strings.Join(statuses, " ") != want {
		t.Fatalf("child statuses %v, want %s", statuses, want)
	}
	child := dialed.Get("DialCallSid")
	for i, e := range events {
		if e.Get("CallSid") != child || child == "" || child == parent {
			t.Errorf("event %d: CallSid=%q, want the child's %q (the Dial's DialCallSid), not the parent's %q", i, e.Get("CallSid"), child, parent)
		}
		if e.Get("ParentCallSid") != parent || e.Get("Direction") != "outbound-dial" {
			t.Errorf("event %d: ParentCallSid=%q Direction=%q, want %q and outbound-dial", i, e.Get("ParentCallSid"), e.Get("Direction"), parent)
		}
		if seq := e.Get("SequenceNumber"); seq != strconv.Itoa(i) {
			t.Errorf("event %d: SequenceNumber=%q", i, seq)
		}
	}
	done := events[3]
	if d, _ := strconv.Atoi(done.Get("CallDuration")); d < 2 || d > 3 {
		t.Errorf("completed: CallDuration=%q, want 2 (the callee hung up 2 s after answering)", done.Get("CallDuration"))
	}
	if done.Get("SipResponseCode") != "200" {
		t.Errorf("completed: SipResponseCode=%q, want 200", done.Get("SipResponseCode"))
	}
}

// TestDialFormsSipHeaders: headers in a <Sip> URI go into the INVITE as
// Twilio sends them: X- headers and User-to-User, not others. SIPp, the
// callee, checks the INVITE (fixtures/sipp/callee_headers.xml).
func TestDialFormsSipHeaders(t *testing.T) {
	t.Parallel()
	callee, wait := sippCallee(t, "callee_headers.xml")
	fc := placeFormCall(t, map[string]string{
		"/voice": fmt.Sprintf(`<Response><Dial action="/dialed"><Sip>sip:callee@%s?X-Custom=abc&amp;User-to-User=56a390f3&amp;Foo=bar</Sip></Dial></Response>`, callee),
	}, nil, 2*time.Second, nil)
	if p := waitRequest(t, fc.app, "/dialed", 10*time.Second); p.Get("DialCallStatus") != "completed" {
		t.Errorf("DialCallStatus=%q, want completed", p.Get("DialCallStatus"))
	}
	if out, err := wait(); err != nil {
		t.Errorf("SIPp callee (it checks the INVITE's headers): %v\n%s", err, tail(out, 30))
	}
}

// TestDialFormsWhisper: a <Number url> whisper plays to the callee before
// the bridge: it hears the whisper's <Say> first, the caller's tone only
// after, and the caller is bridged once the whisper ends.
func TestDialFormsWhisper(t *testing.T) {
	t.Parallel()
	callee := sipphone.New(t)
	heard := make(chan []int16, 1)
	callee.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) {
		// Talks from the answer on: the caller may hear it only once
		// bridged, after the whisper.
		c.Tone(1300, 6*time.Second)
		heard <- c.Audio()
	}})
	fc := placeFormCall(t, map[string]string{
		"/voice":   `<Response><Dial action="/dialed"><Number url="/whisper">+15551230000</Number></Dial></Response>`,
		"/whisper": `<Response><Say>You have a call from the support line.</Say></Response>`,
	}, trunkTo(callee.Addr()), 2*time.Second, func(c *sipphone.Call) {
		c.Tone(880, 7*time.Second) // from the answer on, through the whisper
	})
	var got []int16
	select {
	case got = <-heard:
	case <-time.After(20 * time.Second):
		t.Fatal("the callee never answered")
	}
	first := -1 // the first frame of the caller's tone the callee heard
	for i := 0; i+160 <= len(got) && first < 0; i += 160 {
		if toneFrames(got[i:i+160], 880) == 1 {
			first = i
		}
	}
	if first < 0 {
		t.Fatal("the callee never heard the caller's 880 Hz tone: not bridged")
	}
	// Before the caller's tone: the whisper, nothing else was sent.
	if w := sipphone.VoicedTime(got[:first]); w < 800*time.Millisecond {
		t.Errorf("the callee heard %v of the whisper before the caller's tone, want the spoken sentence first", w)
	}
	if n := toneFrames(got[first:], 880); n < 25 {
		t.Errorf("after the whisper the callee heard the caller's tone in %d frames, want a bridge", n)
	}
	if n := toneFrames(fc.caller.Audio(), 1300); n < 25 {
		t.Errorf("the caller heard the callee's tone in %d frames, want a bridge after the whisper", n)
	}
	p := waitRequest(t, fc.app, "/dialed", 10*time.Second)
	if p.Get("DialCallStatus") != "completed" || p.Get("DialBridged") != "true" {
		t.Errorf("action %v, want bridged and completed", p)
	}
	if w, ok := fc.app.request("/whisper"); !ok || w.Get("Direction") != "outbound-dial" {
		t.Errorf("the whisper document's request: %v (made %v), want the outbound-dial leg's", w, ok)
	}
}

// TestDialFormsTranscoded bridges a caller that speaks PCMU with a callee
// that accepts only PCMA: each side's tone reaches the other through
// texml's transcoding, and a key the caller presses reaches the callee
// as an RFC 4733 event.
func TestDialFormsTranscoded(t *testing.T) {
	t.Parallel()
	callee := sipphone.New(t)
	type heard struct {
		codec  sipphone.Codec
		audio  []int16
		digits string
	}
	got := make(chan heard, 1)
	callee.Answer(sipphone.Behaviour{Codec: sipphone.PCMA, Then: func(c *sipphone.Call) {
		c.Tone(1300, 4*time.Second)
		got <- heard{codec: c.Codec(), audio: c.Audio(), digits: c.ReceivedDigits()}
		_ = c.Hangup()
	}})
	fc := placeFormCall(t, map[string]string{
		"/voice": `<Response><Dial action="/dialed"><Number>+15551230000</Number></Dial></Response>`,
	}, trunkTo(callee.Addr()), 6*time.Second, func(c *sipphone.Call) {
		c.Tone(880, 2*time.Second)
		if err := c.DTMF("5"); err != nil {
			t.Error(err)
		}
		c.Tone(880, time.Second)
	})
	if c := fc.caller.Codec(); c != sipphone.PCMU {
		t.Fatalf("the caller's call is %s, want PCMU (texml answers with the offer's first codec)", c)
	}
	var h heard
	select {
	case h = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("the callee never answered")
	}
	if h.codec != sipphone.PCMA {
		t.Fatalf("the callee's call is %s, want PCMA", h.codec)
	}
	// A pure tone scores 2 (Goertzel's power of a sine is twice its mean
	// square); one decoded in the wrong law keeps its pitch, and so
	// passes toneFrames, but scores about 0.75.
	for _, c := range []struct {
		who   string
		audio []int16
		freq  float64
	}{{"callee", h.audio, 880}, {"caller", fc.caller.Audio(), 1300}} {
		if p := tonePurity(c.audio, c.freq); p < 1.8 {
			t.Errorf("the %s heard the other's tone with purity %.2f, want about 2: not transcoded between PCMU and PCMA", c.who, p)
		}
	}
	if n := toneFrames(h.audio, 880); n < 50 {
		t.Errorf("the PCMA callee heard the PCMU caller's 880 Hz tone in %d frames, want most of the 150 sent", n)
	}
	if n := toneFrames(fc.caller.Audio(), 1300); n < 50 {
		t.Errorf("the PCMU caller heard the PCMA callee's 1,300 Hz tone in %d frames, want most of the 200 sent", n)
	}
	if h.digits != "5" {
		t.Errorf("the callee received the events %q, want 5 across the bridge", h.digits)
	}
	if p := waitRequest(t, fc.app, "/dialed", 10*time.Second); p.Get("DialCallStatus") != "completed" {
		t.Errorf("DialCallStatus=%q, want completed", p.Get("DialCallStatus"))
	}
}

// tonePurity is Goertzel's power at freq over the mean square, over the
// frames where freq dominates: 2 for a tone heard as sent; a tone decoded
// with the wrong G.711 law keeps its pitch but spreads into harmonics.
func tonePurity(s []int16, freq float64) float64 {
	var tone, all float64
	toneWindows(s, freq, func(g, ms float64) { tone, all = tone+g, all+ms })
	if all == 0 {
		return 0
	}
	return tone / all
}
