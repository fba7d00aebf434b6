package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/texml/texml/store"
)

// A conference's keys share the hash tag {cf:TAG}, TAG being the first
// 8 hex digits of the SHA-256 of its name; its Sid is "CF", TAG and 24
// random hex digits, so that the Sid alone leads to the keys. Names that
// share a TAG share a hash slot, which is harmless.
const (
	confTag   = prefix + "{cf:"
	tagLen    = 8
	ptrPrefix = "}:n:" // between the tag and the name in the active pointer
)

// confBase returns the tag prefix of name's keys: "texml:{cf:TAG}:".
func confBase(name string) string {
	h := sha256.Sum256([]byte(name))
	return confTag + hex.EncodeToString(h[:])[:tagLen] + "}:"
}

// confSid is the form of the Sids this store makes.
var confSid = regexp.MustCompile(`^CF[0-9a-f]{32}$`)

// readConf is the Lua that the scripts returning a conference end with:
// read(base, flag) replies {'ok', flag, meta as a flat list, the
// participants' JSON in order of joining}, or {'notfound'}.
const readConf = `
local function read(base, flag)
  local meta = redis.call('HGETALL', base)
  if #meta == 0 then return {'notfound'} end
  local ids = redis.call('LRANGE', base .. ':o', 0, -1)
  local ps = {}
  for i, id in ipairs(ids) do ps[i] = redis.call('HGET', base .. ':p', id) end
  return {'ok', flag, meta, ps}
end
`

// The conference scripts. KEYS[1] is the active pointer (or, for BySid,
// the conference's hash); ARGV[1] is the tag prefix from which the
// scripts make the keys of the conference the pointer names, which share
// the tag, and so the slot, of KEYS[1]. Replies other than read's are
// {'exists'}, {'full'} and {'notfound'}.
var (
	// ARGV: prefix, new Sid, name, CallSid, Participant (JSON), max,
	// now, node, the creator's room callback.
	joinScript = newScript(readConf + `
local sid = redis.call('GET', KEYS[1])
local created = 0
if sid then
  local p = ARGV[1] .. 'c:' .. sid .. ':p'
  if redis.call('HEXISTS', p, ARGV[4]) == 1 then return {'exists'} end
  local max = tonumber(ARGV[6])
  if max > 0 and redis.call('HLEN', p) >= max then return {'full'} end
  redis.call('HSET', ARGV[1] .. 'c:' .. sid, 'updated', ARGV[7])
else
  sid = ARGV[2]
  created = 1
  redis.call('SET', KEYS[1], sid)
  redis.call('HSET', ARGV[1] .. 'c:' .. sid, 'sid', sid, 'name', ARGV[3], 'home', ARGV[8],
    'status', 'init', 'created', ARGV[7], 'updated', ARGV[7], 'callback', ARGV[9])
end
local base = ARGV[1] .. 'c:' .. sid
redis.call('HSET', base .. ':p', ARGV[4], ARGV[5])
redis.call('RPUSH', base .. ':o', ARGV[4])
return read(base, created)
`)
	// ARGV: prefix, CallSid, now.
	leaveScript = newScript(readConf + `
local sid = redis.call('GET', KEYS[1])
if not sid then return {'notfound'} end
local base = ARGV[1] .. 'c:' .. sid
if redis.call('HDEL', base .. ':p', ARGV[2]) == 0 then return {'notfound'} end
redis.call('LREM', base .. ':o', 1, ARGV[2])
redis.call('HSET', base, 'updated', ARGV[3])
return read(base, 0)
`)
	// ARGV: prefix, CallSid, Participant (JSON), now.
	updateScript = newScript(`
local sid = redis.call('GET', KEYS[1])
if not sid then return {'notfound'} end
local base = ARGV[1] .. 'c:' .. sid
if redis.call('HEXISTS', base .. ':p', ARGV[2]) == 0 then return {'notfound'} end
redis.call('HSET', base .. ':p', ARGV[2], ARGV[3])
redis.call('HSET', base, 'updated', ARGV[4])
return {'ok'}
`)
	// ARGV: prefix, now.
	startScript = newScript(`
local sid = redis.call('GET', KEYS[1])
if not sid then return {'notfound'} end
local base = ARGV[1] .. 'c:' .. sid
if redis.call('HGET', base, 'status') == 'init' then
  redis.call('HSET', base, 'status', 'in-progress', 'updated', ARGV[2])
end
return {'ok'}
`)
	// ARGV: prefix, reason, ended by, now, retention in seconds.
	endScript = newScript(readConf + `
local sid = redis.call('GET', KEYS[1])
if not sid then return {'notfound'} end
local base = ARGV[1] .. 'c:' .. sid
redis.call('HSET', base, 'status', 'completed', 'reason', ARGV[2], 'endedBy', ARGV[3], 'updated', ARGV[4])
redis.call('DEL', KEYS[1])
for _, k in ipairs({base, base .. ':p', base .. ':o'}) do redis.call('EXPIRE', k, ARGV[5]) end
return read(base, 0)
`)
	// ARGV: prefix.
	getScript = newScript(readConf + `
local sid = redis.call('GET', KEYS[1])
if not sid then return {'notfound'} end
return read(ARGV[1] .. 'c:' .. sid, 0)
`)
	// KEYS[1] is the conference's hash.
	bySidScript = newScript(readConf + `
return read(KEYS[1], 0)
`)
)

type conferences struct{ *db }

// run runs a conference script and decodes its reply: the conference
// and whether it was created, or the error the reply stands for.
func (cs conferences) run(ctx context.Context, s *redis.Script, what, key string, args ...any) (store.Conference, bool, error) {
	r, err := s.Run(ctx, cs.rdb, []string{key}, args...).Slice()
	if err != nil {
		return store.Conference{}, false, fail(what, err)
	}
	status, _ := r[0].(string)
	switch status {
	case "ok":
	case "notfound":
		return store.Conference{}, false, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	case "exists":
		return store.Conference{}, false, fmt.Errorf("%s: %w", what, store.ErrExists)
	case "full":
		return store.Conference{}, false, fmt.Errorf("%s: %w", what, store.ErrConferenceFull)
	default:
		return store.Conference{}, false, fail(what, fmt.Errorf("reply %v", r))
	}
	if len(r) < 4 {
		return store.Conference{}, false, nil // a script with nothing to read
	}
	created, _ := r[1].(int64)
	c, err := decodeConference(r[2], r[3])
	if err != nil {
		return store.Conference{}, false, fmt.Errorf("%s: %w", what, err)
	}
	return c, created == 1, nil
}

// decodeConference decodes read's meta and participants.
func decodeConference(meta, parts any) (store.Conference, error) {
	flat, _ := meta.([]any)
	fields := map[string]string{}
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		fields[k] = v
	}
	created, err1 := parseTime(fields["created"])
	updated, err2 := parseTime(fields["updated"])
	if err1 != nil || err2 != nil {
		return store.Conference{}, fmt.Errorf("times %q, %q: bad form", fields["created"], fields["updated"])
	}
	c := store.Conference{
		Sid: fields["sid"], Name: fields["name"], Home: fields["home"], Status: fields["status"],
		Reason: fields["reason"], EndedBy: fields["endedBy"], Created: created, Updated: updated,
		Callback: fields["callback"],
	}
	list, _ := parts.([]any)
	c.Participants = make([]store.Participant, 0, len(list))
	for _, p := range list {
		blob, _ := p.(string)
		var part store.Participant
		if err := json.Unmarshal([]byte(blob), &part); err != nil {
			return store.Conference{}, fmt.Errorf("participant: %w", err)
		}
		c.Participants = append(c.Participants, part)
	}
	return c, nil
}

func (cs conferences) Join(ctx context.Context, name string, p store.Participant, max int, now time.Time) (store.Conference, bool, error) {
	blob, err := json.Marshal(p)
	if err != nil {
		return store.Conference{}, false, fmt.Errorf("conference %q: %w", name, err)
	}
	base := confBase(name)
	// As for queues, a Sid is drawn on every Join and kept by the one
	// that creates the conference.
	sid := "CF" + base[len(confTag):len(confTag)+tagLen] + randomHex("")[tagLen:]
	return cs.run(ctx, joinScript, fmt.Sprintf("conference %q: join %s", name, p.CallSid), base+"n:"+name,
		base, sid, name, p.CallSid, blob, max, formatTime(now), p.Node, p.RoomCallback)
}

func (cs conferences) Leave(ctx context.Context, name, callSid string, now time.Time) (store.Conference, error) {
	base := confBase(name)
	c, _, err := cs.run(ctx, leaveScript, fmt.Sprintf("conference %q: leave %s", name, callSid), base+"n:"+name,
		base, callSid, formatTime(now))
	return c, err
}

func (cs conferences) Update(ctx context.Context, name string, p store.Participant, now time.Time) error {
	blob, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("conference %q: %w", name, err)
	}
	base := confBase(name)
	_, _, err = cs.run(ctx, updateScript, fmt.Sprintf("conference %q: update %s", name, p.CallSid), base+"n:"+name,
		base, p.CallSid, blob, formatTime(now))
	return err
}

func (cs conferences) Start(ctx context.Context, name string, now time.Time) error {
	base := confBase(name)
	_, _, err := cs.run(ctx, startScript, fmt.Sprintf("conference %q: start", name), base+"n:"+name,
		base, formatTime(now))
	return err
}

func (cs conferences) End(ctx context.Context, name, reason, endedBy string, now time.Time) (store.Conference, error) {
	base := confBase(name)
	c, _, err := cs.run(ctx, endScript, fmt.Sprintf("conference %q: end", name), base+"n:"+name,
		base, reason, endedBy, formatTime(now), int(store.Retention/time.Second))
	return c, err
}

func (cs conferences) Get(ctx context.Context, name string) (store.Conference, error) {
	base := confBase(name)
	c, _, err := cs.run(ctx, getScript, fmt.Sprintf("conference %q", name), base+"n:"+name, base)
	return c, err
}

func (cs conferences) BySid(ctx context.Context, sid string) (store.Conference, error) {
	if !confSid.MatchString(sid) {
		return store.Conference{}, fmt.Errorf("conference %s: %w", sid, store.ErrNotFound)
	}
	key := confTag + sid[2:2+tagLen] + "}:c:" + sid
	c, _, err := cs.run(ctx, bySidScript, "conference "+sid, key)
	return c, err
}

func (cs conferences) List(ctx context.Context) ([]store.Conference, error) {
	keys, err := cs.scan(ctx, confTag+"*"+ptrPrefix+"*")
	if err != nil {
		return nil, fail("list conferences", err)
	}
	list := make([]store.Conference, 0, len(keys))
	for _, k := range keys {
		// The tag has a fixed length: what follows ptrPrefix is the name,
		// whatever it holds.
		start := len(confTag) + tagLen + len(ptrPrefix)
		if len(k) < start || !strings.HasPrefix(k[len(confTag)+tagLen:], ptrPrefix) {
			continue
		}
		name := k[start:]
		c, _, err := cs.run(ctx, getScript, fmt.Sprintf("conference %q", name), k, confBase(name))
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue // ended since the scan
			}
			return nil, err
		}
		list = append(list, c)
	}
	sortConferences(list)
	return list, nil
}

// Completed scans the conferences' hashes (texml:{cf:TAG}:c:CF…; the
// pattern's 32 '?' keep out their :p and :o keys) and keeps the
// completed ones, which Redis expires Retention after their end.
func (cs conferences) Completed(ctx context.Context) ([]store.Conference, error) {
	keys, err := cs.scan(ctx, confTag+"*}:c:CF"+strings.Repeat("?", 32))
	if err != nil {
		return nil, fail("list completed conferences", err)
	}
	var list []store.Conference
	for _, k := range keys {
		c, _, err := cs.run(ctx, bySidScript, "conference "+k, k)
		if errors.Is(err, store.ErrNotFound) {
			continue // expired since the scan
		}
		if err != nil {
			return nil, err
		}
		if c.Status == store.ConferenceCompleted {
			list = append(list, c)
		}
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
