package signaling

import (
	"context"
	"fmt"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/verbs"
)

// The verbs below need a second call leg, a queue, a WebSocket or a media
// fork; on a SIP call they report ErrUnsupported, which the interpreter
// turns into an error event before going on (never silence). They come in
// later versions.

func unsupported(verb string) error {
	return fmt.Errorf("<%s> on a SIP call: %w yet", verb, interpreter.ErrUnsupported)
}

// Dial implements interpreter.Leg.
func (l *Leg) Dial(context.Context, *verbs.Dial) (interpreter.Outcome, error) {
	return interpreter.Outcome{}, unsupported("Dial")
}

// Enqueue implements interpreter.Leg.
func (l *Leg) Enqueue(context.Context, *verbs.Enqueue) (interpreter.Outcome, error) {
	return interpreter.Outcome{}, unsupported("Enqueue")
}

// Connect implements interpreter.Leg.
func (l *Leg) Connect(context.Context, *verbs.Connect) (interpreter.Outcome, error) {
	return interpreter.Outcome{}, unsupported("Connect")
}

// Refer implements interpreter.Leg.
func (l *Leg) Refer(context.Context, *verbs.Refer) (interpreter.Outcome, error) {
	return interpreter.Outcome{}, unsupported("Refer")
}

// Start implements interpreter.Leg.
func (l *Leg) Start(context.Context, *verbs.Start) error { return unsupported("Start") }

// Stop implements interpreter.Leg.
func (l *Leg) Stop(context.Context, *verbs.Stop) error { return unsupported("Stop") }
