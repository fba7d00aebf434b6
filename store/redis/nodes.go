package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/texml/texml/store"
)

const nodePrefix = prefix + "node:"

// nodes keep each live node in a key that expires after its ttl: Redis
// forgets a node whose heartbeats stopped, with no sweeper to run.
type nodes struct{ *db }

func (ns nodes) Heartbeat(ctx context.Context, n store.Node, ttl time.Duration) error {
	n.Seen = time.Now()
	blob, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("node %s: %w", n.ID, err)
	}
	if err := ns.rdb.Set(ctx, nodePrefix+n.ID, blob, ttl).Err(); err != nil {
		return fail("heartbeat of node "+n.ID, err)
	}
	return nil
}

func (ns nodes) Get(ctx context.Context, id string) (store.Node, error) {
	blob, err := ns.rdb.Get(ctx, nodePrefix+id).Bytes()
	if errors.Is(err, redis.Nil) {
		return store.Node{}, fmt.Errorf("node %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Node{}, fail("get node "+id, err)
	}
	var n store.Node
	if err := json.Unmarshal(blob, &n); err != nil {
		return store.Node{}, fmt.Errorf("node %s: %w", id, err)
	}
	return n, nil
}

func (ns nodes) List(ctx context.Context) ([]store.Node, error) {
	keys, err := ns.scan(ctx, nodePrefix+"*")
	if err != nil {
		return nil, fail("list nodes", err)
	}
	// One GET per key in one pipeline: the keys sit in different slots,
	// where one MGET would not do on a Cluster.
	cmds := make([]*redis.StringCmd, len(keys))
	_, err = ns.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fail("list nodes", err)
	}
	list := make([]store.Node, 0, len(keys))
	for i, cmd := range cmds {
		blob, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			continue // expired since the scan
		}
		if err != nil {
			return nil, fail("list nodes", err)
		}
		var n store.Node
		if err := json.Unmarshal(blob, &n); err != nil {
			return nil, fmt.Errorf("node %s: %w", strings.TrimPrefix(keys[i], nodePrefix), err)
		}
		list = append(list, n)
	}
	slices.SortFunc(list, func(a, b store.Node) int { return strings.Compare(a.ID, b.ID) })
	return list, nil
}

// secretKey holds the nodes' shared signing key.
const secretKey = "texml:node-secret"

func (ns nodes) Secret(ctx context.Context) ([]byte, error) {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails on supported platforms
	// SET NX: the first node's key wins; every node reads the winner.
	if err := ns.rdb.SetNX(ctx, secretKey, key, 0).Err(); err != nil {
		return nil, fail("node secret", err)
	}
	got, err := ns.rdb.Get(ctx, secretKey).Bytes()
	if err != nil {
		return nil, fail("node secret", err)
	}
	return got, nil
}

func (ns nodes) Forget(ctx context.Context, id string) error {
	if err := ns.rdb.Del(ctx, nodePrefix+id).Err(); err != nil {
		return fail("forget node "+id, err)
	}
	return nil
}
