package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/texml/texml/store"
)

// queueKeys are the keys of one queue, sharing its hash tag.
type queueKeys struct{ meta, list, members, times string }

const (
	queueTag     = prefix + "{q:"
	queueMetaEnd = "}:meta"
)

func keysOfQueue(name string) queueKeys {
	tag := queueTag + name + "}:"
	return queueKeys{meta: tag + "meta", list: tag + "list", members: tag + "members", times: tag + "times"}
}

// The queue scripts. KEYS are always meta, list, members, times (the
// members' Enqueued in Unix ms; meta's 'esum' is their sum, so that the
// average wait needs no walk over the members). Replies that are not data are small integers: -1 the CallSid is
// already there, -2 the queue is full.
var (
	// ARGV: CallSid, Member (JSON), max, new Sid, now, Enqueued (Unix
	// ms), the default size limit.
	pushScript = newScript(`
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return -1 end
local n = redis.call('LLEN', KEYS[2])
local max = tonumber(ARGV[3])
local limit = max
if max <= 0 then limit = tonumber(redis.call('HGET', KEYS[1], 'max') or ARGV[7]) end
if n >= limit then return -2 end
redis.call('HSETNX', KEYS[1], 'sid', ARGV[4])
redis.call('HSETNX', KEYS[1], 'created', ARGV[5])
if max > 0 then redis.call('HSET', KEYS[1], 'max', ARGV[3]) else redis.call('HSETNX', KEYS[1], 'max', ARGV[7]) end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[6])
redis.call('HINCRBY', KEYS[1], 'esum', ARGV[6])
return redis.call('RPUSH', KEYS[2], ARGV[1])
`)
	// KEYS[5] is this Pop's receipt, ARGV: its lifetime in ms. A Pop
	// that runs again (a client's retry after a lost reply, which a
	// Cluster client makes on its own) finds the receipt and returns the
	// member it took the first time, instead of taking another.
	popScript = newScript(`
local done = redis.call('GET', KEYS[5])
if done then return done end
local sid = redis.call('LPOP', KEYS[2])
if not sid then return false end
local m = redis.call('HGET', KEYS[3], sid)
redis.call('SET', KEYS[5], m, 'PX', ARGV[1])
redis.call('HDEL', KEYS[3], sid)
local t = redis.call('HGET', KEYS[4], sid)
if t then
  redis.call('HDEL', KEYS[4], sid)
  redis.call('HINCRBY', KEYS[1], 'esum', -tonumber(t))
end
return m
`)
	// ARGV: Sid, created, max, and 'new' to create a queue (-1: it
	// exists) or 'set' to change the limit of one (-1: there is none).
	createScript = newScript(`
local exists = redis.call('EXISTS', KEYS[1]) == 1
if ARGV[4] == 'new' then
  if exists then return -1 end
  redis.call('HSET', KEYS[1], 'sid', ARGV[1], 'created', ARGV[2], 'max', ARGV[3], 'esum', 0)
  return 1
end
if not exists then return -1 end
redis.call('HSET', KEYS[1], 'max', ARGV[3])
return 1
`)
	// Deletes an empty queue: -1 none, -2 it has members. With ARGV[1]
	// 'peek' it deletes nothing and returns {sid, created, max} (a
	// rename's first step).
	deleteScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('LLEN', KEYS[2]) > 0 then return -2 end
if ARGV[1] == 'peek' then return redis.call('HMGET', KEYS[1], 'sid', 'created', 'max') end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return 1
`)
	// ARGV: CallSid.
	removeScript = newScript(`
if redis.call('HDEL', KEYS[3], ARGV[1]) == 0 then return 0 end
redis.call('LREM', KEYS[2], 1, ARGV[1])
local t = redis.call('HGET', KEYS[4], ARGV[1])
if t then
  redis.call('HDEL', KEYS[4], ARGV[1])
  redis.call('HINCRBY', KEYS[1], 'esum', -tonumber(t))
end
return 1
`)
	// ARGV: CallSid. The reply is {0-based index or -1, size}.
	positionScript = newScript(`
local i = redis.call('LPOS', KEYS[2], ARGV[1])
return {i or -1, redis.call('LLEN', KEYS[2])}
`)
	// The reply is the members' JSON, front first. HGET one by one:
	// unpacking a long list into HMGET would overflow Lua's stack.
	membersScript = newScript(`
local ids = redis.call('LRANGE', KEYS[2], 0, -1)
local out = {}
for i, id in ipairs(ids) do out[i] = redis.call('HGET', KEYS[3], id) end
return out
`)
	// The reply is {sid, created, max, size, esum}, or false for no queue.
	infoScript = newScript(`
local m = redis.call('HMGET', KEYS[1], 'sid', 'created', 'max', 'esum')
if not m[1] then return false end
return {m[1], m[2], m[3] or '0', tostring(redis.call('LLEN', KEYS[2])), m[4] or '0'}
`)
)

type queues struct{ *db }

func (k queueKeys) all() []string { return []string{k.meta, k.list, k.members, k.times} }

func (q queues) Push(ctx context.Context, name string, m store.Member, max int) (int, error) {
	now := time.Now()
	if m.Enqueued.IsZero() {
		m.Enqueued = now
	}
	blob, err := json.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("queue %q: %w", name, err)
	}
	// The Sid is drawn on every Push and kept only by the first: a
	// random Sid needs no counter, and 16 bytes cost nothing.
	n, err := pushScript.Run(ctx, q.rdb, keysOfQueue(name).all(),
		m.CallSid, blob, max, randomHex("QU"), formatTime(now), m.Enqueued.UnixMilli(), store.DefaultQueueSize).Int()
	switch {
	case err != nil:
		return 0, fail(fmt.Sprintf("push to queue %q", name), err)
	case n == -1:
		return 0, fmt.Errorf("queue %q: call %s: %w", name, m.CallSid, store.ErrExists)
	case n == -2:
		return 0, fmt.Errorf("queue %q: %w", name, store.ErrQueueFull)
	}
	return n, nil
}

func (q queues) Create(ctx context.Context, name string, max int) (store.QueueInfo, error) {
	if max <= 0 {
		max = store.DefaultQueueSize
	}
	return q.putMeta(ctx, name, randomHex("QU"), formatTime(time.Now()), max, "new")
}

func (q queues) SetMax(ctx context.Context, name string, max int) (store.QueueInfo, error) {
	if max <= 0 {
		return q.Info(ctx, name)
	}
	return q.putMeta(ctx, name, "", "", max, "set")
}

// putMeta runs createScript and reads the queue back.
func (q queues) putMeta(ctx context.Context, name, sid, created string, max int, op string) (store.QueueInfo, error) {
	n, err := createScript.Run(ctx, q.rdb, keysOfQueue(name).all(), sid, created, max, op).Int()
	switch {
	case err != nil:
		return store.QueueInfo{}, fail(fmt.Sprintf("queue %q", name), err)
	case n == -1 && op == "new":
		return store.QueueInfo{}, fmt.Errorf("queue %q: %w", name, store.ErrExists)
	case n == -1:
		return store.QueueInfo{}, fmt.Errorf("queue %q: %w", name, store.ErrNotFound)
	}
	return q.Info(ctx, name)
}

func (q queues) Delete(ctx context.Context, name string) error {
	_, err := q.deleteRun(ctx, name, "delete")
	return err
}

// deleteRun runs deleteScript with op ("delete" or "peek").
func (q queues) deleteRun(ctx context.Context, name, op string) (any, error) {
	r, err := deleteScript.Run(ctx, q.rdb, keysOfQueue(name).all(), op).Result()
	if err != nil {
		return nil, fail(fmt.Sprintf("delete queue %q", name), err)
	}
	switch r {
	case int64(-1):
		return nil, fmt.Errorf("queue %q: %w", name, store.ErrNotFound)
	case int64(-2):
		return nil, fmt.Errorf("queue %q: %w", name, store.ErrNotEmpty)
	}
	return r, nil
}

// Rename moves an empty queue's record to the new name's keys. The two
// names hash to different slots, so it takes three steps: read the old
// record (refused if the queue has members), write it under the new name
// (refused if taken), delete the old one (refused if a caller arrived
// meanwhile: the new record is then taken back).
func (q queues) Rename(ctx context.Context, name, to string) (store.QueueInfo, error) {
	if name == to {
		return q.Info(ctx, name)
	}
	r, err := q.deleteRun(ctx, name, "peek")
	if err != nil {
		return store.QueueInfo{}, err
	}
	f, ok := r.([]any)
	if !ok || len(f) != 3 {
		return store.QueueInfo{}, fail(fmt.Sprintf("rename queue %q", name), fmt.Errorf("reply %v", r))
	}
	sid, _ := f[0].(string)
	created, _ := f[1].(string)
	max, _ := strconv.Atoi(fmt.Sprint(f[2]))
	if max <= 0 {
		max = store.DefaultQueueSize // a queue kept from before limits were stored
	}
	if _, err := q.putMeta(ctx, to, sid, created, max, "new"); err != nil {
		return store.QueueInfo{}, err
	}
	if err := q.Delete(ctx, name); err != nil {
		if _, undo := q.deleteRun(ctx, to, "delete"); undo != nil {
			return store.QueueInfo{}, errors.Join(err, undo)
		}
		return store.QueueInfo{}, err
	}
	return q.Info(ctx, to)
}

// popReceipt is how long a Pop's receipt stays: longer than any retry
// of it.
const popReceipt = time.Minute

func (q queues) Pop(ctx context.Context, name string) (store.Member, error) {
	k := keysOfQueue(name)
	receipt := queueTag + name + "}:pop:" + randomHex("")
	blob, err := popScript.Run(ctx, q.rdb, append(k.all(), receipt), popReceipt.Milliseconds()).Text()
	if errors.Is(err, redis.Nil) {
		return store.Member{}, fmt.Errorf("queue %q: empty: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.Member{}, fail(fmt.Sprintf("pop from queue %q", name), err)
	}
	var m store.Member
	if err := json.Unmarshal([]byte(blob), &m); err != nil {
		return store.Member{}, fmt.Errorf("queue %q: popped member: %w", name, err)
	}
	return m, nil
}

func (q queues) Remove(ctx context.Context, name, callSid string) (bool, error) {
	n, err := removeScript.Run(ctx, q.rdb, keysOfQueue(name).all(), callSid).Int()
	if err != nil {
		return false, fail(fmt.Sprintf("remove from queue %q", name), err)
	}
	return n == 1, nil
}

func (q queues) Position(ctx context.Context, name, callSid string) (int, int, error) {
	r, err := positionScript.Run(ctx, q.rdb, keysOfQueue(name).all(), callSid).Int64Slice()
	if err != nil {
		return 0, 0, fail(fmt.Sprintf("position in queue %q", name), err)
	}
	if len(r) != 2 {
		return 0, 0, fail(fmt.Sprintf("position in queue %q", name), fmt.Errorf("reply %v", r))
	}
	return int(r[0]) + 1, int(r[1]), nil
}

func (q queues) Members(ctx context.Context, name string) ([]store.Member, error) {
	blobs, err := membersScript.Run(ctx, q.rdb, keysOfQueue(name).all()).StringSlice()
	if err != nil {
		return nil, fail(fmt.Sprintf("members of queue %q", name), err)
	}
	ms := make([]store.Member, len(blobs))
	for i, b := range blobs {
		if err := json.Unmarshal([]byte(b), &ms[i]); err != nil {
			return nil, fmt.Errorf("queue %q: member %d: %w", name, i, err)
		}
	}
	return ms, nil
}

func (q queues) Info(ctx context.Context, name string) (store.QueueInfo, error) {
	r, err := infoScript.Run(ctx, q.rdb, keysOfQueue(name).all()).StringSlice()
	if errors.Is(err, redis.Nil) {
		return store.QueueInfo{}, fmt.Errorf("queue %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.QueueInfo{}, fail(fmt.Sprintf("info of queue %q", name), err)
	}
	return queueInfo(name, r)
}

// queueInfo decodes infoScript's reply.
func queueInfo(name string, r []string) (store.QueueInfo, error) {
	if len(r) != 5 {
		return store.QueueInfo{}, fail(fmt.Sprintf("info of queue %q", name), fmt.Errorf("reply %q", r))
	}
	created, err := parseTime(r[1])
	if err != nil {
		return store.QueueInfo{}, fmt.Errorf("queue %q: created: %w", name, err)
	}
	max, err1 := strconv.Atoi(r[2])
	size, err2 := strconv.Atoi(r[3])
	esum, err3 := strconv.ParseInt(r[4], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return store.QueueInfo{}, fmt.Errorf("queue %q: %w", name, err)
	}
	info := store.QueueInfo{Name: name, Sid: r[0], Size: size, MaxSize: max, Created: created}
	if size > 0 {
		info.MeanEnqueued = time.UnixMilli(esum / int64(size))
	}
	return info, nil
}

func (q queues) List(ctx context.Context) ([]store.QueueInfo, error) {
	keys, err := q.scan(ctx, queueTag+"*"+queueMetaEnd)
	if err != nil {
		return nil, fail("list queues", err)
	}
	list := make([]store.QueueInfo, 0, len(keys))
	for _, k := range keys {
		name, ok1 := strings.CutPrefix(k, queueTag)
		name, ok2 := strings.CutSuffix(name, queueMetaEnd)
		if !ok1 || !ok2 {
			continue
		}
		info, err := q.Info(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			continue // gone since the scan (FLUSHDB by an operator)
		}
		if err != nil {
			return nil, err
		}
		list = append(list, info)
	}
	slices.SortFunc(list, func(a, b store.QueueInfo) int { return strings.Compare(a.Name, b.Name) })
	return list, nil
}

// randomHex returns prefix and 32 random hex digits, the form of
// Twilio's Sids.
func randomHex(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics instead)
	return prefix + hex.EncodeToString(b[:])
}
