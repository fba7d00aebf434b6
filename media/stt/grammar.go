package stt

import (
	"fmt"
	"os"
	"strings"
)

// Hint limits. Twilio documents hints of up to 100 characters each; the
// phrase count bound keeps a grammar (and the process it runs in) small
// whatever an app sends.
const (
	maxHintChars   = 100
	maxHintPhrases = 500
)

// dictionary is the pronouncing dictionary (CMUdict as pocketsphinx-en-us
// ships it): each word's lines, alternates ("word(2) ...") included,
// ready to be copied into a grammar's small dictionary.
type dictionary map[string]string

// loadDictionary reads a pocketsphinx dictionary: one "word PHONES..."
// entry a line, alternate pronunciations written "word(2) PHONES...". The
// file is kept as one string and the map's keys and values are slices of
// it, so 134,000 entries cost little more than the file's 3.6 MB.
// CMUdict lists a word's alternates right after it, so a word's lines are
// one contiguous slice; any that are not are concatenated.
func loadDictionary(path string) (dictionary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pocketsphinx dictionary: %w", err)
	}
	text := string(b)
	d := make(dictionary, 140000)
	var prevWord string
	prevStart := -1 // where prevWord's contiguous run of lines starts; -1 for none
	for off := 0; off < len(text); {
		end := len(text)
		if i := strings.IndexByte(text[off:], '\n'); i >= 0 {
			end = off + i + 1
		}
		raw := text[off:end]
		line := strings.TrimRight(raw, "\r\n")
		word, _, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(word, '('); i > 0 {
			word = word[:i]
		}
		clean := raw == line+"\n" // can be sliced as it is
		switch prev, seen := d[word]; {
		case !ok || word == "":
		case word == prevWord && prevStart >= 0 && clean:
			d[word] = text[prevStart:end]
		case seen:
			d[word] = prev + line + "\n"
			prevWord, prevStart = word, -1
		case clean:
			d[word] = raw
			prevWord, prevStart = word, off
		default:
			d[word] = line + "\n"
			prevWord, prevStart = word, -1
		}
		off = end
	}
	if len(d) == 0 {
		return nil, fmt.Errorf("pocketsphinx dictionary %s: empty", path)
	}
	return d, nil
}

// grammar is a hint list turned into something the decoder can search.
type grammar struct {
	phrases  []string // lowercase words joined by single spaces
	words    []string // the distinct words, in first-use order
	warnings []string
}

// digitWords spells digits the way a caller says them one by one: Gather
// hints such as "1, 2, 3" or an account number must become words the
// dictionary has.
var digitWords = [...]string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}

// parseHints turns the Gather hints attribute into grammar phrases.
// Phrases are lowercased; punctuation around words is dropped; digits are
// spelled out; words the dictionary lacks are dropped with a warning (the
// decoder cannot recognize a word it cannot pronounce), and a phrase left
// with no words is dropped. Class tokens such as
// $OOV_CLASS_DIGIT_SEQUENCE belong to Google's recognizer and are
// reported as unsupported.
func parseHints(hints string, dict dictionary) grammar {
	var g grammar
	seenPhrase := map[string]bool{}
	seenWord := map[string]bool{}
	for _, raw := range strings.Split(hints, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		if len(g.phrases) == maxHintPhrases {
			g.warnings = append(g.warnings, fmt.Sprintf("more than %d hints: the rest are ignored", maxHintPhrases))
			break
		}
		if len(raw) > maxHintChars {
			g.warnings = append(g.warnings, fmt.Sprintf("hint %q is longer than %d characters: ignored", raw, maxHintChars))
			continue
		}
		var words []string
		for _, tok := range strings.Fields(strings.ToLower(raw)) {
			if strings.HasPrefix(tok, "$") {
				g.warnings = append(g.warnings, fmt.Sprintf("hint class %s is not supported: ignored", tok))
				continue
			}
			for _, w := range normalizeToken(tok) {
				if _, ok := dict[w]; !ok {
					g.warnings = append(g.warnings, fmt.Sprintf("hint word %q is not in the pocketsphinx dictionary: dropped", w))
					continue
				}
				words = append(words, w)
			}
		}
		if len(words) == 0 {
			continue
		}
		phrase := strings.Join(words, " ")
		if seenPhrase[phrase] {
			continue
		}
		seenPhrase[phrase] = true
		g.phrases = append(g.phrases, phrase)
		for _, w := range words {
			if !seenWord[w] {
				seenWord[w] = true
				g.words = append(g.words, w)
			}
		}
	}
	return g
}

// normalizeToken reduces one lowercase token to dictionary words: letters
// and inner apostrophes are kept ("don't"), digits become their names,
// anything else separates words.
func normalizeToken(tok string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		w := strings.Trim(cur.String(), "'")
		if w != "" {
			out = append(out, w)
		}
		cur.Reset()
	}
	for _, c := range tok {
		switch {
		case c >= 'a' && c <= 'z', c == '\'':
			cur.WriteRune(c)
		case c >= '0' && c <= '9':
			flush()
			out = append(out, digitWords[c-'0'])
		default:
			flush()
		}
	}
	flush()
	return out
}

// jsgf renders the phrases as a JSGF grammar: one public rule that is an
// alternation of the phrases, so the decoder chooses exactly one.
func (g grammar) jsgf() string {
	var b strings.Builder
	b.WriteString("#JSGF V1.0;\ngrammar hints;\npublic <hint> = ")
	b.WriteString(strings.Join(g.phrases, " | "))
	b.WriteString(";\n")
	return b.String()
}

// dict renders the small dictionary with just the grammar's words. A
// decoder that loads 6 entries instead of CMUdict's 134,000 starts in a
// few milliseconds instead of a hundred.
func (g grammar) dict(full dictionary) string {
	var b strings.Builder
	for _, w := range g.words {
		b.WriteString(full[w])
	}
	return b.String()
}
