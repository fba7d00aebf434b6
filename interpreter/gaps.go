package interpreter

import (
	"fmt"

	"github.com/texml/texml/verbs"
)

// Unsupported lists what texml cannot do yet in doc: errors for verbs and
// nouns it cannot run (the interpreter reports and skips them), warnings
// for attributes it ignores. `texml lint` prints the same list that a call
// reports at run time, so nothing is skipped silently.
func Unsupported(doc *verbs.Document) []verbs.Diagnostic {
	var out []verbs.Diagnostic
	for _, v := range doc.Verbs {
		out = append(out, gaps(v)...)
	}
	return out
}

// named is what verbs and nouns have in common.
type named interface {
	Name() string
	Position() verbs.Pos
}

func gap(sev verbs.Severity, n named, format string, args ...any) verbs.Diagnostic {
	return verbs.Diagnostic{Pos: n.Position(), Severity: sev, Message: fmt.Sprintf(format, args...)}
}

// gaps lists the unsupported parts of one verb.
func gaps(v verbs.Verb) []verbs.Diagnostic {
	var out []verbs.Diagnostic
	switch v := v.(type) {
	case *verbs.Element:
		out = append(out, gap(verbs.Error, v, "<%s> is not supported by texml yet", v.Name()))
	case *verbs.Record:
		if v.Transcribe || v.TranscribeCallback != "" {
			out = append(out, gap(verbs.Warning, v, "<Record> transcription is not supported by texml yet; the recording is made without it"))
		}
	case *verbs.Dial:
		if v.Record != "" && v.Record != "do-not-record" && dialsRoom(v) {
			out = append(out, gap(verbs.Warning, v, "<Dial record> with a <Conference> or <Queue> is not supported by texml yet; the call is not recorded"))
		}
		if v.ReferURL != "" && dialsRoom(v) {
			// A REFER is taken from a dialed party (transfer.go); a
			// room has none.
			out = append(out, gap(verbs.Warning, v, "<Dial referUrl> with a <Conference> or <Queue> is not supported by texml; REFERs are declined"))
		}
		for _, n := range v.Nouns {
			out = append(out, nounGaps(n, "Dial")...)
		}
	case *verbs.Enqueue:
		if v.WorkflowSid != "" || v.Task != "" {
			out = append(out, gap(verbs.Warning, v, "<Enqueue workflowSid> and <Task> (TaskRouter) are not supported by texml; the call waits in the queue its text names"))
		}
	case *verbs.Connect:
		for _, n := range v.Nouns {
			out = append(out, nounGaps(n, "Connect")...)
		}
	case *verbs.Start:
		if v.Action != "" {
			out = append(out, gap(verbs.Warning, v, "<Start action> is not supported by texml yet; the next verb runs"))
		}
		for _, n := range v.Nouns {
			out = append(out, nounGaps(n, "Start")...)
		}
	case *verbs.Stop:
		for _, n := range v.Nouns {
			out = append(out, nounGaps(n, "Stop")...)
		}
	}
	return out
}

func nounGaps(n verbs.Noun, parent string) []verbs.Diagnostic {
	switch n := n.(type) {
	case *verbs.Element:
		if (n.Tag == "Transcription" || n.Tag == "Siprec") && (parent == "Start" || parent == "Stop") {
			return nil // attributes texml cannot honour are reported as the fork starts
		}
		if n.Tag == "Recording" && (parent == "Start" || parent == "Stop") {
			if n.Attrs["recordingConfigurationId"] != "" {
				return []verbs.Diagnostic{gap(verbs.Warning, n, "<Recording recordingConfigurationId> (a recording configuration) is not supported by texml; the attributes of the Recording apply")}
			}
			return nil
		}
		return []verbs.Diagnostic{gap(verbs.Error, n, "<%s> in <%s> is not supported by texml yet", n.Name(), parent)}
	case *verbs.Application, *verbs.Sim, *verbs.WhatsApp:
		return []verbs.Diagnostic{gap(verbs.Error, n, "<%s> in <%s> is not supported by texml yet", n.Name(), parent)}
	case *verbs.Stream:
		if n.URL == "" && n.ConnectorName != "" && parent != "Stop" {
			return []verbs.Diagnostic{gap(verbs.Error, n, "<Stream connectorName> (a Stream connector) is not supported by texml yet")}
		}
	case *verbs.Conference:
		var out []verbs.Diagnostic
		if n.Region != "" {
			out = append(out, gap(verbs.Warning, n, "<Conference region> is ignored: texml mixes a conference on the node of its first participant"))
		}
		return out
	}
	return nil
}

// dialsRoom reports whether d dials a Conference or a Queue, which the
// leg runs as a whole (HandOff) rather than over the Dialer.
func dialsRoom(d *verbs.Dial) bool {
	nouns := supported(d.Nouns)
	if len(nouns) != 1 {
		return false
	}
	switch nouns[0].(type) {
	case *verbs.Conference, *verbs.Queue:
		return true
	}
	return false
}

// supported returns the nouns texml can run; the rest were reported by gaps.
func supported(nouns []verbs.Noun) []verbs.Noun {
	out := make([]verbs.Noun, 0, len(nouns))
	for _, n := range nouns {
		switch n.(type) {
		case *verbs.Application, *verbs.Sim, *verbs.WhatsApp, *verbs.Element:
		default:
			out = append(out, n)
		}
	}
	return out
}
