package sim

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/texml/texml/interpreter"
)

// SRS scripts the simulated session recording servers (RFC 7866) that
// <Start><Siprec> reaches.
type SRS struct {
	// Connectors, when set, are the only connector names known; any
	// other (but a sip: URI) fails as an unknown connector, as on a
	// server whose configuration lacks it. Nil knows every name.
	Connectors []string
	// Refuse, when set, is the SIP status every server answers the
	// INVITE with (e.g. 488), instead of accepting the session.
	Refuse int
	// HangupAfter, when set, is how long after answering a server ends
	// the session with its BYE.
	HangupAfter time.Duration
}

// knows reports whether connector names a server.
func (s *SRS) knows(connector string) bool {
	if s == nil || s.Connectors == nil || strings.HasPrefix(strings.ToLower(connector), "sip:") {
		return true
	}
	return slices.Contains(s.Connectors, connector)
}

// Siprec implements interpreter.Leg with a simulated recording server:
// it answers at once in virtual time (or refuses, or hangs up later, as
// Options.SRS says) and is traced as the party "srs". A simulated call
// has no audio to send it; the trace says which streams it would get.
func (l *Leg) Siprec(ctx context.Context, spec interpreter.SiprecSpec) (func(), error) {
	if l.gone.Load() {
		return nil, interpreter.ErrHangup
	}
	srs := l.o.SRS
	if !srs.knows(spec.Connector) {
		return nil, fmt.Errorf("%w: %q", interpreter.ErrUnknownConnector, spec.Connector)
	}
	var labels []string
	if spec.Inbound {
		labels = append(labels, "1")
	}
	if spec.Outbound {
		labels = append(labels, "2")
	}
	l.trace("srs", map[string]any{"state": "invite", "sid": spec.Sid, "connector": spec.Connector, "labels": strings.Join(labels, ",")})
	var mu sync.Mutex
	over := false // a last callback went out, or stop ran: nothing more
	finish := func(err error) bool {
		mu.Lock()
		defer mu.Unlock()
		if over {
			return false
		}
		over = true
		if spec.Ended != nil {
			spec.Ended(err)
		}
		return true
	}
	var cancel func() bool
	switch {
	case srs != nil && srs.Refuse != 0:
		l.trace("srs", map[string]any{"state": "refused", "sid": spec.Sid, "code": srs.Refuse})
		finish(&interpreter.SiprecError{Code: srs.Refuse, Reason: "(simulated)"})
	default:
		l.trace("srs", map[string]any{"state": "answered", "sid": spec.Sid})
		if spec.Started != nil {
			spec.Started()
		}
		if srs != nil && srs.HangupAfter > 0 {
			cancel = l.clk.AfterFunc(srs.HangupAfter, func() {
				if finish(nil) {
					l.trace("srs", map[string]any{"state": "bye", "sid": spec.Sid, "by": "srs"})
				}
			})
		}
	}
	var once sync.Once
	done := make(chan struct{})
	stop := func() {
		once.Do(func() {
			close(done)
			if cancel != nil {
				cancel()
			}
			mu.Lock()
			was := over
			over = true
			mu.Unlock()
			if !was {
				l.trace("srs", map[string]any{"state": "bye", "sid": spec.Sid, "by": "src"})
			}
		})
	}
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-done:
		}
	}()
	return stop, nil
}
