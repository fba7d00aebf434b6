package signaling

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/verbs"
)

// App is one TwiML or TeXML application: where its documents come from,
// where its status callbacks go, and whose rules it follows.
type App struct {
	VoiceURL             string   `yaml:"voice_url"`
	VoiceMethod          string   `yaml:"voice_method"`
	FallbackURL          string   `yaml:"fallback_url"`
	FallbackMethod       string   `yaml:"fallback_method"`
	StatusCallback       string   `yaml:"status_callback"`
	StatusCallbackMethod string   `yaml:"status_callback_method"`
	StatusCallbackEvents []string `yaml:"status_callback_events"`

	// Dialect is "twiml" or "texml" (verbs.Dialect); empty: the
	// Routes' Dialect (--dialect).
	Dialect string `yaml:"dialect"`
	// ConnectionID is a TeXML application's id: sent as ConnectionId, and
	// the ApplicationSid that Telnyx's REST API creates calls of this
	// application with (Routes.Application). TeXML only.
	ConnectionID string `yaml:"connection_id"`
	// SigningKey signs a TeXML application's requests with Ed25519
	// (base64 seed or private key, fetcher.ParseSigningKey); empty: the
	// Routes' SigningKey (--signing-key). TeXML only: TwiML requests
	// carry X-Twilio-Signature with the server's auth token.
	SigningKey string `yaml:"signing_key"`
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
	// Dialect is the routes' dialect when their App names none.
	Dialect verbs.Dialect
	// SigningKey signs the requests of TeXML routes without a
	// signing_key of their own; nil: unsigned.
	SigningKey ed25519.PrivateKey

	apps []app // Validate's reading of each route's App
}

// app is what Validate read from a route's App.
type app struct {
	dialect verbs.Dialect
	signing *fetcher.Signing // nil: the fetcher's own (TwiML)
}

var _ Router = (*Routes)(nil)

// ErrNoRoute means no route matched the dialed number.
var ErrNoRoute = errors.New("no route for this number")

// Validate checks every route's pattern, URL, methods, dialect and key;
// it must run before Route.
func (r *Routes) Validate() error {
	if len(r.Routes) == 0 {
		return errors.New("routes: none configured (set --voice-url or routes in the config file)")
	}
	r.apps = make([]app, len(r.Routes))
	for i, rt := range r.Routes {
		a, err := r.read(rt.App)
		if err != nil {
			return fmt.Errorf("route %d (%s): %w", i+1, rt.Match, err)
		}
		r.apps[i] = a
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

// read checks the dialect and signing of an App.
func (r *Routes) read(a App) (app, error) {
	var out app
	out.dialect = r.Dialect
	if a.Dialect != "" {
		d, err := verbs.ParseDialect(a.Dialect)
		if err != nil {
			return out, fmt.Errorf("dialect %q: %w", a.Dialect, err)
		}
		out.dialect = d
	}
	key, err := fetcher.ParseSigningKey(a.SigningKey)
	if err != nil {
		return out, err
	}
	if out.dialect != verbs.TeXML {
		switch {
		case key != nil:
			return out, errors.New("signing_key signs TeXML requests: set dialect: texml (TwiML requests are signed with the auth token)")
		case a.ConnectionID != "":
			return out, errors.New("connection_id is a TeXML application's id: set dialect: texml")
		}
		return out, nil
	}
	if key == nil {
		key = r.SigningKey
	}
	// A TeXML application's requests carry Telnyx's signature only, never
	// X-Twilio-Signature (https://developers.telnyx.com/api-reference/callbacks/texml-call-initiated).
	out.signing = &fetcher.Signing{Key: key}
	return out, nil
}

// Route implements Router.
func (r *Routes) Route(req *sip.Request) (interpreter.Config, error) {
	uri := req.Recipient
	full := "sip:" + uri.User + "@" + uri.Host
	for i, rt := range r.Routes {
		if ok, _ := path.Match(rt.Match, uri.User); ok {
			return r.config(i, req), nil
		}
		if ok, _ := path.Match(rt.Match, full); ok {
			return r.config(i, req), nil
		}
	}
	return interpreter.Config{}, fmt.Errorf("%w: %s", ErrNoRoute, full)
}

// Application returns the call configuration of the TeXML application
// whose connection_id is id (the first route that names it), for a call
// that Telnyx's REST API creates with ApplicationSid id; false when no
// route names it.
func (r *Routes) Application(id string) (interpreter.Config, bool) {
	for i, rt := range r.Routes {
		if id != "" && rt.App.ConnectionID == id && i < len(r.apps) && r.apps[i].dialect == verbs.TeXML {
			return r.appConfig(i), true
		}
	}
	return interpreter.Config{}, false
}

// appConfig is the part of a call's configuration that route i's App
// gives.
func (r *Routes) appConfig(i int) interpreter.Config {
	a := r.Routes[i].App
	var read app
	if i < len(r.apps) {
		read = r.apps[i]
	} else {
		read, _ = r.read(a) // not validated: an App in error reads as TwiML
	}
	return interpreter.Config{
		URL: a.VoiceURL, Method: a.VoiceMethod,
		FallbackURL: a.FallbackURL, FallbackMethod: a.FallbackMethod,
		StatusCallback: a.StatusCallback, StatusCallbackMethod: a.StatusCallbackMethod,
		StatusCallbackEvents: a.StatusCallbackEvents,
		AccountSid:           r.AccountSid, RecordingBaseURL: r.RecordingBaseURL,
		Dialect: read.dialect, ConnectionID: a.ConnectionID, Signing: read.signing,
	}
}

func (r *Routes) config(i int, req *sip.Request) interpreter.Config {
	cfg := r.appConfig(i)
	cfg.To = party(req.Recipient)
	if h := req.From(); h != nil {
		cfg.From = party(h.Address)
		if cfg.Dialect == verbs.TeXML {
			// Telnyx's CallerId is the caller's name when it has one.
			cfg.CallerID = h.DisplayName
		}
	}
	cfg.ExtraParams = sipParams(req)
	return cfg
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

// codecParams adds Telnyx's Codec and SamplingRate to a TeXML call whose
// INVITE offered SDP: the codec chosen from the offer is the call's
// (https://developers.telnyx.com/api-reference/callbacks/texml-call-answered).
// A delayed offer settles the codec only later; they are left out then.
func codecParams(cfg *interpreter.Config, offer *Offer) {
	if cfg.Dialect != verbs.TeXML || offer == nil || offer.Codec.Name == "" {
		return
	}
	if cfg.ExtraParams == nil {
		cfg.ExtraParams = url.Values{}
	}
	cfg.ExtraParams.Set("Codec", offer.Codec.Name)
	// Every codec texml negotiates (G.711) runs at 8 kHz.
	cfg.ExtraParams.Set("SamplingRate", "8000")
}
