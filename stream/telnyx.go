package stream

// The messages of Telnyx's media streaming protocol, as its pages show
// them (https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming,
// https://developers.telnyx.com/api-reference/websockets/stream-call-media-over-websocket):
// Twilio's shapes with snake_case names, stream_id for streamSid,
// user_id and call_control_id for the account and the call, a start
// that names the codec of the payloads, and an error frame. As on
// Twilio, sequence_number, chunk and timestamp are strings holding
// integers.

type telnyxConnected struct {
	Event   string `json:"event"`
	Version string `json:"version"`
}

type telnyxEnvelope struct {
	Event          string `json:"event"`
	SequenceNumber string `json:"sequence_number"`
	StreamID       string `json:"stream_id"`
}

type telnyxStart struct {
	telnyxEnvelope
	Start telnyxStartBody `json:"start"`
}

type telnyxStartBody struct {
	UserID           string            `json:"user_id"`
	CallControlID    string            `json:"call_control_id"`
	From             string            `json:"from"`
	To               string            `json:"to"`
	CustomParameters map[string]string `json:"custom_parameters"`
	MediaFormat      telnyxFormat      `json:"media_format"`
}

// telnyxFormat names the payloads' codec: PCMU or PCMA, 8 kHz mono,
// which is what a G.711 SIP leg carries.
type telnyxFormat struct {
	Encoding   string `json:"encoding"`
	SampleRate int    `json:"sample_rate"`
	Channels   int    `json:"channels"`
}

type telnyxDTMF struct {
	telnyxEnvelope
	DTMF telnyxDigit `json:"dtmf"`
}

type telnyxDigit struct {
	Digit string `json:"digit"`
}

type telnyxMark struct {
	telnyxEnvelope
	Mark markBody `json:"mark"`
}

type telnyxStop struct {
	telnyxEnvelope
	Stop telnyxStopBody `json:"stop"`
}

type telnyxStopBody struct {
	UserID        string `json:"user_id"`
	CallControlID string `json:"call_control_id"`
}

// telnyxError is the frame Telnyx sends about a message it rejects.
type telnyxError struct {
	telnyxEnvelope
	Payload telnyxErrorBody `json:"payload"`
}

type telnyxErrorBody struct {
	Code   int    `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

// Telnyx's error frame codes for the app's messages
// (https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming,
// "Error event").
const (
	telnyxMalformedFrame = 100003 // malformed_frame
	telnyxInvalidMedia   = 100004 // invalid_media
)

// telnyxWire spells Telnyx's messages.
type telnyxWire struct{}

func (telnyxWire) connected() any { return telnyxConnected{Event: "connected", Version: "1.0.0"} }

func (telnyxWire) env(cfg *Config, event string, seq int64) telnyxEnvelope {
	return telnyxEnvelope{Event: event, SequenceNumber: itoa(seq), StreamID: cfg.StreamSid}
}

// start is Telnyx's start: it names no tracks (the stream's track
// attribute decides which media messages come). call_session_id,
// client_state and tags are left out: texml has no true value for them
// (as texmlParams leaves CallSessionId out of callbacks).
func (w telnyxWire) start(cfg *Config, seq int64, _ []string, params map[string]string) any {
	return telnyxStart{telnyxEnvelope: w.env(cfg, "start", seq), Start: telnyxStartBody{
		UserID: cfg.AccountSid, CallControlID: cfg.CallSid,
		From: cfg.From, To: cfg.To, CustomParameters: params,
		MediaFormat: telnyxFormat{Encoding: codecOr(cfg.Codec).Name, SampleRate: 8000, Channels: 1},
	}}
}

func (telnyxWire) mediaEncoder(sid string) mediaEncoder {
	return newMediaEncoder("sequence_number", "stream_id", sid)
}

func (w telnyxWire) dtmf(cfg *Config, seq int64, digit string) any {
	return telnyxDTMF{telnyxEnvelope: w.env(cfg, "dtmf", seq), DTMF: telnyxDigit{Digit: digit}}
}

func (w telnyxWire) mark(cfg *Config, seq int64, name string) any {
	return telnyxMark{telnyxEnvelope: w.env(cfg, "mark", seq), Mark: markBody{Name: name}}
}

func (w telnyxWire) stop(cfg *Config, seq int64) any {
	return telnyxStop{telnyxEnvelope: w.env(cfg, "stop", seq), Stop: telnyxStopBody{UserID: cfg.AccountSid, CallControlID: cfg.CallSid}}
}

func (w telnyxWire) errorFrame(cfg *Config, seq int64, code int, title, detail string) any {
	return telnyxError{telnyxEnvelope: w.env(cfg, "error", seq), Payload: telnyxErrorBody{Code: code, Title: title, Detail: detail}}
}

func (telnyxWire) streamID(m *appMsg) string { return m.StreamID }
