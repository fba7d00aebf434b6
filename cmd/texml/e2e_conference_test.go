package main

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/texml/texml/internal/sipphone"
)

// toneLevel is the level of freq in s in dBFS: the loudest 100 ms window.
// Two tones mixed at one level each carry half the power, so a "heard"
// threshold well below the tone's own level (-10 dBFS here) and an
// "unheard" one well above the codec's noise tell them apart.
func toneLevel(s []int16, freq float64) float64 {
	const win = sipphone.Rate / 10
	best := 0.0
	for i := 0; i+win <= len(s); i += win / 2 {
		best = math.Max(best, sipphone.Goertzel(s[i:i+win], freq))
	}
	if best == 0 {
		return -200
	}
	return 10 * math.Log10(best)
}

// talkAt has c send a tone at freq for 3 s from start (silence until
// then, as a phone without silence suppression sends), then hang up.
func talkAt(wg *sync.WaitGroup, c *sipphone.Call, freq float64, start time.Time) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.Listen(time.Until(start))
		c.Tone(freq, 3*time.Second)
		c.Listen(500 * time.Millisecond)
		_ = c.Hangup()
	}()
}

// talkInRoom calls user at addr once per frequency, 300 ms apart; all
// the phones send their tones together from 2.5 s on (talkAt), and it
// returns once they have hung up.
func talkInRoom(t *testing.T, ctx context.Context, addr, user string, freqs []float64) []*sipphone.Call {
	t.Helper()
	calls := make([]*sipphone.Call, len(freqs))
	var wg sync.WaitGroup
	start := time.Now().Add(2500 * time.Millisecond)
	for i, f := range freqs {
		calls[i] = sipphone.New(t).Call(ctx, addr, user, sipphone.CallOptions{})
		if calls[i].FinalCode() != 200 {
			t.Fatalf("phone %d got %d", i, calls[i].FinalCode())
		}
		talkAt(&wg, calls[i], f, start)
		time.Sleep(300 * time.Millisecond)
	}
	wg.Wait()
	return calls
}

// checkHeard checks, for every pair of calls, that call i heard call j's
// tone (freqs[j]) when heard(i, j), and did not otherwise.
func checkHeard(t *testing.T, calls []*sipphone.Call, freqs []float64, heard func(i, j int) bool) {
	t.Helper()
	for i, c := range calls {
		audio := c.Audio()
		for j, f := range freqs {
			lvl := toneLevel(audio, f)
			switch {
			case heard(i, j) && lvl < -20:
				t.Errorf("phone %d hears phone %d's %v Hz at %.1f dBFS, want it heard", i, j, f, lvl)
			case !heard(i, j) && lvl > -40:
				t.Errorf("phone %d hears phone %d's %v Hz at %.1f dBFS, want silence", i, j, f, lvl)
			}
		}
	}
}

// others: everyone hears everyone but themselves.
func others(i, j int) bool { return i != j }

// TestConferenceThreeCallersHearEachOther puts three Go test phones in one
// conference through `texml serve`: each sends its own tone; each hears
// the others' and never its own, and the muted one is heard by no one.
func TestConferenceThreeCallersHearEachOther(t *testing.T) {
	var mu sync.Mutex
	order := map[string]int{}
	docs := []string{
		`<Response><Dial><Conference beep="false">room</Conference></Dial></Response>`,
		`<Response><Dial><Conference beep="false">room</Conference></Dial></Response>`,
		`<Response><Dial><Conference beep="false" muted="true">room</Conference></Dial></Response>`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "text/xml")
		mu.Lock()
		sid := r.PostForm.Get("CallSid")
		if _, ok := order[sid]; !ok {
			order[sid] = len(order)
		}
		n := order[sid]
		mu.Unlock()
		if r.URL.Path != "/voice" || n >= len(docs) {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, docs[n])
	}))
	t.Cleanup(srv.Close)
	s := startServe(t, srv.URL+"/voice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	freqs := []float64{1200, 1700, 1900} // apart from each other's intermodulation and the hold music
	calls := talkInRoom(t, ctx, s.sipAddr, "room", freqs)
	heard := [][]bool{
		{false, true, false}, // the first hears the second, not itself, not the muted third
		{true, false, false},
		{true, true, false}, // the muted one hears both
	}
	checkHeard(t, calls, freqs, func(i, j int) bool { return heard[i][j] })
}

// TestConferenceCoach: a coach (Conference coach="the agent's CallSid") is
// heard by the agent only, and hears both the agent and the customer.
func TestConferenceCoach(t *testing.T) {
	var mu sync.Mutex
	order := map[string]int{}
	var agentSid string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "text/xml")
		mu.Lock()
		defer mu.Unlock()
		sid := r.PostForm.Get("CallSid")
		if _, ok := order[sid]; !ok {
			order[sid] = len(order)
		}
		switch order[sid] {
		case 0, 1:
			if order[sid] == 1 {
				agentSid = sid
			}
			_, _ = io.WriteString(w, `<Response><Dial><Conference beep="false">support</Conference></Dial></Response>`)
		default:
			_, _ = io.WriteString(w, `<Response><Dial><Conference beep="false" coach="`+agentSid+`">support</Conference></Dial></Response>`)
		}
	}))
	t.Cleanup(srv.Close)
	s := startServe(t, srv.URL+"/voice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	freqs := []float64{1200, 1700, 1900} // customer, agent, coach
	calls := talkInRoom(t, ctx, s.sipAddr, "support", freqs)
	heard := [][]bool{
		{false, true, false}, // the customer hears the agent, never the coach
		{true, false, true},  // the agent hears the customer and the coach
		{true, true, false},  // the coach hears both
	}
	checkHeard(t, calls, freqs, func(i, j int) bool { return heard[i][j] })
}

// TestConferenceSpeakerEvents: statusCallbackEvent="speaker" reports
// participant-speech-start and -stop from the participants' voice
// activity, measured on their real RTP.
func TestConferenceSpeakerEvents(t *testing.T) {
	var mu sync.Mutex
	var events []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "text/xml")
		if r.URL.Path == "/conf" {
			mu.Lock()
			events = append(events, r.PostForm.Get("StatusCallbackEvent")+" "+r.PostForm.Get("CallSid"))
			mu.Unlock()
			return
		}
		_, _ = io.WriteString(w, `<Response><Dial><Conference beep="false" statusCallback="/conf" statusCallbackEvent="speaker">talk</Conference></Dial></Response>`)
	}))
	t.Cleanup(srv.Close)
	s := startServe(t, srv.URL+"/voice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	talker := sipphone.New(t).Call(ctx, s.sipAddr, "talk", sipphone.CallOptions{})
	listener := sipphone.New(t).Call(ctx, s.sipAddr, "talk", sipphone.CallOptions{})
	if talker.FinalCode() != 200 || listener.FinalCode() != 200 {
		t.Fatalf("answers %d, %d", talker.FinalCode(), listener.FinalCode())
	}
	go listener.Listen(6 * time.Second)
	talker.Listen(time.Second)
	talker.Talk(sipphone.ToneSamples(500, 1500*time.Millisecond))
	talker.Listen(2 * time.Second)
	_ = talker.Hangup()
	_ = listener.Hangup()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := append([]string(nil), events...)
		mu.Unlock()
		var start, stop bool
		for _, e := range got {
			start = start || strings.HasPrefix(e, "participant-speech-start CA")
			stop = stop || strings.HasPrefix(e, "participant-speech-stop CA")
		}
		if start && stop {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("speaker events %v, want participant-speech-start and -stop with a CallSid", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
