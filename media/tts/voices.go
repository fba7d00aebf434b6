package tts

import (
	"fmt"
	"strings"
)

// Voice is the espeak-ng voice chosen for a TwiML voice and language.
type Voice struct {
	// Espeak is the argument of espeak-ng -v: a language voice, with the
	// "+f3" variant for a female voice (espeak-ng's language voices are
	// male), e.g. "en-us" or "en-us+f3".
	Espeak string
	// Language is the BCP-47 tag the voice speaks, as the table spells
	// it ("en-US"); it is the requested one unless a warning says
	// otherwise.
	Language string
	// Gender is what the voice name asked for; Unspecified speaks with
	// the language's default (male) voice.
	Gender Gender
}

// DefaultLanguage is TwiML's default <Say> language.
const DefaultLanguage = "en-US"

// femaleVariant is the espeak-ng variant used for every female voice.
// espeak-ng ships several (f1..f5); f3 is clearly female at telephone
// bandwidth.
const femaleVariant = "+f3"

// Resolve maps a TwiML voice attribute and language attribute to an
// espeak-ng voice. It never fails: a voice name or language it does not
// know falls back to the language's default voice (or to en-US) and adds a
// warning saying what was substituted, because a caller must hear the
// prompt in some voice rather than silence. The rules:
//
//   - "" and man: male; woman and alice: female; the language attribute
//     picks the language.
//   - Polly.<Name>, Polly.<Name>-Neural, -Generative, -LongForm and
//     AWS.Polly.<Name>: the name's language and gender from the Polly
//     table; the language attribute is ignored, as on Telnyx
//     (https://developers.telnyx.com/docs/voice/programmable-voice/texml-verbs/say).
//   - Google.<locale>-<kind>-<X> and Azure.<locale>-<Name>: the locale in
//     the name; those names do not say the gender.
//   - Telnyx.<model>.<voice>: the language attribute; a KokoroTTS voice id
//     ("af", "am_adam", "bf_emma") carries the gender in its second letter.
//   - ElevenLabs.*, Resemble.*, Minimax.*, Rime.*, Inworld.*: the language
//     attribute and the default voice.
func Resolve(voice, language string) (Voice, []string) {
	var warnings []string
	gender, nameLang, known := parseVoice(strings.TrimSpace(voice))
	if !known {
		warnings = append(warnings, fmt.Sprintf("unknown voice %q: using the default voice for the language", voice))
	}
	lang := strings.TrimSpace(language)
	if nameLang != "" {
		lang = nameLang
	}
	if lang == "" {
		lang = DefaultLanguage
	}
	tag, espeak, ok := lookupLanguage(lang)
	if !ok {
		warnings = append(warnings, fmt.Sprintf("unsupported language %q: speaking %s", lang, DefaultLanguage))
		tag, espeak, _ = lookupLanguage(DefaultLanguage)
	}
	if gender == Female {
		espeak += femaleVariant
	}
	return Voice{Espeak: espeak, Language: tag, Gender: gender}, warnings
}

// parseVoice reads a TwiML voice name: the gender it asks for, the
// language it implies ("" when the language attribute decides), and
// whether the name was understood at all.
func parseVoice(v string) (g Gender, lang string, known bool) {
	lower := strings.ToLower(v)
	switch lower {
	case "", "man":
		return Male, "", true
	case "woman", "alice":
		return Female, "", true
	}
	provider, rest, _ := strings.Cut(lower, ".")
	switch provider {
	case "aws":
		if p, name, ok := strings.Cut(rest, "."); ok && p == "polly" {
			return parsePolly(name)
		}
	case "polly":
		return parsePolly(rest)
	case "google", "azure":
		if locale := leadingLocale(rest); locale != "" {
			return Unspecified, locale, true
		}
	case "telnyx":
		return parseTelnyx(rest), "", true
	case "elevenlabs", "resemble", "minimax", "rime", "inworld":
		if rest != "" {
			return Unspecified, "", true
		}
	}
	return Unspecified, "", false
}

// parsePolly looks a Polly voice up by name. The engine suffix only picks
// Amazon's engine, not a different speaker, so it is dropped.
func parsePolly(name string) (Gender, string, bool) {
	for _, suffix := range []string{"-neural", "-generative", "-longform", "-standard"} {
		name = strings.TrimSuffix(name, suffix)
	}
	p, ok := pollyVoices[foldAccents(name)]
	if !ok {
		return Unspecified, "", false
	}
	return p.gender, p.language, true
}

// parseTelnyx reads the gender of a Telnyx voice. KokoroTTS voice ids are
// a language letter, then f or m, then an optional _name ("af_heart",
// "am_adam"; Kokoro-82M's published naming convention). Other Telnyx
// models' names say nothing we can rely on.
func parseTelnyx(rest string) Gender {
	model, id, _ := strings.Cut(rest, ".")
	if !strings.Contains(model, "kokoro") || len(id) < 2 {
		return Unspecified
	}
	if len(id) > 2 && id[2] != '_' {
		return Unspecified
	}
	switch id[1] {
	case 'f':
		return Female
	case 'm':
		return Male
	}
	return Unspecified
}

// leadingLocale returns the BCP-47 locale at the start of a provider voice
// name such as "en-GB-Standard-A", "cmn-CN-Wavenet-B" or
// "es-419-Neural2-A": a language subtag of two or three letters and a
// region of two letters or three digits.
func leadingLocale(name string) string {
	parts := strings.Split(name, "-")
	if len(parts) < 2 || !isAlpha(parts[0]) || len(parts[0]) < 2 || len(parts[0]) > 3 {
		return ""
	}
	r := parts[1]
	if (len(r) == 2 && isAlpha(r)) || (len(r) == 3 && isDigits(r)) {
		return parts[0] + "-" + r
	}
	return ""
}

func isAlpha(s string) bool {
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return s != ""
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// lookupLanguage finds the espeak-ng voice for a BCP-47 tag: the exact
// tag first ("en-AU"), then its primary language ("en-ZA" → "en"), so a
// regional variant we have no entry for still gets its language.
func lookupLanguage(tag string) (canonical, espeak string, ok bool) {
	key := strings.ToLower(strings.ReplaceAll(tag, "_", "-"))
	if l, ok := languages[key]; ok {
		return l.tag, l.espeak, true
	}
	primary, _, _ := strings.Cut(key, "-")
	if l, ok := languages[primary]; ok {
		return l.tag, l.espeak, true
	}
	return "", "", false
}

// foldAccents lowercases a Polly name and strips the accents Amazon uses
// in some of them (Céline, Léa, Lucía, Penélope, Vitória, Inês, Dóra,
// Rémi), since TwiML apps write both spellings.
func foldAccents(s string) string {
	return accentFolder.Replace(strings.ToLower(s))
}

var accentFolder = strings.NewReplacer(
	"á", "a", "à", "a", "â", "a", "ã", "a", "ä", "a",
	"é", "e", "è", "e", "ê", "e", "ë", "e",
	"í", "i", "ì", "i", "î", "i", "ï", "i",
	"ó", "o", "ò", "o", "ô", "o", "õ", "o", "ö", "o",
	"ú", "u", "ù", "u", "û", "u", "ü", "u",
	"ç", "c", "ñ", "n",
)
