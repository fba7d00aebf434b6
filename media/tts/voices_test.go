package tts

import (
	"os"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		voice, language string
		want            Voice
		warn            bool
	}{
		{"", "", Voice{"en-us", "en-US", Male}, false},
		{"man", "en-US", Voice{"en-us", "en-US", Male}, false},
		{"woman", "en-US", Voice{"en-us+f3", "en-US", Female}, false},
		{"alice", "en-GB", Voice{"en-gb+f3", "en-GB", Female}, false},
		{"alice", "fr-CA", Voice{"fr-fr+f3", "fr-CA", Female}, false},
		{"man", "es-MX", Voice{"es-419", "es-MX", Male}, false},
		{"Polly.Joanna", "", Voice{"en-us+f3", "en-US", Female}, false},
		{"Polly.Matthew", "", Voice{"en-us", "en-US", Male}, false},
		{"Polly.Joanna-Neural", "", Voice{"en-us+f3", "en-US", Female}, false},
		{"Polly.Matthew-Generative", "", Voice{"en-us", "en-US", Male}, false},
		{"AWS.Polly.Brian", "", Voice{"en-gb", "en-GB", Male}, false},
		// Polly voices speak their own language whatever the attribute.
		{"Polly.Hans", "en-US", Voice{"de", "de-DE", Male}, false},
		{"Polly.Céline", "", Voice{"fr-fr+f3", "fr-FR", Female}, false},
		{"Polly.Celine", "", Voice{"fr-fr+f3", "fr-FR", Female}, false},
		{"Polly.Vitória-Neural", "", Voice{"pt-br+f3", "pt-BR", Female}, false},
		{"Polly.Zhiyu", "", Voice{"cmn+f3", "cmn-CN", Female}, false},
		{"Polly.Zeina", "", Voice{"ar+f3", "arb", Female}, false},
		{"Polly.Takumi", "", Voice{"ja", "ja-JP", Male}, false},
		{"Google.en-GB-Standard-A", "", Voice{"en-gb", "en-GB", Unspecified}, false},
		{"Google.cmn-CN-Wavenet-B", "en-US", Voice{"cmn", "cmn-CN", Unspecified}, false},
		{"Google.es-419-Neural2-A", "", Voice{"es-419", "es-419", Unspecified}, false},
		{"Google.de-DE-Chirp3-HD-Aoede", "", Voice{"de", "de-DE", Unspecified}, false},
		{"Azure.en-AU-NatashaNeural", "", Voice{"en-gb", "en-AU", Unspecified}, false},
		{"Telnyx.KokoroTTS.af", "", Voice{"en-us+f3", "en-US", Female}, false},
		{"Telnyx.KokoroTTS.am_adam", "en-GB", Voice{"en-gb", "en-GB", Male}, false},
		{"Telnyx.Natural.abbie", "it-IT", Voice{"it", "it-IT", Unspecified}, false},
		{"Telnyx.NaturalHD.astra", "", Voice{"en-us", "en-US", Unspecified}, false},
		{"ElevenLabs.eleven_multilingual_v2.Rachel", "nl-NL", Voice{"nl", "nl-NL", Unspecified}, false},
		// Unknown names fall back with a warning, never silence.
		{"Polly.Nobody", "de-DE", Voice{"de", "de-DE", Unspecified}, true},
		{"robot", "", Voice{"en-us", "en-US", Unspecified}, true},
		{"Google.Standard-A", "", Voice{"en-us", "en-US", Unspecified}, true},
		{"Google", "", Voice{"en-us", "en-US", Unspecified}, true},
		{"man", "xx-YY", Voice{"en-us", "en-US", Male}, true},
		// Regional variants without an entry use their language.
		{"woman", "de-LU", Voice{"de+f3", "de-DE", Female}, false},
		{"man", "en_gb", Voice{"en-gb", "en-GB", Male}, false},
	}
	for _, tt := range tests {
		t.Run(tt.voice+"/"+tt.language, func(t *testing.T) {
			got, warnings := Resolve(tt.voice, tt.language)
			if got != tt.want {
				t.Errorf("Resolve = %+v, want %+v", got, tt.want)
			}
			if (len(warnings) > 0) != tt.warn {
				t.Errorf("warnings = %q, want warning: %v", warnings, tt.warn)
			}
		})
	}
}

func TestResolveEveryPollyVoice(t *testing.T) {
	for name, p := range pollyVoices {
		v, warnings := Resolve("Polly."+name, "")
		if len(warnings) > 0 || v.Gender != p.gender {
			t.Errorf("Polly.%s: %+v %q", name, v, warnings)
		}
		if _, _, ok := lookupLanguage(p.language); !ok {
			t.Errorf("Polly.%s: language %s not in the language table", name, p.language)
		}
	}
}

// TestVoicesDoc keeps docs/voices.md in step with the tables: every
// language tag, espeak-ng voice and Polly name appears in it.
func TestVoicesDoc(t *testing.T) {
	b, err := os.ReadFile("../../docs/voices.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.ToLower(foldAccents(string(b)))
	for key, l := range languages {
		if !strings.Contains(doc, "`"+key+"`") {
			t.Errorf("docs/voices.md lacks language key `%s`", key)
		}
		if !strings.Contains(doc, "`"+l.espeak+"`") {
			t.Errorf("docs/voices.md lacks espeak-ng voice `%s`", l.espeak)
		}
	}
	for name := range pollyVoices {
		if !strings.Contains(doc, name) {
			t.Errorf("docs/voices.md lacks Polly voice %s", name)
		}
	}
}
