package signaling

import (
	"context"
	"sync"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media"
	"github.com/texml/texml/media/stt"
)

// transcribeMaxUtterance bounds one transcribed utterance: a caller who
// talks on is cut into pieces of this length.
const transcribeMaxUtterance = 30 * time.Second

// Transcribe implements interpreter.Leg with the leg's recognizer and
// the session's taps: what the party says (Tap) and what it hears
// (TapSent) are cut into utterances by voice activity detection, as for
// Gather input="speech" (a pause of autoEndSilence ends one), and each
// utterance is recognized on a goroutine of the track's while the next
// one is captured. The recognizer gives final results; with t.Partial
// set, the utterance so far is recognized again each partialEvery of
// speech for the interim results, and t.Speaking hears each onset.
//
// With a streaming recognizer (MediaConfig.Streamer) the provider
// listens instead and endpoints itself: see transcribeStreaming.
func (l *Leg) Transcribe(ctx context.Context, t interpreter.TranscribeSpec) (func(), error) {
	if l.m.Recognizer == nil && l.m.Streamer == nil {
		return nil, interpreter.ErrNoRecognizer
	}
	if l.over() {
		return nil, interpreter.ErrHangup // the far end left: nothing to fork
	}
	if l.m.Streamer != nil {
		return l.transcribeStreaming(ctx, t)
	}
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
	var undo []func()
	start := func(track interpreter.Track, tap func(media.Sink) func()) {
		s := &segmenter{end: t.EndSilence}
		if t.Sustained != nil {
			s.sustain = t.SustainAfter
		}
		s.cur = newSegment(s.end, s.sustain)
		undo = append(undo, tap(s))
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.transcribeTrack(tctx, s, track, t, result)
		}()
	}
	if t.Inbound {
		start(interpreter.TrackInbound, l.sess.Tap)
	}
	if t.Outbound {
		start(interpreter.TrackOutbound, l.sess.TapSent)
	}
	return stopTaps(undo, cancel, &wg), nil
}

// newSegment is an utterance of a transcription: the end of speech is
// a pause of end (TranscribeSpec.EndSilence), or of autoEndSilence, as
// speechTimeout="auto", when end is 0.
// sustain, when positive, is TranscribeSpec.SustainAfter.
func newSegment(end, sustain time.Duration) *utterance {
	u := newUtterance(interpreter.InputSpec{SpeechAuto: end <= 0, SpeechTimeout: end, MaxSpeechTime: transcribeMaxUtterance})
	if sustain > 0 {
		u.sustainAt = max(1, int(sustain/media.FrameDuration))
		u.sustained = make(chan struct{})
	}
	return u
}

// segmenter is a track's sink: it hands each frame to the utterance
// being captured, which transcribeTrack replaces when one ends.
type segmenter struct {
	mu      sync.Mutex
	cur     *utterance
	end     time.Duration // the pause that ends an utterance; 0 for auto
	sustain time.Duration // TranscribeSpec.SustainAfter; 0 for none
}

// Write implements media.Sink.
func (s *segmenter) Write(frame []int16) {
	s.mu.Lock()
	u := s.cur
	s.mu.Unlock()
	u.Write(frame)
}

// next returns the utterance that ended and starts capturing a new one.
func (s *segmenter) next() *utterance {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.cur
	s.cur = newSegment(s.end, s.sustain)
	return u
}

// partialEvery is how often the speech in progress is recognized again
// for interim results: pocketsphinx recognizes a second of audio in a
// few tens of milliseconds, so a partial each half second of speech
// costs little and reads live.
const partialEvery = 500 * time.Millisecond

// transcribeTrack recognizes the track's utterances one by one until ctx
// ends or the call does.
func (l *Leg) transcribeTrack(ctx context.Context, s *segmenter, track interpreter.Track, t interpreter.TranscribeSpec, result func(func())) {
	idle := time.NewTicker(idleCheck)
	defer idle.Stop()
	var partialTick *time.Ticker
	var announced *utterance // the utterance whose onset was told
	var sustained *utterance // the utterance told to have gone on
	if t.Partial != nil {
		partialTick = time.NewTicker(partialEvery)
		defer partialTick.Stop()
	}
	lastPartial := ""
	for {
		s.mu.Lock()
		u := s.cur
		s.mu.Unlock()
		started, partial, long := u.started, (<-chan time.Time)(nil), (<-chan struct{})(nil)
		if announced == u {
			// Its onset is told; interim results while it goes on.
			started = nil
			if partialTick != nil && u.speaking() {
				partial = partialTick.C
			}
			if sustained != u {
				long = u.sustained // nil unless asked for
			}
		}
		select {
		case <-started:
			announced = u
			if t.Speaking != nil {
				result(func() { t.Speaking(track) })
			}
			lastPartial = ""
		case <-long:
			sustained = u
			result(func() { t.Sustained(track) })
		case <-partial:
			res, err := l.m.Recognizer.Recognize(ctx, stt.Request{Samples: u.audio(), Language: t.Language, Hints: t.Hints})
			if err == nil && res.Text != "" && res.Text != lastPartial && u.speaking() {
				lastPartial = res.Text
				result(func() { t.Partial(interpreter.Transcript{Track: track, Text: res.Text, Confidence: res.Confidence}) })
			}
		case <-u.ended:
			samples := s.next().audio()
			lastPartial = ""
			if t.Ended != nil && announced == u {
				result(func() { t.Ended(track) })
			}
			res, err := l.m.Recognizer.Recognize(ctx, stt.Request{Samples: samples, Language: t.Language, Hints: t.Hints})
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				l.log.Warn("transcription: speech recognition failed", "err", err)
				continue
			}
			if res.Text != "" {
				result(func() { t.Result(interpreter.Transcript{Track: track, Text: res.Text, Confidence: res.Confidence}) })
			}
		case now := <-idle.C:
			u.endIfIdle(now) // a peer that went quiet (DTX) ends its utterance
		case <-l.sess.Done():
			return
		case <-ctx.Done():
			return
		}
	}
}
