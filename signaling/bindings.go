package signaling

import (
	"errors"
	"slices"
	"sync"
	"time"
)

// Binding is one registered contact of a client identity (RFC 3261 §10):
// where to send INVITEs for it, until when.
type Binding struct {
	// Contact is the Contact URI as the client registered it.
	Contact string
	// Source is the address (host:port) the REGISTER came from and
	// Transport its transport ("UDP", "TCP"): a client behind NAT is
	// reached there (see natDestination).
	Source, Transport string
	// CallID and CSeq are those of the REGISTER that last updated the
	// binding, to order refreshes (RFC 3261 §10.3 step 7).
	CallID string
	CSeq   uint32
	// Expires is when the binding lapses unless refreshed.
	Expires time.Time
}

// Update is what one REGISTER asks of an identity's bindings, applied
// all or nothing (RFC 3261 §10.3 steps 6-8).
type Update struct {
	Now    time.Time
	CallID string
	CSeq   uint32
	// RemoveAll is "Contact: *" with "Expires: 0": every binding goes.
	RemoveAll bool
	// Contacts are added or refreshed; one whose Expires is not after
	// Now is removed.
	Contacts []Binding
}

// Bindings stores the registrations of client identities. The registrar
// is its only writer; Server.Dial reads it. Implementations are safe for
// concurrent use and expire bindings by the time they are given, not by
// timers of their own. The in-memory store is NewBindings; a shared
// store (several texml processes behind one address) implements the same
// interface.
type Bindings interface {
	// Update applies u to aor's bindings and returns them as they are
	// afterwards, unexpired at u.Now. It fails, changing nothing, with
	// ErrOutOfOrder, ErrTooManyBindings or ErrRegistrarFull.
	Update(aor string, u Update) ([]Binding, error)
	// Lookup returns aor's bindings unexpired at now, the most recently
	// updated first.
	Lookup(aor string, now time.Time) []Binding
}

// Errors of Bindings.Update.
var (
	// ErrOutOfOrder: the REGISTER is older than the one that last updated
	// a binding it names (same Call-ID, CSeq not higher).
	ErrOutOfOrder = errors.New("registrar: REGISTER out of order (CSeq not higher than the binding's)")
	// ErrTooManyBindings: the identity would have more contacts than
	// its limit.
	ErrTooManyBindings = errors.New("registrar: too many contacts registered for this identity")
	// ErrRegistrarFull: the store would hold more bindings than its
	// overall limit.
	ErrRegistrarFull = errors.New("registrar: too many bindings overall")
)

// Default limits of NewBindings.
const (
	DefaultMaxPerIdentity = 10
	DefaultMaxBindings    = 10000
)

// memBindings is the in-memory Bindings: one map under one mutex.
// Expired bindings are dropped whenever their identity is read or
// written, and all of them when the overall limit is reached, so that
// no timer or goroutine is needed per binding.
type memBindings struct {
	perAOR, max int

	mu    sync.Mutex
	m     map[string][]Binding
	total int
}

var _ Bindings = (*memBindings)(nil)

// NewBindings returns an in-memory store that holds up to perIdentity
// contacts per identity and max in all; 0 takes the defaults
// (DefaultMaxPerIdentity, DefaultMaxBindings).
func NewBindings(perIdentity, max int) Bindings {
	if perIdentity <= 0 {
		perIdentity = DefaultMaxPerIdentity
	}
	if max <= 0 {
		max = DefaultMaxBindings
	}
	return &memBindings{perAOR: perIdentity, max: max, m: map[string][]Binding{}}
}

// Lookup implements Bindings.
func (s *memBindings) Lookup(aor string, now time.Time) []Binding {
	s.mu.Lock()
	defer s.mu.Unlock()
	return newestFirst(s.prune(aor, now))
}

// Update implements Bindings.
func (s *memBindings) Update(aor string, u Update) ([]Binding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.prune(aor, u.Now)
	next := slices.Clone(cur)
	if u.RemoveAll {
		// RFC 3261 §10.3 step 6: "*" removes every binding, unless one
		// was updated by this Call-ID with a CSeq as high.
		for _, b := range next {
			if b.CallID == u.CallID && u.CSeq <= b.CSeq {
				return nil, ErrOutOfOrder
			}
		}
		next = nil
	}
	for _, c := range u.Contacts {
		key := contactKey(c.Contact)
		i := slices.IndexFunc(next, func(b Binding) bool { return contactKey(b.Contact) == key })
		if i >= 0 && next[i].CallID == u.CallID && u.CSeq <= next[i].CSeq {
			return nil, ErrOutOfOrder // step 7
		}
		if i >= 0 {
			next = slices.Delete(next, i, i+1)
		}
		if c.Expires.After(u.Now) {
			c.CallID, c.CSeq = u.CallID, u.CSeq
			next = append(next, c)
		}
	}
	if len(next) > s.perAOR && len(next) > len(cur) {
		return nil, ErrTooManyBindings
	}
	if grow := len(next) - len(cur); grow > 0 && s.total+grow > s.max {
		s.sweep(u.Now)
		if s.total+grow > s.max {
			return nil, ErrRegistrarFull
		}
	}
	s.total += len(next) - len(cur)
	if len(next) == 0 {
		delete(s.m, aor)
	} else {
		s.m[aor] = next
	}
	return newestFirst(next), nil
}

// prune drops aor's expired bindings and returns the rest, in store
// order (the least recently updated first).
func (s *memBindings) prune(aor string, now time.Time) []Binding {
	bs := s.m[aor]
	live := slices.DeleteFunc(bs, func(b Binding) bool { return !b.Expires.After(now) })
	s.total -= len(bs) - len(live)
	if len(live) == 0 {
		delete(s.m, aor)
		return nil
	}
	s.m[aor] = live
	return live
}

// sweep drops every expired binding.
func (s *memBindings) sweep(now time.Time) {
	for aor := range s.m {
		s.prune(aor, now)
	}
}

// newestFirst orders bindings by the time they were last updated, which
// is their order in the store (an update moves a binding to the end):
// the most recent first.
func newestFirst(bs []Binding) []Binding {
	out := slices.Clone(bs)
	slices.Reverse(out)
	return out
}
