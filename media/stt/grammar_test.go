package stt

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseHints(t *testing.T) {
	dict := dictionary{
		"sales": "sales S EY L Z\n", "customer": "customer K AH S T AH M ER\n",
		"service": "service S ER V AH S\nservice(2) S ER V IH S\n", "don't": "don't D OW N T\n",
		"one": "one W AH N\n", "two": "two T UW\n", "press": "press P R EH S\n",
	}
	g := parseHints(" Sales , Customer Service,, customer   service, Don't!, press 12, xyzzy, $OOV_CLASS_DIGIT_SEQUENCE, "+strings.Repeat("a", 101), dict)
	want := []string{"sales", "customer service", "don't", "press one two"}
	if !reflect.DeepEqual(g.phrases, want) {
		t.Errorf("phrases %q, want %q", g.phrases, want)
	}
	if !reflect.DeepEqual(g.words, []string{"sales", "customer", "service", "don't", "press", "one", "two"}) {
		t.Errorf("words %q", g.words)
	}
	if len(g.warnings) != 3 {
		t.Errorf("warnings %q, want xyzzy, the class and the long hint", g.warnings)
	}
	if got := g.jsgf(); got != "#JSGF V1.0;\ngrammar hints;\npublic <hint> = sales | customer service | don't | press one two;\n" {
		t.Errorf("jsgf:\n%s", got)
	}
	if got := g.dict(dict); !strings.Contains(got, "service(2) S ER V IH S\n") || strings.Count(got, "\n") != 8 {
		t.Errorf("dict:\n%s", got)
	}
}

func TestParseHintsDropsUnknownWordsInPhrase(t *testing.T) {
	g := parseHints("sales department", dictionary{"sales": "sales S EY L Z\n"})
	if !reflect.DeepEqual(g.phrases, []string{"sales"}) || len(g.warnings) != 1 {
		t.Errorf("%+v", g)
	}
}

func TestParseOutput(t *testing.T) {
	text, words, err := parseOutput("customer service(2) (utt -4775)\n",
		"utt 1 0.33 0.46 customer 1.000\nutt 1 0.80 0.47 service(2) 0.900\nutt 1 1.30 0.10 <sil> 1.000\n")
	if err != nil {
		t.Fatal(err)
	}
	if text != "customer service" {
		t.Errorf("text %q", text)
	}
	want := []word{{"customer", 0.33, 0.46, 1}, {"service", 0.80, 0.47, 0.9}}
	if !reflect.DeepEqual(words, want) {
		t.Errorf("words %+v", words)
	}
	if text, words, err := parseOutput(" (utt 0)\n", ""); err != nil || text != "" || len(words) != 0 {
		t.Errorf("empty: %q %v %v", text, words, err)
	}
	if _, _, err := parseOutput("garbage", ""); err == nil {
		t.Error("garbage hypothesis accepted")
	}
	if _, _, err := parseOutput("a (utt 1)", "utt 1 x y a z"); err == nil {
		t.Error("garbage CTM accepted")
	}
}

func TestConfidence(t *testing.T) {
	// Ten speech frames (0.2 s) starting at the padding's end.
	frames := make([]bool, 20)
	for i := 5; i < 15; i++ {
		frames[i] = true
	}
	speechStart := padSeconds + 0.1
	all := []word{{text: "sales", start: speechStart, dur: 0.2}}
	if c := coverage(all, frames); c != 0.95 {
		t.Errorf("full coverage %v, want the 0.95 cap", c)
	}
	half := []word{{text: "no", start: speechStart, dur: 0.09}}
	if c := coverage(half, frames); c < 0.4 || c > 0.7 {
		t.Errorf("half coverage %v", c)
	}
	if c := meanPosterior([]word{{posterior: 0.2}, {posterior: 0.6}}); c < 0.399 || c > 0.401 {
		t.Errorf("mean posterior %v", c)
	}
}

func TestSpeechDetection(t *testing.T) {
	s := make([]int16, 8000)
	if hasSpeech(speechFrames(s)) {
		t.Error("silence is speech")
	}
	for i := range 480 { // 60 ms of a loud square wave
		s[4000+i] = 3000 - 6000*int16(i/8%2)
	}
	if !hasSpeech(speechFrames(s)) {
		t.Error("60 ms of -20 dBFS sound is not speech")
	}
	c := condition(s, speechFrames(s))
	if len(c) != 2*(len(s)+2*int(padSeconds*8000)) {
		t.Errorf("conditioned length %d", len(c))
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 64}
	b.Write([]byte(strings.Repeat("INFO: noise\n", 50)))
	b.Write([]byte("ERROR: \"fsg.c\", line 1: bad grammar\n"))
	if got := b.errors(); got != `ERROR: "fsg.c", line 1: bad grammar` {
		t.Errorf("errors() = %q", got)
	}
	if len(b.buf) > 64 {
		t.Errorf("kept %d bytes", len(b.buf))
	}
}

func TestLoadDictionary(t *testing.T) {
	path := t.TempDir() + "/d.dict"
	content := "a AH\na(2) EY\nb B IY\r\nc S IY\nb(2) B IH\nd D IY"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := loadDictionary(path)
	if err != nil {
		t.Fatal(err)
	}
	want := dictionary{"a": "a AH\na(2) EY\n", "b": "b B IY\nb(2) B IH\n", "c": "c S IY\n", "d": "d D IY\n"}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("got %q", d)
	}
	if _, err := loadDictionary(t.TempDir() + "/missing"); err == nil {
		t.Error("missing file accepted")
	}
}
