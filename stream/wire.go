package stream

import "strconv"

// The messages of Twilio's Media Streams protocol, as its page shows them
// (https://www.twilio.com/docs/voice/media-streams/websocket-messages).
// sequenceNumber, chunk and timestamp are strings holding integers there,
// and so they are here.

// connectedMsg is the first message: the protocol the others follow.
type connectedMsg struct {
	Event    string `json:"event"`
	Protocol string `json:"protocol"`
	Version  string `json:"version"`
}

// envelope is what every later message from the platform carries.
type envelope struct {
	Event          string `json:"event"`
	SequenceNumber string `json:"sequenceNumber"`
	StreamSid      string `json:"streamSid"`
}

type startMsg struct {
	envelope
	Start startBody `json:"start"`
}

type startBody struct {
	AccountSid       string            `json:"accountSid"`
	StreamSid        string            `json:"streamSid"`
	CallSid          string            `json:"callSid"`
	Tracks           []string          `json:"tracks"`
	CustomParameters map[string]string `json:"customParameters"`
	MediaFormat      mediaFormat       `json:"mediaFormat"`
}

// mediaFormat is the one format Twilio streams: G.711 µ-law, 8 kHz, mono.
type mediaFormat struct {
	Encoding   string `json:"encoding"`
	SampleRate int    `json:"sampleRate"`
	Channels   int    `json:"channels"`
}

var mulaw = mediaFormat{Encoding: "audio/x-mulaw", SampleRate: 8000, Channels: 1}

type mediaMsg struct {
	envelope
	Media mediaBody `json:"media"`
}

type mediaBody struct {
	Track     string `json:"track,omitempty"`
	Chunk     string `json:"chunk,omitempty"`
	Timestamp string `json:"timestamp,omitempty"`
	// Payload is base64 µ-law without a file header. encoding/json
	// encodes and decodes a []byte as standard base64, which is what
	// the protocol uses.
	Payload []byte `json:"payload"`
}

type dtmfMsg struct {
	envelope
	DTMF dtmfBody `json:"dtmf"`
}

type dtmfBody struct {
	Track string `json:"track"`
	Digit string `json:"digit"`
}

type markMsg struct {
	envelope
	Mark markBody `json:"mark"`
}

type markBody struct {
	Name string `json:"name"`
}

type stopMsg struct {
	envelope
	Stop stopBody `json:"stop"`
}

type stopBody struct {
	AccountSid string `json:"accountSid"`
	CallSid    string `json:"callSid"`
}

// appMsg is any message from the app: media, mark or clear on a
// bidirectional stream (the page's "Send messages to Twilio").
type appMsg struct {
	Event     string     `json:"event"`
	StreamSid string     `json:"streamSid"`
	Media     *mediaBody `json:"media"`
	Mark      *markBody  `json:"mark"`
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
