package conformance

import (
	"crypto/ed25519"
	"fmt"
	"net/url"
	"strings"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
)

// Check compares an outcome with the scenario's expectations and returns
// one message per mismatch; none means the scenario passed.
func Check(s *Scenario, o *Outcome) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	e := s.Expect
	// vars holds the "$name" captures: the first value a "$name"
	// expectation matches binds it, later ones must equal it.
	vars := bindings{}

	docs, cbs := o.split(s)
	if e.Requests != nil {
		// With several parties, each party's requests are compared in
		// its own order: parties run side by side, and two requests at
		// one virtual instant may reach the app in either order.
		byParty := map[string][]Captured{}
		for _, d := range docs {
			p := ""
			if o.partyOf != nil && len(s.Parties) > 0 {
				p = o.partyOf(d.Params.Get("CallSid"))
			}
			byParty[p] = append(byParty[p], d)
		}
		wants := map[string][]ReqExpect{}
		names := []string{""}
		for _, p := range s.Parties {
			names = append(names, p.Name)
		}
		for _, r := range e.Requests {
			wants[r.Party] = append(wants[r.Party], r)
		}
		for _, name := range names {
			got, want := byParty[name], wants[name]
			who := ""
			if name != "" {
				who = name + "'s "
			}
			if len(got) != len(want) {
				fail("got %d %sdocument requests, want %d:\n%s", len(got), who, len(want), listCaptured(got))
			}
			for i := 0; i < len(got) && i < len(want); i++ {
				if msg := matchReq(want[i], got[i], s.Config, vars); msg != "" {
					fail("%srequest %d (%s %s): %s", who, i+1, got[i].Method, got[i].Path, msg)
				}
			}
		}
	}
	used := make([]bool, len(cbs))
	for _, want := range e.Callbacks {
		found, why := false, ""
		for i, got := range cbs {
			if used[i] {
				continue
			}
			msg := matchReq(want, got, s.Config, vars)
			if msg == "" {
				used[i], found = true, true
				break
			}
			if got.Path == want.Path && why == "" {
				why = msg
			}
		}
		if !found {
			fail("callback %s %s %v not received (closest mismatch: %s); got:\n%s", want.Method, want.Path, want.Params, why, listCaptured(cbs))
		}
	}
	if e.CallbacksExact && len(cbs) != len(e.Callbacks) {
		fail("got %d callbacks, want exactly %d:\n%s", len(cbs), len(e.Callbacks), listCaptured(cbs))
	}

	// Trace entries are in order per caller ("caller" names a party;
	// absent, the first caller and its callees).
	callers := []string{""}
	for _, p := range s.Parties {
		callers = append(callers, p.Name)
	}
	for _, name := range callers {
		var evs []interpreter.Event
		for _, ev := range o.Events {
			if c, _ := ev.Fields["caller"].(string); c == name {
				evs = append(evs, ev)
			}
		}
		next := 0
		for _, want := range e.Trace {
			if c := fmt.Sprint(want["caller"]); (want["caller"] == nil && name != "") || (want["caller"] != nil && c != name) {
				continue
			}
			for next < len(evs) && !matchEvent(want, evs[next], vars) {
				next++
			}
			if next == len(evs) {
				fail("trace: %v not found in order; events:\n%s", want, listEvents(o.Events))
				break
			}
			next++
		}
	}
	for _, not := range e.NoTrace {
		for _, ev := range o.Events {
			if matchEvent(not, ev, bindings{}) {
				fail("trace: unexpected %v", not)
			}
		}
	}
	if e.Says != nil {
		var says []string
		for _, ev := range o.Events {
			if ev.Name == "say" {
				says = append(says, fmt.Sprint(ev.Fields["text"]))
			}
		}
		if strings.Join(says, "\x00") != strings.Join(*e.Says, "\x00") {
			fail("says = %q, want %q", says, *e.Says)
		}
	}
	checkStreams(e.Streams, o.streams, fail)
	callSid := ""
	if len(o.Captured) > 0 {
		callSid = o.Captured[0].Params.Get("CallSid")
	}
	checkRelays(e.Relays, o.relays, callSid, fail)
	if e.Status != "" && o.Result.Status != e.Status {
		fail("final status %q, want %q", o.Result.Status, e.Status)
	}
	if e.Reason != "" && o.Result.Reason != e.Reason {
		fail("end reason %q, want %q", o.Result.Reason, e.Reason)
	}
	return errs
}

// split separates document requests from callbacks: a callback is a
// request to a path that the scenario lists under callbacks or configures
// as the status callback or the AsyncAmdStatusCallback.
func (o *Outcome) split(s *Scenario) (docs, cbs []Captured) {
	cbPaths := map[string]bool{}
	for _, c := range s.Expect.Callbacks {
		cbPaths[c.Path] = true
	}
	for _, p := range []string{s.Config.StatusCallback, s.Config.AsyncAMDStatusCallback} {
		if p != "" {
			cbPaths[p] = true
		}
	}
	all := o.Captured
	if s.Files {
		all = o.fromTrace()
	}
	for _, c := range all {
		if cbPaths[c.Path] {
			cbs = append(cbs, c)
		} else {
			docs = append(docs, c)
		}
	}
	return docs, cbs
}

// fromTrace rebuilds the requests of a file-served app from the trace.
func (o *Outcome) fromTrace() []Captured {
	var out []Captured
	for _, ev := range o.Events {
		if ev.Name != "request" && ev.Name != "callback" {
			continue
		}
		raw := fmt.Sprint(ev.Fields["url"])
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		params := url.Values{}
		if m, ok := ev.Fields["params"].(map[string]string); ok {
			for k, v := range m {
				params.Set(k, v)
			}
		}
		path := strings.TrimPrefix(raw, o.base)
		if i := strings.IndexAny(path, "?#"); i >= 0 {
			path = path[:i]
		}
		out = append(out, Captured{Method: fmt.Sprint(ev.Fields["method"]), Path: path, Query: u.Query(), Params: params, URL: raw})
	}
	return out
}

// bindings are the values of "$name" captures, shared by every
// expectation of a scenario, so that one scenario can say that two
// requests carry the same value (DialCallSid and the child's CallSid).
type bindings map[string]string

// value compares got with want: "*" is any value, "$name" binds name to
// got the first time and must equal that value afterwards. New bindings go
// to tmp, committed by the caller once the whole expectation matched.
func (b bindings) value(want, got string, tmp bindings) bool {
	if want == "*" {
		return true
	}
	if name, other, ok := strings.Cut(want, "!="); ok && len(name) > 1 && name[0] == '$' {
		// "$new!=$old": binds $new like "$new", and the value must differ
		// from $old's (a new ConferenceSid, say).
		if v, bound := b[other]; bound && v == got {
			return false
		}
		if v, bound := tmp[other]; bound && v == got {
			return false
		}
		return b.value(name, got, tmp)
	}
	if len(want) > 1 && want[0] == '$' {
		if v, ok := b[want]; ok {
			return v == got
		}
		if v, ok := tmp[want]; ok {
			return v == got
		}
		tmp[want] = got
		return true
	}
	return want == got
}

func (b bindings) commit(tmp bindings) {
	for k, v := range tmp {
		b[k] = v
	}
}

func matchReq(want ReqExpect, got Captured, cfg Config, vars bindings) string {
	tmp := bindings{}
	msg := matchReqVars(want, got, cfg, vars, tmp)
	if msg == "" {
		vars.commit(tmp)
	}
	return msg
}

func matchReqVars(want ReqExpect, got Captured, cfg Config, vars, tmp bindings) string {
	token := cfg.AuthToken
	if want.Method != "" && !strings.EqualFold(want.Method, got.Method) {
		return fmt.Sprintf("method %s, want %s", got.Method, want.Method)
	}
	if want.Path != "" && want.Path != got.Path {
		return fmt.Sprintf("path %s, want %s", got.Path, want.Path)
	}
	for k, v := range want.Query {
		if !vars.value(v, got.Query.Get(k), tmp) || (v == "*" && !got.Query.Has(k)) {
			return fmt.Sprintf("query %s=%q, want %q", k, got.Query.Get(k), v)
		}
	}
	for k, v := range want.Params {
		vs, ok := got.Params[k]
		if !ok {
			return fmt.Sprintf("param %s missing", k)
		}
		if !vars.value(v, vs[0], tmp) {
			if b, ok := vars[v]; ok {
				v += " = " + b
			}
			return fmt.Sprintf("param %s=%q, want %q", k, vs[0], v)
		}
	}
	for _, k := range want.Absent {
		if _, ok := got.Params[k]; ok {
			return fmt.Sprintf("param %s present (%q), want absent", k, got.Params.Get(k))
		}
	}
	if want.Signed {
		sig := got.Header.Get("X-Twilio-Signature")
		var form url.Values
		if got.Method == "POST" {
			form = url.Values{}
			for k, vs := range got.Params {
				if !got.Query.Has(k) {
					form[k] = vs
				}
			}
		}
		if sig == "" || !fetcher.ValidateSignature(token, got.URL, form, sig) {
			return fmt.Sprintf("X-Twilio-Signature %q does not validate", sig)
		}
	}
	if want.Unsigned {
		for _, h := range []string{"X-Twilio-Signature", "Telnyx-Signature-Ed25519", "Telnyx-Timestamp"} {
			if v := got.Header.Get(h); v != "" {
				return fmt.Sprintf("%s %q sent, want no signature", h, v)
			}
		}
	}
	if want.TelnyxSigned {
		key, err := seedKey(cfg.SigningSeed)
		if err != nil || key == nil {
			return "telnyx_signed needs config.signing_seed"
		}
		ts, sig := got.Header.Get("Telnyx-Timestamp"), got.Header.Get("Telnyx-Signature-Ed25519")
		if ts == "" || !fetcher.VerifyEd25519(key.Public().(ed25519.PublicKey), ts, got.Body, sig) {
			return fmt.Sprintf("telnyx-signature-ed25519 %q does not verify (timestamp %q)", sig, ts)
		}
	}
	if want.Cookie != "" && !strings.Contains(got.Header.Get("Cookie"), want.Cookie) {
		return fmt.Sprintf("Cookie %q, want it to contain %q", got.Header.Get("Cookie"), want.Cookie)
	}
	if want.NoCookie && got.Header.Get("Cookie") != "" {
		return fmt.Sprintf("Cookie %q sent, want none", got.Header.Get("Cookie"))
	}
	return ""
}

// matchEvent reports whether ev has want's name and fields; a field
// expected as "" must be absent or empty (party: "" picks the caller's own
// events), "$name" captures as for requests.
func matchEvent(want map[string]any, ev interpreter.Event, vars bindings) bool {
	tmp := bindings{}
	for k, v := range want {
		switch k {
		case "event":
			if fmt.Sprint(v) != ev.Name {
				return false
			}
		case "t_ms":
			if fmt.Sprint(v) != fmt.Sprint(ev.T.Milliseconds()) {
				return false
			}
		default:
			got, ok := ev.Fields[k]
			if !ok {
				if fmt.Sprint(v) == "" {
					continue
				}
				return false
			}
			w, g := fmt.Sprint(v), fmt.Sprint(got)
			if strings.HasPrefix(w, "$") && len(w) > 1 {
				if !vars.value(w, g, tmp) {
					return false
				}
			} else if w != g { // "*" is a DTMF key here, not a wildcard
				return false
			}
		}
	}
	vars.commit(tmp)
	return true
}

func listCaptured(cs []Captured) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "  %s %s %v\n", c.Method, c.Path, c.Params)
	}
	return b.String()
}

func listEvents(evs []interpreter.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %6dms %s %v\n", e.T.Milliseconds(), e.Name, e.Fields)
	}
	return b.String()
}
