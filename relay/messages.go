package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Kind tells what an app's message asks for.
type Kind int

// The app's messages
// (https://www.twilio.com/docs/voice/conversationrelay/websocket-messages).
const (
	Text       Kind = iota // speak Token (a piece of an utterance)
	Play                   // play the audio at Source
	SendDigits             // send Digits as DTMF
	Language               // switch TTSLanguage and/or STTLanguage
	End                    // end the session, with HandoffData
)

// String returns the message's type as the app spells it.
func (k Kind) String() string {
	return [...]string{"text", "play", "sendDigits", "language", "end"}[k]
}

// Interruptible values: which caller input may cut the agent's speech
// off (the interruptible attribute of <ConversationRelay> and of text and
// play messages).
const (
	InterruptNone   = "none"
	InterruptDTMF   = "dtmf"
	InterruptSpeech = "speech"
	InterruptAny    = "any"
)

// Message is one message from the app.
type Message struct {
	Kind Kind
	// Token and Last (Text): a piece of the agent's utterance, and
	// whether it is the utterance's last.
	Token string
	Last  bool
	// Lang is the TTS language of this text (Text), "" for the session's.
	Lang string
	// Interruptible ("none", "dtmf", "speech", "any") and Preemptible
	// override the session's for this text or play; "" and nil keep it.
	Interruptible string
	Preemptible   *bool
	// Source and Loop (Play): the media URL and how many times to play
	// it (0 and 1 both mean once).
	Source string
	Loop   int
	// Digits (SendDigits): DTMF to send; "w" is a half-second pause.
	Digits string
	// TTSLanguage and STTLanguage (Language): the new languages, ""
	// for unchanged.
	TTSLanguage, STTLanguage string
	// HandoffData (End): what the Connect action receives.
	HandoffData string
}

// appMsg is the JSON of every message the app may send; fields a type
// does not use are ignored, as Twilio does.
type appMsg struct {
	Type                  string          `json:"type"`
	Token                 *string         `json:"token"`
	Last                  *bool           `json:"last"`
	Lang                  string          `json:"lang"`
	Interruptible         json.RawMessage `json:"interruptible"`
	Preemptible           json.RawMessage `json:"preemptible"`
	Source                string          `json:"source"`
	Loop                  json.RawMessage `json:"loop"`
	Digits                string          `json:"digits"`
	TTSLanguage           string          `json:"ttsLanguage"`
	TranscriptionLanguage string          `json:"transcriptionLanguage"`
	HandoffData           json.RawMessage `json:"handoffData"`
}

// Parse reads one message from the app. Its error says what is wrong,
// for the error message the app receives (Twilio's 64107).
func Parse(data []byte) (Message, error) {
	var m appMsg
	if err := json.Unmarshal(data, &m); err != nil {
		return Message{}, fmt.Errorf("not a JSON object: %w", err)
	}
	var out Message
	var err error
	switch m.Type {
	case "text":
		if m.Token == nil {
			return out, errors.New("a text message without a token")
		}
		out = Message{Kind: Text, Token: *m.Token, Lang: m.Lang}
		if m.Last != nil {
			out.Last = *m.Last
		}
	case "play":
		if strings.TrimSpace(m.Source) == "" {
			return out, errors.New("a play message without a source")
		}
		out = Message{Kind: Play, Source: strings.TrimSpace(m.Source)}
		if out.Loop, err = loopCount(m.Loop); err != nil {
			return out, err
		}
	case "sendDigits":
		if m.Digits == "" {
			return out, errors.New("a sendDigits message without digits")
		}
		for _, r := range m.Digits {
			if !strings.ContainsRune("0123456789*#ABCDabcdwW", r) {
				return out, fmt.Errorf("sendDigits: %q is not a DTMF digit or pause", r)
			}
		}
		out = Message{Kind: SendDigits, Digits: m.Digits}
	case "language":
		if m.TTSLanguage == "" && m.TranscriptionLanguage == "" {
			return out, errors.New("a language message without ttsLanguage or transcriptionLanguage")
		}
		out = Message{Kind: Language, TTSLanguage: m.TTSLanguage, STTLanguage: m.TranscriptionLanguage}
	case "end":
		out = Message{Kind: End, HandoffData: handoff(m.HandoffData)}
	case "":
		return out, errors.New("a message without a type")
	default:
		return out, fmt.Errorf("unknown message type %q; the app may send text, play, sendDigits, language and end", m.Type)
	}
	if out.Kind == Text || out.Kind == Play {
		if out.Interruptible, err = Interruptible(m.Interruptible); err != nil {
			return out, err
		}
		if out.Preemptible, err = optBool("preemptible", m.Preemptible); err != nil {
			return out, err
		}
	}
	return out, nil
}

// Interruptible reads an interruptible value: "none", "dtmf", "speech",
// "any", or the older booleans (true is any, false none), as a JSON
// string or boolean; "" when absent.
func Interruptible(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return boolInterrupt(b), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("interruptible: %s is neither a string nor a boolean", raw)
	}
	return InterruptValue(s)
}

// InterruptValue normalizes an interruptible string, as the attribute
// takes it.
func InterruptValue(s string) (string, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case InterruptNone, InterruptDTMF, InterruptSpeech, InterruptAny:
		return v, nil
	case "true":
		return InterruptAny, nil
	case "false":
		return InterruptNone, nil
	}
	return "", fmt.Errorf("interruptible: %q is not none, dtmf, speech or any", s)
}

func boolInterrupt(b bool) string {
	if b {
		return InterruptAny
	}
	return InterruptNone
}

// optBool reads an optional boolean, also spelled as a string.
func optBool(name string, raw json.RawMessage) (*bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return &b, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && (s == "true" || s == "false") {
		b = s == "true"
		return &b, nil
	}
	return nil, fmt.Errorf("%s: %s is not a boolean", name, raw)
}

// loopCount reads play's loop: a count, 0 or absent for once.
func loopCount(raw json.RawMessage) (int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 1, nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, fmt.Errorf("loop: %s is not a number", raw)
		}
		if _, err := fmt.Sscan(s, &n); err != nil {
			return 0, fmt.Errorf("loop: %q is not a number", s)
		}
	}
	if n < 0 || n > 1000 {
		return 0, fmt.Errorf("loop: %d is out of range 0-1000", n)
	}
	return max(n, 1), nil
}

// handoff keeps end's handoffData as the string the app meant: a JSON
// string's contents, or any other JSON value as written (apps send an
// object as often as a string of JSON).
func handoff(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// The platform's messages.
type (
	setupMsg struct {
		Type             string            `json:"type"`
		SessionID        string            `json:"sessionId"`
		AccountSid       string            `json:"accountSid"`
		ParentCallSid    string            `json:"parentCallSid"`
		CallSid          string            `json:"callSid"`
		From             string            `json:"from"`
		To               string            `json:"to"`
		ForwardedFrom    string            `json:"forwardedFrom"`
		CallType         string            `json:"callType"`
		CallerName       string            `json:"callerName"`
		Direction        string            `json:"direction"`
		CallStatus       string            `json:"callStatus"`
		CustomParameters map[string]string `json:"customParameters"`
		// Telnyx's setup also names the call's control ids
		// (https://developers.telnyx.com/api-reference/websockets/conversationrelay-websocket-channel).
		CallControlID string `json:"callControlId,omitempty"`
		CallSessionID string `json:"callSessionId,omitempty"`
		CallLegID     string `json:"callLegId,omitempty"`
	}
	promptMsg struct {
		Type        string `json:"type"`
		VoicePrompt string `json:"voicePrompt"`
		Lang        string `json:"lang"`
		Last        bool   `json:"last"`
	}
	dtmfMsg struct {
		Type  string `json:"type"`
		Digit string `json:"digit"`
	}
	interruptMsg struct {
		Type                     string `json:"type"`
		UtteranceUntilInterrupt  string `json:"utteranceUntilInterrupt"`
		DurationUntilInterruptMs int64  `json:"durationUntilInterruptMs"`
	}
	errorMsg struct {
		Type        string `json:"type"`
		Description string `json:"description"`
	}
	// infoMsg is a debug message (see Info).
	infoMsg struct {
		Type  string `json:"type"`
		Name  string `json:"name"`
		Value string `json:"value"`
		TS    int64  `json:"ts,omitempty"`
	}
)
