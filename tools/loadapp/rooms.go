package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// toUser returns the user part of a From/To parameter ("sip:room-3@host"
// → "room-3", a phone number as it is).
func toUser(to string) string {
	to = strings.TrimPrefix(strings.TrimPrefix(to, "sip:"), "sips:")
	user, _, _ := strings.Cut(to, "@")
	return user
}

// escape returns s as XML text.
func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// conferenceDoc is the document of the conference load: the room is the
// call's To user when it is "room-K" (K a number), otherwise room-K with
// K = index / size. No beep and no wait music, so that what a member hears
// is the others' audio (the mix) and nothing else.
func conferenceDoc(user string, index int64, size int) string {
	room := user
	if k, ok := strings.CutPrefix(user, "room-"); !ok || k == "" || strings.Trim(k, "0123456789") != "" {
		room = "room-" + strconv.FormatInt(index/int64(size), 10)
	}
	return `<Response><Dial><Conference beep="false" waitUrl="">` + escape(room) + `</Conference></Dial></Response>`
}

// queueDoc is the document of the queue load: agents (To user starting
// with agentPrefix) dial the queue, everyone else waits in it, hearing
// waitURL ("" = texml's hold music).
func queueDoc(user, agentPrefix, queue, waitURL string) string {
	if agentPrefix != "" && strings.HasPrefix(user, agentPrefix) {
		return "<Response><Dial><Queue>" + escape(queue) + "</Queue></Dial></Response>"
	}
	attr := ""
	if waitURL != "" {
		attr = ` waitUrl="` + escape(waitURL) + `"`
	}
	return "<Response><Enqueue" + attr + ">" + escape(queue) + "</Enqueue></Response>"
}

// waitLog records the times of every caller's wait-document requests.
type waitLog struct {
	mu  sync.Mutex
	per map[string][]time.Time
}

func newWaitLog() *waitLog { return &waitLog{per: map[string][]time.Time{}} }

func (l *waitLog) add(sid string, t time.Time) {
	l.mu.Lock()
	l.per[sid] = append(l.per[sid], t)
	l.mu.Unlock()
}

func (l *waitLog) reset() {
	l.mu.Lock()
	l.per = map[string][]time.Time{}
	l.mu.Unlock()
}

// waitStats sums up the wait-document requests.
type waitStats struct {
	requests, callers int
	// Requests per caller: fewest, median, most.
	perMin, perMed, perMax int
	// The time between a caller's consecutive requests (one run of the
	// wait document, plus its fetch): over all callers.
	intervals                  int
	ivMin, ivP50, ivP99, ivMax time.Duration
	// Re-requests per caller per minute, over each caller's span from its
	// first request to its last (callers with at least two requests):
	// median, lowest, highest.
	rateMed, rateMin, rateMax float64
}

func (l *waitLog) stats() waitStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s waitStats
	var counts []int
	var ivs []time.Duration
	var rates []float64
	for _, ts := range l.per {
		s.requests += len(ts)
		counts = append(counts, len(ts))
		for i := 1; i < len(ts); i++ {
			ivs = append(ivs, ts[i].Sub(ts[i-1]))
		}
		if n := len(ts); n >= 2 && ts[n-1].After(ts[0]) {
			rates = append(rates, float64(n-1)/ts[n-1].Sub(ts[0]).Minutes())
		}
	}
	s.callers = len(counts)
	if len(counts) > 0 {
		slices.Sort(counts)
		s.perMin, s.perMed, s.perMax = counts[0], counts[len(counts)/2], counts[len(counts)-1]
	}
	if len(ivs) > 0 {
		slices.Sort(ivs)
		s.intervals = len(ivs)
		s.ivMin, s.ivMax = ivs[0], ivs[len(ivs)-1]
		s.ivP50, s.ivP99 = ivs[rank(len(ivs), 0.5)], ivs[rank(len(ivs), 0.99)]
	}
	if len(rates) > 0 {
		slices.Sort(rates)
		s.rateMin, s.rateMed, s.rateMax = rates[0], rates[len(rates)/2], rates[len(rates)-1]
	}
	return s
}

// rank is the index of quantile q in a sorted slice of n values.
func rank(n int, q float64) int {
	i := int(float64(n)*q+0.999999) - 1
	return min(max(i, 0), n-1)
}

func (s waitStats) write(w io.Writer) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d)/1e6) }
	fmt.Fprintf(w, "wait_requests %d\nwait_callers %d\n", s.requests, s.callers)
	if s.callers == 0 {
		return
	}
	fmt.Fprintf(w, "wait_per_caller min %d median %d max %d\n", s.perMin, s.perMed, s.perMax)
	if s.intervals > 0 {
		fmt.Fprintf(w, "wait_interval_ms n %d min %s p50 %s p99 %s max %s\n", s.intervals, ms(s.ivMin), ms(s.ivP50), ms(s.ivP99), ms(s.ivMax))
		fmt.Fprintf(w, "wait_rerequests_per_caller_per_minute median %.2f min %.2f max %.2f\n", s.rateMed, s.rateMin, s.rateMax)
	}
}
