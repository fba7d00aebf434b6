package amd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/media"
	"github.com/texml/texml/media/audio"
)

// The labelled set: clips generated at test time from espeak-ng speech,
// tones and noise, never committed as audio. Each clip is what the
// detector would hear on the answered leg: a little silence after the
// answer, then a person, a voicemail greeting (with or without a beep),
// nothing at all, or a fax machine.

// Truth classes of the labelled set.
const (
	classHuman   = "human"
	classMachine = "machine"
	classFax     = "fax"
	classUnknown = "unknown"
)

var classes = []string{classHuman, classMachine, classFax, classUnknown}

// coarse maps an AnsweredBy to the class it claims.
func coarse(a AnsweredBy) string {
	switch {
	case a == Human:
		return classHuman
	case a.IsMachine():
		return classMachine
	case a == Fax:
		return classFax
	}
	return classUnknown
}

var (
	humanPhrases = []string{
		"Hello?", "Hi, this is Sam.", "Yes?", "Hello, who is this?", "Hey.",
		"Speaking.", "Hello, Jones residence.", "Yeah, hi.", "Good morning.",
		"Uh, hello?", "This is Maria.", "Hello, Dave here.",
	}
	greetings = []string{
		"Hi, you've reached Sam. I can't take your call right now, please leave a message after the tone.",
		"Hello, you have reached the voicemail of Maria Lopez. Please leave your name, number and a brief message, and I will get back to you.",
		"The person you are calling is not available. Please leave a message after the beep.",
		"Thanks for calling Smith and Sons plumbing. Our office is closed. Leave a message and we'll call you back tomorrow.",
		"You have reached five five five, one two three four. No one is available to take your call. Please record your message after the tone.",
		"Hi, this is Dana. Sorry I missed you. Leave me a message and I'll call you back as soon as I can.",
		"Welcome to the voice mailbox system. The subscriber you have dialled is currently unavailable.",
	}
	// shortGreeting is under SpeechThreshold at most speeds: only its
	// beep tells it from a person, so it appears only with one.
	shortGreeting = "Hey, it's Jake. Leave a message."
	voices        = []string{"en-us", "en-gb", "en-us+f3", "en-gb-scotland", "en-029", "en-us+m3"}
	speeds        = []int{130, 160, 200}
	pitches       = []int{30, 50, 75}
	noiseDBFS     = []float64{math.Inf(-1), -60, -50, -42}
	speechDBFS    = []float64{-18, -24, -30}
	beepHz        = []float64{440, 850, 1000, 1400, 1800}

	// The hard set: cases that timing rules (Twilio's included) get
	// wrong by design, reported apart from the floor-gated set.
	longHumans = []string{
		"Hello, Doctor Patel's office, this is Jennifer speaking, how may I help you today?",
		"Good afternoon, thank you for calling Acme support, my name is Tom, what can I do for you?",
		"Hi, yes, this is Robert, I was just about to call you back about the order.",
	}
	shortGreetings = []string{
		"Hey, it's Jake. Leave a message.", "Not here. Leave a message.", "Sam's phone, leave a message.",
	}
)

// Hard-case kinds.
const (
	hardLongHuman     = "long human answer"
	hardShortGreeting = "short greeting, no beep"
	hardHelloHello    = "human: Hello? (0.8 s) Anyone there?"
	hardLoudNoise     = "human at 6 dB SNR"
)

// clip is one labelled recording.
type clip struct {
	name  string
	class string
	beep  bool   // a machine greeting followed by a beep
	hard  string // for the hard set: which kind of hard case
	x     []int16
}

// utterance is one espeak-ng synthesis to make.
type utterance struct {
	text, voice  string
	speed, pitch int
}

// synthCache holds this run's syntheses, made once for all tests.
var synthCache struct {
	once sync.Once
	m    map[utterance][]int16
	err  error
}

// needEspeak skips without espeak-ng on a developer machine and fails
// under CI=true, where .ci/run installs it (as media/tts's tests do).
func needEspeak(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("espeak-ng is required under CI: %v", err)
		}
		tb.Skipf("espeak-ng not installed: %v", err)
	}
}

// synthesize runs espeak-ng for every utterance, two processes per CPU.
func synthesize(us []utterance) (map[utterance][]int16, error) {
	m := make(map[utterance][]int16, len(us))
	var mu sync.Mutex
	var firstErr error
	work := make(chan utterance)
	var wg sync.WaitGroup
	for range 2 * runtime.NumCPU() {
		wg.Go(func() {
			for u := range work {
				wav, err := exec.Command("espeak-ng", "-v", u.voice, "-s", strconv.Itoa(u.speed),
					"-p", strconv.Itoa(u.pitch), "-b", "1", "--stdout", u.text).Output()
				var pcm *audio.PCM
				if err == nil {
					pcm, err = audio.Decode(wav, "audio/wav")
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("espeak-ng -v %s %q: %w", u.voice, u.text, err)
				} else if err == nil {
					m[u] = trimSilence(pcm.Samples)
				}
				mu.Unlock()
			}
		})
	}
	for _, u := range us {
		work <- u
	}
	close(work)
	wg.Wait()
	return m, firstErr
}

// trimSilence drops espeak-ng's leading and trailing digital silence, so
// that each clip's own layout sets the pauses.
func trimSilence(x []int16) []int16 {
	quiet := func(v int16) bool { return v > -64 && v < 64 }
	i, j := 0, len(x)
	for i < j && quiet(x[i]) {
		i++
	}
	for j > i && quiet(x[j-1]) {
		j--
	}
	return x[i:j]
}

// buildCorpus lays out the labelled clips; the random choices are seeded,
// so every run builds the same set.
func buildCorpus(tb testing.TB) []clip {
	tb.Helper()
	r := rand.New(rand.NewPCG(2026, 12))
	pick := func(n int) int { return r.IntN(n) }
	ms := func(lo, hi int) time.Duration { return time.Duration(lo+r.IntN(hi-lo+1)) * time.Millisecond }

	type plan struct {
		clip
		u         utterance
		lead      time.Duration
		again     bool // a person who says "Hello?" again after a pause
		againGap  time.Duration
		againText string
		beepHz    float64
		beepLen   time.Duration
		gap       time.Duration
		level     float64
		noise     float64
		noiseRnd  uint64
	}
	var plans []plan
	newPlan := func(class, text string) plan {
		return plan{
			clip:     clip{class: class},
			u:        utterance{text, voices[pick(len(voices))], speeds[pick(len(speeds))], pitches[pick(len(pitches))]},
			lead:     ms(250, 900),
			level:    speechDBFS[pick(len(speechDBFS))],
			noise:    noiseDBFS[pick(len(noiseDBFS))],
			noiseRnd: r.Uint64(),
		}
	}
	for i := range 100 {
		p := newPlan(classHuman, humanPhrases[i%len(humanPhrases)])
		p.again = i%4 == 3
		plans = append(plans, p)
	}
	for i := range 100 {
		text := greetings[i%len(greetings)]
		if i%10 == 9 {
			text = shortGreeting
		}
		p := newPlan(classMachine, text)
		p.beep = i%2 == 1 || text == shortGreeting
		if p.beep {
			p.beepHz, p.beepLen, p.gap = beepHz[pick(len(beepHz))], ms(200, 700), ms(150, 600)
		}
		plans = append(plans, p)
	}

	for i := range 48 {
		var p plan
		switch i % 4 {
		case 0:
			p = newPlan(classHuman, longHumans[i/4%len(longHumans)])
			p.hard = hardLongHuman
		case 1:
			p = newPlan(classMachine, shortGreetings[i/4%len(shortGreetings)])
			p.hard = hardShortGreeting
		case 2:
			p = newPlan(classHuman, "Hello?")
			p.hard, p.again, p.againGap = hardHelloHello, true, 800*time.Millisecond
			p.againText = "Hello? Anyone there?"
		case 3:
			p = newPlan(classHuman, humanPhrases[i/4%len(humanPhrases)])
			p.hard, p.level, p.noise = hardLoudNoise, -30, -36
		}
		plans = append(plans, p)
	}

	var us []utterance
	for _, p := range plans {
		us = append(us, p.u)
	}
	us = append(us, utterance{"Hello?", "en-us", 160, 50}, utterance{"Hello? Anyone there?", "en-us", 160, 50})
	synthCache.once.Do(func() { synthCache.m, synthCache.err = synthesize(us) })
	if synthCache.err != nil {
		tb.Fatal(synthCache.err)
	}
	speech := synthCache.m

	var clips []clip
	for i, p := range plans {
		x := silence(p.lead)
		x = append(x, gain(speech[p.u], p.level)...)
		if p.again {
			gap, text := p.againGap, p.againText
			if gap == 0 {
				gap, text = ms(2500, 3500), "Hello?"
			}
			x = append(x, silence(gap)...)
			x = append(x, gain(speech[utterance{text, "en-us", 160, 50}], p.level)...)
		}
		if p.beep {
			x = append(x, silence(p.gap)...)
			x = append(x, tone(p.beepHz, p.beepLen, 0.25)...)
		}
		x = append(x, silence(8*time.Second)...)
		addNoise(x, p.noise, p.noiseRnd)
		p.x = phoneLine(x)
		p.name = fmt.Sprintf("%03d-%s %s -s%d -p%d %.0fdB noise%.0f beep=%v %q", i, p.class, p.u.voice, p.u.speed, p.u.pitch, p.level, p.noise, p.beep, p.u.text)
		clips = append(clips, p.clip)
	}
	// Nobody there: digital silence or line noise only.
	for i := range 12 {
		x := silence(8 * time.Second)
		lvl := noiseDBFS[i%len(noiseDBFS)]
		addNoise(x, lvl, uint64(i))
		x = phoneLine(x)
		clips = append(clips, clip{name: fmt.Sprintf("silence noise%.0f #%d", lvl, i), class: classUnknown, x: x})
	}
	// Fax machines: the calling tone CNG (as a fax that dials out sends
	// it), and the answer tone CED that a called fax plays.
	for i := range 12 {
		x := silence(ms(0, 1500))
		name := "fax CED"
		if i%2 == 0 {
			name = "fax CNG"
			for range 3 {
				x = append(x, tone(1100+float64(pick(61)-30), 500*time.Millisecond, 0.2)...)
				x = append(x, silence(3*time.Second)...)
			}
		} else {
			x = append(x, tone(2100+float64(pick(31)-15), 3300*time.Millisecond, 0.2)...)
			x = append(x, silence(5*time.Second)...)
		}
		lvl := noiseDBFS[i%len(noiseDBFS)]
		addNoise(x, lvl, uint64(100+i))
		x = phoneLine(x)
		clips = append(clips, clip{name: fmt.Sprintf("%s noise%.0f #%d", name, lvl, i), class: classFax, x: x})
	}
	return clips
}

// phoneLine passes x through G.711 µ-law and back, as every clip would
// reach the detector from a PCMU call leg.
func phoneLine(x []int16) []int16 {
	b := make([]byte, len(x))
	media.PCMU.Encode(b, x)
	media.PCMU.Decode(x, b)
	return x
}

// gain scales x to an RMS level of dbfs (relative to a full-scale sine,
// as audio.VAD measures), a copy.
func gain(x []int16, dbfs float64) []int16 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	rms := math.Sqrt(s / float64(max(1, len(x))))
	g := 32768 * math.Pow(10, dbfs/20) / max(rms, 1)
	out := make([]int16, len(x))
	for i, v := range x {
		out[i] = int16(max(-32768, min(32767, math.Round(float64(v)*g))))
	}
	return out
}

// addNoise adds white Gaussian noise at an RMS level of dbfs to x.
func addNoise(x []int16, dbfs float64, seed uint64) {
	if math.IsInf(dbfs, -1) {
		return
	}
	r := rand.New(rand.NewPCG(seed, 99))
	sd := 32768 * math.Pow(10, dbfs/20)
	for i, v := range x {
		x[i] = int16(max(-32768, min(32767, float64(v)+r.NormFloat64()*sd)))
	}
}

// outcome is one clip's decision in one mode.
type outcome struct {
	clip
	Result
	ok bool
}

func detectAll(clips []clip, o Options) []outcome {
	out := make([]outcome, len(clips))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.NumCPU() {
		wg.Go(func() {
			for i := range next {
				r, ok := run(o, clips[i].x)
				out[i] = outcome{clip: clips[i], Result: r, ok: ok}
			}
		})
	}
	for i := range clips {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// TestLabelledSet runs the detector over the generated set in both modes
// and reports the confusion matrix and decision times. The floors are
// set just under what the detector achieves, so a regression fails.
func TestLabelledSet(t *testing.T) {
	needEspeak(t)
	start := time.Now()
	all := buildCorpus(t)
	var clips, hard []clip
	for _, c := range all {
		if c.hard == "" {
			clips = append(clips, c)
		} else {
			hard = append(hard, c)
		}
	}
	t.Logf("%d clips and %d hard cases built in %v", len(clips), len(hard), time.Since(start).Round(time.Millisecond))
	if len(clips) < 200 {
		t.Fatalf("%d clips, want ≥ 200", len(clips))
	}
	for _, mode := range []Mode{DetectMessageEnd, Enable} {
		t.Run(mode.String(), func(t *testing.T) {
			report(t, mode, detectAll(clips, Options{Mode: mode}))
			reportHard(t, detectAll(hard, Options{Mode: mode}))
		})
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// reportHard logs how the hard cases came out, per kind. There is no
// floor: these show the limits of a timing rule, not regressions.
func reportHard(t *testing.T, res []outcome) {
	type tally struct {
		n, ok int
		got   map[AnsweredBy]int
	}
	kinds := map[string]*tally{}
	var order []string
	for _, o := range res {
		k := kinds[o.hard]
		if k == nil {
			k = &tally{got: map[AnsweredBy]int{}}
			kinds[o.hard] = k
			order = append(order, o.hard)
		}
		k.n++
		k.got[o.AnsweredBy]++
		if coarse(o.AnsweredBy) == o.class {
			k.ok++
		}
	}
	var b strings.Builder
	b.WriteString("\n| hard case | truth | correct | detected |\n|---|---|---|---|\n")
	for _, name := range order {
		k := kinds[name]
		var got []string
		for a, n := range k.got {
			got = append(got, fmt.Sprintf("%s %d", a, n))
		}
		slices.Sort(got)
		truth := classHuman
		if name == hardShortGreeting {
			truth = classMachine
		}
		fmt.Fprintf(&b, "| %s | %s | %d/%d | %s |\n", name, truth, k.ok, k.n, strings.Join(got, ", "))
	}
	t.Logf("hard cases:%s", b.String())
}

// Floors on the labelled set (see docs/benchmarks.md).
const (
	floorHumanMachine = 0.97 // correct among human and machine clips (measured 100 %)
	floorOverall      = 0.95 // correct among all clips, coarse class (measured 100 %)
	floorMessageEnd   = 0.95 // machine clips with the right machine_end_* (measured 100 %)
)

func report(t *testing.T, mode Mode, res []outcome) {
	confusion := map[[2]string]int{}
	times := map[string][]time.Duration{}
	var hmTotal, hmOK, allOK, endTotal, endOK int
	for _, o := range res {
		got := coarse(o.AnsweredBy)
		confusion[[2]string{o.class, got}]++
		times[string(o.AnsweredBy)] = append(times[string(o.AnsweredBy)], o.Duration)
		if got == o.class {
			allOK++
		} else {
			t.Logf("miss: %s → %s after %v", o.name, o.AnsweredBy, o.Duration)
		}
		if o.class == classHuman || o.class == classMachine {
			hmTotal++
			if got == o.class {
				hmOK++
			}
		}
		if mode == DetectMessageEnd && o.class == classMachine {
			endTotal++
			want := MachineEndSilence
			if o.beep {
				want = MachineEndBeep
			}
			if o.AnsweredBy == want {
				endOK++
			} else if got == classMachine {
				t.Logf("end miss: %s → %s after %v", o.name, o.AnsweredBy, o.Duration)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| truth \\ detected | %s |\n|---|%s\n", strings.Join(classes, " | "), strings.Repeat("---|", len(classes)))
	for _, c := range classes {
		fmt.Fprintf(&b, "| %s |", c)
		for _, g := range classes {
			fmt.Fprintf(&b, " %d |", confusion[[2]string{c, g}])
		}
		b.WriteString("\n")
	}
	hm := float64(hmOK) / float64(hmTotal)
	all := float64(allOK) / float64(len(res))
	fmt.Fprintf(&b, "\nhuman/machine correct: %d/%d = %.1f %%; all classes: %d/%d = %.1f %%\n", hmOK, hmTotal, 100*hm, allOK, len(res), 100*all)
	if endTotal > 0 {
		fmt.Fprintf(&b, "machine clips with the right machine_end_* value: %d/%d = %.1f %%\n", endOK, endTotal, 100*float64(endOK)/float64(endTotal))
	}
	fmt.Fprintf(&b, "\n| AnsweredBy | n | min | median | p90 | max |\n|---|---|---|---|---|---|\n")
	keys := make([]string, 0, len(times))
	for k := range times {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		d := times[k]
		slices.Sort(d)
		q := func(p float64) string { return fmt.Sprintf("%.2f s", d[int(p*float64(len(d)-1))].Seconds()) }
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |\n", k, len(d), q(0), q(0.5), q(0.9), q(1))
	}
	t.Logf("mode %s:%s", mode, b.String())
	if hm < floorHumanMachine {
		t.Errorf("human/machine accuracy %.1f %% below the floor %.0f %%", 100*hm, 100*floorHumanMachine)
	}
	if all < floorOverall {
		t.Errorf("overall accuracy %.1f %% below the floor %.0f %%", 100*all, 100*floorOverall)
	}
	if endTotal > 0 && float64(endOK)/float64(endTotal) < floorMessageEnd {
		t.Errorf("machine_end_* accuracy %d/%d below the floor %.0f %%", endOK, endTotal, 100*floorMessageEnd)
	}
}
