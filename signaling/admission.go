package signaling

import "sync/atomic"

// Admission: which calls may start. A call is refused with 503 and
// Retry-After (refuse.go) before any media, dialog or fetch exists for it
// when the server is draining, at MaxCalls, or, for an inbound call, while
// MaxSetup calls are in setup or while the process is Overloaded.
//
// A call is in setup from its admission until our 200 OK or 183 Session
// Progress goes out, or a final response does, or its handler ends:
// while the app's first document is fetched and run up to the answer,
// which is the work of starting a call. When the process cannot keep up
// (CPU, a slow app), it is this number that grows: every call waits
// longer for its answer, callers retransmit and give up, and calls
// answered late pile up behind them. Bounding it refuses new calls early
// instead, while the calls already admitted go on at full speed. A call
// that waits on purpose before its answer (a leading Pause) counts until
// the answer; a Dial with answerOnBridge stops counting at its 183.

// callSlot is one admitted call. leave counts it out; setupOver, called
// whenever the INVITE gets its 200 OK, 183 or final response, ends its
// setup. Both are safe to call more than once and from any goroutine.
type callSlot struct {
	s       *Server
	inSetup atomic.Bool
	left    atomic.Bool
}

// admit counts a new call in, unless the server is draining, at MaxCalls,
// or (inbound) at MaxSetup or Overloaded; nil means refused. The checks and the count
// are one step so that Drain cannot miss a call starting. Outbound calls
// (our own Dials) do not count as in setup: they are part of a call that
// was admitted already.
func (s *Server) admit(inbound bool) *callSlot {
	if inbound && s.cfg.Overloaded != nil && s.cfg.Overloaded() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() || (s.cfg.MaxCalls > 0 && s.live >= s.cfg.MaxCalls) ||
		(inbound && s.cfg.MaxSetup > 0 && s.setup >= s.cfg.MaxSetup) {
		return nil
	}
	s.live++
	s.wg.Add(1)
	c := &callSlot{s: s}
	if inbound {
		s.setup++
		c.inSetup.Store(true)
	}
	return c
}

// setupOver ends the call's setup; a nil slot (a leg without one) is
// fine.
func (c *callSlot) setupOver() {
	if c == nil || !c.inSetup.CompareAndSwap(true, false) {
		return
	}
	c.s.mu.Lock()
	c.s.setup--
	c.s.mu.Unlock()
}

// leave counts the call out that admit counted in.
func (c *callSlot) leave() {
	if !c.left.CompareAndSwap(false, true) {
		return
	}
	c.setupOver()
	c.s.mu.Lock()
	c.s.live--
	c.s.mu.Unlock()
	c.s.wg.Done()
}

// InSetup is the number of inbound calls in setup (see MaxSetup).
func (s *Server) InSetup() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setup
}

// setDraining refuses calls from now on (see admit).
func (s *Server) setDraining() {
	s.mu.Lock()
	s.draining.Store(true)
	s.mu.Unlock()
}
