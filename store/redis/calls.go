package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/texml/texml/store"
)

// A call's record is one key, tagged by its Sid; an account's index is
// two sorted sets sharing the account's tag, so that one script changes
// both on a Cluster:
//
//	texml:{call:SID}                 the record (JSON), expiring at store.CallExpires
//	texml:{acct:ACCOUNT}:calls       Sids scored by Created in Unix microseconds
//	texml:{acct:ACCOUNT}:expires     the same Sids scored by expiry in Unix milliseconds
//
// Redis drops a record at its expiry by itself. The index's entries
// outlive their records: the expires set says which are due, and the
// scripts take those out before they read or add, so a page's offset
// counts kept calls only. The two sets expire with the last record
// they index. A score in microseconds is exact in a double
// until the year 2255.
const (
	callTag    = prefix + "{call:"
	accountTag = prefix + "{acct:"
)

func callKey(sid string) string { return callTag + sid + "}" }

// accountKeys returns the index and the expires set of account.
func accountKeys(account string) []string {
	base := accountTag + account + "}:"
	return []string{base + "calls", base + "expires"}
}

// trimLua is the start of the call scripts: trim(now, batch) takes out
// of both sets up to batch entries due at now (milliseconds), and
// returns how many. A batch keeps each ZREM's arguments within what Lua's
// unpack takes.
const trimLua = `
local function trim(now, batch)
  local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, batch)
  if #gone > 0 then
    redis.call('ZREM', KEYS[1], unpack(gone))
    redis.call('ZREM', KEYS[2], unpack(gone))
  end
  return #gone
end
`

var (
	// ARGV: now, Sid, Created (µs), expiry (ms). A Put trims at most
	// 100 entries, so that a backlog of expired calls (a day's worth
	// after a quiet night) is spread over the Puts and Lists that follow
	// rather than stalling one.
	putCallScript = newScript(trimLua + `
if tonumber(ARGV[4]) <= tonumber(ARGV[1]) then
  redis.call('ZREM', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
end
trim(ARGV[1], 100)
-- The index goes with the last of its records, so that an account
-- whose calls stopped leaves nothing behind.
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if #last == 2 then
  redis.call('PEXPIREAT', KEYS[1], last[2])
  redis.call('PEXPIREAT', KEYS[2], last[2])
end
return 0
`)
	// ARGV: now, start, stop, then Sids whose records are gone (found
	// missing by the List before). A List trims everything due, so that
	// the page's positions are exact.
	listCallsScript = newScript(trimLua + `
for i = 4, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
end
while trim(ARGV[1], 1000) == 1000 do end
return redis.call('ZREVRANGE', KEYS[1], ARGV[2], ARGV[3])
`)
)

// listAttempts bounds the reads of one List page. A record can vanish
// between the index read and the record read (a Delete, or Redis's clock
// a little ahead of the node's); the next attempt removes it from the
// index and reads the page again, so that a page is not short when more
// calls follow: the REST API takes a short page for the last.
const listAttempts = 3

type calls struct{ *db }

// errIncomplete refuses a record that cannot be stored: without a Sid
// it has no key, without Created no place in its account's listing.
var errIncomplete = errors.New("store: call record without Sid or Created")

func (c calls) Put(ctx context.Context, r store.CallRecord) error {
	if r.Sid == "" || r.Created.IsZero() {
		return fmt.Errorf("call %q: %w", r.Sid, errIncomplete)
	}
	blob, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("call %s: %w", r.Sid, err)
	}
	now := time.Now()
	exp := store.CallExpires(r, now)
	what := "put call " + r.Sid
	if !now.Before(exp) {
		// Past its retention already: rather than SET with an expiry in
		// the past, DEL, which clears any earlier Put's index entries too.
		return c.del(ctx, r.Sid, r.AccountSid, what)
	}
	keys := accountKeys(r.AccountSid)
	args := []any{now.UnixMilli(), r.Sid, r.Created.UnixMicro(), exp.UnixMilli()}
	// The record, then its index entry, in one round trip. The two sit
	// in different hash slots, so they cannot be one script; in this
	// order a failure between them leaves a record the listing misses
	// until the next Put, and an entry without its record is dropped by
	// List. A call's Puts come from the one goroutine that runs it, one
	// after the other, so two Puts of one call never interleave here.
	var set *redis.StatusCmd
	var idx *redis.Cmd
	_, _ = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		set = p.SetArgs(ctx, callKey(r.Sid), blob, redis.SetArgs{ExpireAt: exp})
		idx = putCallScript.EvalSha(ctx, p, keys, args...)
		return nil
	})
	if err := set.Err(); err != nil {
		return fail(what, err)
	}
	err = idx.Err()
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		// The first Put since Redis started: send the script itself.
		err = putCallScript.Eval(ctx, c.rdb, keys, args...).Err()
	}
	if err != nil {
		return fail(what, err)
	}
	return nil
}

func (c calls) Get(ctx context.Context, sid string) (store.CallRecord, error) {
	blob, err := c.rdb.Get(ctx, callKey(sid)).Bytes()
	if errors.Is(err, redis.Nil) {
		return store.CallRecord{}, fmt.Errorf("call %s: %w", sid, store.ErrNotFound)
	}
	if err != nil {
		return store.CallRecord{}, fail("get call "+sid, err)
	}
	r, err := decodeCall(sid, blob)
	if err != nil {
		return store.CallRecord{}, err
	}
	// Redis times the key's expiry by its own clock; the node's decides,
	// as it does for the listing.
	if now := time.Now(); !now.Before(store.CallExpires(r, now)) {
		return store.CallRecord{}, fmt.Errorf("call %s: %w", sid, store.ErrNotFound)
	}
	return r, nil
}

func decodeCall(sid string, blob []byte) (store.CallRecord, error) {
	var r store.CallRecord
	if err := json.Unmarshal(blob, &r); err != nil {
		return store.CallRecord{}, fmt.Errorf("call %s: %w", sid, err)
	}
	return r, nil
}

func (c calls) List(ctx context.Context, account string, offset, limit int) ([]store.CallRecord, error) {
	offset = max(offset, 0)
	stop := -1
	if limit > 0 {
		stop = offset + limit - 1
	}
	what := "list calls of " + account
	var gone []any
	for attempt := 1; ; attempt++ {
		args := append([]any{time.Now().UnixMilli(), offset, stop}, gone...)
		page, err := listCallsScript.Run(ctx, c.rdb, accountKeys(account), args...).StringSlice()
		if err != nil {
			return nil, fail(what, err)
		}
		if len(page) == 0 {
			return nil, nil
		}
		blobs, err := c.records(ctx, page)
		if err != nil {
			return nil, fail(what, err)
		}
		list := make([]store.CallRecord, 0, len(page))
		gone = gone[:0]
		for i, blob := range blobs {
			if blob == nil {
				gone = append(gone, page[i])
				continue
			}
			r, err := decodeCall(page[i], blob)
			if err != nil {
				return nil, err
			}
			if r.AccountSid != account {
				// Put again under another account: the entry is stale.
				gone = append(gone, page[i])
				continue
			}
			list = append(list, r)
		}
		if len(gone) == 0 || attempt == listAttempts {
			return list, nil
		}
	}
}

// records reads the records of sids in one round trip; a missing one is
// nil. One MGET on a single server; on a Cluster, where the records sit
// in different slots and one MGET would not do, one GET per record in a
// pipeline, which the client splits by node.
func (c calls) records(ctx context.Context, sids []string) ([][]byte, error) {
	keys := make([]string, len(sids))
	for i, sid := range sids {
		keys[i] = callKey(sid)
	}
	blobs := make([][]byte, len(sids))
	if _, ok := c.rdb.(*redis.ClusterClient); !ok {
		vals, err := c.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			if s, ok := v.(string); ok {
				blobs[i] = []byte(s)
			}
		}
		return blobs, nil
	}
	cmds := make([]*redis.StringCmd, len(keys))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	for i, cmd := range cmds {
		blob, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, err
		}
		blobs[i] = blob
	}
	return blobs, nil
}

func (c calls) Delete(ctx context.Context, sid string) error {
	what := "delete call " + sid
	// The index is the account's, which only the record knows.
	blob, err := c.rdb.Get(ctx, callKey(sid)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fail(what, err)
	}
	r, err := decodeCall(sid, blob)
	if err != nil {
		return err
	}
	return c.del(ctx, sid, r.AccountSid, what)
}

// del removes a call's record and its index entries, in one round trip.
// The record goes first: a List between the two finds the entry without
// its record and drops it too.
func (c calls) del(ctx context.Context, sid, account, what string) error {
	keys := accountKeys(account)
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, callKey(sid))
		p.ZRem(ctx, keys[0], sid)
		p.ZRem(ctx, keys[1], sid)
		return nil
	})
	if err != nil {
		return fail(what, err)
	}
	return nil
}
