package conformance

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/coder/websocket"

	"github.com/texml/texml/media"
)

// StreamApp is a scripted Media Streams app that the runner serves at a
// path of the scenario's app server (ws://host/path; a document names it
// with a relative <Stream url="/path">). It follows Twilio's protocol
// (https://www.twilio.com/docs/voice/media-streams/websocket-messages),
// or Telnyx's when Wire is "telnyx"
// (https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming).
type StreamApp struct {
	// Wire is "telnyx" for Telnyx's field names (sequence_number,
	// stream_id, custom_parameters, media_format); "" is Twilio's.
	Wire string `yaml:"wire"`
	// Codec encodes the app's media: PCMU (default) or PCMA.
	Codec string `yaml:"codec"`
	// Send is what the app sends once the start message arrives, in
	// order.
	Send []AppSend `yaml:"send"`
	// CloseAfterMS closes the socket on the first media message whose
	// timestamp reaches it: a time on the call's clock.
	CloseAfterMS int `yaml:"close_after_ms"`
	// CloseOnMark closes the socket once this mark comes back.
	CloseOnMark string `yaml:"close_on_mark"`
	// CloseOnDTMF closes the socket once this many keys have come.
	CloseOnDTMF int `yaml:"close_on_dtmf"`
}

// AppSend is one message of the app: MediaMS of a 1 kHz tone in µ-law,
// a mark, a clear, or any raw JSON text.
type AppSend struct {
	MediaMS int    `yaml:"media_ms"`
	Mark    string `yaml:"mark"`
	Clear   bool   `yaml:"clear"`
	Raw     string `yaml:"raw"`
}

// StreamExpect is what one stream app must have received.
type StreamExpect struct {
	Path string `yaml:"path"`
	// Events are the messages' events in order, a run of media messages
	// counting as one "media".
	Events []string `yaml:"events"`
	// Tracks is start.tracks; Params is start.customParameters.
	Tracks []string          `yaml:"tracks"`
	Params map[string]string `yaml:"params"`
	// Encoding is start's media format encoding (mediaFormat or
	// media_format).
	Encoding string `yaml:"encoding"`
	// MediaTracks are the tracks the media messages carried, sorted.
	MediaTracks []string `yaml:"media_tracks"`
	// Marks are the marks echoed back; DTMF the keys received.
	Marks []string `yaml:"marks"`
	DTMF  string   `yaml:"dtmf"`
}

// streamLog is what a stream app received.
type streamLog struct {
	path   string
	events []string
	start  map[string]any
	tracks map[string]bool
	marks  []string
	dtmf   string
	bad    []string // protocol errors the app saw (wrong sequence, shapes)
}

// streamApps serves a scenario's stream apps and keeps their logs.
type streamApps struct {
	apps map[string]StreamApp
	mu   sync.Mutex
	logs []*streamLog
	wg   conns
}

// serve answers a WebSocket upgrade to one of the apps; it reports
// whether it did.
func (a *streamApps) serve(w http.ResponseWriter, r *http.Request) bool {
	app, c, served := accept(w, r, a.apps, &a.wg)
	if c == nil {
		return served
	}
	defer a.wg.done()
	log := &streamLog{path: r.URL.Path, tracks: map[string]bool{}}
	a.mu.Lock()
	a.logs = append(a.logs, log)
	a.mu.Unlock()
	defer c.CloseNow()
	ctx := r.Context()
	seq := 0
	seqKey, sidKey := "sequenceNumber", "streamSid"
	if app.Wire == "telnyx" {
		seqKey, sidKey = "sequence_number", "stream_id"
	}
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return true
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			log.bad = append(log.bad, "not JSON: "+string(data))
			continue
		}
		ev, _ := m["event"].(string)
		if ev != "connected" {
			seq++
			if got := fmt.Sprint(m[seqKey]); got != strconv.Itoa(seq) {
				log.bad = append(log.bad, fmt.Sprintf("%s: %s %s, want %d", ev, seqKey, got, seq))
			}
		}
		a.mu.Lock()
		if ev != "media" || len(log.events) == 0 || log.events[len(log.events)-1] != "media" {
			log.events = append(log.events, ev)
		}
		closeNow := false
		switch ev {
		case "start":
			log.start, _ = m["start"].(map[string]any)
		case "media":
			md, _ := m["media"].(map[string]any)
			log.tracks[fmt.Sprint(md["track"])] = true
			ts, _ := strconv.Atoi(fmt.Sprint(md["timestamp"]))
			closeNow = app.CloseAfterMS > 0 && ts >= app.CloseAfterMS
		case "mark":
			mk, _ := m["mark"].(map[string]any)
			name := fmt.Sprint(mk["name"])
			log.marks = append(log.marks, name)
			closeNow = app.CloseOnMark != "" && name == app.CloseOnMark
		case "dtmf":
			d, _ := m["dtmf"].(map[string]any)
			log.dtmf += fmt.Sprint(d["digit"])
			closeNow = app.CloseOnDTMF > 0 && len(log.dtmf) >= app.CloseOnDTMF
		}
		sid, _ := m[sidKey].(string)
		a.mu.Unlock()
		if ev == "start" {
			for _, s := range app.Send {
				if err := c.Write(ctx, websocket.MessageText, s.message(sidKey, sid, app.Codec)); err != nil {
					return true
				}
			}
		}
		if closeNow {
			_ = c.Close(websocket.StatusNormalClosure, "done")
			return true
		}
	}
}

// message renders one message of the app; sidKey names the stream id's
// field (streamSid or stream_id), codec the media's (PCMU or PCMA).
func (s AppSend) message(sidKey, sid, codec string) []byte {
	var v any
	switch {
	case s.Raw != "":
		return []byte(s.Raw)
	case s.MediaMS > 0:
		pcm := make([]int16, s.MediaMS*media.SampleRate/1000)
		for i := range pcm {
			pcm[i] = int16(8000 * math.Sin(2*math.Pi*1000*float64(i)/media.SampleRate))
		}
		b := make([]byte, len(pcm))
		c := media.PCMU
		if strings.EqualFold(codec, "PCMA") {
			c = media.PCMA
		}
		c.Encode(b, pcm)
		v = map[string]any{"event": "media", sidKey: sid, "media": map[string]any{"payload": base64.StdEncoding.EncodeToString(b)}}
	case s.Mark != "":
		v = map[string]any{"event": "mark", sidKey: sid, "mark": map[string]any{"name": s.Mark}}
	case s.Clear:
		v = map[string]any{"event": "clear", sidKey: sid}
	}
	b, _ := json.Marshal(v)
	return b
}

// wait lets the apps' handlers finish reading after their stream closed.
func (a *streamApps) wait(ctx context.Context) { a.wg.wait(ctx) }

// accept answers a WebSocket upgrade to the app of apps at the request's
// path: the app and the connection, counted in cs (the caller calls
// cs.done when done). A nil connection means there is nothing to serve;
// served then says whether the request was answered (a failed upgrade)
// or is for another handler.
func accept[A any](w http.ResponseWriter, r *http.Request, apps map[string]A, cs *conns) (app A, c *websocket.Conn, served bool) {
	app, ok := apps[r.URL.Path]
	if !ok || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return app, nil, false
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return app, nil, true
	}
	cs.add()
	return app, c, true
}

// conns counts an app's connections in progress. Adding one and waiting
// for them go through mu, so that a connection counted before the wait
// began is ordered before it (sync.WaitGroup wants its Add to happen
// before its Wait).
type conns struct {
	mu sync.Mutex
	wg sync.WaitGroup
}

func (c *conns) add() {
	c.mu.Lock()
	c.wg.Add(1)
	c.mu.Unlock()
}

func (c *conns) done() { c.wg.Done() }

// wait waits for the connections, or until ctx ends.
func (c *conns) wait(ctx context.Context) {
	c.mu.Lock()
	c.mu.Unlock() //nolint:staticcheck // an empty critical section orders the adds before Wait
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// checkStreams compares what the stream apps received with want.
func checkStreams(want []StreamExpect, logs []*streamLog, fail func(string, ...any)) {
	used := make([]bool, len(logs))
	for _, w := range want {
		var got *streamLog
		for i, l := range logs {
			if !used[i] && l.path == w.Path {
				used[i], got = true, l
				break
			}
		}
		if got == nil {
			fail("stream %s: the app got no connection", w.Path)
			continue
		}
		for _, b := range got.bad {
			fail("stream %s: %s", w.Path, b)
		}
		if w.Events != nil && !slices.Equal(got.events, w.Events) {
			fail("stream %s: events %v, want %v", w.Path, got.events, w.Events)
		}
		if w.Tracks != nil && fmt.Sprint(got.start["tracks"]) != fmt.Sprint(w.Tracks) {
			fail("stream %s: start.tracks %v, want %v", w.Path, got.start["tracks"], w.Tracks)
		}
		params, _ := got.start["customParameters"].(map[string]any)
		if params == nil {
			params, _ = got.start["custom_parameters"].(map[string]any)
		}
		if w.Encoding != "" {
			mf, _ := got.start["mediaFormat"].(map[string]any)
			if mf == nil {
				mf, _ = got.start["media_format"].(map[string]any)
			}
			if fmt.Sprint(mf["encoding"]) != w.Encoding {
				fail("stream %s: start's media format %v, want encoding %s", w.Path, mf, w.Encoding)
			}
		}
		for k, v := range w.Params {
			if fmt.Sprint(params[k]) != v {
				fail("stream %s: customParameters[%s] = %v, want %s", w.Path, k, params[k], v)
			}
		}
		if w.MediaTracks != nil {
			var tr []string
			for t := range got.tracks {
				tr = append(tr, t)
			}
			slices.Sort(tr)
			if !slices.Equal(tr, w.MediaTracks) {
				fail("stream %s: media tracks %v, want %v", w.Path, tr, w.MediaTracks)
			}
		}
		if w.Marks != nil && !slices.Equal(got.marks, w.Marks) {
			fail("stream %s: marks echoed %v, want %v", w.Path, got.marks, w.Marks)
		}
		if got.dtmf != w.DTMF {
			fail("stream %s: dtmf %q, want %q", w.Path, got.dtmf, w.DTMF)
		}
	}
}
