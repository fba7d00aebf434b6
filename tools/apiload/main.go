// Command apiload creates calls through texml's REST API at a steady rate
// (POST …/Calls.json, as Twilio's helper libraries send it) and reports
// how the API answered and how the calls ended: the creation latency,
// every answer that was not 201 Created, and, once every call has ended,
// the calls' final statuses read back through the API's list (Status
// filter, PageSize 1000, following next_page_uri).
//
// Used by scripts/load-api-calls.sh; loopback only.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	base := flag.String("api", "", "the account's base URL, http://HOST:PORT/2010-04-01/Accounts/AC…")
	account := flag.String("account", "", "AccountSid")
	token := flag.String("token", "", "AuthToken")
	to := flag.String("to", "", "To of every call (a sip: URI of the callee)")
	from := flag.String("from", "+15559990000", "From of every call")
	twiml := flag.String("twiml", `<Response><Pause length="1"/></Response>`, "Twiml of every call")
	rate := flag.Int("rate", 300, "calls created per second")
	secs := flag.Int("duration", 30, "seconds of creating calls")
	settle := flag.Duration("settle", 60*time.Second, "how long to wait for the last calls to end")
	reads := flag.Int("reads", 0, "then this many list requests (a random page of 50) and as many fetches of a random call, one at a time")
	flag.Parse()
	if *base == "" || *to == "" || *rate < 1 || *secs < 1 {
		fmt.Fprintln(os.Stderr, "apiload: need -api, -to, -rate ≥ 1 and -duration ≥ 1")
		os.Exit(2)
	}
	c := &client{base: strings.TrimRight(*base, "/"), account: *account, token: *token,
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxIdleConns: 512}}}
	form := url.Values{"To": {*to}, "From": {*from}, "Twiml": {*twiml}}.Encode()

	total := *rate * *secs
	lat := make([]time.Duration, 0, total)
	codes := map[int]int{}
	var sids []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range total {
		// Paced by the schedule, not by answers: a slow API does not
		// slow the offered rate down.
		if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(*rate))); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			code, sid := c.post(form)
			d := time.Since(t0)
			mu.Lock()
			lat = append(lat, d)
			codes[code]++
			if sid != "" {
				sids = append(sids, sid)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	placing := time.Since(start)

	// Every call ends (its Twiml runs out, the callee answered or not):
	// wait until no call is queued, ringing or in progress.
	deadline := time.Now().Add(*settle)
	var statuses map[string]int
	for {
		statuses = c.statuses()
		live := statuses["queued"] + statuses["ringing"] + statuses["in-progress"]
		if live == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	out := map[string]any{
		"requested": total, "rate": *rate, "placing_seconds": placing.Seconds(),
		"answers": codes, "create_ms": percentiles(lat), "final_statuses": statuses,
	}
	if *reads > 0 && len(sids) > 0 {
		var list, fetch []time.Duration
		pages := max(1, len(sids)/50)
		for i := range *reads {
			t0 := time.Now()
			c.get(fmt.Sprintf("%s/Calls.json?PageSize=50&Page=%d", c.base, rand.IntN(pages)))
			list = append(list, time.Since(t0))
			t0 = time.Now()
			c.get(c.base + "/Calls/" + sids[(i*7919)%len(sids)] + ".json")
			fetch = append(fetch, time.Since(t0))
		}
		out["list_page_ms"], out["fetch_ms"] = percentiles(list), percentiles(fetch)
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
	if codes[http.StatusCreated] != total || statuses["completed"] != total {
		os.Exit(1)
	}
}

// percentiles of d in milliseconds: p50, p90, p99, max.
func percentiles(d []time.Duration) map[string]float64 {
	slices.Sort(d)
	pct := func(p float64) float64 {
		if len(d) == 0 {
			return 0
		}
		return float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds()) / 1000
	}
	return map[string]float64{"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": pct(1)}
}

type client struct {
	base, account, token string
	http                 *http.Client
}

// post creates one call and returns the HTTP status (0: no answer) and
// the new call's sid.
func (c *client) post(form string) (int, string) {
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, c.base+"/Calls.json", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.account, c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var call struct {
		Sid string `json:"sid"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&call)
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, call.Sid
}

// get reads u and throws the body away.
func (c *client) get(u string) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.SetBasicAuth(c.account, c.token)
	if resp, err := c.http.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// statuses counts the account's calls by status, walking the list.
func (c *client) statuses() map[string]int {
	n := map[string]int{}
	next := c.base + "/Calls.json?PageSize=1000"
	host := c.base[:strings.Index(c.base, "/2010-04-01")]
	for next != "" {
		req, _ := http.NewRequest(http.MethodGet, next, nil)
		req.SetBasicAuth(c.account, c.token)
		resp, err := c.http.Do(req)
		if err != nil {
			n["list-error"]++
			return n
		}
		var page struct {
			Calls []struct {
				Status string `json:"status"`
			} `json:"calls"`
			Next *string `json:"next_page_uri"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			n["list-error"]++
			return n
		}
		for _, call := range page.Calls {
			n[call.Status]++
		}
		next = ""
		if page.Next != nil {
			next = host + *page.Next
		}
	}
	return n
}
