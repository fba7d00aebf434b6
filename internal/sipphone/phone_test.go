package sipphone

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The phone tested against itself: one phone calls, the other answers
// with each behaviour.

// pair makes a caller and a callee answering with b.
func pair(t *testing.T, b Behaviour, opts ...Option) (caller, callee *Phone) {
	t.Helper()
	caller, callee = New(t), New(t, opts...)
	callee.Answer(b)
	return caller, callee
}

// dial calls the callee as "bob" with o and a 10 s bound on the answer.
func dial(t *testing.T, caller, callee *Phone, o CallOptions) *Call {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return caller.Call(ctx, callee.Addr(), "bob", o)
}

// eventually polls cond every 20 ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitEnd fails the test unless c ends within d.
func waitEnd(t *testing.T, c *Call, d time.Duration, who string) {
	t.Helper()
	if !c.WaitEnd(d) {
		t.Fatalf("the %s's call did not end within %v", who, d)
	}
}

// TestTonesCross answers in each codec: a tone goes each way, the callee
// hangs up (BYE) and both calls end. The callee saw the INVITE's request
// URI, From and X- headers, and the ACK.
func TestTonesCross(t *testing.T) {
	t.Parallel()
	for _, codec := range []Codec{PCMU, PCMA} {
		t.Run(string(codec), func(t *testing.T) {
			t.Parallel()
			caller, callee := pair(t, Behaviour{
				Then:        func(c *Call) { c.Tone(440, time.Second) },
				HangupAfter: 1500 * time.Millisecond,
			})
			c := dial(t, caller, callee, CallOptions{Codecs: []Codec{codec}, From: "alice",
				Headers: map[string]string{"X-Account": "42", "X-Test": "tones"}})
			// No assertion on the 180: sipgo handles each message on a
			// goroutine of its own, and a 200 right behind it may
			// overtake it.
			if c.FinalCode() != 200 {
				t.Fatalf("final %d, want 200", c.FinalCode())
			}
			c.Tone(1000, time.Second)
			waitEnd(t, c, 5*time.Second, "caller")
			in := callee.Next(time.Second)
			if !in.Wait(5 * time.Second) {
				t.Fatal("the callee's INVITE did not finish")
			}
			if !c.RemoteHangup() || in.Call().RemoteHangup() {
				t.Errorf("BYE: caller got it %v, callee got one %v; want the callee's BYE only", c.RemoteHangup(), in.Call().RemoteHangup())
			}
			if ru, from := in.RequestURI(), in.From(); ru.User != "bob" || from.User != "alice" || in.Code() != 200 || !in.Acked() || in.Err() != nil {
				t.Errorf("callee saw %s from %s, answered %d, ACK %v, err %v", ru.String(), from.String(), in.Code(), in.Acked(), in.Err())
			}
			if x := in.XHeaders(); len(x) != 2 || x["X-Account"] != "42" || in.Header("X-Test") != "tones" {
				t.Errorf("X- headers %v", x)
			}
			if c.Codec() != codec || in.Call().Codec() != codec {
				t.Errorf("codecs: caller %s, callee %s, want %s", c.Codec(), in.Call().Codec(), codec)
			}
			if a := c.Audio(); !HasTone(a, 440) || HasTone(a, 1000) {
				t.Errorf("the caller heard %v at %.0f Hz, want the callee's 440 Hz", VoicedTime(a), DominantFreq(a))
			}
			if a := in.Call().Audio(); !HasTone(a, 1000) || HasTone(a, 440) {
				t.Errorf("the callee heard %v at %.0f Hz, want the caller's 1000 Hz", VoicedTime(a), DominantFreq(a))
			}
			if d := c.Duration(); d < 1400*time.Millisecond || d > 3*time.Second {
				t.Errorf("the call lasted %v, want about 1.5 s (HangupAfter)", d)
			}
		})
	}
}

// TestCallerHangsUp: the caller's BYE ends both calls.
func TestCallerHangsUp(t *testing.T) {
	t.Parallel()
	caller, callee := pair(t, Behaviour{})
	c := dial(t, caller, callee, CallOptions{})
	in := callee.Next(time.Second)
	c.Silence(200 * time.Millisecond)
	if err := c.Hangup(); err != nil {
		t.Fatal(err)
	}
	if !c.Ended() || c.RemoteHangup() {
		t.Errorf("after Hangup: ended %v, remote hangup %v", c.Ended(), c.RemoteHangup())
	}
	waitEnd(t, in.Call(), 5*time.Second, "callee")
	if !in.Call().RemoteHangup() || in.Call().Packets() < 5 {
		t.Errorf("callee: BYE received %v, %d packets", in.Call().RemoteHangup(), in.Call().Packets())
	}
	if err := c.Hangup(); err != nil {
		t.Errorf("second Hangup: %v", err)
	}
}

// TestReject: the callee's final code is the caller's, after a 180.
func TestReject(t *testing.T) {
	t.Parallel()
	for _, code := range []int{486, 603, 404} {
		caller, callee := pair(t, Behaviour{Reject: code, Ring: 100 * time.Millisecond})
		c := dial(t, caller, callee, CallOptions{})
		if c.FinalCode() != code || !c.Ended() || !slices.Equal(c.Provisional(), []int{180}) {
			t.Errorf("%d: caller got %d after %v, ended %v", code, c.FinalCode(), c.Provisional(), c.Ended())
		}
		in := callee.Next(time.Second)
		if !in.Wait(5*time.Second) || in.Code() != code || in.Acked() || in.Canceled() {
			t.Errorf("%d: callee sent %d, ACK of a 2xx %v, canceled %v", code, in.Code(), in.Acked(), in.Canceled())
		}
	}
}

// TestRingForeverCancel: the caller gives up; its CANCEL gets the
// callee's 487.
func TestRingForeverCancel(t *testing.T) {
	t.Parallel()
	caller, callee := pair(t, Behaviour{RingForever: true})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	began := time.Now()
	c := caller.Call(ctx, callee.Addr(), "bob", CallOptions{})
	if c.FinalCode() != 487 || !c.Ended() {
		t.Errorf("caller: final %d, ended %v; want 487", c.FinalCode(), c.Ended())
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("the CANCEL took %v", d)
	}
	in := callee.Next(time.Second)
	if !in.Wait(5*time.Second) || !in.Canceled() || in.Code() != 487 {
		t.Errorf("callee: canceled %v, final %d; want a CANCEL and 487", in.Canceled(), in.Code())
	}
}

// TestEarlyMedia plays a tone after 183 and then answers or rejects: the
// caller hears it either way.
func TestEarlyMedia(t *testing.T) {
	t.Parallel()
	for _, reject := range []int{0, 486} {
		caller, callee := pair(t, Behaviour{EarlyMedia: 600, Ring: time.Second, Reject: reject,
			Then: func(c *Call) { c.Tone(440, 800*time.Millisecond) }, HangupAfter: time.Second})
		c := dial(t, caller, callee, CallOptions{Codecs: []Codec{PCMA, PCMU}})
		if !slices.Equal(c.Provisional(), []int{183}) {
			t.Errorf("provisional responses %v, want 183", c.Provisional())
		}
		early := c.Audio()
		if !HasTone(early, 600) || VoicedTime(early) < 700*time.Millisecond {
			t.Errorf("before the final response the caller heard %v at %.0f Hz, want the 1 s of 600 Hz early media", VoicedTime(early), DominantFreq(early))
		}
		if reject != 0 {
			if c.FinalCode() != reject || !c.Ended() {
				t.Errorf("final %d, want %d", c.FinalCode(), reject)
			}
			continue
		}
		if c.FinalCode() != 200 || c.Codec() != PCMA {
			t.Fatalf("final %d in %s, want 200 in PCMA", c.FinalCode(), c.Codec())
		}
		waitEnd(t, c, 5*time.Second, "caller")
		if a := c.Audio()[len(early):]; !HasTone(a, 440) || HasTone(a, 600) {
			t.Errorf("after the answer the caller heard %.0f Hz, want 440", DominantFreq(a))
		}
	}
}

// TestDigest challenges the caller: the right password gets through on
// the second INVITE, a wrong one gets 403, none gets the 401 back.
func TestDigest(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		proxy      bool
		user, pass string
		want       []int // the callee's final codes, INVITE by INVITE
	}{
		{"right", false, "alice", "secret", []int{401, 200}},
		{"proxy", true, "alice", "secret", []int{407, 200}},
		{"wrong password", false, "alice", "guess", []int{401, 403}},
		{"wrong user", false, "mallory", "secret", []int{401, 403}},
		{"none", false, "", "", []int{401}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			caller, callee := pair(t, Behaviour{Challenge: &Credentials{Realm: "test", Username: "alice", Password: "secret", Proxy: tt.proxy}})
			c := dial(t, caller, callee, CallOptions{Username: tt.user, Password: tt.pass})
			if got := c.FinalCode(); got != tt.want[len(tt.want)-1] {
				t.Errorf("caller's final code %d, want %d", got, tt.want[len(tt.want)-1])
			}
			for i, code := range tt.want {
				in := callee.Next(time.Second)
				if i == 0 && in.Header("Authorization")+in.Header("Proxy-Authorization") != "" {
					t.Errorf("credentials in the first INVITE")
				}
				if code == 200 {
					if err := c.Hangup(); err != nil {
						t.Error(err)
					}
				}
				if !in.Wait(5*time.Second) || in.Code() != code {
					t.Errorf("INVITE %d: the callee answered %d, want %d", i+1, in.Code(), code)
				}
			}
		})
	}
}

// TestDTMF presses keys both ways, with the offer's telephone-event
// payload type.
func TestDTMF(t *testing.T) {
	t.Parallel()
	for _, pt := range []uint8{101, 96} {
		caller, callee := pair(t, Behaviour{Then: func(c *Call) {
			c.Silence(100 * time.Millisecond)
			if err := c.DTMF("9*A"); err != nil {
				t.Error(err)
			}
		}})
		c := dial(t, caller, callee, CallOptions{DTMFType: pt})
		in := callee.Next(time.Second)
		if err := c.DTMF("123#"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 3*time.Second, "keys crossing", func() bool {
			return in.Call().ReceivedDigits() == "123#" && c.ReceivedDigits() == "9*A"
		})
		if err := c.Hangup(); err != nil {
			t.Error(err)
		}
		if got := string(in.Offer()); !strings.Contains(got, fmt.Sprintf("a=rtpmap:%d telephone-event/8000", pt)) {
			t.Errorf("offer without telephone-event:\n%s", got)
		}
	}
	// Without telephone-event there is nothing to press keys with.
	caller, callee := pair(t, Behaviour{})
	c := dial(t, caller, callee, CallOptions{NoDTMF: true})
	if err := c.DTMF("1"); err == nil {
		t.Error("DTMF without a negotiated telephone-event: no error")
	}
}

// TestCodecChoice: the callee takes the first offered codec it speaks,
// or only the one it is told to; an offer without it gets 488.
func TestCodecChoice(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		offer []Codec
		force Codec
		code  int
		want  Codec
	}{
		{[]Codec{PCMA, PCMU}, "", 200, PCMA},
		{[]Codec{PCMU, PCMA}, PCMA, 200, PCMA},
		{[]Codec{PCMU}, PCMA, 488, ""},
	} {
		caller, callee := pair(t, Behaviour{Codec: tt.force})
		c := dial(t, caller, callee, CallOptions{Codecs: tt.offer})
		if c.FinalCode() != tt.code || tt.code == 200 && c.Codec() != tt.want {
			t.Errorf("offer %v, callee forcing %q: %d in %s, want %d in %s", tt.offer, tt.force, c.FinalCode(), c.Codec(), tt.code, tt.want)
		}
		if tt.code == 200 {
			_ = c.Hangup()
		}
		if in := callee.Next(time.Second); !in.Wait(5*time.Second) || tt.code == 488 && in.Err() == nil {
			t.Errorf("offer %v: the callee's INVITE did not finish, or no error for 488: %v", tt.offer, in.Err())
		}
	}
}

// TestDelayedOffer: an INVITE without SDP gets the callee's offer in the
// 2xx, and the caller's answer goes in the ACK; media flows both ways.
func TestDelayedOffer(t *testing.T) {
	t.Parallel()
	caller, callee := pair(t, Behaviour{Then: func(c *Call) { c.Tone(440, 600*time.Millisecond) }, HangupAfter: time.Second})
	c := dial(t, caller, callee, CallOptions{DelayedOffer: true, Codecs: []Codec{PCMA}})
	if c.FinalCode() != 200 {
		t.Fatalf("final %d", c.FinalCode())
	}
	c.Tone(1000, 600*time.Millisecond)
	waitEnd(t, c, 5*time.Second, "caller")
	in := callee.Next(time.Second)
	if len(in.Offer()) != 0 || !HasTone(in.Call().Audio(), 1000) || !HasTone(c.Audio(), 440) || in.Call().Codec() != PCMA {
		t.Errorf("offer %q; callee heard 1000 Hz %v, caller heard 440 Hz %v, codec %s",
			in.Offer(), HasTone(in.Call().Audio(), 1000), HasTone(c.Audio(), 440), in.Call().Codec())
	}
}

// TestInDialogRequests: a hold re-INVITE is answered recvonly, an INFO
// 200, and the callee records both.
func TestInDialogRequests(t *testing.T) {
	t.Parallel()
	held := make(chan error, 1)
	caller, callee := pair(t, Behaviour{Then: func(c *Call) {
		res, err := c.Reinvite("inactive")
		if err == nil && (res.StatusCode != 200 || !strings.Contains(string(res.Body()), "a=inactive")) {
			err = fmt.Errorf("%d:\n%s", res.StatusCode, res.Body())
		}
		held <- err
	}})
	c := dial(t, caller, callee, CallOptions{})
	in := callee.Next(time.Second)
	select {
	case err := <-held:
		if err != nil {
			t.Fatalf("the callee's re-INVITE: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the callee's re-INVITE did not finish")
	}
	if r := c.Requests(); len(r) != 1 || r[0].Method != sip.INVITE {
		t.Errorf("the caller got %v, want the re-INVITE", r)
	}
	res, err := c.Reinvite("sendonly")
	if err != nil || res.StatusCode != 200 || !strings.Contains(string(res.Body()), "a=recvonly") {
		t.Fatalf("hold: %v %v", res, err)
	}
	res, err = c.Request(sip.INFO, "application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("INFO: %v %v", res, err)
	}
	var methods []string
	for _, r := range in.Call().Requests() {
		methods = append(methods, string(r.Method))
	}
	if !slices.Equal(methods, []string{"INVITE", "INFO"}) {
		t.Errorf("the callee got %v", methods)
	}
	if err := c.Hangup(); err != nil {
		t.Error(err)
	}
	waitEnd(t, in.Call(), 5*time.Second, "callee")
	if bye := in.Call().Bye(); bye == nil || bye.CallID().Value() != in.Request().CallID().Value() || in.Ack() == nil {
		t.Errorf("the callee's record: BYE %v, ACK %v", bye, in.Ack())
	}
}

// TestOnInvite scripts the callee by hand and calls over TCP.
func TestOnInvite(t *testing.T) {
	t.Parallel()
	caller, callee := New(t, WithTCP()), New(t, WithTCP())
	callee.OnInvite(func(in *Incoming) {
		if in.RequestURI().User != "bob" {
			_ = in.Reject(404)
			return
		}
		if in.Ring() != nil {
			return
		}
		if c, err := in.Accept(); err == nil {
			c.Tone(440, 500*time.Millisecond)
			_ = c.Hangup()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c := caller.Call(ctx, callee.Addr(), "carol", CallOptions{TCP: true}); c.FinalCode() != 404 {
		t.Errorf("carol: %d, want 404", c.FinalCode())
	}
	c := caller.Call(ctx, callee.Addr(), "bob", CallOptions{TCP: true})
	waitEnd(t, c, 5*time.Second, "caller")
	if c.FinalCode() != 200 || !c.RemoteHangup() || !HasTone(c.Audio(), 440) {
		t.Errorf("bob: %d, callee hung up %v, heard %.0f Hz", c.FinalCode(), c.RemoteHangup(), DominantFreq(c.Audio()))
	}
	if got := len(callee.Incoming()); got != 2 {
		t.Errorf("%d INVITEs, want 2", got)
	}
	for _, in := range callee.Incoming() {
		if tp := in.Request().Transport(); tp != "TCP" {
			t.Errorf("INVITE over %s", tp)
		}
	}
}
