package signaling

import (
	"context"
	"fmt"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/verbs"
)

// The forks below need a WebSocket or a second media destination; on a SIP
// call they report ErrUnsupported, which the interpreter turns into an
// error event before going on (never silence). Enqueue, Connect, Refer and
// a Dial to a Conference or Queue fail the same way, because a SIP leg is
// not an interpreter.HandOff. They come in later versions.

func unsupported(verb string) error {
	return fmt.Errorf("<%s> on a SIP call: %w yet", verb, interpreter.ErrUnsupported)
}

// Start implements interpreter.Leg.
func (l *Leg) Start(context.Context, *verbs.Start) error { return unsupported("Start") }

// Stop implements interpreter.Leg.
func (l *Leg) Stop(context.Context, *verbs.Stop) error { return unsupported("Stop") }
