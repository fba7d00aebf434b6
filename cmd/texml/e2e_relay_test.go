package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/texml/texml/internal/sipphone"
)

// relayAgent is a scripted ConversationRelay app: it answers the i-th
// final prompt with replies[i] (text tokens streamed in pieces), and
// ends the session with handoff after the last. It records what it
// received and when.
type relayAgent struct {
	replies []string
	handoff string
	long    string // said at setup when set (a barge-in test's speech)
	// digits, when set, answer the first prompt: a sendDigits message,
	// then end.
	digits string

	mu         sync.Mutex
	setup      map[string]any
	prompts    []string
	promptAt   []time.Time
	sentAt     []time.Time // when each reply's first token left
	interrupts []map[string]any
	interAt    time.Time
	types      []string
	infos      []map[string]any // info messages (debug), as received
	infoAt     []time.Time
}

func (g *relayAgent) serve(ctx context.Context, c *websocket.Conn) {
	send := func(v map[string]any) {
		b, _ := json.Marshal(v)
		_ = c.Write(ctx, websocket.MessageText, b)
	}
	say := func(text string) {
		g.mu.Lock()
		g.sentAt = append(g.sentAt, time.Now())
		g.mu.Unlock()
		words := strings.SplitAfter(text, " ")
		for i, w := range words {
			send(map[string]any{"type": "text", "token": w, "last": i == len(words)-1})
		}
	}
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		typ := fmt.Sprint(m["type"])
		g.mu.Lock()
		g.types = append(g.types, typ)
		n := len(g.prompts)
		switch typ {
		case "setup":
			g.setup = m
		case "prompt":
			if last, _ := m["last"].(bool); last {
				g.prompts = append(g.prompts, fmt.Sprint(m["voicePrompt"]))
				g.promptAt = append(g.promptAt, time.Now())
			}
		case "interrupt":
			g.interrupts = append(g.interrupts, m)
			g.interAt = time.Now()
		case "info":
			g.infos = append(g.infos, m)
			g.infoAt = append(g.infoAt, time.Now())
		}
		g.mu.Unlock()
		switch {
		case typ == "setup" && g.long != "":
			say(g.long)
		case typ == "prompt" && m["last"] == true && n == 0 && g.digits != "":
			send(map[string]any{"type": "sendDigits", "digits": g.digits})
			send(map[string]any{"type": "end", "handoffData": g.handoff})
		case typ == "prompt" && m["last"] == true && n < len(g.replies):
			say(g.replies[n])
		case typ == "prompt" && m["last"] == true:
			send(map[string]any{"type": "end", "handoffData": g.handoff})
		}
	}
}

// TestConversationRelayPhone holds a three-turn conversation between a
// real phone, whose caller speaks espeak-ng words over RTP, and a
// scripted agent over ConversationRelay: pocketsphinx hears each word
// (steered by hints), the agent's text is spoken back (espeak-ng), and
// its end hands off to the Connect action. It measures the latencies
// the issue names: end of the caller's utterance → prompt sent, and
// text received → first audio packet out.
func TestConversationRelayPhone(t *testing.T) {
	g := &relayAgent{replies: []string{"Billing, got it. What else?", "Support as well. Anything more?"}, handoff: `{"to":"sales"}`}
	url := wsApp(t, g.serve)
	a := newApp(t, map[string]string{
		"/voice": `<Response><Connect action="/after"><ConversationRelay url="` + url + `" welcomeGreeting="Hello. Which department?" hints="billing, support, sales"><Parameter name="shop" value="7"/></ConversationRelay></Connect><Say>unreachable</Say></Response>`,
		"/after": `<Response><Hangup/></Response>`,
	})
	s := startSpeechServe(t, a.srv.URL+"/voice")
	words := []string{"billing", "support", "sales"}
	var talkEnd []time.Time
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, time.Second, func(c *sipphone.Call) {
		c.Silence(3 * time.Second) // the greeting
		for _, w := range words {
			c.Talk(speak(t, w))
			talkEnd = append(talkEnd, time.Now())
			c.Silence(4 * time.Second) // recognition, then the agent's answer
		}
		c.Listen(5 * time.Second)
	})
	if c.FinalCode() != 200 || !c.RemoteHangup() {
		t.Fatalf("answer %d, texml hung up: %v", c.FinalCode(), c.RemoteHangup())
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if got := strings.Join(g.prompts, ","); got != strings.Join(words, ",") {
		t.Fatalf("prompts %q, want %q (messages %v)", g.prompts, words, g.types)
	}
	voice, _ := a.request("/voice")
	if g.setup["callSid"] != voice.Get("CallSid") || g.setup["direction"] != "inbound" ||
		!strings.HasPrefix(fmt.Sprint(g.setup["sessionId"]), "VX") || fmt.Sprint(g.setup["customParameters"]) != "map[shop:7]" {
		t.Errorf("setup %v", g.setup)
	}
	after, ok := a.waitRequest(t, "/after", 5*time.Second)
	if !ok || after.Get("SessionStatus") != "completed" || after.Get("HandoffData") != g.handoff || after.Get("SessionId") != g.setup["sessionId"] {
		t.Errorf("Connect action %v, want SessionStatus completed and the handoff", after)
	}
	var toPrompt, toAudio []time.Duration
	for i := range g.prompts {
		toPrompt = append(toPrompt, g.promptAt[i].Sub(talkEnd[i]))
	}
	for _, at := range g.sentAt {
		first, ok := c.VoiceAfter(at)
		if !ok {
			t.Errorf("no speech reached the phone after the text sent at %v", at)
			continue
		}
		toAudio = append(toAudio, first.Sub(at))
	}
	t.Logf("end of utterance → prompt: %v; text → first audio packet at the phone: %v", toPrompt, toAudio)
	for _, d := range toPrompt {
		// The end of speech is a pause of 800 ms, then recognition.
		if d > 3*time.Second {
			t.Errorf("a prompt came %v after the caller stopped talking", d)
		}
	}
	for _, d := range toAudio {
		if d > 2*time.Second {
			t.Errorf("the agent's speech reached the phone %v after its text", d)
		}
	}
}

// TestConversationRelayBargeIn talks over the agent's long answer: the
// agent's speech stops at once (the phone hears no more of it a packet
// time later), the app gets interrupt with the words heard so far and
// then the caller's prompt.
func TestConversationRelayBargeIn(t *testing.T) {
	g := &relayAgent{long: "Welcome to the support line. We have many offers for you today, and I will read every one of them to you slowly.", handoff: "x"}
	c := relayPhoneCall(t, g, ` hints="billing, support, sales"`, func(c *sipphone.Call) {
		c.Silence(2500 * time.Millisecond) // the agent speaks
		c.Talk(speak(t, "billing"))
		c.Silence(4 * time.Second)
		c.Listen(3 * time.Second)
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.interrupts) != 1 {
		t.Fatalf("interrupts %v, want one (messages %v)", g.interrupts, g.types)
	}
	in := g.interrupts[0]
	spoken := fmt.Sprint(in["utteranceUntilInterrupt"])
	ms, _ := in["durationUntilInterruptMs"].(float64)
	if !strings.HasPrefix(g.long, spoken) || spoken == "" || ms < 1500 || ms > 4000 {
		t.Errorf("interrupt %v: want a prefix of the answer, about 2.5 s in", in)
	}
	if len(g.prompts) != 1 || g.prompts[0] != "billing" {
		t.Errorf("prompts %q, want [billing]", g.prompts)
	}
	last, _ := c.LastVoice()
	// The phone's last sound of the agent came at most a packet or two
	// after the interrupt left (a packet may be in flight).
	gap := last.Sub(g.interAt)
	t.Logf("interrupt after %v ms (%q); the phone's last agent sound %v after the interrupt message", ms, spoken, gap)
	if gap > 60*time.Millisecond {
		t.Errorf("the phone still heard the agent %v after the interrupt", gap)
	}
}

// TestCallRelay runs a ConversationRelay app in `texml call`: the
// simulated caller's speech inputs become prompts, the agent's text is
// the transcript's agent lines, and its end runs the action.
func TestCallRelay(t *testing.T) {
	g := &relayAgent{replies: []string{"You asked about billing.", "Support, noted."}, handoff: "done"}
	url := wsApp(t, g.serve)
	a := newApp(t, map[string]string{
		"/voice": `<Response><Connect action="/after"><ConversationRelay url="` + url + `" welcomeGreeting="Hi there"/></Connect></Response>`,
		"/after": `<Response><Say>Handing you over</Say></Response>`,
	})
	code, out, stderr := texml(t, "call", a.srv.URL+"/voice", "--input", "speech:billing please", "--input", "speech:and support", "--input", "speech:thanks")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{`agent: "Hi there"`, `caller (heard by the agent): "billing please"`, `agent: "You asked about billing."`,
		`caller (heard by the agent): "and support"`, `agent: "Support, noted."`, `caller (heard by the agent): "thanks"`,
		"ended: completed with handoffData done", `"Handing you over"`, "agent spoke for 1440 ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("transcript lacks %q:\n%s", want, out)
		}
	}
	t.Logf("transcript:\n%s", out)
	g.mu.Lock()
	defer g.mu.Unlock()
	sort.Strings(g.prompts)
	if strings.Join(g.prompts, ",") != "and support,billing please,thanks" {
		t.Errorf("prompts %q", g.prompts)
	}
}

// TestConversationRelayPhoneDebug runs debug="speaker-events
// tokens-played" and speechTimeout on a real call: the agent's greeting
// is heard (agentSpeaking on, its text in tokensPlayed, off), the
// caller's word over RTP is clientSpeaking on and, after the pause of
// speechTimeout, off, then its prompt
// (https://www.twilio.com/docs/voice/twiml/connect/conversationrelay).
func TestConversationRelayPhoneDebug(t *testing.T) {
	g := &relayAgent{handoff: "x"}
	var talkEnd time.Time
	relayPhoneCall(t, g, ` welcomeGreeting="Hello. Which department?" hints="billing, support, sales"`+
		` debug="speaker-events tokens-played" speechTimeout="1500"`, func(c *sipphone.Call) {
		c.Silence(3 * time.Second) // the greeting
		c.Talk(speak(t, "billing"))
		talkEnd = time.Now()
		c.Silence(4 * time.Second)
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	var got []string
	var onAt, offAt time.Time
	for i, m := range g.infos {
		got = append(got, fmt.Sprint(m["name"], "=", m["value"]))
		switch fmt.Sprint(m["name"], "=", m["value"]) {
		case "clientSpeaking=on":
			onAt = g.infoAt[i]
		case "clientSpeaking=off":
			offAt = g.infoAt[i]
		}
	}
	want := []string{"agentSpeaking=on", "tokensPlayed=Hello. Which department?", "agentSpeaking=off", "clientSpeaking=on", "clientSpeaking=off"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("info messages %q, want %q (messages %v)", got, want, g.types)
	}
	if len(g.prompts) != 1 || g.prompts[0] != "billing" || g.promptAt[0].Before(offAt) {
		t.Errorf("prompts %q, want [billing] after clientSpeaking off", g.prompts)
	}
	// The utterance ends speechTimeout after the word's last sound.
	pause := offAt.Sub(talkEnd)
	t.Logf("clientSpeaking on→off %v; word's end → off %v", offAt.Sub(onAt), pause)
	if pause < 1200*time.Millisecond || pause > 3*time.Second { // auto would be 0.8 s; the word's audio ends in silence
		t.Errorf("clientSpeaking off %v after the word ended, want about 1.5 s", pause)
	}
}

// TestConversationRelaySensitivityPhone runs interruptSensitivity
// "medium" on a real call: a short word over the agent's speech (a
// backchannel) leaves it speaking and is not reported; a longer phrase
// interrupts it about half a second into its voice, and is the prompt
// (https://www.twilio.com/docs/voice/twiml/connect/conversationrelay).
func TestConversationRelaySensitivityPhone(t *testing.T) {
	g := &relayAgent{long: "Welcome to the support line. We have many offers for you today, and I will read every one of them to you slowly.", handoff: "x"}
	short, long := speak(t, "yes"), speak(t, "billing and support and sales please")
	var phraseAt time.Time
	relayPhoneCall(t, g, ` interruptSensitivity="medium" hints="billing, support, sales"`, func(c *sipphone.Call) {
		c.Silence(1500 * time.Millisecond) // the agent speaks
		c.Talk(short)
		c.Silence(2 * time.Second)
		phraseAt = time.Now()
		c.Talk(long)
		c.Silence(4 * time.Second)
		c.Listen(3 * time.Second)
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.interrupts) != 1 {
		t.Fatalf("interrupts %v, want one, by the phrase (messages %v)", g.interrupts, g.types)
	}
	after := g.interAt.Sub(phraseAt)
	t.Logf("the word lasts %v, the phrase %v; the interrupt came %v into the phrase: %v", time.Duration(len(short))*time.Second/8000,
		time.Duration(len(long))*time.Second/8000, after, g.interrupts[0])
	// 500 ms of voice, after espeak-ng's lead-in and the detector's onset.
	if after < 450*time.Millisecond || after > 1200*time.Millisecond {
		t.Errorf("the interrupt came %v into the phrase, want about 0.5 s", after)
	}
	if len(g.prompts) != 1 {
		t.Errorf("prompts %q, want the phrase's alone (the word over the agent is not reported)", g.prompts)
	}
}

// TestConversationRelaySendDigitsPhone: the agent answers the caller's
// first prompt with sendDigits "12#" and the phone receives exactly those
// keys as RFC 4733 events, after the prompt: the message reaches the
// call's RTP, not only the session's trace
// (https://www.twilio.com/docs/voice/conversationrelay/websocket-messages#send-digits-message).
func TestConversationRelaySendDigitsPhone(t *testing.T) {
	g := &relayAgent{digits: "12#", handoff: "x"}
	var before string // the keys the phone had before it spoke: none
	var got string
	relayPhoneCall(t, g, ` hints="billing, support, sales"`, func(c *sipphone.Call) {
		c.Silence(time.Second)
		c.Talk(speak(t, "billing"))
		before = c.ReceivedDigits()
		// The end of speech, recognition, the prompt, then the keys (a
		// few hundred milliseconds); texml hangs up after end.
		deadline := time.Now().Add(10 * time.Second)
		for c.ReceivedDigits() != g.digits && !c.Ended() && time.Now().Before(deadline) {
			c.Silence(100 * time.Millisecond) // listens, as a phone does
		}
		c.Silence(500 * time.Millisecond) // no key beyond them
		got = c.ReceivedDigits()
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.prompts) != 1 || g.prompts[0] != "billing" {
		t.Fatalf("prompts %q, want [billing] (messages %v)", g.prompts, g.types)
	}
	if before != "" || got != g.digits {
		t.Errorf("the phone received %q before speaking and %q in all, want none and %q", before, got, g.digits)
	}
}

// relayPhoneCall serves <Connect><ConversationRelay attrs> for the agent
// g, calls texml serve from a real SIP phone that runs script, and
// fails unless texml hangs up once the session is over.
func relayPhoneCall(t *testing.T, g *relayAgent, attrs string, script func(*sipphone.Call)) *sipphone.Call {
	t.Helper()
	a := newApp(t, map[string]string{
		"/voice": `<Response><Connect><ConversationRelay url="` + wsApp(t, g.serve) + `"` + attrs + `/></Connect><Hangup/></Response>`,
	})
	s := startSpeechServe(t, a.srv.URL+"/voice")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	c := callTexml(ctx, t, sipphone.New(t), s.sipAddr, time.Second, script)
	if !c.RemoteHangup() {
		t.Fatal("texml did not hang up after the session")
	}
	return c
}
