package stream

import (
	"strconv"

	"github.com/texml/texml/media"
)

// Wire is the message format a stream speaks: one protocol engine (the
// Stream's queues, writer and reader) with two spellings.
type Wire int

// Wire formats.
const (
	// Twilio is Twilio's Media Streams protocol
	// (https://www.twilio.com/docs/voice/media-streams/websocket-messages).
	Twilio Wire = iota
	// Telnyx is Telnyx's media streaming protocol, which TeXML's
	// <Stream> speaks: snake_case fields, stream_id, call_control_id and
	// an error frame
	// (https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming).
	Telnyx
)

// String names the wire format.
func (w Wire) String() string {
	if w == Telnyx {
		return "telnyx"
	}
	return "twilio"
}

// wire builds the platform's messages for one format; seq is the
// message's sequence number (from 1 on start).
type wire interface {
	connected() any
	start(cfg *Config, seq int64, tracks []string, params map[string]string) any
	// mediaEncoder returns the writer of the stream's media messages,
	// which are encoded by hand (encode.go).
	mediaEncoder(sid string) mediaEncoder
	dtmf(cfg *Config, seq int64, digit string) any
	mark(cfg *Config, seq int64, name string) any
	stop(cfg *Config, seq int64) any
	// errorFrame reports an app's message the platform rejects; nil when
	// the format has no such message (Twilio's is warning 31951, on the
	// platform's side only).
	errorFrame(cfg *Config, seq int64, code int, title, detail string) any
	// streamID is the stream id an app's message carries.
	streamID(m *appMsg) string
}

// wireFor returns the format's builder.
func wireFor(w Wire) wire {
	if w == Telnyx {
		return telnyxWire{}
	}
	return twilioWire{}
}

// twilioWire spells Twilio's messages.
type twilioWire struct{}

func (twilioWire) connected() any {
	return connectedMsg{Event: "connected", Protocol: "Call", Version: "1.0.0"}
}

func (twilioWire) env(cfg *Config, event string, seq int64) envelope {
	return envelope{Event: event, SequenceNumber: itoa(seq), StreamSid: cfg.StreamSid}
}

func (w twilioWire) start(cfg *Config, seq int64, tracks []string, params map[string]string) any {
	return startMsg{envelope: w.env(cfg, "start", seq), Start: startBody{
		AccountSid: cfg.AccountSid, StreamSid: cfg.StreamSid, CallSid: cfg.CallSid,
		Tracks: tracks, CustomParameters: params, MediaFormat: mulaw,
	}}
}

func (twilioWire) mediaEncoder(sid string) mediaEncoder {
	return newMediaEncoder("sequenceNumber", "streamSid", sid)
}

func (w twilioWire) dtmf(cfg *Config, seq int64, digit string) any {
	return dtmfMsg{envelope: w.env(cfg, "dtmf", seq), DTMF: dtmfBody{Track: "inbound_track", Digit: digit}}
}

func (w twilioWire) mark(cfg *Config, seq int64, name string) any {
	return markMsg{envelope: w.env(cfg, "mark", seq), Mark: markBody{Name: name}}
}

func (w twilioWire) stop(cfg *Config, seq int64) any {
	return stopMsg{envelope: w.env(cfg, "stop", seq), Stop: stopBody{AccountSid: cfg.AccountSid, CallSid: cfg.CallSid}}
}

func (twilioWire) errorFrame(*Config, int64, int, string, string) any { return nil }

func (twilioWire) streamID(m *appMsg) string { return m.StreamSid }

// codecOr is c, or PCMU when c is the zero Codec.
func codecOr(c media.Codec) media.Codec {
	if c.Name == "" {
		return media.PCMU
	}
	return c
}

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

// The media message is written by hand, not from a struct
// (mediaEncoder, encode.go): it is most of a stream's messages.

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
// bidirectional stream (the page's "Send messages to Twilio"; Telnyx's
// are the same but for stream_id).
type appMsg struct {
	Event     string        `json:"event"`
	StreamSid string        `json:"streamSid"` // Twilio
	StreamID  string        `json:"stream_id"` // Telnyx
	Media     *appMediaBody `json:"media"`
	Mark      *markBody     `json:"mark"`
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
