// Command texml runs TwiML and TeXML voice applications: `texml call`
// simulates a call against an app, `texml lint` checks documents.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `texml runs TwiML/TeXML voice applications.

Usage:
  texml call TARGET [flags]     run a simulated call against an app (URL or file)
  texml lint FILE|URL ...       check documents; exit 1 on errors
  texml serve [flags]           answer SIP calls and run their app on real RTP media
  texml version                 print the version

Run "texml COMMAND -h" for a command's flags.
`

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		// SIGTERM drains (new calls refused, active calls go on); SIGINT
		// hangs up every call and exits.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		code := runServe(ctx, os.Args[2:], os.Stdout, os.Stderr, term)
		stop()
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches a command line; it returns the process exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "call":
		return runCall(ctx, args[1:], stdin, stdout, stderr)
	case "lint":
		return runLint(ctx, args[1:], stdout, stderr)
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr, nil)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "texml", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "texml: unknown command %q\n\n%s", args[0], usage)
	return 2
}
