package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/verbs"
)

// finding is one lint diagnostic for the JSON output.
type finding struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Col      int    `json:"col"`
	Severity string `json:"severity"`
	Code     int    `json:"code,omitempty"`
	Message  string `json:"message"`
}

func runLint(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("texml lint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "text", `output format: "text" or "json"`)
	dialectName := fs.String("dialect", "twiml", `"twiml" or "texml": check against Telnyx's rules (no <Client>, Dial ranges)`)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: texml lint [--format text|json] [--dialect twiml|texml] FILE|URL ...\n\nPrints path:line:col: severity: message [code]; exits 1 when any error is found.\n\nFlags:")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "texml lint: --format must be text or json, not %q\n", *format)
		return 2
	}
	dialect, err := verbs.ParseDialect(*dialectName)
	if err != nil {
		fmt.Fprintf(stderr, "texml lint: --dialect %q: %v\n", *dialectName, err)
		return 2
	}
	if len(pos) == 0 {
		fs.Usage()
		return 2
	}
	fe := fetcher.New(fetcher.Options{UserAgent: "texml/" + version})
	defer fe.Close()
	var all []finding
	failed := false
	for _, name := range pos {
		found := lintOne(ctx, fe, name, dialect)
		for _, f := range found {
			if f.Severity == verbs.Error.String() {
				failed = true
			}
		}
		all = append(all, found...)
	}
	if *format == "json" {
		if all == nil {
			all = []finding{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(all)
	} else {
		for _, f := range all {
			code := ""
			if f.Code != 0 {
				code = fmt.Sprintf(" [%d]", f.Code)
			}
			fmt.Fprintf(stdout, "%s:%d:%d: %s: %s%s\n", f.File, f.Line, f.Col, f.Severity, f.Message, code)
		}
	}
	if failed {
		return 1
	}
	return 0
}

// lintOne checks one file or URL against the dialect's rules.
func lintOne(ctx context.Context, fe *fetcher.Fetcher, name string, dialect verbs.Dialect) []finding {
	fail := func(line, col, code int, msg string) []finding {
		return []finding{{File: name, Line: line, Col: col, Severity: "error", Code: code, Message: msg}}
	}
	u, err := target(name)
	if err != nil {
		return fail(1, 1, 11200, err.Error())
	}
	resp, err := fe.Fetch(ctx, fetcher.Request{URL: u, Method: "GET"})
	if err != nil {
		code := 11200
		var fErr *fetcher.Error
		if errors.As(err, &fErr) {
			code = fErr.Code
		}
		return fail(1, 1, code, err.Error())
	}
	if resp.Kind != fetcher.TwiML {
		return nil // audio and text/plain responses are valid apps
	}
	doc, err := dialect.Parse(resp.Body, verbs.Main)
	if err != nil {
		var pe *verbs.ParseError
		if errors.As(err, &pe) {
			return fail(pe.Line, pe.Col, pe.Code, pe.Message)
		}
		return fail(1, 1, 12100, err.Error())
	}
	var out []finding
	diags := append(doc.Diagnostics, interpreter.Unsupported(doc)...)
	sort.SliceStable(diags, func(i, j int) bool {
		if diags[i].Line != diags[j].Line {
			return diags[i].Line < diags[j].Line
		}
		return diags[i].Col < diags[j].Col
	})
	for _, d := range diags {
		out = append(out, finding{File: name, Line: d.Line, Col: d.Col, Severity: d.Severity.String(), Code: d.Code, Message: d.Message})
	}
	return out
}
