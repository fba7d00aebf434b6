package signaling

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/internal/sipphone"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/interpreter/legtest"
	"github.com/texml/texml/media"
	"github.com/texml/texml/media/amd"
	"github.com/texml/texml/media/audio"
	"github.com/texml/texml/media/stt"
	"github.com/texml/texml/media/tts"
)

// anyRoute sends every call to a handler; the voice URL is never fetched.
type anyRoute struct{}

func (anyRoute) Route(*sip.Request) (interpreter.Config, error) {
	return interpreter.Config{URL: "http://unused.test/voice"}, nil
}

// toneSynth speaks every text as a tone: the contract is about the leg,
// not about text to speech.
type toneSynth struct{}

func (toneSynth) Synthesize(context.Context, tts.Request) ([]int16, error) {
	return sipphone.ToneSamples(500, time.Second), nil
}

// sipHarness runs the Leg contract on a real SIP leg over loopback: a
// Server whose Handler hands each answered call to the test, and the test
// phone as the caller playing the far end's script.
type sipHarness struct {
	srv  *Server
	addr string
	legs chan handed
}

type handed struct {
	leg interpreter.Leg
	ctx context.Context
}

// wordRecognizer hears "hello" in any utterance: the contract is about
// the leg's timing and callbacks, not about recognition.
type wordRecognizer struct{}

func (wordRecognizer) Recognize(_ context.Context, r stt.Request) (stt.Result, error) {
	if len(r.Samples) == 0 {
		return stt.Result{}, nil
	}
	return stt.Result{Text: "hello", Confidence: 0.9}, nil
}

func newSIPHarness(t *testing.T, opts ...func(*Config)) *sipHarness {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ports, err := media.NewPorts("127.0.0.1", 24000, 24400)
	if err != nil {
		t.Fatal(err)
	}
	pacer := media.NewPacer(media.PacerOptions{})
	f := fetcher.New(fetcher.Options{})
	h := &sipHarness{addr: conn.LocalAddr().String(), legs: make(chan handed)}
	done := make(chan struct{})
	cfg := Config{
		PublicIP: net.IPv4(127, 0, 0, 1), SIPPort: conn.LocalAddr().(*net.UDPAddr).Port,
		Router: anyRoute{}, Fetcher: f,
		Media: MediaConfig{Ports: ports, Pacer: pacer, Synth: toneSynth{},
			Audio: audio.NewCache(f, audio.CacheOptions{}), RecordingsDir: t.TempDir()},
		Handler: func(ctx context.Context, leg interpreter.Leg, _ interpreter.Config) interpreter.Result {
			if err := leg.Answer(ctx); err != nil {
				return interpreter.Result{Err: err}
			}
			select {
			case h.legs <- handed{leg, ctx}:
			case <-done:
				return interpreter.Result{}
			}
			select { // the case runs; the call lasts until the test ends
			case <-ctx.Done():
			case <-done:
			}
			return interpreter.Result{}
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.srv.ServeUDP(conn) }()
	t.Cleanup(func() {
		close(done)
		h.srv.Close()
		conn.Close()
		pacer.Close()
		f.Close()
	})
	return h
}

func (h *sipHarness) Slack() time.Duration { return 150 * time.Millisecond }

func (h *sipHarness) Start(t *testing.T, script []legtest.Act) (interpreter.Leg, context.Context, interpreter.Clock) {
	t.Helper()
	ph := sipphone.New(t)
	stallRefers(ph, script)
	leg, ctx, c := h.call(t, ph, "contract")
	go play(c, time.Now(), script)
	return leg, ctx, interpreter.SystemClock{}
}

// call has ph call the harness's server as user and returns the answered
// inbound leg, its call's context and the phone's side of the call,
// hung up when the test ends.
func (h *sipHarness) call(t *testing.T, ph *sipphone.Phone, user string) (interpreter.Leg, context.Context, *sipphone.Call) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	calls := make(chan *sipphone.Call, 1)
	go func() { calls <- ph.Call(ctx, h.addr, user, sipphone.CallOptions{}) }()
	var got handed
	select {
	case got = <-h.legs:
	case <-ctx.Done():
		t.Fatal("the call never reached the handler")
	}
	c := <-calls
	if c.FinalCode() != 200 {
		t.Fatalf("the phone's call was answered with %d", c.FinalCode())
	}
	t.Cleanup(func() { _ = c.Hangup() })
	return got.leg, got.ctx, c
}

// stallRefers makes the phone take REFERs and report only a ringing
// target when the script says so (legtest.StallRefer).
func stallRefers(ph *sipphone.Phone, script []legtest.Act) {
	for _, a := range script {
		if a.Kind == legtest.StallRefer {
			ph.OnRefer(sipphone.ReferReply{Notify: []int{180}})
		}
	}
}

// play runs the far end's script on the phone's call, from start.
func play(c *sipphone.Call, start time.Time, script []legtest.Act) {
	for _, a := range script {
		if d := time.Until(start.Add(a.At)); d > 0 {
			time.Sleep(d)
		}
		switch a.Kind {
		case legtest.Press:
			_ = c.DTMF(a.Digits)
		case legtest.HangUp:
			_ = c.Hangup()
		case legtest.Talk:
			c.Talk(amd.Party{{Kind: amd.Voice, For: a.For}}.Samples(a.For))
		case legtest.Beep:
			c.Talk(amd.Party{{Kind: amd.Beep, For: a.For}}.Samples(a.For))
		}
	}
}

// outboundHarness runs the Leg contract on an outbound SIP leg: the
// Server dials the test phone (its Dialer, as <Dial> does), the phone
// answers and plays the far end's script. The leg's context ends when its
// attempt reports Ended, as the interpreter's fork does.
type outboundHarness struct{ *sipHarness }

func (h outboundHarness) Start(t *testing.T, script []legtest.Act) (interpreter.Leg, context.Context, interpreter.Clock) {
	t.Helper()
	ph := sipphone.New(t)
	stallRefers(ph, script)
	started := make(chan time.Time, 1)
	ph.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) {
		play(c, <-started, script)
		c.WaitEnd(30 * time.Second)
	}})
	ctx, cancel := context.WithCancelCause(context.Background())
	t.Cleanup(func() { cancel(nil) })
	answered := make(chan interpreter.Leg, 1)
	att, err := h.srv.Dial(ctx, interpreter.Target{Kind: interpreter.SIPTarget, Addr: ph.URI("callee"),
		From: "+15550001111", CallSid: interpreter.NewSid("CA"), Timeout: 10 * time.Second},
		func(p interpreter.Progress) {
			switch p.Kind {
			case interpreter.Answered:
				answered <- p.Leg
			case interpreter.Failed, interpreter.Ended:
				cancel(interpreter.ErrHangup)
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(att.Cancel)
	select {
	case leg := <-answered:
		started <- time.Now()
		return leg, ctx, interpreter.SystemClock{}
	case <-time.After(10 * time.Second):
		t.Fatal("the phone did not answer")
	}
	return nil, nil, nil
}

func TestLegContractOutbound(t *testing.T) {
	legtest.Run(t, outboundHarness{newSIPHarness(t, withWords)})
}

func TestLegContract(t *testing.T) { legtest.Run(t, newSIPHarness(t, withWords)) }

// withWords gives the harness's legs a recognizer, for the contract's
// transcription cases.
func withWords(c *Config) { c.Media.Recognizer = wordRecognizer{} }
