package redisstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/texml/texml/store"
)

// channelPrefix names each node's pub/sub channel.
const channelPrefix = prefix + "bus:"

// bus is Redis pub/sub: at most once, to the subscribers of the moment,
// as the Bus contract asks.
type bus struct{ *db }

func (b bus) Publish(ctx context.Context, node string, m store.Message) error {
	blob, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("message for node %s: %w", node, err)
	}
	if err := b.rdb.Publish(ctx, channelPrefix+node, blob).Err(); err != nil {
		return fail("publish to node "+node, err)
	}
	return nil
}

func (b bus) Subscribe(ctx context.Context, node string) (<-chan store.Message, error) {
	ps := b.rdb.Subscribe(ctx, channelPrefix+node)
	// Wait for Redis to confirm, so that what is published once
	// Subscribe has returned is delivered.
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return nil, fail("subscribe node "+node, err)
	}
	// go-redis's channel reconnects and resubscribes by itself when
	// Redis comes back; messages published meanwhile are lost, as the
	// contract allows.
	in := ps.Channel()
	out := make(chan store.Message)
	go func() {
		defer close(out)
		defer ps.Close()
		for {
			select {
			case msg, ok := <-in:
				if !ok {
					return
				}
				var m store.Message
				if err := json.Unmarshal([]byte(msg.Payload), &m); err != nil {
					// Not texml's (someone published by hand): no
					// node can act on it, so it is dropped.
					continue
				}
				select {
				case out <- m:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
