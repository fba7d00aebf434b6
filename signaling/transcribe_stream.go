package signaling

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media"
	"github.com/texml/texml/media/stt"
)

// Reopening a provider's stream that ended mid-call: a provider may end
// a stream at its session limit, or a network blip may break it, and a
// transcription is meant to last the call. The first retry comes soon;
// failures in a row back off, so that a provider that is down is not
// hammered by every call at once.
const (
	reopenFirst = time.Second
	reopenMax   = 30 * time.Second
	// reopenReset is how long a stream must have run for its end to
	// count as a blip rather than a failure in a row.
	reopenReset = 30 * time.Second
)

// transcribeStreaming is Transcribe with the leg's streaming recognizer:
// each track's frames go from the session's tap straight to a provider
// stream, and speech onsets, partials and finals are the provider's own
// events (it endpoints the utterances, by t.EndSilence when set), not
// the local voice activity detection of transcribeTrack. The streams are opened here, on the
// caller's goroutine, so that a provider that cannot be reached fails
// the <Transcription> at once (transcription-error) rather than in the
// background.
func (l *Leg) transcribeStreaming(ctx context.Context, t interpreter.TranscribeSpec) (func(), error) {
	tctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var resultMu sync.Mutex // one callback at a time, across tracks
	result := func(f func()) {
		resultMu.Lock()
		defer resultMu.Unlock()
		if tctx.Err() == nil {
			f()
		}
	}
	type track struct {
		track interpreter.Track
		tap   func(media.Sink) func()
		sink  *streamSink
	}
	var tracks []track
	if t.Inbound {
		tracks = append(tracks, track{track: interpreter.TrackInbound, tap: l.sess.Tap})
	}
	if t.Outbound {
		tracks = append(tracks, track{track: interpreter.TrackOutbound, tap: l.sess.TapSent})
	}
	// EndSilence (ConversationRelay's speechTimeout) goes to the provider:
	// it finds the utterances here, so only it can wait the app's pause.
	req := stt.StreamRequest{Language: t.Language, Hints: t.Hints, EndSilence: max(t.EndSilence, 0)}
	for i := range tracks {
		s, err := l.m.Streamer.Stream(tctx, req)
		if err != nil {
			for _, o := range tracks[:i] {
				o.sink.close()
			}
			cancel()
			return nil, fmt.Errorf("speech recognition stream: %w", err)
		}
		tracks[i].sink = &streamSink{}
		tracks[i].sink.set(s)
	}
	var undo []func()
	for _, tr := range tracks {
		undo = append(undo, tr.tap(tr.sink))
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.streamTrack(tctx, tr.sink, tr.track, req, t, result)
		}()
	}
	return stopTaps(undo, cancel, &wg), nil
}

// streamSink is a track's tap: it hands each frame to the provider
// stream open at the moment, if any. The pointer is swapped when a
// stream is reopened; Write, on the media goroutine, only loads it.
type streamSink struct {
	cur  atomic.Pointer[stt.Stream]
	last atomic.Int64 // when audio last went to the provider, Unix ns
}

// Write implements media.Sink.
func (s *streamSink) Write(frame []int16) {
	s.last.Store(time.Now().UnixNano())
	if p := s.cur.Load(); p != nil {
		(*p).Write(frame) // copies, never blocks
	}
}

// maxFill bounds the silence fill of one idle check.
const maxFill = 2 * idleCheck / media.FrameDuration

// fill sends silence for the time no frame came: a phone that suppresses
// silence (DTX, RFC 3551 section 4.1 lets it stop sending) sends no
// packets once the caller stops talking, and the session's taps get no
// frames then. A provider times its endpointing by the audio it gets, so
// without the fill it would never hear the pause that ends an utterance.
func (s *streamSink) fill(now time.Time, silence []int16) {
	last := s.last.Load()
	gap := now.Sub(time.Unix(0, last))
	if last == 0 || gap < idleCheck {
		if last == 0 {
			s.last.Store(now.UnixNano())
		}
		return
	}
	n := min(int(gap/media.FrameDuration), int(maxFill))
	s.last.Store(last + int64(n)*int64(media.FrameDuration))
	if p := s.cur.Load(); p != nil {
		for range n {
			(*p).Write(silence)
		}
	}
}

func (s *streamSink) set(st stt.Stream) {
	if st == nil {
		s.cur.Store(nil)
		return
	}
	s.cur.Store(&st)
}

// close closes the current stream, if any, and detaches it.
func (s *streamSink) close() stt.Stream {
	p := s.cur.Swap(nil)
	if p == nil {
		return nil
	}
	_ = (*p).Close()
	return *p
}

// streamTrack relays one track's provider events until ctx ends or the
// call does, reopening the stream when the provider ends it.
func (l *Leg) streamTrack(ctx context.Context, sink *streamSink, track interpreter.Track, req stt.StreamRequest, t interpreter.TranscribeSpec, result func(func())) {
	wait := reopenFirst
	idle := time.NewTicker(idleCheck)
	defer idle.Stop()
	silence := make([]int16, media.FrameSamples)
	var err error // why the last stream ended, or why it could not be reopened
	for {
		if p := sink.cur.Load(); p != nil {
			opened := time.Now()
			err = l.relayEvents(ctx, *p, track, t, result, func(now time.Time) { sink.fill(now, silence) }, idle.C)
			if s := sink.close(); s != nil && s.Dropped() > 0 {
				l.log.Warn("transcription: the speech provider fell behind; audio frames were dropped", "track", int(track), "dropped", s.Dropped())
			}
			if time.Since(opened) >= reopenReset {
				wait = reopenFirst
			}
		}
		if ctx.Err() != nil || l.sessDone() {
			return
		}
		l.log.Warn("transcription: no speech provider stream; reopening", "err", err, "in", wait)
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return
		case <-l.sess.Done():
			timer.Stop()
			return
		}
		wait = min(2*wait, reopenMax)
		var s stt.Stream
		if s, err = l.m.Streamer.Stream(ctx, req); err == nil {
			sink.set(s)
		}
	}
}

// relayEvents hands a stream's events to t's callbacks, and fills the
// gaps in the audio at each idle tick, until the stream ends (its
// error, or ErrStreamClosed when it ended cleanly without being asked
// to) or ctx or the call does (nil).
func (l *Leg) relayEvents(ctx context.Context, s stt.Stream, track interpreter.Track, t interpreter.TranscribeSpec, result func(func()),
	fill func(time.Time), idle <-chan time.Time) error {
	// told: the utterance's onset was given to Speaking. A provider
	// without speech_started events still interrupts an agent: its first
	// partial or final of an utterance stands for the onset.
	told := false
	// long times Sustained from the onset: the provider's events carry
	// no voiced duration, so an utterance that has gone on SustainAfter
	// since its onset, with no final yet, counts as sustained.
	var long *time.Timer
	var longC <-chan time.Time
	endLong := func() {
		if long != nil {
			long.Stop()
			long, longC = nil, nil
		}
	}
	defer endLong()
	speaking := func() {
		if !told {
			if t.Speaking != nil {
				result(func() { t.Speaking(track) })
			}
			if t.Sustained != nil && t.SustainAfter > 0 {
				long = time.NewTimer(t.SustainAfter)
				longC = long.C
			}
		}
		told = true
	}
	for {
		select {
		case <-longC:
			long, longC = nil, nil
			result(func() { t.Sustained(track) })
		case e, ok := <-s.Events():
			if !ok {
				if err := s.Err(); err != nil {
					return err
				}
				return stt.ErrStreamClosed
			}
			switch e.Kind {
			case stt.SpeechStarted:
				speaking()
			case stt.Partial:
				if e.Text == "" {
					continue
				}
				speaking()
				if t.Partial != nil {
					result(func() { t.Partial(interpreter.Transcript{Track: track, Text: e.Text, Confidence: e.Confidence}) })
				}
			case stt.Final:
				if e.Text != "" {
					speaking()
				}
				if told && t.Ended != nil {
					// The provider's final ends the utterance it endpointed.
					result(func() { t.Ended(track) })
				}
				if e.Text != "" {
					result(func() { t.Result(interpreter.Transcript{Track: track, Text: e.Text, Confidence: e.Confidence}) })
				}
				told = false
				endLong()
			}
		case now := <-idle:
			fill(now)
		case <-ctx.Done():
			return nil
		case <-l.sess.Done():
			return nil
		}
	}
}

// sessDone reports whether the call's media has ended.
func (l *Leg) sessDone() bool {
	select {
	case <-l.sess.Done():
		return true
	default:
		return false
	}
}
