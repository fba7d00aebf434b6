package interpreter

import (
	"fmt"

	"github.com/texml/texml/verbs"
)

// Unsupported lists, as error diagnostics, the verbs and nouns in doc that
// texml cannot execute yet: the interpreter reports and skips them at run
// time (never silently), and `texml lint` flags them beforehand.
func Unsupported(doc *verbs.Document) []verbs.Diagnostic {
	var out []verbs.Diagnostic
	flag := func(n named, where string) {
		out = append(out, verbs.Diagnostic{Pos: n.Position(), Severity: verbs.Error,
			Message: fmt.Sprintf("<%s>%s is not supported by texml yet", n.Name(), where)})
	}
	for _, v := range doc.Verbs {
		switch v := v.(type) {
		case *verbs.Element:
			flag(v, "")
		case *verbs.Dial:
			for _, n := range v.Nouns {
				switch n.(type) {
				case *verbs.Application, *verbs.Sim, *verbs.WhatsApp, *verbs.Element:
					flag(n, " in <Dial>")
				}
			}
		case *verbs.Connect:
			nouns(v.Nouns, " in <Connect>", flag)
		case *verbs.Start:
			nouns(v.Nouns, " in <Start>", flag)
		case *verbs.Stop:
			nouns(v.Nouns, " in <Stop>", flag)
		}
	}
	return out
}

// named is what verbs and nouns have in common.
type named interface {
	Name() string
	Position() verbs.Pos
}

func nouns(ns []verbs.Noun, where string, flag func(named, string)) {
	for _, n := range ns {
		if _, ok := n.(*verbs.Element); ok {
			flag(n, where)
		}
	}
}
