package signaling

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/media"
	"github.com/texml/texml/media/audio"
	"github.com/texml/texml/media/stt"
	"github.com/texml/texml/media/tts"
)

// MediaConfig is what every call's media needs.
type MediaConfig struct {
	Ports      *media.Ports
	Pacer      *media.Pacer
	Metrics    *media.Metrics // optional
	Synth      tts.Synthesizer
	Recognizer stt.Recognizer // optional: without it, Gather input="speech" listens for DTMF only
	Audio      *audio.Cache
	// RecordingsDir receives <RecordingSid>.wav files.
	RecordingsDir     string
	InactivityTimeout time.Duration // default 60 s
	InbandDTMF        bool
}

func (m *MediaConfig) check() error {
	if m.Ports == nil || m.Pacer == nil || m.Synth == nil || m.Audio == nil || m.RecordingsDir == "" {
		return errors.New("signaling: media config needs Ports, Pacer, Synth, Audio and RecordingsDir")
	}
	return nil
}

// Leg is one inbound SIP call as the interpreter sees it: a dialog paired
// with an RTP session. Its methods run on the call's goroutine; update and
// digit are called by other SIP handlers.
type Leg struct {
	srv  *Server
	dlg  *sipgo.DialogServerSession // inbound: the caller's dialog; nil on an outbound leg
	out  *uacDialog                 // outbound: the dialog our INVITE created, once answered
	sess *media.Session
	m    *MediaConfig
	log  *slog.Logger
	sid  uint64 // SDP session id

	// mu guards offer and answered against re-INVITEs (update, on a SIP
	// handler goroutine). The call goroutine is their only other user and
	// the only writer of answered, so it reads answered without mu.
	tx      sip.ServerTransaction // the INVITE's, to end a wait for the ACK early
	baseLog *slog.Logger          // log without call_sid, for the interpreter to add it

	mu       sync.Mutex
	offer    *Offer
	answered bool
	sent2xx  bool // our 200 OK went out, ACK or not: the call ends with a BYE
	early    bool // our 183 with SDP went out: media flows before the answer

	info   chan byte  // digits from SIP INFO
	turn   int        // the interpreter's listening turn; digits from before it are dropped
	utt    *utterance // speech being heard in this turn, if any
	uttOff func()     // untaps utt
}

var _ interpreter.Leg = (*Leg)(nil)

// newLeg allocates the RTP session for a new call; it stays on hold (no
// packets) until the call is answered.
func (s *Server) newLeg(dlg *sipgo.DialogServerSession, tx sip.ServerTransaction, offer *Offer, callSid string) (*Leg, error) {
	conn, err := s.cfg.Media.Ports.Listen()
	if err != nil {
		return nil, fmt.Errorf("rtp port: %w", err)
	}
	base := s.log.With("sip_call_id", dlg.InviteRequest.CallID().Value(), "direction", "inbound")
	log := base.With("call_sid", callSid)
	sess, err := media.NewSession(media.SessionConfig{
		Conn: conn, Pacer: s.cfg.Media.Pacer, Remote: offer.Addr, Codec: offer.Codec,
		DTMFPayloadType: offer.DTMFType, InactivityTimeout: s.cfg.Media.InactivityTimeout,
		InbandDTMF: s.cfg.Media.InbandDTMF, Metrics: s.cfg.Media.Metrics, Logger: log,
		Held: true, // no RTP before the answer
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("rtp session: %w", err)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &Leg{
		srv: s, dlg: dlg, tx: tx, sess: sess, m: &s.cfg.Media, log: log, baseLog: base,
		sid: binary.BigEndian.Uint64(id[:]) >> 1, offer: offer,
		info: make(chan byte, 16),
	}, nil
}

// close ends the call's media and, when the caller is still there, the
// dialog: every path out of a call comes through here.
func (l *Leg) close() {
	l.mu.Lock()
	bye := l.answered || l.sent2xx
	l.mu.Unlock()
	if bye && l.dialogUp() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := l.bye(ctx); err != nil {
			l.log.Warn("BYE", "err", err)
		}
		cancel()
	}
	_ = l.sess.Close()
}

// update applies a re-INVITE's offer and returns our answer to it.
func (l *Leg) update(o *Offer, version uint64) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.offer = o
	if o.Addr != nil {
		l.sess.SetRemote(o.Addr, o.Codec, o.DTMFType)
	}
	if l.answered {
		l.sess.Hold(o.Hold)
	}
	return Answer(o, l.srv.cfg.PublicIP, l.sess.LocalAddr().Port, l.sid, version)
}

// digit takes a DTMF key sent by SIP INFO.
func (l *Leg) digit(d byte) {
	select {
	case l.info <- d:
	default: // nobody is listening and the buffer is full: drop it
	}
}

// ctxErr says why ctx ended: the caller hung up (the dialog is over), or
// the interpreter's own reason (an update, the time limit, shutdown).
func (l *Leg) ctxErr(ctx context.Context) error {
	if l.dialogCtx().Err() != nil {
		return interpreter.ErrHangup
	}
	return context.Cause(ctx)
}

// dialogCtx ends when the leg's dialog does. An outbound leg not yet
// answered has none: its context never ends.
func (l *Leg) dialogCtx() context.Context {
	switch {
	case l.dlg != nil:
		return l.dlg.Context()
	case l.out != nil:
		return l.out.ctx
	}
	return context.Background()
}

// dialogUp says whether the leg has a dialog that is not over.
func (l *Leg) dialogUp() bool {
	return (l.dlg != nil || l.out != nil) && l.dialogCtx().Err() == nil
}

// bye ends the leg's dialog from our side.
func (l *Leg) bye(ctx context.Context) error {
	if l.out != nil {
		return l.out.bye(ctx)
	}
	return l.dlg.Bye(ctx)
}

// Answer implements interpreter.Leg: 200 OK with our SDP, then wait for the
// ACK (sipgo retransmits the 2xx until it comes).
func (l *Leg) Answer(ctx context.Context) error {
	if l.answered {
		return nil
	}
	if l.dialogCtx().Err() != nil {
		return interpreter.ErrHangup
	}
	l.mu.Lock()
	body := Answer(l.offer, l.srv.cfg.PublicIP, l.sess.LocalAddr().Port, l.sid, l.srv.version.next())
	l.sent2xx = true
	l.mu.Unlock()
	// RespondSDP waits for the ACK (up to Timer L, 32 s); ending the
	// transaction makes it return when ctx ends first.
	stop := context.AfterFunc(ctx, l.tx.Terminate)
	err := l.dlg.RespondSDP(body)
	stop()
	if err != nil {
		if l.dialogCtx().Err() != nil {
			return interpreter.ErrHangup
		}
		if ctx.Err() != nil {
			return l.ctxErr(ctx)
		}
		// No ACK: the caller has our 2xx and thinks the call is up, so
		// the end of the call must be a BYE (RFC 3261 §13.3.1.4).
		return fmt.Errorf("200 OK: %w", err)
	}
	// Under mu, with the offer as it is now: a re-INVITE that came in
	// meanwhile (update, on another goroutine) may have put the call on
	// hold.
	l.mu.Lock()
	l.answered = true
	l.sess.Hold(l.offer.Hold)
	l.mu.Unlock()
	return nil
}

// Reject implements interpreter.Leg: 486 Busy Here or 603 Decline. An
// outbound leg is answered already: it is hung up.
func (l *Leg) Reject(ctx context.Context, reason string) error {
	if l.dlg == nil {
		return l.Hangup(ctx)
	}
	if reason == "busy" {
		return l.dlg.Respond(486, "Busy Here", nil)
	}
	return l.dlg.Respond(603, "Decline", nil)
}

// Hangup implements interpreter.Leg: BYE after the answer, 603 before.
func (l *Leg) Hangup(ctx context.Context) error {
	if !l.dialogUp() {
		return nil // already over, or an outbound leg never answered
	}
	l.mu.Lock()
	bye := l.answered || l.sent2xx
	l.mu.Unlock()
	if !bye {
		return l.dlg.Respond(603, "Decline", nil)
	}
	err := l.bye(ctx)
	l.mu.Lock()
	l.answered, l.sent2xx = false, false // close must not send a second BYE
	l.mu.Unlock()
	return err
}

// newTurn drops digits pressed before the interpreter started listening
// for this turn: type-ahead does not carry into the next Gather.
func (l *Leg) newTurn(turn int) {
	if turn == l.turn {
		return
	}
	l.turn = turn
	for {
		select {
		case <-l.sess.DTMF():
		case <-l.info:
		default:
			return
		}
	}
}

// Say implements interpreter.Leg.
func (l *Leg) Say(ctx context.Context, s interpreter.Speech, p interpreter.Prompt) (*interpreter.Input, error) {
	pcm, err := l.m.Synth.Synthesize(ctx, tts.Request{Text: s.Text, SSML: s.SSML, Voice: s.Voice, Language: s.Language})
	if err != nil {
		if ctx.Err() != nil {
			return nil, l.ctxErr(ctx)
		}
		return nil, &interpreter.MediaError{Code: 0, Err: fmt.Errorf("text to speech: %w", err)}
	}
	return l.play(ctx, (&audio.PCM{Samples: pcm}).Source(), p)
}

// Play implements interpreter.Leg: the audio is fetched and decoded once
// (the cache), then played.
func (l *Leg) Play(ctx context.Context, url string, p interpreter.Prompt) (*interpreter.Input, error) {
	pcm, err := l.m.Audio.Get(ctx, url)
	if err != nil {
		if ctx.Err() != nil {
			return nil, l.ctxErr(ctx)
		}
		return nil, &interpreter.MediaError{Code: 11200, Err: fmt.Errorf("play %s: %w", url, err)}
	}
	return l.play(ctx, pcm.Source(), p)
}

// Pause implements interpreter.Leg: silence, which the session sends when
// nothing plays.
func (l *Leg) Pause(ctx context.Context, d time.Duration, p interpreter.Prompt) (*interpreter.Input, error) {
	if !l.answered {
		// A leading Pause delays the answer. The session is held until
		// then (no RTP before the 200 OK), and a held playback does not
		// advance, so the pause is timed by the clock instead.
		return nil, l.wait(ctx, d)
	}
	return l.play(ctx, media.Silence(d), p)
}

// wait lets d pass, or returns why the call ended first.
func (l *Leg) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-l.sess.Done():
		return interpreter.ErrHangup
	case <-ctx.Done():
		return l.ctxErr(ctx)
	}
}

// play runs src to its end, or until ctx ends, or until input that p
// allows interrupts it (barge-in stops the audio from the next packet).
func (l *Leg) play(ctx context.Context, src media.Source, p interpreter.Prompt) (*interpreter.Input, error) {
	var rtpDigits <-chan byte
	var infoDigits <-chan byte
	var speech <-chan struct{}
	if in := p.Interrupt; in != nil {
		l.newTurn(in.Turn)
		if in.DTMF {
			rtpDigits, infoDigits = l.sess.DTMF(), l.info
		}
		if in.Speech && l.m.Recognizer != nil {
			speech = l.listen(*in).started // the utterance stays open for WaitInput
		}
	}
	done := l.sess.Play(src)
	select {
	case err := <-done:
		if errors.Is(err, media.ErrClosed) {
			return nil, interpreter.ErrHangup
		}
		return nil, nil
	case d := <-rtpDigits:
		l.sess.StopPlay()
		return &interpreter.Input{Kind: interpreter.Digit, Digit: d}, nil
	case d := <-infoDigits:
		l.sess.StopPlay()
		return &interpreter.Input{Kind: interpreter.Digit, Digit: d}, nil
	case <-speech:
		// The caller started talking: stop the prompt and let WaitInput
		// hear the rest of the utterance.
		l.sess.StopPlay()
		return &interpreter.Input{Kind: interpreter.SpeechStarted}, nil
	case <-l.sess.Done():
		return nil, interpreter.ErrHangup
	case <-ctx.Done():
		l.sess.StopPlay()
		return nil, l.ctxErr(ctx)
	}
}

// SendDigits implements interpreter.Leg (RFC 4733 events).
func (l *Leg) SendDigits(ctx context.Context, digits string) error {
	if err := l.sess.SendDTMF(ctx, digits); err != nil {
		if ctx.Err() != nil {
			return l.ctxErr(ctx)
		}
		return &interpreter.MediaError{Err: err}
	}
	return nil
}
