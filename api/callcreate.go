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

// unsupportedCallParams are POST /Calls parameters texml cannot act on
// yet: refused with a clear error rather than ignored.
var unsupportedCallParams = []string{
	"ApplicationSid", "Record", "RecordingChannels", "RecordingStatusCallback", "RecordingTrack", "Trim",
	"CallerId", "CallReason", "Byoc", "CallToken", "Transcribe",
}

// createCall is POST …/Calls.json: place an outbound-api call.
func (s *server) createCall(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		badParam(w, "body", "want form-encoded parameters of at most 64 KiB")
		return
	}
	f := r.PostForm
	if !refuseUnsupported(w, f, unsupportedCallParams) {
		return
	}
	to, from, target, ok := parties(w, f)
	if !ok {
		return
	}
	cfg := interpreter.Config{AccountSid: r.PathValue("AccountSid"), From: from, To: to, Twiml: f.Get("Twiml")}
	var bad bool
	check := func(name, v string, code int, ok bool) {
		if !bad && !ok {
			bad = true
			writeError(w, http.StatusBadRequest, code, "Invalid "+name+": "+v)
		}
	}
	cfg.URL = f.Get("Url")
	check("Url", cfg.URL, codeInvalidURL, cfg.URL == "" || webURL(cfg.URL))
	if cfg.URL == "" && cfg.Twiml == "" {
		writeError(w, http.StatusBadRequest, codeInvalidURL, "Either Url or Twiml is required.")
		return
	}
	cfg.Method, cfg.FallbackMethod, cfg.StatusCallbackMethod = f.Get("Method"), f.Get("FallbackMethod"), f.Get("StatusCallbackMethod")
	for _, m := range []struct{ name, v string }{{"Method", cfg.Method}, {"FallbackMethod", cfg.FallbackMethod}, {"StatusCallbackMethod", cfg.StatusCallbackMethod}} {
		check(m.name, m.v, codeBadMethod, httpMethod(m.v))
	}
	cfg.FallbackURL, cfg.StatusCallback = f.Get("FallbackUrl"), f.Get("StatusCallback")
	check("FallbackUrl", cfg.FallbackURL, codeInvalidURL, cfg.FallbackURL == "" || webURL(cfg.FallbackURL))
	check("StatusCallback", cfg.StatusCallback, codeInvalidURL, cfg.StatusCallback == "" || webURL(cfg.StatusCallback))
	for _, v := range f["StatusCallbackEvent"] {
		// The libraries send one parameter per event; a space-separated
		// list is accepted too, as in TwiML's attributes.
		for _, ev := range strings.Fields(v) {
			check("StatusCallbackEvent", ev, codeInvalidParameter, slices.Contains([]string{"initiated", "ringing", "answered", "completed"}, ev))
			cfg.StatusCallbackEvents = append(cfg.StatusCallbackEvents, ev)
		}
	}
	timeout := secondsParam(f.Get("Timeout"), &bad, w, "Timeout", 1, int(interpreter.MaxPlaceTimeout/time.Second))
	limit := secondsParam(f.Get("TimeLimit"), &bad, w, "TimeLimit", 1, 24*3600)
	digits := f.Get("SendDigits")
	check("SendDigits", digits, codeInvalidParameter, strings.Trim(digits, "0123456789*#wW") == "")
	if bad || !machineDetection(w, f, &cfg) {
		return
	}
	cfg.MaxDuration = limit
	target.Timeout = timeout
	target.Username, target.Password = f.Get("SipAuthUsername"), f.Get("SipAuthPassword")
	rec, err := s.o.Calls.Create(r.Context(), calls.Request{Config: cfg,
		Placement: interpreter.Placement{Target: target, SendDigits: digits}})
	if err != nil {
		s.callError(w, r, "create call", err)
		return
	}
	writeJSON(w, http.StatusCreated, callOf(rec))
}

// updateCall is POST …/Calls/CA….json: Url/Method or Twiml redirect the
// call, Status=canceled|completed ends it, FallbackUrl and
// StatusCallback replace the call's (with a redirect).
func (s *server) updateCall(w http.ResponseWriter, r *http.Request) {
	sid, ok := callSid(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		badParam(w, "body", "want form-encoded parameters of at most 64 KiB")
		return
	}
	f := r.PostForm
	var ch calls.Change
	ch.URL, ch.Method, ch.Twiml, ch.Status = f.Get("Url"), f.Get("Method"), f.Get("Twiml"), f.Get("Status")
	ch.FallbackURL, ch.FallbackMethod = f.Get("FallbackUrl"), f.Get("FallbackMethod")
	ch.StatusCallback, ch.StatusCallbackMethod = f.Get("StatusCallback"), f.Get("StatusCallbackMethod")
	switch {
	case ch.Status != "" && ch.Status != store.CallCanceled && ch.Status != store.CallCompleted:
		badParam(w, "Status", "want canceled or completed")
		return
	case ch.URL != "" && !webURL(ch.URL):
		writeError(w, http.StatusBadRequest, codeInvalidURL, "Invalid Url: "+ch.URL)
		return
	case !httpMethod(ch.Method) || !httpMethod(ch.FallbackMethod) || !httpMethod(ch.StatusCallbackMethod):
		writeError(w, http.StatusBadRequest, codeBadMethod, "Invalid method: want GET or POST")
		return
	case ch.Status == "" && ch.URL == "" && ch.Twiml == "":
		if ch.FallbackURL != "" || ch.StatusCallback != "" {
			badParam(w, "FallbackUrl", "texml changes FallbackUrl and StatusCallback together with Url or Twiml only")
			return
		}
		badParam(w, "Url", "an update needs Url, Twiml or Status")
		return
	}
	rec, err := s.o.Calls.Update(r.Context(), r.PathValue("AccountSid"), sid, ch)
	if err != nil {
		s.callError(w, r, "update call", err)
		return
	}
	writeJSON(w, http.StatusOK, callOf(rec))
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

// secondsParam reads a whole number of seconds in [lo, hi]; "" is 0. A bad
// value is answered (once: *bad) with 20001.
func secondsParam(v string, bad *bool, w http.ResponseWriter, name string, lo, hi int) time.Duration {
	if v == "" || *bad {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		*bad = true
		badParam(w, name, "want a whole number of seconds from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
		return 0
	}
	return time.Duration(n) * time.Second
}

// machineDetection reads answering-machine detection's parameters
// (https://www.twilio.com/docs/voice/answering-machine-detection): the
// mode, its four timings in seconds or milliseconds as Twilio gives
// them, and AsyncAmd with its callback. A bad value is answered 400/20001
// (false).
func machineDetection(w http.ResponseWriter, f url.Values, cfg *interpreter.Config) bool {
	mode := f.Get("MachineDetection")
	if mode == "" {
		for _, k := range []string{"MachineDetectionTimeout", "MachineDetectionSpeechThreshold", "MachineDetectionSpeechEndThreshold",
			"MachineDetectionSilenceTimeout", "AsyncAmd", "AsyncAmdStatusCallback"} {
			if f.Get(k) != "" {
				badParam(w, k, "given without MachineDetection")
				return false
			}
		}
		return true
	}
	cfg.MachineDetection = interpreter.MachineMode(mode)
	for _, p := range []struct {
		name string
		unit time.Duration
		dst  *time.Duration
	}{
		{"MachineDetectionTimeout", time.Second, &cfg.MachineDetectionTimeout},
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
			badParam(w, p.name, "want a whole number")
			return false
		}
		*p.dst = time.Duration(n) * p.unit
	}
	if v := f.Get("AsyncAmd"); v != "" {
		async, err := strconv.ParseBool(v)
		if err != nil {
			badParam(w, "AsyncAmd", "want true or false")
			return false
		}
		cfg.AsyncAMD = async
	}
	cfg.AsyncAMDStatusCallback, cfg.AsyncAMDStatusCallbackMethod = f.Get("AsyncAmdStatusCallback"), f.Get("AsyncAmdStatusCallbackMethod")
	if cb := cfg.AsyncAMDStatusCallback; cb != "" && !webURL(cb) {
		writeError(w, http.StatusBadRequest, codeInvalidURL, "Invalid AsyncAmdStatusCallback: "+cb)
		return false
	}
	if !httpMethod(cfg.AsyncAMDStatusCallbackMethod) {
		writeError(w, http.StatusBadRequest, codeBadMethod, "Invalid AsyncAmdStatusCallbackMethod: want GET or POST")
		return false
	}
	if err := cfg.CheckMachineDetection(); err != nil {
		writeError(w, http.StatusBadRequest, codeInvalidParameter, err.Error())
		return false
	}
	return true
}

// refuseUnsupported answers 400/20001 naming the first of names that f
// sets (to anything but "false"): a parameter texml cannot act on yet is
// refused, never ignored. False when it answered.
func refuseUnsupported(w http.ResponseWriter, f url.Values, names []string) bool {
	for _, name := range names {
		if v := f.Get(name); v != "" && v != "false" {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, name+" is not supported by texml yet")
			return false
		}
	}
	return true
}

// parties reads To and From of a call to place (a call's create, a
// participant's): both required (21201, 21213), To a number, SIP URI or
// client (21211), From without spaces or brackets (21212). False when it
// answered an error.
func parties(w http.ResponseWriter, f url.Values) (to, from string, t interpreter.Target, ok bool) {
	to, from = strings.TrimSpace(f.Get("To")), strings.TrimSpace(f.Get("From"))
	switch {
	case to == "":
		writeError(w, http.StatusBadRequest, codeNoTo, "A 'To' phone number is required.")
		return
	case from == "":
		writeError(w, http.StatusBadRequest, codeNoFrom, "A 'From' phone number is required.")
		return
	}
	if t, ok = callTarget(to); !ok {
		writeError(w, http.StatusBadRequest, codeBadTo, "The 'To' number "+to+" is not a valid phone number, SIP URI or client identity.")
		return
	}
	if strings.ContainsAny(from, " \t\r\n<>") {
		writeError(w, http.StatusBadRequest, codeBadFrom, "The 'From' number "+from+" is not a valid phone number, SIP URI or client identity.")
		return to, from, t, false
	}
	return to, from, t, true
}
