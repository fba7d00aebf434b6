package redisstore

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestURLSingle(t *testing.T) {
	for _, tc := range []struct {
		url        string
		addr, pass string
		db         int
		tls        bool
		retries    int
	}{
		{"redis://h:1234", "h:1234", "", 0, false, 0},
		{"redis://:pw@h:1234/3", "h:1234", "pw", 3, false, 0},
		{"redis://user:p%40ss@h/1?dial_timeout=2s", "h:6379", "p@ss", 1, false, 0},
		{"rediss://h", "h:6379", "", 0, true, 0},
		{"redis://h?max_retries=2", "h:6379", "", 0, false, 2},
	} {
		c, err := newClient(tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		rc, ok := c.(*redis.Client)
		if !ok {
			t.Errorf("%s: client %T, want *redis.Client", tc.url, c)
			continue
		}
		o := rc.Options()
		if o.Addr != tc.addr || o.Password != tc.pass || o.DB != tc.db || (o.TLSConfig != nil) != tc.tls ||
			o.MaxRetries != tc.retries || !o.ContextTimeoutEnabled {
			t.Errorf("%s: addr %s password %q db %d tls %v retries %d ctx timeouts %v", tc.url,
				o.Addr, o.Password, o.DB, o.TLSConfig != nil, o.MaxRetries, o.ContextTimeoutEnabled)
		}
		c.Close()
	}
}

func TestURLSentinel(t *testing.T) {
	const raw = "redis+sentinel://app:pw@s1/2?master_name=main&addr=s2:26380&sentinel_password=sp&dial_timeout=1s"
	u, _ := url.Parse(raw)
	o, err := parseSentinelURL(u, "redis")
	if err != nil {
		t.Fatal(err)
	}
	if o.MasterName != "main" || !slices.Equal(o.SentinelAddrs, []string{"s1:26379", "s2:26380"}) ||
		o.Username != "app" || o.Password != "pw" || o.SentinelPassword != "sp" || o.DB != 2 {
		t.Errorf("options %+v", o)
	}
	c, err := newClient(raw)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := newClient("redis+sentinel://s1"); err == nil || !strings.Contains(err.Error(), "master_name") {
		t.Errorf("no master_name: %v", err)
	}
}

func TestURLCluster(t *testing.T) {
	for _, tc := range []struct {
		url string
		tls bool
	}{
		{"redis+cluster://:pw@n1:7000?addr=n2:7001", false},
		{"rediss+cluster://:pw@n1:7000?addr=n2:7001", true},
	} {
		c, err := newClient(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		cc, ok := c.(*redis.ClusterClient)
		if !ok {
			t.Fatalf("%s: client %T, want *redis.ClusterClient", tc.url, c)
		}
		o := cc.Options()
		if !slices.Equal(o.Addrs, []string{"n1:7000", "n2:7001"}) || o.Password != "pw" || (o.TLSConfig != nil) != tc.tls ||
			o.MaxRetries != -1 || !o.ContextTimeoutEnabled {
			t.Errorf("%s: options %+v", tc.url, o)
		}
		c.Close()
	}
}

func TestURLRefused(t *testing.T) {
	for _, raw := range []string{
		"http://h",
		"redis+ring://h",
		"redis://h?no_such_option=1",
		"redis://h/notadb",
		"redis://:pw@h:bad port",
	} {
		if c, err := newClient(raw); err == nil {
			c.Close()
			t.Errorf("%s: no error", raw)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: error %q shows the password", raw, err)
		}
	}
}

func TestRedact(t *testing.T) {
	for raw, want := range map[string]string{
		"redis://:secret@h:1":                         "redis://:xxxxx@h:1",
		"redis+sentinel://h?sentinel_password=secret": "redis+sentinel://h?sentinel_password=xxxxx",
		"redis+sentinel://u:secret@h?master_name=m":   "redis+sentinel://u:xxxxx@h?master_name=m",
		"redis://h:1?password=secret&dial_timeout=1s": "redis://h:1?dial_timeout=1s&password=xxxxx",
	} {
		if got := redact(raw); got != want {
			t.Errorf("redact(%s) = %s, want %s", raw, got, want)
		}
	}
}
