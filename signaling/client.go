package signaling

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/interpreter"
)

// dialClient rings every registered contact of a client identity at once
// and bridges the first that answers; the others get CANCEL (Twilio's
// <Client> page: several devices of one identity ring together, as
// several <Client> nouns do). It is one Attempt to the interpreter, so
// the Dial's fork, CallSid and status callbacks are the identity's.
//
// An identity that is configured but has no binding is not dialed: the
// attempt fails at once with 480 Temporarily Unavailable, which
// DialStatus reports as DialCallStatus=no-answer. 480 is what RFC 3261
// §21.4.18 has a registrar or proxy answer for a user it knows but has
// no current location for. Twilio's <Client> page documents no status
// for an offline client; its changelog of 15 May 2023
// (twilio.com/en-us/changelog/ringing-status-callback-no-longer-sent-for-some-mobile-voice-sdk-calls)
// says calls to powered-off or unreachable devices no longer report
// ringing, i.e. they simply go unanswered, and its call statuses
// (help.twilio.com, "What are the possible call statuses") name an
// unanswered call no-answer, keeping busy for a busy signal and failed
// for a destination that cannot be connected. We do not ring out the
// Dial timeout first: that would give the caller thirty seconds of
// ringback for a phone known to be off. An identity that is not in the
// config at all can never answer: that is a configuration error,
// ErrNoRoute, and DialCallStatus=failed.
func (s *Server) dialClient(ctx context.Context, t interpreter.Target, progress func(interpreter.Progress)) (interpreter.Attempt, error) {
	reg := s.cfg.Registrar
	if reg == nil {
		return nil, fmt.Errorf("%w: client %q: no clients are configured (clients: in the config file)", interpreter.ErrNoRoute, t.Addr)
	}
	if !reg.Known(t.Addr) {
		return nil, fmt.Errorf("%w: client %q is not in the config file's clients", interpreter.ErrNoRoute, t.Addr)
	}
	base, err := s.destination(t)
	if err != nil {
		return nil, err
	}
	base.headers = xHeaders(t.Headers)
	bindings := reg.Contacts(t.Addr)
	c := &clientCall{progress: progress, early: len(bindings) == 1}
	if len(bindings) == 0 {
		progress(interpreter.Progress{Kind: interpreter.Failed, Code: 480,
			Reason: fmt.Sprintf("client %q is not registered", t.Addr)})
		return c, nil
	}
	to := sip.Uri{Scheme: "sip", User: t.Addr, Host: reg.realm}
	var firstErr error
	for _, b := range bindings {
		d, err := clientDestination(base, b)
		if err == nil {
			d.to = &to
			var a *outCall
			if a, err = s.newOutCall(d, t, c.branch(len(c.branches))); err == nil {
				c.branches = append(c.branches, a)
				continue
			}
		}
		s.log.Warn("client contact not dialed", "identity", t.Addr, "contact", b.Contact, "err", err)
		if firstErr == nil {
			firstErr = err
		}
	}
	if len(c.branches) == 0 {
		return nil, fmt.Errorf("client %q: %w", t.Addr, firstErr)
	}
	c.pending = len(c.branches)
	for _, a := range c.branches {
		go a.run(ctx)
	}
	return c, nil
}

// clientDestination is where the INVITE for binding b goes: its Contact
// is the request URI, and the network address is chosen by
// natDestination.
func clientDestination(base dest, b Binding) (dest, error) {
	d := base
	if err := sip.ParseUri(b.Contact, &d.uri); err != nil || d.uri.Host == "" {
		return d, fmt.Errorf("bad contact %q", b.Contact)
	}
	d.uri.Headers = nil
	if natDestination(d.uri) {
		d.addr, d.transport = b.Source, b.Transport
	}
	return d, nil
}

// natDestination reports whether a contact must be reached at the
// address its REGISTER came from rather than at its own host. The rule:
// a contact whose host is an IP address that is not globally routable
// (RFC 1918 and RFC 4193 private ranges, RFC 6598 shared CGNAT space,
// loopback, link-local, unspecified) or a name under .invalid or .local
// (RFC 6761, RFC 6762: WebRTC and mDNS clients) was written by a phone
// that does not know its public address, i.e. one behind NAT; its
// REGISTER's source address is the NAT's mapping, which stays open while
// the phone refreshes (RFC 5626 and Kamailio's fix_nated_register work
// alike). A globally routable contact, or a domain name, is used as
// given: the phone said where it wants its calls. The request URI stays
// the contact either way, as the phone expects.
func natDestination(u sip.Uri) bool {
	host := strings.ToLower(strings.Trim(u.Host, "[]"))
	if ip := net.ParseIP(host); ip != nil {
		return !ip.IsGlobalUnicast() || ip.IsPrivate() || cgnat.Contains(ip)
	}
	return strings.HasSuffix(host, ".invalid") || strings.HasSuffix(host, ".local")
}

var cgnat = &net.IPNet{IP: net.IPv4(100, 64, 0, 0), Mask: net.CIDRMask(10, 32)}

// xHeaders turns <Client>'s <Parameter>s into X- headers: a name gets
// "X-" in front unless it has it, names that are not SIP tokens are
// dropped, and line breaks in values become spaces (they would end the
// header).
func xHeaders(params map[string]string) []sip.Header {
	var hs []sip.Header
	for k, v := range params {
		if k == "" || !isToken(k) || strings.ContainsAny(k, "%()'*") {
			continue
		}
		if !strings.HasPrefix(strings.ToLower(k), "x-") {
			k = "X-" + k
		}
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
		hs = append(hs, sip.NewHeader(k, v))
	}
	return hs
}

// clientCall is the Attempt of a <Client> dial: one outCall per contact
// (a branch), rung in parallel. Branches report from their own
// goroutines; mu orders their events into the one progress stream the
// interpreter sees: the first Trying and Ringing, Answered of the first
// branch to answer (the others are canceled, and a branch that answers
// after that is hung up), its Ended, or, when every branch failed,
// Failed with the best of their responses (RFC 3261 §16.7 step 6).
type clientCall struct {
	progress func(interpreter.Progress)
	branches []*outCall
	// early passes a branch's early media on: only with a single
	// contact, since the caller can hear one stream and the fork would
	// have to switch when that branch fails and another rings on.
	early bool

	mu       sync.Mutex
	pending  int      // branches without their last event yet
	winner   *outCall // the branch that answered first
	tried    bool
	rang     bool
	failures []interpreter.Progress
	over     bool
}

var _ interpreter.Attempt = (*clientCall)(nil)

// Cancel implements interpreter.Attempt: every branch is canceled (CANCEL
// while ringing, BYE once answered).
func (c *clientCall) Cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.branches {
		a.Cancel()
	}
}

// branch is the progress function of branch i.
func (c *clientCall) branch(i int) func(interpreter.Progress) {
	return func(p interpreter.Progress) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.event(c.branches[i], p)
	}
}

func (c *clientCall) event(a *outCall, p interpreter.Progress) {
	if c.over {
		return
	}
	switch p.Kind {
	case interpreter.Trying:
		if !c.tried && c.winner == nil {
			c.tried = true
			c.progress(p)
		}
	case interpreter.EarlyMedia:
		if c.winner == nil && c.early {
			c.rang = true
			c.progress(p)
			return
		}
		p = interpreter.Progress{Kind: interpreter.Ringing, Code: p.Code}
		fallthrough
	case interpreter.Ringing:
		if !c.rang && c.winner == nil {
			c.rang = true
			c.progress(p)
		}
	case interpreter.Answered:
		if c.winner != nil {
			a.Cancel() // answered too late: BYE
			return
		}
		c.winner = a
		for _, o := range c.branches {
			if o != a {
				o.Cancel()
			}
		}
		c.progress(p)
	case interpreter.Ended:
		if a == c.winner {
			c.over = true
			c.progress(p)
		}
	case interpreter.Failed:
		c.pending--
		c.failures = append(c.failures, p)
		if c.winner == nil && c.pending == 0 {
			c.over = true
			c.progress(bestFailure(c.failures))
		}
	}
}

// bestFailure picks the response a forking proxy would return when every
// branch failed (RFC 3261 §16.7 step 6): a 6xx if any; else the lowest
// class, where busy (486) is preferred, then the no-answer codes (480,
// 408, 487), then the first; no response at all (code 0) only when there
// is nothing else.
func bestFailure(fs []interpreter.Progress) interpreter.Progress {
	rank := func(code int) int {
		switch {
		case code >= 600:
			return 0
		case code == 0:
			return 100
		}
		r := code / 100 * 10
		switch code {
		case 486:
		case 480, 408, 487:
			r++
		default:
			r += 2
		}
		return r
	}
	best := fs[0]
	for _, f := range fs[1:] {
		if rank(f.Code) < rank(best.Code) {
			best = f
		}
	}
	return best
}
