// Package redisstore is the store that several texml nodes share: their
// queues, conferences, call records, live nodes and the bus between them,
// kept in Redis (a single server, a Sentinel-managed primary, or a
// Cluster).
//
// # URLs
//
// Open takes one URL:
//
//	redis://[[user]:password@]host[:port][/db][?option=value&…]
//	rediss://…                    the same over TLS
//	redis+sentinel://[[user]:password@]sentinel[:port][/db]?master_name=NAME[&addr=sentinel2:port…]
//	rediss+sentinel://…           the same over TLS
//	redis+cluster://[[user]:password@]node[:port][?addr=node2:port…]
//	rediss+cluster://…            the same over TLS
//
// The user and password are always those of the Redis servers that hold
// the data. With Sentinel, the sentinels' own credentials, when they have
// any, go in the options sentinel_username and sentinel_password; a
// sentinel's port defaults to 26379. With Cluster, one node is enough to
// find the others; more (addr=…) help when that one is down at start.
// Other options are go-redis's, by their snake_case names (dial_timeout,
// read_timeout, pool_size, …); an unknown option is an error.
//
// Two defaults differ from go-redis's. A command is not retried
// (max_retries=-1, unless the URL sets max_retries): a script whose
// reply was lost to a broken connection may have run twice. (A Cluster
// client still retries a command whose connection broke, within
// max_redirects, and go-redis has no way to forbid it per command: Pop,
// where running twice would lose a caller, carries a receipt that makes
// its second run return the first one's member.) And a
// context's deadline bounds the network
// wait of each command (context_timeout_enabled), so that a call never
// waits on a Redis that is gone for longer than its context allows.
//
// # Keys
//
// Every key starts with "texml:". The keys of one queue share the hash
// tag {q:NAME}, and those of one conference {cf:TAG}, where TAG is the
// first 8 hex digits of the name's SHA-256, which also start the
// conference's Sid after "CF": BySid thus finds a completed conference
// without an index that a Cluster would keep in another slot. A call's
// record has the tag {call:SID}, and its account's index {acct:ACCOUNT}.
// Every change that touches several keys of one tag is one Lua script,
// and no script touches keys of two hash slots, so each is atomic on a
// Cluster too (Redis 7 or later is needed: the scripts declare
// themselves with "#!lua", which makes Redis check that).
// For the same reason no script looks at another part of the state: Pop
// does not check that the member's node is alive (the queue service
// asks Nodes).
//
//	texml:{q:NAME}:meta            hash: sid, created, max
//	texml:{q:NAME}:list            list of CallSids, front first
//	texml:{q:NAME}:members         hash: CallSid → Member (JSON)
//	texml:{cf:TAG}:n:NAME          the Sid of the active conference called NAME
//	texml:{cf:TAG}:c:SID           hash: sid, name, home, status, reason, endedBy, created, updated
//	texml:{cf:TAG}:c:SID:p         hash: CallSid → Participant (JSON)
//	texml:{cf:TAG}:c:SID:o         list of CallSids in order of joining
//	texml:{call:SID}               a call's record (JSON)
//	texml:{acct:ACCOUNT}:calls     sorted set: the account's CallSids by Created (µs)
//	texml:{acct:ACCOUNT}:expires   sorted set: the same CallSids by expiry (ms)
//	texml:node:ID                  a live node (JSON), expiring after its ttl
//
// A queue's meta stays once created, as Twilio's Queue resource does; a
// completed conference's keys expire after store.Retention, and a call's
// record at store.CallExpires (Retention after its end, or after
// store.CallMaxAge when no Put ended it: its node died). A call's record
// and its index entry sit in two slots, so a Put writes them in one
// pipeline but not atomically (calls.go says why that is safe). The
// listings of queues, conferences and nodes SCAN for their keys, on every
// primary of a Cluster: they are rare, and an index would sit in another
// slot than what it indexes, out of reach of the scripts. The calls'
// listing is not rare (the REST API pages through it), so it has its
// index.
//
// The bus is Redis pub/sub, one channel per node: texml:bus:ID.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/texml/texml/store"
)

// prefix starts every key and channel, so that texml can share a Redis
// with other applications.
const prefix = "texml:"

// db is the connection every part of the store uses.
type db struct {
	rdb redis.UniversalClient
}

// Open connects to the Redis at rawURL (see the package doc for the
// forms), checks that it answers, and returns the store kept there.
func Open(ctx context.Context, rawURL string) (*store.Store, error) {
	d, err := open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	return d.store(), nil
}

func open(ctx context.Context, rawURL string) (*db, error) {
	rdb, err := newClient(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis store: %w", err)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis store: %s: %w", redact(rawURL), err)
	}
	return &db{rdb: rdb}, nil
}

func (d *db) store() *store.Store {
	return &store.Store{
		Queues:      queues{d},
		Conferences: conferences{d},
		Calls:       calls{d},
		Nodes:       nodes{d},
		Bus:         bus{d},
		Closer:      d,
	}
}

// Close closes the connections; the state stays in Redis.
func (d *db) Close() error { return d.rdb.Close() }

// newClient parses rawURL and makes the client for it, without
// connecting.
func newClient(rawURL string) (redis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url's errors quote the URL, password and all.
		return nil, errors.New("invalid URL")
	}
	q := u.Query()
	retries := q.Has("max_retries")
	base, mode, _ := strings.Cut(u.Scheme, "+")
	if base != "redis" && base != "rediss" {
		return nil, fmt.Errorf("URL scheme %q: want redis, rediss, redis+sentinel or redis+cluster", u.Scheme)
	}
	switch mode {
	case "":
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, err
		}
		o.ContextTimeoutEnabled = true
		if !retries {
			o.MaxRetries = -1
		}
		return redis.NewClient(o), nil
	case "sentinel":
		o, err := parseSentinelURL(u, base)
		if err != nil {
			return nil, err
		}
		o.ContextTimeoutEnabled = true
		if !retries {
			o.MaxRetries = -1
		}
		return redis.NewFailoverClient(o), nil
	case "cluster":
		v := *u
		v.Scheme = base
		o, err := redis.ParseClusterURL(v.String())
		if err != nil {
			return nil, err
		}
		o.ContextTimeoutEnabled = true
		if !retries {
			o.MaxRetries = -1
		}
		return redis.NewClusterClient(o), nil
	}
	return nil, fmt.Errorf("URL scheme %q: want redis, rediss, redis+sentinel or redis+cluster", u.Scheme)
}

// parseSentinelURL reads the redis+sentinel form. go-redis's own
// failover URL takes the user info for the sentinels' credentials and the
// servers' from options; texml's URLs keep the user info for the servers
// in every form, so the two are swapped before go-redis parses the rest.
func parseSentinelURL(u *url.URL, scheme string) (*redis.FailoverOptions, error) {
	q := u.Query()
	if q.Get("master_name") == "" {
		return nil, errors.New("redis+sentinel URL without master_name")
	}
	if u.User != nil {
		q.Set("username", u.User.Username())
		if p, ok := u.User.Password(); ok {
			q.Set("password", p)
		}
	}
	v := *u
	v.Scheme = scheme
	v.User = nil
	if su, sp := q.Get("sentinel_username"), q.Get("sentinel_password"); su != "" || sp != "" {
		v.User = url.UserPassword(su, sp)
	}
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	v.RawQuery = q.Encode()
	if v.Port() == "" {
		host := v.Hostname()
		if host == "" {
			host = "localhost"
		}
		v.Host = net.JoinHostPort(host, "26379")
	}
	return redis.ParseFailoverURL(v.String())
}

// redact hides the password of rawURL, for error messages.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(invalid URL)"
	}
	q := u.Query()
	for _, k := range []string{"password", "sentinel_password"} {
		if q.Has(k) {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}

// scan returns the keys matching pattern, on every primary of a Cluster.
// It is for the listings (queues, conferences, nodes), which are rare
// enough to walk the keyspace rather than keep an index whose key would
// sit in another hash slot than the state it indexes.
func (d *db) scan(ctx context.Context, pattern string) ([]string, error) {
	cc, ok := d.rdb.(*redis.ClusterClient)
	if !ok {
		return scanKeys(ctx, d.rdb, pattern)
	}
	// ForEachMaster runs on the primaries concurrently.
	var mu sync.Mutex
	var keys []string
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		found, err := scanKeys(ctx, c, pattern)
		mu.Lock()
		defer mu.Unlock()
		keys = append(keys, found...)
		return err
	})
	return keys, err
}

// scanKeys returns the keys of one server matching pattern, each once
// (a SCAN may return a key twice).
func scanKeys(ctx context.Context, c redis.Cmdable, pattern string) ([]string, error) {
	var keys []string
	it := c.Scan(ctx, 0, pattern, 1000).Iterator()
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	slices.Sort(keys)
	return slices.Compact(keys), it.Err()
}

// newScript makes a script of src, declared with a shebang: Redis 7 then
// refuses, in cluster mode, any access to keys of two hash slots, even
// when one node holds both, so the one-node Cluster test catches a script
// that would fail on a real Cluster.
func newScript(src string) *redis.Script {
	return redis.NewScript("#!lua\n" + src)
}

// fail wraps a failure of Redis itself with what was being done.
func fail(what string, err error) error {
	return fmt.Errorf("redis store: %s: %w", what, err)
}

// formatTime and parseTime keep times in the store as text with all
// their precision.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}
