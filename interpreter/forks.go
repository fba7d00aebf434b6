package interpreter

import (
	"fmt"

	"github.com/texml/texml/verbs"
)

// namedFork is a fork of the call that <Stop> finds by its name or sid:
// a started recording, transcription or SIPREC session.
type namedFork interface {
	// named reports whether the fork runs under this name or sid.
	named(name string) bool
	// stopFork stops it; why says who ("stop", "call").
	stopFork(why string)
}

// findFork returns the running fork of list with this name or sid.
func findFork[F namedFork](list []F, name string) (F, bool) {
	for _, f := range list {
		if f.named(name) {
			return f, true
		}
	}
	var none F
	return none, false
}

// startForks calls start for each of <Start>'s nouns of tag, with its
// name and at, its position and tag for messages; a noun whose name a
// running fork of *list has already is an error and skipped (what names
// the kind of fork). start adds the fork it starts to *list.
func startForks[F namedFork](c *Call, v *verbs.Start, tag, what string, list *[]F, start func(e *verbs.Element, at, name string)) {
	for _, n := range v.Nouns {
		e, ok := n.(*verbs.Element)
		if !ok || e.Tag != tag {
			continue
		}
		p := e.Position()
		at := fmt.Sprintf("%d:%d: <Start><%s>", p.Line, p.Col, tag)
		name := e.Attrs["name"]
		if name != "" && hasFork(*list, name) {
			c.fail(fmt.Sprintf("%s: a %s named %q is running already; skipped", at, what, name), 0)
			continue
		}
		start(e, at, name)
	}
}

// hasFork reports whether a fork of list runs with this name or sid.
func hasFork[F namedFork](list []F, name string) bool {
	_, ok := findFork(list, name)
	return ok
}

// stopForks runs <Stop>'s nouns of tag against *list: a named one stops
// that fork (a warning names what when none runs); one without a name
// stops them all, as <Stop><Stream/> does.
func stopForks[F namedFork](c *Call, v *verbs.Stop, tag, what string, list *[]F) {
	for _, n := range v.Nouns {
		e, ok := n.(*verbs.Element)
		if !ok || e.Tag != tag {
			continue
		}
		name := e.Attrs["name"]
		if name == "" {
			endForks(list, "stop")
			continue
		}
		f, ok := findFork(*list, name)
		if !ok {
			c.warn(fmt.Sprintf("<Stop><%s name=%q>: no such %s is running", tag, name, what), 0)
			continue
		}
		f.stopFork("stop")
		for i, x := range *list {
			if namedFork(x) == namedFork(f) {
				*list = append((*list)[:i], (*list)[i+1:]...)
				break
			}
		}
	}
}

// endForks stops every fork of *list and forgets them: at a <Stop>
// without a name and at the end of the call.
func endForks[F namedFork](list *[]F, why string) {
	for _, f := range *list {
		f.stopFork(why)
	}
	*list = nil
}
