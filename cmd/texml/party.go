package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
)

// partyUsage is the --party syntax, for the flag's help and its errors.
const partyUsage = "NAME[@MS]=TARGET[;KEY=VALUE]..."

// party is one --party value: another caller on the simulated line.
type party struct {
	name     string
	at       time.Duration
	url      string
	method   string
	from, to string
	sid      string
	leg      sim.Options
}

// parseParty parses a --party value:
//
//	NAME[@MS]=TARGET[;KEY=VALUE]...
//
// NAME names the caller in the transcript; MS is when it calls, in
// virtual milliseconds since the main call started (default 0); TARGET is
// its app, an http(s) URL or a file path like the main TARGET. The KEYs
// are the main call's flags that make sense for one caller: input,
// callee and dial-outcome (repeatable, with the flags' syntax; an
// input's @MS counts from the party's own start), from, to, method and
// sid (its CallSid, for a document that names it). A ";" always separates
// settings, so TARGET and the VALUEs cannot contain one.
func parseParty(v string) (party, error) {
	var p party
	head, rest, ok := strings.Cut(v, "=")
	if !ok {
		return p, fmt.Errorf("--party %q: want %s, e.g. --party 'agent@5000=agent.xml;input=hangup@20000'", v, partyUsage)
	}
	name, at, timed := strings.Cut(head, "@")
	if name == "" {
		return p, fmt.Errorf("--party %q: the NAME before = is empty", v)
	}
	if strings.ContainsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		return p, fmt.Errorf("--party %q: NAME %q may hold only letters, digits, - and _", v, name)
	}
	p.name = name
	if timed {
		ms, err := strconv.ParseUint(at, 10, 32)
		if err != nil {
			return p, fmt.Errorf("--party %q: @%s is not a whole number of milliseconds", v, at)
		}
		p.at = time.Duration(ms) * time.Millisecond
	}
	fields := strings.Split(rest, ";")
	if strings.TrimSpace(fields[0]) == "" {
		return p, fmt.Errorf("--party %q: no TARGET after =; want %s", v, partyUsage)
	}
	u, err := target(fields[0])
	if err != nil {
		return p, fmt.Errorf("--party %q: %w", v, err)
	}
	p.url = u
	seen := map[string]bool{}
	for _, kv := range fields[1:] {
		key, val, ok := strings.Cut(kv, "=")
		if !ok {
			return p, fmt.Errorf("--party %q: %q is not KEY=VALUE", v, kv)
		}
		if err := p.set(key, val, seen); err != nil {
			return p, fmt.Errorf("--party %q: %w", v, err)
		}
	}
	return p, nil
}

// set applies one KEY=VALUE setting of a --party value.
func (p *party) set(key, val string, seen map[string]bool) error {
	switch key {
	case "from", "to", "method", "sid":
		if seen[key] {
			return fmt.Errorf("%s given twice", key)
		}
		seen[key] = true
	}
	switch key {
	case "input":
		in, err := sim.ParseInput(val)
		if err != nil {
			return err
		}
		p.leg.Inputs = append(p.leg.Inputs, in)
	case "callee":
		c, err := sim.ParseCallee(val)
		if err != nil {
			return err
		}
		p.leg.Callees = append(p.leg.Callees, c)
	case "dial-outcome":
		o, err := sim.ParseOutcome(val)
		if err != nil {
			return err
		}
		p.leg.Outcomes = append(p.leg.Outcomes, o)
	case "from", "to":
		if strings.TrimSpace(val) == "" {
			return fmt.Errorf("%s is empty", key)
		}
		if key == "from" {
			p.from = val
		} else {
			p.to = val
		}
	case "method":
		m := strings.ToUpper(val)
		if m != "GET" && m != "POST" {
			return fmt.Errorf("method must be GET or POST, not %q", val)
		}
		p.method = m
	case "sid":
		if !isCallSid(val) {
			return fmt.Errorf("sid %q: want CA and 32 hex digits", val)
		}
		p.sid = val
	default:
		return fmt.Errorf("unknown setting %q (want input, callee, dial-outcome, from, to, method or sid)", key)
	}
	return nil
}

// isCallSid reports whether s has the shape of a CallSid.
func isCallSid(s string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, "CA") {
		return false
	}
	for _, r := range s[2:] {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return true
}

// parties parses every --party; names must differ from each other.
func parties(flags []string) ([]party, error) {
	var out []party
	names := map[string]bool{}
	for _, v := range flags {
		p, err := parseParty(v)
		if err != nil {
			return nil, err
		}
		if names[p.name] {
			return nil, fmt.Errorf("--party %q: another --party is already named %s", v, p.name)
		}
		names[p.name] = true
		out = append(out, p)
	}
	return out, nil
}

// simParty makes the i-th --party (from 0) a caller on the line. What
// belongs to the line rather than to one call (--account-sid, --param,
// --public-url, signing, --dialect, --connection-id) main shares with it; the main call's own app
// settings (--method, --fallback-url, --status-callback, --from, --to,
// --input, ...) stay its own.
func (p party) simParty(i int, main interpreter.Config, fe interpreter.Fetcher, cbs *interpreter.Dispatcher) sim.Party {
	from := p.from
	if from == "" {
		// Each party a number of its own, so that the app can tell
		// them apart as it would real callers.
		from = fmt.Sprintf("+15005550%03d", 101+i)
	}
	to := p.to
	if to == "" {
		to = main.To // they call the same line
	}
	return sim.Party{
		Name: p.name, At: p.at, Leg: p.leg, Fetcher: fe, Callbacks: cbs,
		Config: interpreter.Config{
			URL: p.url, Method: p.method, CallSid: p.sid, From: from, To: to,
			AccountSid: main.AccountSid, ExtraParams: main.ExtraParams,
			RecordingBaseURL: main.RecordingBaseURL, Logger: main.Logger,
			Dialect: main.Dialect, ConnectionID: main.ConnectionID,
		},
	}
}
