package memory

import (
	"context"
	"sync"

	"github.com/texml/texml/store"
)

type bus struct {
	mu   sync.Mutex
	subs map[string]map[*subscriber]struct{}
}

// subscriber is one Subscribe. Publish hands messages to in; a goroutine
// of its own moves them to the subscriber's channel, queueing them
// without bound, so that a publisher never waits for a slow reader (a
// node publishing to itself from its reading loop would otherwise
// deadlock).
type subscriber struct {
	in   chan store.Message
	done <-chan struct{} // the Subscribe's ctx.Done
}

func (b *bus) Publish(ctx context.Context, node string, m store.Message) error {
	b.mu.Lock()
	subs := make([]*subscriber, 0, len(b.subs[node]))
	for s := range b.subs[node] {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		select {
		case s.in <- m:
		case <-s.done: // unsubscribed meanwhile: lost, as on Redis
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (b *bus) Subscribe(ctx context.Context, node string) (<-chan store.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &subscriber{in: make(chan store.Message), done: ctx.Done()}
	b.mu.Lock()
	if b.subs[node] == nil {
		b.subs[node] = map[*subscriber]struct{}{}
	}
	b.subs[node][s] = struct{}{}
	b.mu.Unlock()
	out := make(chan store.Message)
	go func() {
		defer close(out)
		defer func() {
			b.mu.Lock()
			delete(b.subs[node], s)
			if len(b.subs[node]) == 0 {
				delete(b.subs, node)
			}
			b.mu.Unlock()
		}()
		var queue []store.Message
		for {
			// Offer the head of the queue only when there is one: a
			// send on a nil channel never proceeds.
			var send chan<- store.Message
			var head store.Message
			if len(queue) > 0 {
				send, head = out, queue[0]
			}
			select {
			case m := <-s.in:
				queue = append(queue, m)
			case send <- head:
				queue = queue[1:]
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
