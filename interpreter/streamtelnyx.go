package interpreter

import (
	"fmt"
	"strings"

	"github.com/texml/texml/media"
	"github.com/texml/texml/stream"
	"github.com/texml/texml/verbs"
)

// streamDialect sets the stream's wire format from the call's dialect.
// A TeXML call's <Stream> speaks Telnyx's protocol, with the codecs its
// attributes ask for
// (https://developers.telnyx.com/docs/voice/programmable-voice/texml-verbs/stream,
// https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming).
// The SIP leg carries G.711 at 8 kHz, so:
//
//   - codec: PCMU or PCMA; "default" (or none) is the call's codec, as
//     Telnyx does. G722, OPUS and AMR-WB are codecs Telnyx falls back
//     from "when transcoding is not possible", as it is not here: the
//     call's codec is used, with a warning.
//   - bidirectionalMode: mp3 (Telnyx's default: each media message an
//     MP3 file) or rtp (raw payloads in bidirectionalCodec).
//   - bidirectionalCodec (rtp mode): PCMU (default) or PCMA; others are
//     refused.
//   - bidirectionalSamplingRate (rtp mode): 8000 only; 16000 and 24000
//     are refused.
//
// It returns why the stream cannot run; the call then reports it as a
// stream-error and goes on without the stream.
func (c *Call) streamDialect(n *verbs.Stream, cfg *stream.Config) error {
	telnyxAttrs := n.Codec != "" || n.BidirectionalMode != "" || n.BidirectionalCodec != "" || n.BidirectionalSamplingRate != 0
	if c.cfg.Dialect != verbs.TeXML {
		if telnyxAttrs {
			p := n.Position()
			c.warn(fmt.Sprintf("%d:%d: <Stream> codec and bidirectional* are TeXML's; ignored in the twiml dialect, which streams µ-law", p.Line, p.Col), 0)
		}
		return nil
	}
	cfg.Wire, cfg.From, cfg.To = stream.Telnyx, c.cfg.From, c.cfg.To
	callCodec := media.PCMU
	if strings.EqualFold(c.cfg.ExtraParams.Get("Codec"), "PCMA") {
		callCodec = media.PCMA
	}
	switch strings.ToUpper(n.Codec) {
	case "PCMU":
		cfg.Codec = media.PCMU
	case "PCMA":
		cfg.Codec = media.PCMA
	case "", "DEFAULT":
		cfg.Codec = callCodec
	default:
		p := n.Position()
		c.warn(fmt.Sprintf("%d:%d: <Stream codec=%q>: the leg carries G.711 at 8 kHz and texml transcodes only between PCMU and PCMA; the call's codec, %s, is used, as Telnyx does",
			p.Line, p.Col, n.Codec, callCodec.Name), 0)
		cfg.Codec = callCodec
	}
	if !cfg.Bidirectional {
		return nil
	}
	cfg.PlayMP3 = !strings.EqualFold(n.BidirectionalMode, "rtp")
	if cfg.PlayMP3 {
		return nil // the codec and rate are the MP3 files' own
	}
	switch strings.ToUpper(strings.TrimSpace(n.BidirectionalCodec)) {
	case "", "PCMU":
		cfg.PlayCodec = media.PCMU
	case "PCMA":
		cfg.PlayCodec = media.PCMA
	default:
		return fmt.Errorf("bidirectionalCodec %q is not supported: the leg carries G.711 at 8 kHz, so the app's audio must be PCMU or PCMA", n.BidirectionalCodec)
	}
	if r := n.BidirectionalSamplingRate; r != 0 && r != 8000 {
		return fmt.Errorf("bidirectionalSamplingRate %d is not supported: the leg carries G.711 at 8000 Hz", r)
	}
	return nil
}
