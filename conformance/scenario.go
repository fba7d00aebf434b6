// Package conformance runs scenario files against the interpreter on the
// simulated leg: each scenario is an app (documents keyed by path, served
// over loopback HTTP or from files), a scripted caller, and the expected
// trace. Scenario files live under fixtures/conformance/ (YAML).
package conformance

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/texml/texml/verbs"
)

// Scenario is one conformance case.
type Scenario struct {
	Name        string `yaml:"name"`
	Ref         string `yaml:"ref"` // the public doc it checks, e.g. "https://www.twilio.com/docs/voice/twiml/gather#finishonkey — …"
	Description string `yaml:"description"`
	// Files serves the app from a temporary folder with file: URLs instead
	// of HTTP; paths become file names.
	Files bool `yaml:"files"`

	Config   Config            `yaml:"config"`
	App      map[string]Routes `yaml:"app"`
	Inputs   []string          `yaml:"inputs"`
	Outcomes []string          `yaml:"outcomes"`
	Callees  []string          `yaml:"callees"` // --callee values: the parties a Dial reaches
	// Greeting is what the first caller's party makes heard from the
	// start (sim.ParseGreeting): the called party of an outbound-api
	// call with machine detection.
	Greeting string `yaml:"greeting"`
	// Streams are Media Streams apps the runner serves, by path.
	Streams map[string]StreamApp `yaml:"streams"`
	// Relays are ConversationRelay apps the runner serves, by path.
	Relays  map[string]RelayApp `yaml:"relays"`
	Updates []TimedUpdate       `yaml:"updates"`
	// Parties are more callers on the same virtual clock, queue and
	// conference services (an agent dialing the queue the first caller
	// waits in).
	Parties []Party `yaml:"parties"`
	Expect  Expect  `yaml:"expect"`

	file string
}

// Config is the call's configuration. URLs given as paths ("/voice") are
// resolved against the scenario's app server.
type Config struct {
	VoiceURL             string            `yaml:"voice_url"` // default /voice
	Method               string            `yaml:"method"`
	FallbackURL          string            `yaml:"fallback_url"`
	FallbackMethod       string            `yaml:"fallback_method"`
	StatusCallback       string            `yaml:"status_callback"`
	StatusCallbackMethod string            `yaml:"status_callback_method"`
	StatusCallbackEvents []string          `yaml:"status_callback_events"`
	From                 string            `yaml:"from"`
	To                   string            `yaml:"to"`
	AccountSid           string            `yaml:"account_sid"`
	AuthToken            string            `yaml:"auth_token"`
	SigningSeed          string            `yaml:"signing_seed"` // base64 32-byte Ed25519 seed: Telnyx-style signing
	Direction            string            `yaml:"direction"`    // default inbound
	ParentCallSid        string            `yaml:"parent_call_sid"`
	Params               map[string]string `yaml:"params"` // extra parameters on every request (SipHeader_X-…)
	MaxFetches           int               `yaml:"max_fetches"`
	MaxDurationS         int               `yaml:"max_duration_s"`

	// Dialect is twiml (default) or texml: Telnyx's defaults, checks and
	// request parameters (verbs.Dialect). ConnectionID and CallerID are
	// the TeXML call's ConnectionId and CallerId.
	Dialect      verbs.Dialect `yaml:"dialect"`
	ConnectionID string        `yaml:"connection_id"`
	CallerID     string        `yaml:"caller_id"`

	// Answering machine detection of an outbound-api call: Twilio's Call
	// create parameters (MachineDetectionTimeout in seconds, the others
	// in milliseconds). The called party is the scenario's Greeting.
	MachineDetection                     string `yaml:"machine_detection"`
	MachineDetectionTimeoutS             int    `yaml:"machine_detection_timeout_s"`
	MachineDetectionSpeechThresholdMS    int    `yaml:"machine_detection_speech_threshold_ms"`
	MachineDetectionSpeechEndThresholdMS int    `yaml:"machine_detection_speech_end_threshold_ms"`
	MachineDetectionSilenceTimeoutMS     int    `yaml:"machine_detection_silence_timeout_ms"`
	AsyncAMD                             bool   `yaml:"async_amd"`
	AsyncAMDStatusCallback               string `yaml:"async_amd_status_callback"`
	AsyncAMDStatusCallbackMethod         string `yaml:"async_amd_status_callback_method"`
}

// Party is one more caller of a scenario. Its requests carry its own
// CallSid, and its trace events a "caller" field with its name; its
// timed inputs count from its own start.
type Party struct {
	Name     string   `yaml:"name"`
	AtMS     int      `yaml:"at_ms"`     // when it calls, from the scenario's start
	VoiceURL string   `yaml:"voice_url"` // default /voice
	Method   string   `yaml:"method"`
	From     string   `yaml:"from"`
	To       string   `yaml:"to"`
	Inputs   []string `yaml:"inputs"`
	Callees  []string `yaml:"callees"`
	// CallSid fixes the party's CallSid (default a new one), so that a
	// document can name it (Conference coach).
	CallSid string `yaml:"call_sid"`
}

// Route is one way the app answers a path. The first route whose When
// matches the request's parameters answers; a route without When matches
// any request.
type Route struct {
	When        map[string]string `yaml:"when"`
	Status      int               `yaml:"status"`       // default 200
	ContentType string            `yaml:"content_type"` // default text/xml
	Body        string            `yaml:"body"`
	Location    string            `yaml:"location"`   // for 3xx
	SetCookie   string            `yaml:"set_cookie"` // Set-Cookie header
	DelayMS     int               `yaml:"delay_ms"`   // answer slowly
}

// Routes is a path's list of routes; a plain string in YAML is one route
// whose body is the string.
type Routes []Route

// UnmarshalYAML accepts a string, one route, or a list of routes.
func (r *Routes) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*r = Routes{{Body: n.Value}}
		return nil
	case yaml.MappingNode:
		var one Route
		if err := n.Decode(&one); err != nil {
			return err
		}
		*r = Routes{one}
		return nil
	}
	var many []Route
	if err := n.Decode(&many); err != nil {
		return err
	}
	*r = many
	return nil
}

// TimedUpdate is a live update applied at a virtual time.
type TimedUpdate struct {
	AtMS   int    `yaml:"at_ms"`
	URL    string `yaml:"url"`
	Method string `yaml:"method"`
	Twiml  string `yaml:"twiml"`
	Hangup bool   `yaml:"hangup"`
}

// Expect is what the call must do.
type Expect struct {
	// Requests are the document requests in order (not callbacks); the
	// count must match exactly.
	Requests []ReqExpect `yaml:"requests"`
	// Callbacks are asynchronous requests (status, recording status,
	// partial results), matched in any order; with CallbacksExact the
	// count must match too.
	Callbacks      []ReqExpect `yaml:"callbacks"`
	CallbacksExact bool        `yaml:"callbacks_exact"`
	// Trace entries must appear in this order (other events may come in
	// between). Each is an event name plus fields that must be equal.
	Trace []map[string]any `yaml:"trace"`
	// NoTrace entries must not appear at all.
	NoTrace []map[string]any `yaml:"no_trace"`
	// Says is the exact list of texts spoken, in order, when given.
	Says *[]string `yaml:"says"`
	// Streams are what the Streams apps must have received.
	Streams []StreamExpect `yaml:"streams"`
	// Relays are what the ConversationRelay apps must have received.
	Relays []RelayExpect `yaml:"relays"`
	Status string        `yaml:"status"` // final CallStatus
	Reason string        `yaml:"reason"` // hangup reason
}

// ReqExpect is one expected request.
type ReqExpect struct {
	Method string            `yaml:"method"`
	Path   string            `yaml:"path"`
	Query  map[string]string `yaml:"query"`  // URL query parameters that must be present with these values
	Params map[string]string `yaml:"params"` // request parameters (form or query) that must be equal; "*" = present
	Absent []string          `yaml:"absent"` // parameters that must not be sent
	Signed bool              `yaml:"signed"` // X-Twilio-Signature must validate with the auth token
	// TelnyxSigned: telnyx-signature-ed25519 must verify over
	// "<telnyx-timestamp>|<body>" with the public key of signing_seed.
	TelnyxSigned bool `yaml:"telnyx_signed"`
	// Unsigned: no signature header of either kind may be sent.
	Unsigned bool   `yaml:"unsigned"`
	Cookie   string `yaml:"cookie"` // a substring of the Cookie header
	// Party names the scenario party that makes the request ("" = the
	// first caller). Document requests are compared party by party, in
	// each party's order.
	Party    string `yaml:"party"`
	NoCookie bool   `yaml:"no_cookie"`
}

// Load reads every *.yaml file under dir (recursively), sorted by path.
func Load(dir string) ([]*Scenario, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load scenarios: %w", err)
	}
	sort.Strings(files)
	var out []*Scenario
	for _, f := range files {
		ss, err := loadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, ss...)
	}
	return out, nil
}

// loadFile reads one file, which may hold several YAML documents.
func loadFile(path string) ([]*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var out []*Scenario
	for {
		var s Scenario
		if err := dec.Decode(&s); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: scenario %d: %w", path, len(out)+1, err)
		}
		if s.Name == "" || s.Ref == "" {
			return nil, fmt.Errorf("%s: scenario %d needs a name and a ref", path, len(out)+1)
		}
		if !strings.Contains(s.Ref, "https://") {
			return nil, fmt.Errorf("%s: scenario %q: ref %q cites no public documentation (want an https:// URL)", path, s.Name, s.Ref)
		}
		s.file = path
		out = append(out, &s)
	}
}
