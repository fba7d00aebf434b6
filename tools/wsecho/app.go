package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
)

// app is the echo app: its counters, and what ends its connections.
type app struct {
	stall atomic.Int64    // connections to stall, counted from the first (next == 0)
	ctx   context.Context // ended by stop: every connection closes
	stop  context.CancelFunc
	wg    sync.WaitGroup // the connections' handlers

	next                             atomic.Int64 // connection index, from 0 (reset by /reset)
	conns, stalled, active           atomic.Int64
	starts, stops, mediaIn, mediaOut atomic.Int64
	badMsgs, writeErrs, readErrs     atomic.Int64
}

// counters is a snapshot of the app's counters.
type counters struct {
	Conns, Stalled, Active           int64
	Starts, Stops, MediaIn, MediaOut int64
	BadMsgs, WriteErrs, ReadErrs     int64
}

// String prints the counters one a line, as /stats and the exit do.
func (c counters) String() string {
	return fmt.Sprintf("wsecho: connections %d (stalled %d, open %d), start %d, stop %d, media in %d, media out %d, "+
		"bad messages %d, write errors %d, read errors %d\n",
		c.Conns, c.Stalled, c.Active, c.Starts, c.Stops, c.MediaIn, c.MediaOut, c.BadMsgs, c.WriteErrs, c.ReadErrs)
}

// newApp returns the app; the first stall connections stall.
func newApp(stall int) *app {
	a := &app{}
	a.stall.Store(int64(stall))
	a.ctx, a.stop = context.WithCancel(context.Background())
	return a
}

// wait returns once every connection's handler has returned.
func (a *app) wait() { a.wg.Wait() }

func (a *app) stats() counters {
	return counters{
		Conns: a.conns.Load(), Stalled: a.stalled.Load(), Active: a.active.Load(),
		Starts: a.starts.Load(), Stops: a.stops.Load(), MediaIn: a.mediaIn.Load(), MediaOut: a.mediaOut.Load(),
		BadMsgs: a.badMsgs.Load(), WriteErrs: a.writeErrs.Load(), ReadErrs: a.readErrs.Load(),
	}
}

// reset zeroes the counters (not the open connections) and makes the
// next connection the first again; stall ≥ 0 sets how many stall.
func (a *app) reset(stall int) {
	if stall >= 0 {
		a.stall.Store(int64(stall))
	}
	a.next.Store(0)
	for _, c := range []*atomic.Int64{&a.conns, &a.stalled, &a.starts, &a.stops, &a.mediaIn, &a.mediaOut,
		&a.badMsgs, &a.writeErrs, &a.readErrs} {
		c.Store(0)
	}
}

// mux serves the WebSocket at /echo (any path but /stats and /reset, so
// a URL's path does not matter), and the counters.
func (a *app) mux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, a.stats().String())
	})
	m.HandleFunc("/reset", func(w http.ResponseWriter, r *http.Request) {
		stall := -1
		if v := r.URL.Query().Get("stall"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				http.Error(w, "stall must be a count", http.StatusBadRequest)
				return
			}
			stall = n
		}
		a.reset(stall)
		fmt.Fprintln(w, "reset")
	})
	m.HandleFunc("/", a.accept)
	return m
}

// msg is what the app reads of texml's messages.
type msg struct {
	Event     string `json:"event"`
	StreamSid string `json:"streamSid"`
	Media     struct {
		Payload string `json:"payload"`
	} `json:"media"`
}

// accept takes one WebSocket and runs it until it closes or the app
// stops.
func (a *app) accept(w http.ResponseWriter, r *http.Request) {
	if a.ctx.Err() != nil {
		http.Error(w, "stopping", http.StatusServiceUnavailable)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	a.wg.Add(1)
	defer a.wg.Done()
	defer c.CloseNow()
	a.conns.Add(1)
	a.active.Add(1)
	defer a.active.Add(-1)
	c.SetReadLimit(1 << 20)
	a.run(c, a.next.Add(1)-1 < a.stall.Load())
}

// run reads texml's messages and echoes every media payload; a stalling
// connection stops at its start message and waits for the app's end.
// The app shares the cores with texml in the load test, so a media
// message costs it no allocation: read into a buffer kept for the
// connection, its payload found without a JSON decoder (mediaPayload).
func (a *app) run(c *websocket.Conn, stall bool) {
	var sid []byte // the streamSid, JSON-quoted
	var in bytes.Buffer
	var out []byte
	for {
		in.Reset()
		_, r, err := c.Reader(a.ctx)
		if err == nil {
			_, err = in.ReadFrom(r)
		}
		if err != nil {
			if a.ctx.Err() == nil && websocket.CloseStatus(err) == -1 {
				a.readErrs.Add(1) // not a close frame: the socket broke
			}
			return
		}
		data := in.Bytes()
		if p, ok := mediaPayload(data); ok && sid != nil {
			a.mediaIn.Add(1)
			if !a.echo(c, &out, sid, p) {
				return
			}
			continue
		}
		var m msg
		if err := json.Unmarshal(data, &m); err != nil {
			a.badMsgs.Add(1)
			continue
		}
		switch m.Event {
		case "start":
			a.starts.Add(1)
			sid, _ = json.Marshal(m.StreamSid)
			if stall {
				// A hung app: nothing read or sent from now on; texml's
				// messages pile up in the socket.
				a.stalled.Add(1)
				<-a.ctx.Done()
				return
			}
		case "media":
			// One mediaPayload did not take: another field order, or
			// before start.
			a.mediaIn.Add(1)
			if sid == nil || !base64Text([]byte(m.Media.Payload)) {
				a.badMsgs.Add(1)
				continue
			}
			if !a.echo(c, &out, sid, []byte(m.Media.Payload)) {
				return
			}
		case "stop":
			a.stops.Add(1)
		}
	}
}

// echo sends payload back on the stream; false when the socket failed.
func (a *app) echo(c *websocket.Conn, out *[]byte, sid, payload []byte) bool {
	*out = echoMsg((*out)[:0], sid, payload)
	if err := c.Write(a.ctx, websocket.MessageText, *out); err != nil {
		a.writeErrs.Add(1)
		return false
	}
	a.mediaOut.Add(1)
	return true
}

// mediaPrefix starts every media message texml sends (package stream's
// envelope comes first, event first in it).
var (
	mediaPrefix = []byte(`{"event":"media",`)
	payloadKey  = []byte(`"payload":"`)
)

// mediaPayload returns the payload of a media message written as texml
// writes them, a slice of data; ok is false for any other message (which
// then takes the JSON decoder) and when the payload is not plain base64
// (which a JSON string could escape).
func mediaPayload(data []byte) (payload []byte, ok bool) {
	if !bytes.HasPrefix(data, mediaPrefix) {
		return nil, false
	}
	i := bytes.Index(data, payloadKey)
	if i < 0 {
		return nil, false
	}
	p := data[i+len(payloadKey):]
	end := bytes.IndexByte(p, '"')
	if end < 0 || !base64Text(p[:end]) {
		return nil, false
	}
	return p[:end], true
}

// echoMsg appends the media message that sends payload (base64, as
// received) on the stream whose JSON-quoted streamSid is sid.
func echoMsg(b, sid, payload []byte) []byte {
	b = append(b, `{"event":"media","streamSid":`...)
	b = append(b, sid...)
	b = append(b, `,"media":{"payload":"`...)
	b = append(b, payload...)
	return append(b, `"}}`...)
}

// base64Text reports whether s has only standard base64 characters,
// which need no escaping in a JSON string.
func base64Text(s []byte) bool {
	for _, c := range s {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}
