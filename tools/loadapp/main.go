// Command loadapp is the TwiML app for texml's load scripts: a tiny HTTP
// server on loopback that answers every request for /app with one fixed
// TwiML document and serves a generated WAV file at /tone.wav.
//
// Run it from the repository root:
//
//	go run ./tools/loadapp -listen 127.0.0.1:18080 \
//	    -twiml '<Response><Say>Hi</Say><Hangup/></Response>'
//	go run ./tools/loadapp -listen 127.0.0.1:18080 -wav-seconds 120 \
//	    -twiml '<Response><Play>http://127.0.0.1:18080/tone.wav</Play></Response>'
//	go run ./tools/loadapp -listen 127.0.0.1:18080 -dial sip:callee@127.0.0.1:25070
//
// -dial serves a bridging document instead of -twiml:
// <Response><Dial><Sip>URI</Sip></Dial></Response> for a sip: URI (its
// host must be a loopback address), <Response><Dial><Number>N</Number>
// </Dial></Response> for anything else (texml sends it to --sip-trunk).
//
// -conference N sends every call into a conference room:
// <Response><Dial><Conference beep="false" waitUrl="">room-K</Conference>
// </Dial></Response>, where room-K is the user part of the call's To when
// it has that form (rtpload -conference names the rooms so), and
// otherwise K = (the call's index, by arrival) / N.
//
// -queue NAME serves a queue: a call whose To user starts with -agent
// (default "agent") gets <Response><Dial><Queue>NAME</Queue></Dial>
// </Response>, every other call <Response><Enqueue>NAME</Enqueue>
// </Response> — with waitUrl="/wait" when -wait-twiml is set, which /wait
// then serves (otherwise texml plays its hold music). The /wait requests
// are counted per caller (CallSid) with their times, and /stats reports
// how often each caller's wait document was requested again.
//
//	go run ./tools/loadapp -conference 10
//	go run ./tools/loadapp -queue support \
//	    -wait-twiml '<Response><Play>http://127.0.0.1:18080/tone.wav?seconds=10</Play></Response>'
//
// /tone.wav?seconds=S serves a tone S seconds long instead of -wav-seconds.
// /reset forgets the counts (and the conference call index).
//
// It prints "ready" on stdout once it listens, and counts the requests it
// served at /stats. It stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/binary"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// main serves until SIGINT or SIGTERM.
func main() {
	listen := flag.String("listen", "127.0.0.1:18080", "HTTP address (loopback only)")
	twiml := flag.String("twiml", "<Response><Say>Hi</Say><Hangup/></Response>", "the document served at /app")
	wavSeconds := flag.Int("wav-seconds", 120, "length of /tone.wav (8 kHz, 16-bit mono)")
	dial := flag.String("dial", "", "serve a <Dial> to this target instead of -twiml: a sip: URI on loopback, or a number for --sip-trunk")
	confSize := flag.Int("conference", 0, "serve <Dial><Conference> instead of -twiml, this many calls a room (room-K from the To user when it has that form)")
	queueName := flag.String("queue", "", "serve <Enqueue> to callers and <Dial><Queue> to agents for this queue instead of -twiml")
	agentUser := flag.String("agent", "agent", "with -queue: a call whose To user starts with this is an agent")
	waitTwiML := flag.String("wait-twiml", "", "with -queue: the wait document served at /wait (the Enqueue's waitUrl); empty: texml's hold music")
	flag.Parse()

	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintln(os.Stderr, "loadapp: -listen must be a loopback IP address and port")
		os.Exit(2)
	}
	if *wavSeconds < 1 || *wavSeconds > 3600 {
		fmt.Fprintln(os.Stderr, "loadapp: -wav-seconds must be 1..3600")
		os.Exit(2)
	}
	if *dial != "" {
		d, err := dialDoc(*dial)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadapp:", err)
			os.Exit(2)
		}
		*twiml = d
	}
	modes := 0
	for _, on := range []bool{*dial != "", *confSize != 0, *queueName != ""} {
		if on {
			modes++
		}
	}
	if modes > 1 || *confSize < 0 || *confSize > 250 {
		fmt.Fprintln(os.Stderr, "loadapp: one of -dial, -conference (1..250) and -queue")
		os.Exit(2)
	}
	wav := toneWAV(*wavSeconds)
	doc := []byte(*twiml)
	var appHits, wavHits atomic.Int64
	var calls atomic.Int64 // the conference call index
	waits := newWaitLog()
	var tones sync.Map // seconds → []byte

	mux := http.NewServeMux()
	mux.HandleFunc("/app", func(w http.ResponseWriter, r *http.Request) {
		appHits.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		switch {
		case *confSize > 0:
			_, _ = io.WriteString(w, conferenceDoc(toUser(r.FormValue("To")), calls.Add(1)-1, *confSize))
		case *queueName != "":
			wait := ""
			if *waitTwiML != "" {
				wait = "http://" + *listen + "/wait"
			}
			_, _ = io.WriteString(w, queueDoc(toUser(r.FormValue("To")), *agentUser, *queueName, wait))
		default:
			_, _ = w.Write(doc)
		}
	})
	mux.HandleFunc("/wait", func(w http.ResponseWriter, r *http.Request) {
		waits.add(r.FormValue("CallSid"), time.Now())
		w.Header().Set("Content-Type", "application/xml")
		_, _ = io.WriteString(w, *waitTwiML)
	})
	mux.HandleFunc("/tone.wav", func(w http.ResponseWriter, r *http.Request) {
		wavHits.Add(1)
		body := wav
		if v := r.URL.Query().Get("seconds"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 3600 {
				http.Error(w, "seconds must be 1..3600", http.StatusBadRequest)
				return
			}
			b, ok := tones.Load(n)
			if !ok {
				b, _ = tones.LoadOrStore(n, toneWAV(n))
			}
			body = b.([]byte)
		}
		w.Header().Set("Content-Type", "audio/x-wav")
		w.Header().Set("Cache-Control", "max-age=86400")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "app %d\nwav %d\n", appHits.Load(), wavHits.Load())
		waits.stats().write(w)
	})
	mux.HandleFunc("/reset", func(w http.ResponseWriter, r *http.Request) {
		appHits.Store(0)
		wavHits.Store(0)
		calls.Store(0)
		waits.reset()
		fmt.Fprintln(w, "reset")
	})

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadapp:", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Println("ready")
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "loadapp:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "loadapp: served /app %d times, /tone.wav %d times\n", appHits.Load(), wavHits.Load())
}

// dialDoc returns the TwiML document that bridges the caller to target:
// a <Sip> noun for a sip: URI, whose host must be a loopback address (the
// load scripts send traffic nowhere else), a <Number> otherwise.
func dialDoc(target string) (string, error) {
	if rest, ok := strings.CutPrefix(target, "sip:"); ok {
		_, hostport, _ := strings.Cut(rest, "@")
		host, _, err := net.SplitHostPort(hostport)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return "", fmt.Errorf("-dial %q: want sip:user@LOOPBACK-IP:PORT", target)
		}
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(target))
		return "<Response><Dial><Sip>" + b.String() + "</Sip></Dial></Response>", nil
	}
	for _, r := range target {
		if !strings.ContainsRune("+0123456789", r) {
			return "", fmt.Errorf("-dial %q: want a sip: URI or a number", target)
		}
	}
	return "<Response><Dial><Number>" + target + "</Number></Dial></Response>", nil
}

// toneWAV returns a WAV file (RIFF, PCM 16-bit, 8 kHz mono) of seconds of
// a 440 Hz tone at -12 dBFS: audible, and never silence, so every packet
// a receiver gets carries real samples.
func toneWAV(seconds int) []byte {
	const rate = 8000
	n := seconds * rate
	b := make([]byte, 44+2*n)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:], 1) // mono
	binary.LittleEndian.PutUint32(b[24:], rate)
	binary.LittleEndian.PutUint32(b[28:], 2*rate)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	for i := range n {
		v := int16(8192 * math.Sin(2*math.Pi*440*float64(i)/rate))
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(v))
	}
	return b
}
