package signaling

import (
	"context"
	"errors"
	"log/slog"

	"github.com/texml/texml/interpreter"
)

// Check reports whether t can be dialed at all: a trunk routes the
// number and no deny rule forbids it, the SIP URI is usable, or there is
// a registrar for clients. The REST API asks before it creates a call,
// so that a To that can never be reached is refused at once.
func (s *Server) Check(t interpreter.Target) error {
	if t.Kind == interpreter.ClientTarget {
		if s.cfg.Registrar == nil {
			return errors.New("no clients register here (no clients: in the configuration)")
		}
		return nil
	}
	_, err := s.destination(t)
	return err
}

// Prepare returns the call cfg describes, set up as this server sets up
// its inbound calls (Dialer, queues, conferences, logger, metrics of its
// verbs, status observer), for the REST API to place with
// (*interpreter.Call).Place.
func (s *Server) Prepare(cfg interpreter.Config) *interpreter.Call {
	s.configure(&cfg, s.log.With("direction", cfg.Direction))
	return interpreter.New(nil, s.cfg.Fetcher, s.cfg.Callbacks, cfg)
}

// configure fills in what every call of this server shares; log is the
// call's logger before its call_sid (the interpreter adds it).
func (s *Server) configure(cfg *interpreter.Config, log *slog.Logger) {
	cfg.Logger = log
	cfg.Dialer = s
	cfg.Queues = s.cfg.Queues
	cfg.Conferences = s.cfg.Conferences
	cfg.Streams = s.cfg.Streams
	cfg.Voice = voice{m: &s.cfg.Media}
	cfg.Geo = s.geo
	cfg.Detach = s.detach
	if s.cfg.Metrics != nil {
		cfg.Observe = s.cfg.Metrics.verb
	}
	if cfg.OnStatus == nil {
		cfg.OnStatus = s.cfg.OnStatus
	}
}

// detach runs a Dial child that a live update took out of its bridge (its
// own call from then on) as a call of the server's: Drain and Close wait
// for it, and its leg ends with the server.
func (s *Server) detach(run func(context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		run(s.base)
	}()
}
