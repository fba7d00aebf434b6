package signaling

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media"
	"github.com/texml/texml/media/audio"
	"github.com/texml/texml/media/tts"
)

// announceTimeout bounds the rendering of one announcement: speech
// synthesis and the audio fetches of its parts.
const announceTimeout = 30 * time.Second

// Announce implements interpreter.Mix: the parts are rendered into one
// piece of audio (speech with the Mixer's synthesizer, audio from its
// cache, pauses as silence) off the pacer, then played into the mix, to
// everyone (media.Mixer.Play) or to one member (media.Member.Play). done
// runs on a goroutine of its own, never on the pacer, which holds the
// mixer's lock while it reads the audio.
func (x *mix) Announce(parts []interpreter.AnnouncePart, to interpreter.MixMember, done func(error)) {
	var member *mixMember
	if to != nil {
		if member = x.own(to); member == nil {
			go done(errors.New("announcement: not a member of this conference"))
			return
		}
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), announceTimeout)
		defer cancel()
		pcm, err := x.render(ctx, parts)
		if err != nil {
			done(fmt.Errorf("announcement: %w", err))
			return
		}
		src := &endWatch{src: pcm.Source(), end: func() { go done(nil) }}
		if member != nil {
			member.m.Play(src)
		} else {
			x.x.Play(src, nil)
		}
	}()
}

// render turns parts into one PCM.
func (x *mix) render(ctx context.Context, parts []interpreter.AnnouncePart) (*audio.PCM, error) {
	var out []int16
	for _, p := range parts {
		var samples []int16
		switch {
		case p.Speech != nil:
			if x.synth == nil {
				return nil, errors.New("no speech synthesizer for <Say>")
			}
			s, err := x.synth.Synthesize(ctx, tts.Request{Text: p.Speech.Text, SSML: p.Speech.SSML, Voice: p.Speech.Voice, Language: p.Speech.Language})
			if err != nil {
				return nil, fmt.Errorf("text to speech: %w", err)
			}
			samples = s
		case p.URL != "":
			if x.audio == nil {
				return nil, errors.New("no audio fetcher for <Play>")
			}
			pcm, err := x.audio.Get(ctx, p.URL)
			if err != nil {
				return nil, fmt.Errorf("play %s: %w", p.URL, err)
			}
			samples = pcm.Samples
		default:
			samples = audio.Silence(p.Pause).Samples
		}
		for range max(p.Loop, 1) {
			out = append(out, samples...)
		}
	}
	return &audio.PCM{Samples: out}, nil
}

// endWatch is a media.Source that calls end once, when src runs out.
type endWatch struct {
	src  media.Source
	once sync.Once
	end  func()
}

func (w *endWatch) Read(frame []int16) (int, error) {
	n, err := w.src.Read(frame)
	if errors.Is(err, io.EOF) {
		w.once.Do(w.end)
	}
	return n, err
}

// HoldMusic implements interpreter.Mix: the parts are rendered off the
// pacer, as an announcement's, and looped as the member's own hold
// source; nil parts give it back the mix's.
func (x *mix) HoldMusic(member interpreter.MixMember, parts []interpreter.AnnouncePart, done func(error)) {
	mm := x.own(member)
	if mm == nil {
		go done(errors.New("hold music: not a member of this conference"))
		return
	}
	go func() {
		var src media.Source
		if parts != nil {
			ctx, cancel := context.WithTimeout(context.Background(), announceTimeout)
			pcm, err := x.render(ctx, parts)
			cancel()
			if err != nil {
				done(fmt.Errorf("hold music: %w", err))
				return
			}
			src = audio.Loop(pcm, 0)
		}
		x.mu.Lock()
		mm.hold = src
		o := mm.opts
		x.mu.Unlock()
		mm.Set(o)
		done(nil)
	}()
}
