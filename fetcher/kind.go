package fetcher

import (
	"errors"
	"fmt"
	"mime"
	"path"
	"strings"
)

// Kind says how the platform treats a response
// (https://www.twilio.com/docs/voice/twiml#twilio-understands-mime-types).
type Kind int

// The kinds of reply the platform acts on.
const (
	TwiML Kind = iota // text/xml, application/xml, text/html: parsed and executed
	Audio             // audio/*: played, then the call hangs up
	Text              // text/plain: spoken with TTS, then the call hangs up
)

// String returns "twiml", "audio" or "text".
func (k Kind) String() string {
	switch k {
	case TwiML:
		return "twiml"
	case Audio:
		return "audio"
	case Text:
		return "text"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ClassifyContentType maps a Content-Type header value to a Kind. Parameters
// such as charset are ignored and matching is case-insensitive. It returns
// the bare media type alongside, and an error wrapping ErrContentType when
// the type is empty, malformed or not one the platform acts on.
func ClassifyContentType(contentType string) (Kind, string, error) {
	if strings.TrimSpace(contentType) == "" {
		return 0, "", ErrNoContentType
	}
	mt, _, err := mime.ParseMediaType(contentType)
	// A bad parameter still leaves a usable media type, and servers do send
	// things like "text/xml; charset=".
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		return 0, "", fmt.Errorf("%w: %q: %w", ErrContentType, contentType, err)
	}
	switch {
	case mt == "text/xml", mt == "application/xml", mt == "text/html":
		return TwiML, mt, nil
	case mt == "text/plain":
		return Text, mt, nil
	case strings.HasPrefix(mt, "audio/") && len(mt) > len("audio/"):
		return Audio, mt, nil
	}
	return 0, mt, fmt.Errorf("%w: %q", ErrContentType, mt)
}

// fileType maps a file name's extension to the Kind and content type a web
// server would typically give it. ok is false for extensions the platform
// would not act on.
func fileType(name string) (kind Kind, contentType string, ok bool) {
	switch strings.ToLower(path.Ext(name)) {
	case ".xml", ".html", ".htm":
		return TwiML, "text/xml", true
	case ".txt":
		return Text, "text/plain", true
	case ".mp3":
		return Audio, "audio/mpeg", true
	case ".wav":
		return Audio, "audio/wav", true
	case ".aiff", ".aif":
		return Audio, "audio/aiff", true
	case ".aifc":
		return Audio, "audio/x-aifc", true
	case ".gsm":
		return Audio, "audio/gsm", true
	case ".ulaw":
		return Audio, "audio/ulaw", true
	case ".au":
		return Audio, "audio/basic", true
	}
	return 0, "", false
}
