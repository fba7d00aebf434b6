package conformance

import (
	"fmt"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/sim"
)

// addParties adds the scenario's other callers to the line; each calls at
// its time, on the same clock, queues and conferences as the first, in
// the scenario's dialect.
func addParties(w *sim.World, s *Scenario, abs func(string) string, fe interpreter.Fetcher, cbs *interpreter.Dispatcher) error {
	for _, p := range s.Parties {
		if p.Name == "" {
			return fmt.Errorf("a party needs a name")
		}
		var opts sim.Options
		for _, v := range p.Inputs {
			in, err := sim.ParseInput(v)
			if err != nil {
				return fmt.Errorf("party %s: %w", p.Name, err)
			}
			opts.Inputs = append(opts.Inputs, in)
		}
		for _, v := range p.Callees {
			c, err := sim.ParseCallee(v)
			if err != nil {
				return fmt.Errorf("party %s: %w", p.Name, err)
			}
			opts.Callees = append(opts.Callees, c)
		}
		err := w.Add(sim.Party{
			Name: p.Name, At: time.Duration(p.AtMS) * time.Millisecond, Leg: opts,
			Config: interpreter.Config{
				URL: abs(or(p.VoiceURL, "/voice")), Method: p.Method, CallSid: p.CallSid,
				From: or(p.From, "+15005550007"), To: or(p.To, "+15005550001"),
				RecordingBaseURL: "http://recordings.test",
				// The line's dialect is the scenario's, as a server's.
				Dialect: s.Config.Dialect, ConnectionID: s.Config.ConnectionID,
			},
			Fetcher: fe, Callbacks: cbs,
		})
		if err != nil {
			return err
		}
	}
	return nil
}
