package tts

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/texml/texml/media"
	"github.com/texml/texml/media/audio"
)

// DefaultHTTPTimeout bounds one provider request when HTTPOptions.Timeout
// is zero. Cloud engines answer a sentence in well under a second; ten
// seconds leaves room for long texts without stalling a call forever.
const DefaultHTTPTimeout = 10 * time.Second

// maxHTTPAudio bounds a provider's response body (about 35 minutes of
// 8 kHz 16-bit audio), so a misbehaving provider cannot exhaust memory.
const maxHTTPAudio = 32 << 20

// ErrProvider is wrapped by every error that comes from the provider's
// answer (a non-2xx status, a body that is not audio) rather than from
// reaching it.
var ErrProvider = errors.New("tts provider")

// HTTPOptions configure an HTTP provider.
type HTTPOptions struct {
	// URL is where synthesis requests are POSTed.
	URL string
	// Headers are added to every request, typically an Authorization
	// header or an API key.
	Headers map[string]string
	// Timeout bounds each request; default DefaultHTTPTimeout.
	Timeout time.Duration
	// Client sends the requests; nil uses a client of its own.
	Client *http.Client
}

// HTTP is a Synthesizer that asks a cloud TTS service over HTTP, in the
// provider-neutral shape documented in docs/tts-http.md: a JSON POST of
// the request, answered with audio. An adapter in front of a particular
// vendor's API only has to speak that shape.
type HTTP struct {
	url     string
	headers map[string]string
	timeout time.Duration
	client  *http.Client
}

var _ Synthesizer = (*HTTP)(nil)

// httpRequest is the JSON body POSTed to the provider.
type httpRequest struct {
	Text       string `json:"text"`
	SSML       string `json:"ssml"`
	Voice      string `json:"voice"`
	Language   string `json:"language"`
	SampleRate int    `json:"sample_rate"`
	Format     string `json:"format"`
}

// NewHTTP returns a provider that POSTs to o.URL. The URL is not checked
// here; a bad one fails each Synthesize with the transport's error.
func NewHTTP(o HTTPOptions) *HTTP {
	if o.Timeout <= 0 {
		o.Timeout = DefaultHTTPTimeout
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	h := make(map[string]string, len(o.Headers))
	for k, v := range o.Headers {
		h[k] = v
	}
	return &HTTP{url: o.URL, headers: h, timeout: o.Timeout, client: o.Client}
}

// Synthesize POSTs r to the provider and decodes the audio it answers
// with to 8 kHz mono: WAV, raw L16 or PCM at the rate its Content-Type
// says, or µ-law (audio/basic).
func (h *HTTP) Synthesize(ctx context.Context, r Request) ([]int16, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	body, err := json.Marshal(httpRequest{
		Text: r.Text, SSML: r.SSML, Voice: r.Voice, Language: r.Language,
		SampleRate: media.SampleRate, Format: "pcm_s16le",
	})
	if err != nil {
		return nil, fmt.Errorf("tts request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("tts request %s: %w", h.url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "audio/wav, audio/L16, audio/pcm, audio/basic")
	for k, v := range h.headers {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("tts POST %s: %w", h.url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPAudio+1))
	if err != nil {
		return nil, fmt.Errorf("tts POST %s: reading the response: %w", h.url, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%w: POST %s: %s: %s", ErrProvider, h.url, resp.Status, snippet(data))
	}
	if len(data) > maxHTTPAudio {
		return nil, fmt.Errorf("%w: POST %s: audio larger than %d bytes", ErrProvider, h.url, maxHTTPAudio)
	}
	samples, err := decodeProviderAudio(data, resp.Header.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("%w: POST %s: %w", ErrProvider, h.url, err)
	}
	return samples, nil
}

// decodeProviderAudio turns a provider's body into 8 kHz samples. Raw
// PCM needs its rate from the media type: audio/L16 is big-endian (RFC
// 2586, the RTP payload convention); audio/pcm and
// application/octet-stream are the little-endian pcm_s16le we ask for.
// WAV and G.711 go through the engine's own decoder.
func decodeProviderAudio(data []byte, contentType string) ([]int16, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(contentType))
	}
	var order binary.ByteOrder
	switch mt {
	case "audio/l16":
		order = binary.BigEndian
	case "audio/pcm", "audio/x-pcm", "application/octet-stream":
		order = binary.LittleEndian
	default:
		pcm, err := audio.Decode(data, contentType)
		if err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		return pcm.Samples, nil
	}
	rate := media.SampleRate
	if s, ok := params["rate"]; ok {
		if rate, err = strconv.Atoi(s); err != nil || rate < 1000 || rate > 192000 {
			return nil, fmt.Errorf("%s: bad rate %q", mt, s)
		}
	}
	if ch, ok := params["channels"]; ok && ch != "1" {
		return nil, fmt.Errorf("%s: %s channels, want 1", mt, ch)
	}
	if len(data)%2 != 0 {
		return nil, fmt.Errorf("%s: odd length %d", mt, len(data))
	}
	samples := make([]int16, len(data)/2)
	for i := range samples {
		samples[i] = int16(order.Uint16(data[2*i:]))
	}
	return audio.Resample(samples, rate, media.SampleRate), nil
}

// snippet is the start of an error body, for error messages.
func snippet(b []byte) string {
	const n = 200
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}
