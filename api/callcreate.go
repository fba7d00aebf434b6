package api

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/texml/texml/calls"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
)

// Twilio's codes for a call create's bad parameters
// (https://www.twilio.com/docs/api/errors).
const (
	codeNoTo      = 21201 // No 'To' number is specified
	codeBadTo     = 21211 // Invalid 'To' Phone Number
	codeBadFrom   = 21212 // Invalid 'From' Phone Number
	codeNoFrom    = 21213 // No 'From' number is specified
	codeBadMethod = 21207 // the method is neither GET nor POST
)

// problem is a request the API refuses: its HTTP status, Twilio's error
// code and message, and the parameter at fault. Twilio's paths write it
// as Twilio's error body, Telnyx's as Telnyx's (telnyx.go), so that the
// checks of a request are written once for both.
type problem struct {
	status int
	code   int    // Twilio's code (https://www.twilio.com/docs/api/errors)
	param  string // the parameter at fault; "" when none
	msg    string
}

// invalid is a 400 problem with a parameter.
func invalid(code int, param, msg string) *problem {
	return &problem{status: http.StatusBadRequest, code: code, param: param, msg: msg}
}

// writeProblem answers p with Twilio's error body.
func writeProblem(w http.ResponseWriter, p *problem) { writeError(w, p.status, p.code, p.msg) }

// createRules are what differs between Twilio's and Telnyx's call create
// (https://www.twilio.com/docs/voice/api/call-resource#create-a-call-resource,
// https://developers.telnyx.com/api-reference/texml-rest-commands/initiate-an-outbound-call).
type createRules struct {
	method, inline string   // the names of the Url's method and of the inline document
	unsupported    []string // parameters refused with a clear error rather than ignored
	clients        bool     // To may be client:identity
	timeout        [2]int   // Timeout's range, seconds
	defaultTimeout time.Duration
	timeLimit      [2]int // TimeLimit's range, seconds
	// amdTimeout is the unit of MachineDetectionTimeout: Twilio's
	// seconds, Telnyx's milliseconds. amdDisable accepts
	// MachineDetection=Disable (Telnyx's "off").
	amdTimeout time.Duration
	amdDisable bool
}

// twilioCreate are the rules of POST /2010-04-01/…/Calls.
var twilioCreate = createRules{
	method: "Method", inline: "Twiml", clients: true,
	unsupported: []string{"ApplicationSid", "CallerId", "CallReason", "Byoc", "CallToken", "Transcribe"},
	timeout:     [2]int{1, int(interpreter.MaxPlaceTimeout / time.Second)},
	timeLimit:   [2]int{1, 24 * 3600},
	amdTimeout:  time.Second,
}

// harmless are the values of unsupported parameters that ask for what
// texml does anyway: no recording, no media encryption, regular
// (non-premium) machine detection.
var harmless = map[string]string{"Record": "false", "MediaEncryption": "disabled", "DetectionMode": "Regular"}

// createCall is POST …/Calls.json: place an outbound-api call.
func (s *server) createCall(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		return
	}
	req, p := parseCreate(r.PostForm, interpreter.Config{AccountSid: r.PathValue("AccountSid"), RecordingBaseURL: s.baseURL(r)}, twilioCreate)
	if p != nil {
		writeProblem(w, p)
		return
	}
	rec, err := s.o.Calls.Create(r.Context(), req)
	if err != nil {
		s.callError(w, r, "create call", err)
		return
	}
	writeJSON(w, http.StatusCreated, callOf(rec))
}

// parseCreate reads a call create's parameters f onto base (the account,
// and for Telnyx the application's configuration) by the rules of its
// API.
func parseCreate(f url.Values, base interpreter.Config, rules createRules) (calls.Request, *problem) {
	var req calls.Request
	if p := refused(f, rules.unsupported); p != nil {
		return req, p
	}
	to, from, target, p := readParties(f, rules.clients)
	if p != nil {
		return req, p
	}
	cfg := base
	cfg.From, cfg.To = from, to
	if v := f.Get(rules.inline); v != "" {
		cfg.Twiml = v
	}
	if v := f.Get("Url"); v != "" {
		if !webURL(v) {
			return req, invalid(codeInvalidURL, "Url", "Invalid Url: "+v)
		}
		cfg.URL = v
	}
	if cfg.URL == "" && cfg.Twiml == "" {
		return req, invalid(codeInvalidURL, "Url", "Either Url or "+rules.inline+" is required.")
	}
	for _, m := range []struct {
		name string
		dst  *string
	}{{rules.method, &cfg.Method}, {"FallbackMethod", &cfg.FallbackMethod}, {"StatusCallbackMethod", &cfg.StatusCallbackMethod}} {
		v := f.Get(m.name)
		if !httpMethod(v) {
			return req, invalid(codeBadMethod, m.name, "Invalid "+m.name+": "+v)
		}
		if v != "" {
			*m.dst = v
		}
	}
	for _, u := range []struct {
		name string
		dst  *string
	}{{"FallbackUrl", &cfg.FallbackURL}, {"StatusCallback", &cfg.StatusCallback}} {
		v := f.Get(u.name)
		if v != "" && !webURL(v) {
			return req, invalid(codeInvalidURL, u.name, "Invalid "+u.name+": "+v)
		}
		if v != "" {
			*u.dst = v
		}
	}
	var events []string
	for _, v := range f["StatusCallbackEvent"] {
		// Twilio's libraries send one parameter per event, Telnyx's one
		// space-separated list; both are read either way.
		for _, ev := range strings.Fields(v) {
			if !slices.Contains([]string{"initiated", "ringing", "answered", "completed"}, ev) {
				return req, invalid(codeInvalidParameter, "StatusCallbackEvent", "Invalid StatusCallbackEvent: "+ev)
			}
			events = append(events, ev)
		}
	}
	if events != nil {
		cfg.StatusCallbackEvents = events
	}
	timeout, p := secondsValue(f.Get("Timeout"), "Timeout", rules.timeout[0], rules.timeout[1])
	if p != nil {
		return req, p
	}
	limit, p := secondsValue(f.Get("TimeLimit"), "TimeLimit", rules.timeLimit[0], rules.timeLimit[1])
	if p != nil {
		return req, p
	}
	digits := f.Get("SendDigits")
	if strings.Trim(digits, "0123456789*#wW") != "" {
		return req, invalid(codeInvalidParameter, "SendDigits", "Invalid SendDigits: "+digits)
	}
	if p := readMachineDetection(f, &cfg, rules.amdTimeout, rules.amdDisable); p != nil {
		return req, p
	}
	if p := readRecording(f, &cfg); p != nil {
		return req, p
	}
	if limit > 0 {
		cfg.MaxDuration = limit
	}
	if timeout == 0 {
		timeout = rules.defaultTimeout
	}
	target.Timeout = timeout
	target.Username, target.Password = f.Get("SipAuthUsername"), f.Get("SipAuthPassword")
	return calls.Request{Config: cfg, Placement: interpreter.Placement{Target: target, SendDigits: digits}}, nil
}

// updateCall is POST …/Calls/CA….json: Url/Method or Twiml redirect the
// call, Status=canceled|completed ends it, FallbackUrl and
// StatusCallback replace the call's (with a redirect).
func (s *server) updateCall(w http.ResponseWriter, r *http.Request) {
	sid, ok := callSid(w, r)
	if !ok {
		return
	}
	if !parseForm(w, r) {
		return
	}
	ch, p := parseUpdate(r.PostForm, "Twiml")
	if p != nil {
		writeProblem(w, p)
		return
	}
	rec, err := s.o.Calls.Update(r.Context(), r.PathValue("AccountSid"), sid, ch)
	if err != nil {
		s.callError(w, r, "update call", err)
		return
	}
	writeJSON(w, http.StatusOK, callOf(rec))
}

// parseUpdate reads a live update's parameters; inline names the inline
// document (Twilio's Twiml, Telnyx's Texml).
func parseUpdate(f url.Values, inline string) (calls.Change, *problem) {
	var ch calls.Change
	ch.URL, ch.Method, ch.Twiml, ch.Status = f.Get("Url"), f.Get("Method"), f.Get(inline), f.Get("Status")
	ch.FallbackURL, ch.FallbackMethod = f.Get("FallbackUrl"), f.Get("FallbackMethod")
	ch.StatusCallback, ch.StatusCallbackMethod = f.Get("StatusCallback"), f.Get("StatusCallbackMethod")
	switch {
	case ch.Status != "" && ch.Status != store.CallCanceled && ch.Status != store.CallCompleted:
		return ch, invalid(codeInvalidParameter, "Status", "Invalid Status: want canceled or completed")
	case ch.URL != "" && !webURL(ch.URL):
		return ch, invalid(codeInvalidURL, "Url", "Invalid Url: "+ch.URL)
	case !httpMethod(ch.Method) || !httpMethod(ch.FallbackMethod) || !httpMethod(ch.StatusCallbackMethod):
		return ch, invalid(codeBadMethod, "Method", "Invalid method: want GET or POST")
	case ch.Status == "" && ch.URL == "" && ch.Twiml == "":
		if ch.FallbackURL != "" || ch.StatusCallback != "" {
			return ch, invalid(codeInvalidParameter, "FallbackUrl", "Invalid FallbackUrl: texml changes FallbackUrl and StatusCallback together with Url or "+inline+" only")
		}
		return ch, invalid(codeInvalidParameter, "Url", "Invalid Url: an update needs Url, "+inline+" or Status")
	}
	return ch, nil
}

// callTarget reads a To: sip:/sips: URI, client:identity, or a phone
// number (E.164 or digits, with the punctuation people write in them).
func callTarget(to string) (interpreter.Target, bool) {
	lower := strings.ToLower(to)
	switch {
	case strings.HasPrefix(lower, "sip:"), strings.HasPrefix(lower, "sips:"):
		return interpreter.Target{Kind: interpreter.SIPTarget, Addr: to}, strings.Contains(to, "@") || len(to) > 4
	case strings.HasPrefix(lower, "client:"):
		id := to[len("client:"):]
		return interpreter.Target{Kind: interpreter.ClientTarget, Addr: id}, id != "" && !strings.ContainsAny(id, " \t")
	}
	digits := strings.Map(func(r rune) rune {
		if strings.ContainsRune(" -().", r) {
			return -1
		}
		return r
	}, to)
	n := strings.TrimPrefix(digits, "+")
	if n == "" || strings.Trim(n, "0123456789") != "" || len(n) > 15 {
		return interpreter.Target{}, false
	}
	return interpreter.Target{Kind: interpreter.NumberTarget, Addr: digits}, true
}

// webURL reports whether u is an absolute http(s) URL.
func webURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}

// httpMethod reports whether m is empty (the default) or GET or POST.
func httpMethod(m string) bool {
	switch strings.ToUpper(m) {
	case "", http.MethodGet, http.MethodPost:
		return true
	}
	return false
}

// secondsValue reads a whole number of seconds in [lo, hi]; "" is 0.
func secondsValue(v, name string, lo, hi int) (time.Duration, *problem) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, invalid(codeInvalidParameter, name, "Invalid "+name+": want a whole number of seconds from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
	}
	return time.Duration(n) * time.Second, nil
}

// secondsParam is secondsValue for a handler that answers a bad value itself
// (once: *bad) with 20001.
func secondsParam(v string, bad *bool, w http.ResponseWriter, name string, lo, hi int) time.Duration {
	if *bad {
		return 0
	}
	d, p := secondsValue(v, name, lo, hi)
	if p != nil {
		*bad = true
		writeProblem(w, p)
	}
	return d
}

// machineDetection is readMachineDetection with Twilio's units, for a
// handler that answers a bad value itself (false).
func machineDetection(w http.ResponseWriter, f url.Values, cfg *interpreter.Config) bool {
	if p := readMachineDetection(f, cfg, time.Second, false); p != nil {
		writeProblem(w, p)
		return false
	}
	return true
}

// readMachineDetection reads answering-machine detection's parameters
// (https://www.twilio.com/docs/voice/answering-machine-detection): the
// mode, its four timings (MachineDetectionTimeout in timeoutUnit, the
// others in milliseconds), and AsyncAmd with its callback. disable
// accepts Telnyx's MachineDetection=Disable, which turns detection off
// (https://developers.telnyx.com/api-reference/texml-rest-commands/initiate-an-outbound-call).
func readMachineDetection(f url.Values, cfg *interpreter.Config, timeoutUnit time.Duration, disable bool) *problem {
	mode := f.Get("MachineDetection")
	if disable && mode == "Disable" {
		mode = ""
	}
	if mode == "" {
		for _, k := range []string{"MachineDetectionTimeout", "MachineDetectionSpeechThreshold", "MachineDetectionSpeechEndThreshold",
			"MachineDetectionSilenceTimeout", "AsyncAmd", "AsyncAmdStatusCallback"} {
			if f.Get(k) != "" {
				return invalid(codeInvalidParameter, k, "Invalid "+k+": given without MachineDetection")
			}
		}
		return nil
	}
	cfg.MachineDetection = interpreter.MachineMode(mode)
	for _, p := range []struct {
		name string
		unit time.Duration
		dst  *time.Duration
	}{
		{"MachineDetectionTimeout", timeoutUnit, &cfg.MachineDetectionTimeout},
		{"MachineDetectionSpeechThreshold", time.Millisecond, &cfg.MachineDetectionSpeechThreshold},
		{"MachineDetectionSpeechEndThreshold", time.Millisecond, &cfg.MachineDetectionSpeechEndThreshold},
		{"MachineDetectionSilenceTimeout", time.Millisecond, &cfg.MachineDetectionSilenceTimeout},
	} {
		v := f.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return invalid(codeInvalidParameter, p.name, "Invalid "+p.name+": want a whole number")
		}
		*p.dst = time.Duration(n) * p.unit
	}
	if v := f.Get("AsyncAmd"); v != "" {
		async, err := strconv.ParseBool(v)
		if err != nil {
			return invalid(codeInvalidParameter, "AsyncAmd", "Invalid AsyncAmd: want true or false")
		}
		cfg.AsyncAMD = async
	}
	cfg.AsyncAMDStatusCallback, cfg.AsyncAMDStatusCallbackMethod = f.Get("AsyncAmdStatusCallback"), f.Get("AsyncAmdStatusCallbackMethod")
	if cb := cfg.AsyncAMDStatusCallback; cb != "" && !webURL(cb) {
		return invalid(codeInvalidURL, "AsyncAmdStatusCallback", "Invalid AsyncAmdStatusCallback: "+cb)
	}
	if !httpMethod(cfg.AsyncAMDStatusCallbackMethod) {
		return invalid(codeBadMethod, "AsyncAmdStatusCallbackMethod", "Invalid AsyncAmdStatusCallbackMethod: want GET or POST")
	}
	if err := cfg.CheckMachineDetection(); err != nil {
		return invalid(codeInvalidParameter, "MachineDetection", err.Error())
	}
	return nil
}

// refused is the problem of the first of names that f sets to anything
// but a harmless value: a parameter texml cannot act on yet is refused,
// never ignored. Nil when none is set.
func refused(f url.Values, names []string) *problem {
	for _, name := range names {
		if v := f.Get(name); v != "" && v != harmless[name] {
			return invalid(codeInvalidParameter, name, name+" is not supported by texml yet")
		}
	}
	return nil
}

// readParties reads To and From of a call to place (a call's create, a
// participant's): both required (21201, 21213), To a number, SIP URI or
// (when clients) a client (21211), From without spaces or brackets
// (21212).
func readParties(f url.Values, clients bool) (to, from string, t interpreter.Target, p *problem) {
	to, from = strings.TrimSpace(f.Get("To")), strings.TrimSpace(f.Get("From"))
	switch {
	case to == "":
		return to, from, t, invalid(codeNoTo, "To", "A 'To' phone number is required.")
	case from == "":
		return to, from, t, invalid(codeNoFrom, "From", "A 'From' phone number is required.")
	}
	t, ok := callTarget(to)
	switch {
	case ok && t.Kind == interpreter.ClientTarget && !clients:
		return to, from, t, invalid(codeBadTo, "To", "The 'To' "+to+" is a client: TeXML has no clients; call a phone number or a SIP URI.")
	case !ok:
		return to, from, t, invalid(codeBadTo, "To", "The 'To' number "+to+" is not a valid phone number, SIP URI or client identity.")
	case strings.ContainsAny(from, " \t\r\n<>"):
		return to, from, t, invalid(codeBadFrom, "From", "The 'From' number "+from+" is not a valid phone number, SIP URI or client identity.")
	}
	return to, from, t, nil
}

// readRecording reads Record and its options: the call is recorded from
// its answer to its end (RecordingChannels mono or dual, RecordingTrack
// inbound, outbound or both, Trim trim-silence (the default) or
// do-not-trim, RecordingStatusCallback with its Method and Event:
// in-progress, completed, absent). Options without Record=true are
// refused, as they would do nothing.
func readRecording(f url.Values, cfg *interpreter.Config) *problem {
	on := false
	if v := f.Get("Record"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return invalid(codeInvalidParameter, "Record", "Invalid Record: want true or false")
		}
		on = b
	}
	opts := []string{"RecordingChannels", "RecordingTrack", "Trim", "RecordingStatusCallback", "RecordingStatusCallbackMethod", "RecordingStatusCallbackEvent"}
	if !on {
		for _, k := range opts {
			if f.Get(k) != "" {
				return invalid(codeInvalidParameter, k, k+" without Record=true records nothing")
			}
		}
		return nil
	}
	o := interpreter.RecordOptions{Trim: true}
	switch v := f.Get("RecordingChannels"); v {
	case "", "mono":
	case "dual":
		o.Dual = true
	default:
		return invalid(codeInvalidParameter, "RecordingChannels", "Invalid RecordingChannels: want mono or dual")
	}
	switch v := f.Get("RecordingTrack"); v {
	case "", "both":
	case "inbound":
		o.Track = interpreter.TrackInbound
	case "outbound":
		o.Track = interpreter.TrackOutbound
	default:
		return invalid(codeInvalidParameter, "RecordingTrack", "Invalid RecordingTrack: want inbound, outbound or both")
	}
	switch v := f.Get("Trim"); v {
	case "", "trim-silence":
	case "do-not-trim":
		o.Trim = false
	default:
		return invalid(codeInvalidParameter, "Trim", "Invalid Trim: want trim-silence or do-not-trim")
	}
	o.StatusCallback, o.StatusCallbackMethod = f.Get("RecordingStatusCallback"), f.Get("RecordingStatusCallbackMethod")
	if o.StatusCallback != "" && !webURL(o.StatusCallback) {
		return invalid(codeInvalidURL, "RecordingStatusCallback", "Invalid RecordingStatusCallback: "+o.StatusCallback)
	}
	if !httpMethod(o.StatusCallbackMethod) {
		return invalid(codeBadMethod, "RecordingStatusCallbackMethod", "Invalid RecordingStatusCallbackMethod: want GET or POST")
	}
	for _, v := range f["RecordingStatusCallbackEvent"] {
		for _, ev := range strings.Fields(v) {
			if ev != "in-progress" && ev != "completed" && ev != "absent" {
				return invalid(codeInvalidParameter, "RecordingStatusCallbackEvent", "Invalid RecordingStatusCallbackEvent: "+ev)
			}
			o.StatusCallbackEvents = append(o.StatusCallbackEvents, ev)
		}
	}
	cfg.Record = &o
	return nil
}
