package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/texml/texml/store"
)

type conferences struct {
	mu sync.Mutex
	// active holds the init or in-progress conference of each name;
	// bySid holds those and the completed ones until Retention ends.
	active map[string]*store.Conference
	bySid  map[string]*store.Conference
}

// snapshot copies c so that the caller cannot reach the stored slice.
func snapshot(c *store.Conference) store.Conference {
	s := *c
	s.Participants = slices.Clone(c.Participants)
	return s
}

func indexOf(c *store.Conference, callSid string) int {
	return slices.IndexFunc(c.Participants, func(p store.Participant) bool { return p.CallSid == callSid })
}

func (cs *conferences) Join(_ context.Context, name string, p store.Participant, max int, now time.Time) (store.Conference, bool, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c, created := cs.active[name], false
	if c == nil {
		c = &store.Conference{
			Sid:      newSid("CF"),
			Name:     name,
			Home:     p.Node,
			Status:   store.ConferenceInit,
			Created:  now,
			Callback: p.RoomCallback,
		}
		created = true
	} else {
		if indexOf(c, p.CallSid) >= 0 {
			return store.Conference{}, false, fmt.Errorf("conference %q: call %s: %w", name, p.CallSid, store.ErrExists)
		}
		if max > 0 && len(c.Participants) >= max {
			return store.Conference{}, false, fmt.Errorf("conference %q: %d of %d: %w", name, len(c.Participants), max, store.ErrConferenceFull)
		}
	}
	if created {
		cs.active[name] = c
		cs.bySid[c.Sid] = c
	}
	p.RoomCallback = "" // kept on the room (Callback), as Redis does
	c.Participants = append(c.Participants, p)
	c.Updated = now
	return snapshot(c), created, nil
}

// find returns the active conference called name and the index of
// callSid in it.
func (cs *conferences) find(name, callSid string) (*store.Conference, int, error) {
	c := cs.active[name]
	if c == nil {
		return nil, 0, fmt.Errorf("conference %q: %w", name, store.ErrNotFound)
	}
	i := indexOf(c, callSid)
	if i < 0 {
		return nil, 0, fmt.Errorf("conference %q: call %s: %w", name, callSid, store.ErrNotFound)
	}
	return c, i, nil
}

func (cs *conferences) Leave(_ context.Context, name, callSid string, now time.Time) (store.Conference, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c, i, err := cs.find(name, callSid)
	if err != nil {
		return store.Conference{}, err
	}
	c.Participants = slices.Delete(c.Participants, i, i+1)
	c.Updated = now
	return snapshot(c), nil
}

func (cs *conferences) Update(_ context.Context, name string, p store.Participant, now time.Time) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c, i, err := cs.find(name, p.CallSid)
	if err != nil {
		return err
	}
	c.Participants[i] = p
	c.Updated = now
	return nil
}

func (cs *conferences) Start(_ context.Context, name string, now time.Time) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := cs.active[name]
	if c == nil {
		return fmt.Errorf("conference %q: %w", name, store.ErrNotFound)
	}
	if c.Status == store.ConferenceInit {
		c.Status = store.ConferenceInProgress
		c.Updated = now
	}
	return nil
}

func (cs *conferences) End(_ context.Context, name, reason, endedBy string, now time.Time) (store.Conference, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := cs.active[name]
	if c == nil {
		return store.Conference{}, fmt.Errorf("conference %q: %w", name, store.ErrNotFound)
	}
	delete(cs.active, name)
	c.Status = store.ConferenceCompleted
	c.Reason, c.EndedBy = reason, endedBy
	c.Updated = now
	// Forget the rooms that ended more than Retention ago, as Redis
	// expires their keys; an End is rare enough to pay for the sweep.
	for sid, old := range cs.bySid {
		if old.Status == store.ConferenceCompleted && now.Sub(old.Updated) > store.Retention {
			delete(cs.bySid, sid)
		}
	}
	return snapshot(c), nil
}

func (cs *conferences) Get(_ context.Context, name string) (store.Conference, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := cs.active[name]
	if c == nil {
		return store.Conference{}, fmt.Errorf("conference %q: %w", name, store.ErrNotFound)
	}
	return snapshot(c), nil
}

func (cs *conferences) BySid(_ context.Context, sid string) (store.Conference, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := cs.bySid[sid]
	if c == nil {
		return store.Conference{}, fmt.Errorf("conference %s: %w", sid, store.ErrNotFound)
	}
	return snapshot(c), nil
}

func (cs *conferences) List(context.Context) ([]store.Conference, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	list := make([]store.Conference, 0, len(cs.active))
	for _, c := range cs.active {
		list = append(list, snapshot(c))
	}
	sortConferences(list)
	return list, nil
}

// sortConferences orders conferences oldest first, by name among equals.
func sortConferences(list []store.Conference) {
	slices.SortFunc(list, func(a, b store.Conference) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

func (cs *conferences) Completed(context.Context) ([]store.Conference, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	// The completed rooms older than Retention go at the next End, as
	// BySid forgets them.
	var list []store.Conference
	for _, c := range cs.bySid {
		if c.Status == store.ConferenceCompleted {
			list = append(list, snapshot(c))
		}
	}
	sortConferences(list)
	return list, nil
}
