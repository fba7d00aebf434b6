package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
)

// printer writes a call's events as they happen: a transcript for people,
// or one JSON object per line with --trace json.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	json  bool
	quiet url.Values // parameters the user set (--param), left out of request lines like the standard ones
	// partyOf names the --party whose call has a CallSid ("" for none),
	// so that an agent taking a caller from a queue is named.
	partyOf func(callSid string) string
}

func newPrinter(w io.Writer, asJSON bool) *printer { return &printer{w: w, json: asJSON} }

// Trace implements interpreter.Tracer.
func (p *printer) Trace(e interpreter.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		obj := make(map[string]any, len(e.Fields)+2)
		for k, v := range e.Fields {
			obj[k] = v
		}
		obj["event"] = e.Name
		obj["t_ms"] = e.T.Milliseconds()
		b, err := json.Marshal(obj)
		if err != nil {
			b = []byte(fmt.Sprintf(`{"event":"error","message":%q}`, err.Error()))
		}
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	line := p.describe(e)
	if line == "" {
		return
	}
	if party, ok := e.Fields["party"]; ok && party != "" {
		// A Dial's callee (or an event about it): indented under the
		// caller's timeline and named, so that several parties stay
		// readable in one transcript.
		line = fmt.Sprintf("  %v | %s", party, line)
	}
	if caller, ok := e.Fields["caller"]; ok && caller != "" {
		// Another caller on the line (--party): its name first, so that
		// its timeline reads apart from the main caller's.
		line = fmt.Sprintf("%v: %s", caller, line)
	}
	fmt.Fprintf(p.w, "[%7.2fs] %s\n", e.T.Seconds(), line)
}

// end prints the closing line of a transcript (JSON traces end with the
// hangup event already).
func (p *printer) end(res interpreter.Result, length time.Duration) {
	if p.json {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "call ended: status %s, reason %s, duration %ds (virtual call length %.1fs)\n",
		res.Status, res.Reason, int(res.Duration.Seconds()), length.Seconds())
}

// endParty prints how a --party's call ended, after the main call's
// closing line.
func (p *printer) endParty(e sim.Ended, at time.Duration) {
	if p.json {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !e.Called {
		fmt.Fprintf(p.w, "%s: never called (the call was stopped before %.1fs)\n", e.Name, at.Seconds())
		return
	}
	fmt.Fprintf(p.w, "%s: call ended: status %s, reason %s, duration %ds (called at %.1fs, ended at %.1fs)\n",
		e.Name, e.Result.Status, e.Result.Reason, int(e.Result.Duration.Seconds()), at.Seconds(), e.At.Seconds())
}

func (p *printer) describe(e interpreter.Event) string {
	f := e.Fields
	s := func(k string) string {
		if v, ok := f[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	switch e.Name {
	case "request":
		line := fmt.Sprintf("→ %s %s", s("method"), s("url"))
		// Each redirect followed: "(302) → http://host/new", so that the
		// status at the end is the final URL's.
		hops, _ := f["redirects"].([]map[string]any)
		for _, h := range hops {
			line += fmt.Sprintf(" (%v) → %v", h["status"], h["location"])
		}
		if st, ok := f["status"]; ok && st != 0 {
			line += fmt.Sprintf(" (%v)", st)
		}
		if c, ok := f["code"]; ok {
			line += fmt.Sprintf(" error %v", c)
		}
		if params, ok := f["params"].(map[string]string); ok {
			line += verbParams(params, p.quiet)
		}
		return line
	case "say":
		return fmt.Sprintf("Say (%s, %s): %q", s("voice"), s("language"), s("text"))
	case "play":
		return "Play " + s("url")
	case "pause":
		return fmt.Sprintf("Pause %vs", f["seconds"])
	case "digits":
		if b, _ := f["hangup_on_star"].(bool); b {
			return "caller pressed * (hangupOnStar)"
		}
		return "Send DTMF " + s("digits")
	case "beep":
		return "beep"
	case "answer":
		return "answered"
	case "input":
		if _, callee := f["party"]; callee {
			if s("type") == "hangup" {
				return "hangs up"
			}
			return "callee input: " + s("value")
		}
		return "caller: " + s("value")
	case "barge-in":
		return "caller input interrupts the prompt"
	case "gather":
		if t := s("speech"); t != "" {
			return fmt.Sprintf("Gather collected speech %q", t)
		}
		return fmt.Sprintf("Gather collected digits %q", s("digits"))
	case "record":
		return fmt.Sprintf("Record %ss (ended by %q)", s("duration"), s("digits"))
	case "dial":
		if _, ok := f["outcome"]; !ok {
			if _, ok := f["timeout"]; !ok {
				return fmt.Sprintf("Dial %s (joins at once)", list(f["targets"])) // a conference never rings
			}
			// The interpreter's Dial: the outcome comes with "dialed".
			mode := fmt.Sprintf("ring %vs, in parallel", f["timeout"])
			if b, _ := f["sequential"].(bool); b {
				mode = fmt.Sprintf("one after another, ring %vs each", f["timeout"])
			}
			return fmt.Sprintf("Dial %s (%s)", list(f["targets"]), mode)
		}
		return fmt.Sprintf("Dial %v → %v", f["targets"], f["outcome"])
	case "fork":
		return forkLine(f)
	case "early-media":
		return "caller hears its early media"
	case "amd":
		ms, _ := f["duration_ms"].(int64)
		return fmt.Sprintf("answered by %s (machine detection, %.2fs)", s("answered_by"), float64(ms)/1000)
	case "bridge":
		return "connected to the caller"
	case "unbridge":
		return fmt.Sprintf("disconnected from the caller after %vs (%s)", f["seconds"], s("reason"))
	case "dialed":
		if b, _ := f["bridged"].(bool); b {
			return fmt.Sprintf("Dial ended: %s, dialed call lasted %vs", s("outcome"), f["seconds"])
		}
		return "Dial ended: " + s("outcome")
	case "record-call":
		return "" // the recording event below says it
	case "record-peer":
		if peer := s("peer"); peer != "" {
			return "the recording hears " + peer
		}
		return "the recording hears no callee"
	case "recording":
		return recordingLine(f)
	case "enqueue":
		if r := s("result"); r != "" {
			return fmt.Sprintf("Enqueue %s → %s", s("queue"), r)
		}
		return fmt.Sprintf("Enqueue %s: position %v of %v", s("queue"), f["position"], f["size"])
	case "dequeue":
		if a := s("agent"); a != "" {
			if p.partyOf != nil && p.partyOf(a) != "" {
				a += " (" + p.partyOf(a) + ")"
			}
			return fmt.Sprintf("queue %s: taken by agent %s", s("queue"), a)
		}
		return fmt.Sprintf("queue %s: %s", s("queue"), s("result"))
	case "conference":
		line := fmt.Sprintf("conference %s: %s", s("room"), s("state"))
		if r := s("reason"); r != "" {
			line += " (" + r + ")"
		}
		if sid := s("sid"); sid != "" {
			line += " " + sid
		}
		return line
	case "mix":
		line := "in the conference's mix: " + s("state")
		for _, k := range []string{"muted", "hold", "coaching"} {
			if b, _ := f[k].(bool); b {
				line += ", " + k
			}
		}
		return line
	case "stream":
		return streamLine(f)
	case "relay":
		return relayLine(f)
	case "refer":
		return fmt.Sprintf("Refer %s → %s (REFER %v, NOTIFY %v)", s("target"), s("outcome"), f["refer_code"], f["notify_code"])
	case "refer-sent":
		return "sends REFER to " + s("target")
	case "refer-reply":
		return fmt.Sprintf("its REFER is answered %v", f["code"])
	case "notify":
		return fmt.Sprintf("NOTIFY: the transfer's call %v", f["code"])
	case "transfer":
		if s("by") == "caller" {
			return "the caller transfers the dialed party to " + s("target") + " (referUrl)"
		}
		return "transfers the caller to " + s("target") + " (referUrl)"
	case "transferred":
		if s("transferor") == "caller" {
			return fmt.Sprintf("the caller is told the transfer's outcome (%v) and let go", f["code"])
		}
		return fmt.Sprintf("told the transfer's outcome (%v) and let go", f["code"])
	case "connect", "start", "stop":
		return fmt.Sprintf("%s %v → %v", strings.ToUpper(e.Name[:1])+e.Name[1:], f["targets"], f["outcome"])
	case "hangup":
		return "hangup: " + s("reason")
	case "reject":
		return "reject: " + s("reason")
	case "update":
		return fmt.Sprintf("live update: %v", f)
	case "callback":
		line := fmt.Sprintf("callback %s %s %s", s("kind"), s("method"), s("url"))
		if errText, ok := f["error"]; ok {
			line += fmt.Sprintf(" failed: %v", errText)
		}
		return line
	case "transcribe", "tts", "sent-digits":
		// The simulated leg's own record of a recognizer started, of an
		// agent's words rendered and of digits sent: JSON traces have
		// them; the transcript already tells the same step (the agent's
		// line, the verb's), so it leaves them out.
		return ""
	case "warning", "error":
		line := e.Name + ": " + s("message")
		if c, ok := f["code"]; ok {
			line += fmt.Sprintf(" [%v]", c)
		}
		return line
	}
	return fmt.Sprintf("%s %v", e.Name, f)
}

// streamLine describes a media stream's step: what the app was sent and
// what it sent back, in the call's time.
func streamLine(f map[string]any) string {
	v := func(k string) any { return f[k] }
	switch st := fmt.Sprint(f["state"]); st {
	case "starting":
		kind := "fork"
		if b, _ := f["bidirectional"].(bool); b {
			kind = "bidirectional"
		}
		line := fmt.Sprintf("stream %v (%s, %v track) → %v", v("sid"), kind, v("track"), v("url"))
		if n, ok := f["name"]; ok {
			line += fmt.Sprintf(" name %v", n)
		}
		return line
	case "audio":
		who := "stream: the app"
		if w, ok := f["who"]; ok {
			who = fmt.Sprint(w) // a ConversationRelay agent
		}
		line := fmt.Sprintf("%s spoke for %v ms (from %.2fs)", who, v("ms"), toFloat(v("from_ms"))/1000)
		if text, ok := f["text"]; ok {
			line += fmt.Sprintf(": %q", text)
		}
		return line
	case "mark":
		return fmt.Sprintf("stream: mark %v played", v("mark"))
	case "clear":
		return fmt.Sprintf("stream: clear drops %v ms", v("dropped_ms"))
	case "stopped":
		line := fmt.Sprintf("stream %v stopped (%v): %v frames sent, %v dropped; the app sent %v ms, %v ms played",
			v("sid"), v("reason"), v("sent"), v("dropped"), v("received_ms"), v("played_ms"))
		if e, ok := f["error"]; ok {
			line += fmt.Sprintf("; %v", e)
		}
		return line
	default:
		return fmt.Sprintf("stream %v %s", v("sid"), st)
	}
}

// relayLine describes a ConversationRelay session's step: the
// conversation as the caller and the agent had it.
func relayLine(f map[string]any) string {
	v := func(k string) any { return f[k] }
	switch st := fmt.Sprint(f["state"]); st {
	case "connecting":
		return fmt.Sprintf("ConversationRelay %v → %v", v("sid"), v("url"))
	case "agent":
		return fmt.Sprintf("agent: %q", v("text"))
	case "prompt":
		return fmt.Sprintf("caller (heard by the agent): %q", v("text"))
	case "not-reported":
		return fmt.Sprintf("caller (not reported: the agent was speaking): %q", v("text"))
	case "interrupt":
		return fmt.Sprintf("agent interrupted by %v after %v ms, having said %q", v("by"), v("ms"), v("spoken"))
	case "dtmf":
		return fmt.Sprintf("relay: key %v sent to the agent", v("digit"))
	case "play":
		return fmt.Sprintf("agent plays %v (×%v)", v("url"), v("loop"))
	case "send-digits":
		return fmt.Sprintf("agent sends digits %v", v("digits"))
	case "language":
		return fmt.Sprintf("agent switches language: speech %v, recognition %v", v("tts"), v("transcription"))
	case "preempted":
		return fmt.Sprintf("agent: %v older utterance(s) cut off by the new answer", v("utterances"))
	case "ended":
		line := fmt.Sprintf("ConversationRelay %v ended: %v", v("sid"), v("status"))
		if h := fmt.Sprint(v("handoff")); h != "" && h != "<nil>" {
			line += " with handoffData " + h
		}
		return line
	default:
		return fmt.Sprintf("ConversationRelay %v %s", v("sid"), st)
	}
}

// toFloat reads a trace field that holds a number.
func toFloat(v any) float64 {
	switch n := v.(type) {
	case int64:
		return float64(n)
	case int:
		return float64(n)
	case float64:
		return n
	}
	return 0
}

// recordingLine describes a Dial recording's status.
func recordingLine(f map[string]any) string {
	line := fmt.Sprintf("Dial recording %v", f["sid"])
	switch st := fmt.Sprint(f["status"]); st {
	case "in-progress":
		kind := "mono"
		if fmt.Sprint(f["channels"]) == "2" {
			kind = "dual"
		}
		line += fmt.Sprintf(" started (%s, track %v", kind, f["track"])
		if b, _ := f["trim"].(bool); b {
			line += ", trim silence"
		}
		return line + ")"
	case "absent":
		return line + " absent: nothing recorded"
	default:
		return fmt.Sprintf("%s %s: %vs", line, st, f["seconds"])
	}
}

// forkLine describes a Dial child leg's state change.
func forkLine(f map[string]any) string {
	state := fmt.Sprint(f["state"])
	line := state
	switch state {
	case "initiated":
		line = "calling"
	case "ringing":
		if fmt.Sprint(f["code"]) == "183" {
			line = "ringing, with early media"
		}
	}
	if c, ok := f["code"]; ok && state != "initiated" {
		line += fmt.Sprintf(" (%v)", c)
	}
	if r, ok := f["reason"]; ok && r != "" && r != state {
		line += fmt.Sprintf(": %v", r)
	}
	return line
}

// list joins a trace's list of names ("[a b]" as Go prints it) with commas.
func list(v any) string {
	if l, ok := v.([]string); ok {
		return strings.Join(l, ", ")
	}
	return fmt.Sprint(v)
}

// standard request parameters are left out of the transcript; only the
// verb's own parameters (Digits, DialCallStatus, ...) are worth a look.
var standard = map[string]bool{"CallSid": true, "AccountSid": true, "From": true, "To": true, "Caller": true,
	"Called": true, "CallStatus": true, "Direction": true, "ApiVersion": true, "ParentCallSid": true,
	"FromCountry": true, "FromState": true, "CallerCountry": true, "CallerState": true,
	"ToCountry": true, "ToState": true, "CalledCountry": true, "CalledState": true}

func verbParams(p map[string]string, quiet url.Values) string {
	var keys []string
	for k := range p {
		if _, set := quiet[k]; (!set || quiet.Get(k) != p[k]) && !standard[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + p[k]
	}
	return " " + strings.Join(parts, " ")
}
