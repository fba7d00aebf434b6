package signaling

import (
	"context"
	"errors"

	"github.com/texml/texml/interpreter"
)

// EarlyMedia implements interpreter.Leg.
func (l *Leg) EarlyMedia(context.Context) error {
	return errors.New("signaling: early media is not implemented yet")
}

// Ringback implements interpreter.Leg.
func (l *Leg) Ringback(string) func() { return func() {} }

// Bridge implements interpreter.Leg.
func (l *Leg) Bridge(interpreter.Leg) (func(), error) {
	return nil, errors.New("signaling: bridging is not implemented yet")
}
