package interpreter

import (
	"strings"
	"sync"
	"testing"

	"github.com/texml/texml/relay"
)

// testRenderer renders a talker's jobs in order, as the session's one
// renderer does, when settle is called: each character takes 10
// samples, a sound 1000 a loop.
type testRenderer struct {
	mu   sync.Mutex
	jobs []renderJob
}

func (r *testRenderer) queue(j renderJob) {
	r.mu.Lock()
	r.jobs = append(r.jobs, j)
	r.mu.Unlock()
}

// testTalker is a talker and its renderer.
type testTalker struct {
	*talker
	r *testRenderer
}

func newTestTalker() testTalker {
	r := &testRenderer{}
	return testTalker{talker: newTalker(r.queue), r: r}
}

// settle renders everything queued so far, in order.
func (t testTalker) settle() {
	for {
		t.r.mu.Lock()
		jobs := t.r.jobs
		t.r.jobs = nil
		t.r.mu.Unlock()
		if len(jobs) == 0 {
			return
		}
		for _, j := range jobs {
			n := 10 * len(j.text)
			if j.source != "" {
				n = 1000 * max(j.loop, 1)
			}
			pcm := make([]int16, n)
			for i := range pcm {
				pcm[i] = 1
			}
			t.rendered(j.u, j.text, pcm)
		}
	}
}

// drain plays n frames and returns how many carried audio.
func (t *talker) drain(n int) int {
	frame := make([]int16, 160)
	got := 0
	for range n {
		if t.Next(frame) {
			got++
		}
	}
	return got
}

func text(token string, last bool) relay.Message {
	return relay.Message{Kind: relay.Text, Token: token, Last: last}
}

func TestSentenceEnd(t *testing.T) {
	for in, want := range map[string]bool{"Hello. ": true, "Hello.": false, "Hi there ": false, "Why? ": true, "3.": false, "": false, "  ": false, "list: ": true} {
		if got := sentenceEnd(in); got != want {
			t.Errorf("sentenceEnd(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestTalkerChunksAndSpoken(t *testing.T) {
	tk := newTestTalker()
	tk.say(text("Hello there. ", false), "en-US", relay.InterruptAny, false) // a chunk: a sentence
	tk.say(text("How ", false), "en-US", relay.InterruptAny, false)
	tk.say(text("are you?", true), "en-US", relay.InterruptAny, false)
	tk.settle()
	u := tk.items[0]
	if len(u.chunks) != 2 || u.chunks[0].text != "Hello there. " || u.chunks[1].text != "How are you?" {
		t.Fatalf("chunks %+v", u.chunks)
	}
	// 13 + 12 characters: 250 samples, two frames.
	tests := []struct {
		pos  int
		want string
	}{
		{0, ""}, {30, ""}, {60, "Hello"}, {130, "Hello there."}, {170, "Hello there. How"}, {250, "Hello there. How are you?"},
	}
	for _, tt := range tests {
		u.pos = tt.pos
		if got := u.spoken(); got != tt.want {
			t.Errorf("spoken at %d = %q, want %q", tt.pos, got, tt.want)
		}
	}
	u.pos = 0
	if n := tk.drain(3); n != 2 {
		t.Errorf("%d frames of audio, want 2", n)
	}
	if _, ok := tk.speaking(); ok {
		t.Error("the talker still speaks after its utterance played")
	}
}

func TestTalkerInterrupt(t *testing.T) {
	tests := []struct {
		name, interruptible, by string
		want                    bool
	}{
		{"any by speech", relay.InterruptAny, relay.InterruptSpeech, true},
		{"any by dtmf", relay.InterruptAny, relay.InterruptDTMF, true},
		{"speech by dtmf", relay.InterruptSpeech, relay.InterruptDTMF, false},
		{"dtmf by dtmf", relay.InterruptDTMF, relay.InterruptDTMF, true},
		{"none by speech", relay.InterruptNone, relay.InterruptSpeech, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := newTestTalker()
			tk.say(text(strings.Repeat("word ", 100), true), "en-US", tt.interruptible, false)
			tk.settle()
			tk.drain(3)
			cut, ok := tk.interrupt(tt.by)
			spoken, d := cut.spoken, cut.d
			if ok != tt.want {
				t.Fatalf("interrupted %v, want %v", ok, tt.want)
			}
			if !ok {
				return
			}
			// 480 samples of 5000: 48 characters, 9 whole words.
			if spoken != strings.TrimSpace(strings.Repeat("word ", 9)) || d.Milliseconds() != 60 {
				t.Errorf("spoken %q after %v", spoken, d)
			}
			if tk.drain(1) != 0 {
				t.Error("audio after the interrupt")
			}
		})
	}
}

// TestTalkerMutedAfterInterrupt: the interrupted answer's late tokens
// are dropped until it ends; the next answer is spoken.
func TestTalkerMutedAfterInterrupt(t *testing.T) {
	tk := newTestTalker()
	tk.say(text("First part. ", false), "en-US", relay.InterruptAny, false)
	tk.settle()
	tk.drain(1)
	if _, ok := tk.interrupt(relay.InterruptSpeech); !ok {
		t.Fatal("not interrupted")
	}
	if tk.say(text("late token", false), "en-US", relay.InterruptAny, false) || tk.say(text(" end.", true), "en-US", relay.InterruptAny, false) {
		t.Error("a late token of the interrupted answer was kept")
	}
	if !tk.say(text("New answer.", true), "en-US", relay.InterruptAny, false) {
		t.Error("the next answer was dropped")
	}
	if d, _ := tk.counts(); d != 2 {
		t.Errorf("%d tokens dropped, want 2", d)
	}
}

func TestTalkerPreempt(t *testing.T) {
	for _, preemptible := range []bool{true, false} {
		tk := newTestTalker()
		tk.say(text("An old answer.", true), "en-US", relay.InterruptNone, preemptible)
		tk.settle()
		tk.drain(1)
		tk.next() // a prompt went to the app
		tk.say(text("New.", true), "en-US", relay.InterruptNone, false)
		tk.settle()
		_, pre := tk.counts()
		if want := map[bool]int{true: 1, false: 0}[preemptible]; pre != want {
			t.Errorf("preemptible %v: %d preempted, want %d", preemptible, pre, want)
		}
		if n := len(tk.items); n != 2-pre {
			t.Errorf("preemptible %v: %d utterances queued", preemptible, n)
		}
	}
}

// TestTalkerPlayAndWaiting: a play ends the open utterance; an
// utterance whose tokens are still coming holds the line with silence.
func TestTalkerPlayAndWaiting(t *testing.T) {
	tk := newTestTalker()
	tk.say(text("Hold on", false), "en-US", relay.InterruptAny, false)
	if tk.Next(make([]int16, 160)) {
		t.Error("audio before any was rendered")
	}
	if _, ok := tk.speaking(); !ok {
		t.Error("an utterance in progress is not speaking")
	}
	tk.playSound(relay.Message{Kind: relay.Play, Source: "http://x/y.wav", Loop: 2}, relay.InterruptAny, false)
	tk.settle()
	if n := tk.drain(20); n != 1+13 {
		t.Errorf("%d frames, want 1 of speech and 13 of the looped sound", n)
	}
}

// TestTalkerEvents: what the caller hears change, for the debug
// options' info messages: the agent's audio starts being heard (on),
// each chunk of text when its audio has played to its end (tokensPlayed
// takes them), and the queue running dry or cut off (off; after an
// interrupt the session tells it); an interrupt tells the words heard
// of the chunk it cut.
func TestTalkerEvents(t *testing.T) {
	tests := []struct {
		name   string
		script func(tk testTalker)
		want   []string
	}{
		{"an answer heard to its end", func(tk testTalker) {
			tk.say(text("Hello there. ", false), "en-US", relay.InterruptAny, false)
			tk.say(text("How are you?", true), "en-US", relay.InterruptAny, false)
			tk.settle()
			tk.drain(5)
		}, []string{"on", "played Hello there.", "played How are you?", "off"}},
		{"nothing rendered yet", func(tk testTalker) {
			tk.say(text("Hold on", false), "en-US", relay.InterruptAny, false)
			tk.drain(3)
		}, nil},
		{"a play has no text", func(tk testTalker) {
			tk.playSound(relay.Message{Kind: relay.Play, Source: "http://x/y.wav", Loop: 1}, relay.InterruptAny, false)
			tk.settle()
			tk.drain(10)
		}, []string{"on", "off"}},
		{"two answers in a row are one turn", func(tk testTalker) {
			tk.say(text("One.", true), "en-US", relay.InterruptAny, false)
			tk.say(text("Two.", true), "en-US", relay.InterruptAny, false)
			tk.settle()
			tk.drain(4)
		}, []string{"on", "played One.", "played Two.", "off"}},
		{"cut off mid chunk", func(tk testTalker) {
			tk.say(text(strings.Repeat("word ", 100), true), "en-US", relay.InterruptAny, false)
			tk.settle()
			tk.drain(3)
			if _, ok := tk.interrupt(relay.InterruptSpeech); !ok {
				panic("not interrupted")
			}
			tk.drain(2)
		}, []string{"on", "played " + strings.TrimSpace(strings.Repeat("word ", 9))}},
		{"a second turn after the first ran dry", func(tk testTalker) {
			tk.say(text("A.", true), "en-US", relay.InterruptAny, false)
			tk.settle()
			tk.drain(2)
			tk.say(text("B.", true), "en-US", relay.InterruptAny, false)
			tk.settle()
			tk.drain(2)
		}, []string{"on", "played A.", "off", "on", "played B.", "off"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := newTestTalker()
			var got []string
			tk.notify = func(e talkEvent) {
				switch e.kind {
				case agentOn:
					got = append(got, "on")
				case agentOff:
					got = append(got, "off")
				case played:
					got = append(got, "played "+e.text)
				}
			}
			tt.script(tk)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("events %q, want %q", got, tt.want)
			}
			if tk.audible {
				t.Error("still audible")
			}
		})
	}
}
