package signaling

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/interpreter"
)

// App is one TwiML application: where its documents come from and where
// its status callbacks go.
type App struct {
	VoiceURL             string   `yaml:"voice_url"`
	VoiceMethod          string   `yaml:"voice_method"`
	FallbackURL          string   `yaml:"fallback_url"`
	FallbackMethod       string   `yaml:"fallback_method"`
	StatusCallback       string   `yaml:"status_callback"`
	StatusCallbackMethod string   `yaml:"status_callback_method"`
	StatusCallbackEvents []string `yaml:"status_callback_events"`
}

// Route sends calls whose dialed number or SIP URI matches Match to App.
// Match is a shell pattern (path.Match) tried against the dialed user part
// ("+15551234567", "support") and against the whole request URI without
// parameters ("sip:support@pbx.example.com"); "*" matches every call.
type Route struct {
	Match string `yaml:"match"`
	App   App    `yaml:"app"`
}

// Routes is a Router over a list of routes, first match wins.
type Routes struct {
	Routes           []Route
	AccountSid       string
	RecordingBaseURL string // prefix of RecordingUrl: where our HTTP server is reached
}

var _ Router = (*Routes)(nil)

// ErrNoRoute means no route matched the dialed number.
var ErrNoRoute = errors.New("no route for this number")

// Validate checks every route's pattern and URL.
func (r *Routes) Validate() error {
	if len(r.Routes) == 0 {
		return errors.New("routes: none configured (set --voice-url or routes in the config file)")
	}
	for i, rt := range r.Routes {
		if _, err := path.Match(rt.Match, ""); err != nil || rt.Match == "" {
			return fmt.Errorf("route %d: bad match pattern %q", i+1, rt.Match)
		}
		if rt.App.VoiceURL == "" {
			return fmt.Errorf("route %d (%s): voice_url is required", i+1, rt.Match)
		}
		for _, m := range []string{rt.App.VoiceMethod, rt.App.FallbackMethod, rt.App.StatusCallbackMethod} {
			if m != "" && !strings.EqualFold(m, "GET") && !strings.EqualFold(m, "POST") {
				return fmt.Errorf("route %d (%s): method %q must be GET or POST", i+1, rt.Match, m)
			}
		}
	}
	return nil
}

// Route implements Router.
func (r *Routes) Route(req *sip.Request) (interpreter.Config, error) {
	uri := req.Recipient
	full := "sip:" + uri.User + "@" + uri.Host
	for _, rt := range r.Routes {
		if ok, _ := path.Match(rt.Match, uri.User); ok {
			return r.config(rt.App, req), nil
		}
		if ok, _ := path.Match(rt.Match, full); ok {
			return r.config(rt.App, req), nil
		}
	}
	return interpreter.Config{}, fmt.Errorf("%w: %s", ErrNoRoute, full)
}

func (r *Routes) config(a App, req *sip.Request) interpreter.Config {
	from, to := "", party(req.Recipient)
	if h := req.From(); h != nil {
		from = party(h.Address)
	}
	return interpreter.Config{
		URL: a.VoiceURL, Method: a.VoiceMethod,
		FallbackURL: a.FallbackURL, FallbackMethod: a.FallbackMethod,
		StatusCallback: a.StatusCallback, StatusCallbackMethod: a.StatusCallbackMethod,
		StatusCallbackEvents: a.StatusCallbackEvents,
		AccountSid:           r.AccountSid, From: from, To: to,
		ExtraParams: sipParams(req), RecordingBaseURL: r.RecordingBaseURL,
	}
}

// party is how Twilio names a SIP party in From/To: a phone number as it
// is, anything else as a sip: URI.
func party(u sip.Uri) string {
	if isPhone(u.User) {
		return u.User
	}
	if u.User == "" {
		return "sip:" + u.Host
	}
	return "sip:" + u.User + "@" + u.Host
}

func isPhone(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if len(s) < 3 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// sipParams are the SIP request parameters Twilio adds for SIP calls
// (Twilio's SIP webhook parameters): SipCallId, SipSourceIp and
// SipHeader_X-… for custom
// headers.
func sipParams(req *sip.Request) url.Values {
	p := url.Values{}
	if h := req.CallID(); h != nil {
		p.Set("SipCallId", h.Value())
	}
	if src := req.Source(); src != "" {
		host := src
		if i := strings.LastIndexByte(src, ':'); i > 0 {
			host = strings.Trim(src[:i], "[]")
		}
		p.Set("SipSourceIp", host)
	}
	for _, h := range req.Headers() {
		if name := h.Name(); len(name) > 2 && strings.EqualFold(name[:2], "x-") {
			p.Add("SipHeader_"+name, h.Value())
		}
	}
	return p
}
