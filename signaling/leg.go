package signaling

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
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
	// HoldKeepalive is how often a call that expects no RTP (on hold)
	// sends an in-dialog OPTIONS; no answer within it ends the call.
	// Default DefaultHoldKeepalive; negative disables.
	HoldKeepalive time.Duration
	// Streamer, when set, is a cloud provider's stream that hears the
	// audio as it comes and finds the utterances itself. Real-time
	// transcription (Leg.Transcribe) takes its results and endpointing;
	// Gather input="speech" streams each utterance to it and ends at its
	// final or at the local end of speech, whichever is first, falling
	// back to Recognizer when the stream fails. Without it, both cut
	// utterances by local voice activity detection and recognize each
	// with Recognizer.
	Streamer stt.Streamer
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
	sid  uint64    // SDP session id
	slot *callSlot // inbound: the admission, whose setup ends with our first answer; nil on an outbound leg

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

	byeDone chan struct{} // under mu: our BYE is out; closed when its transaction has finished
	refused bool          // under mu: the INVITE has a final response other than our 2xx (Reject, Hangup, 487)
	version uint64        // under mu: the o= version of our last SDP, one more for each new one (RFC 3264 §8)
	ack     *pendingAck   // under mu: the re-INVITE whose 2xx waits for its ACK
	ka      *keepalive    // under mu: the OPTIONS loop while no RTP is expected
	refer   *referSub     // under mu: the REFER in progress, whose NOTIFYs come to onNotify
	// referred, under mu, takes a REFER the party sends (an outbound
	// leg's callee: its Dial may transfer the caller); nil refuses it.
	referred func(*interpreter.Transfer)
	ntf      *notifier // under mu: the NOTIFYs of the party's accepted REFER, which our BYE waits for

	// gone is done when the call is over for SIP: the dialog ended, the
	// call closed, or the peer is gone (no ACK for a re-INVITE's 2xx).
	// The call's context ends with it (run); end cancels it.
	gone context.Context
	end  context.CancelCauseFunc
}

var _ interpreter.Leg = (*Leg)(nil)

// newLeg starts the RTP session of a new call on conn, its port (taken
// before the dialog, so that a full port range is a clean 503); it stays
// on hold (no packets) until the call is answered. offer is nil for a
// delayed offer (an INVITE without SDP): the codec and address then come
// with the ACK. On error conn is closed.
func (s *Server) newLeg(dlg *sipgo.DialogServerSession, tx sip.ServerTransaction, sock *media.Socket, offer *Offer, callSid string, slot *callSlot) (*Leg, error) {
	base := s.log.With("sip_call_id", dlg.InviteRequest.CallID().Value(), "direction", "inbound")
	log := base.With("call_sid", callSid)
	remote, codec, dtmf := (*net.UDPAddr)(nil), media.Codec{Name: "PCMU"}, uint8(0)
	if offer != nil {
		remote, codec, dtmf = offer.Addr, offer.Codec, offer.DTMFType
	}
	sess, err := media.NewSession(media.SessionConfig{
		Socket: sock, Pacer: s.cfg.Media.Pacer, Remote: remote, Codec: codec,
		DTMFPayloadType: dtmf, InactivityTimeout: s.cfg.Media.InactivityTimeout,
		InbandDTMF: s.cfg.Media.InbandDTMF, Metrics: s.cfg.Media.Metrics, Logger: log,
		Held: true, // no RTP before the answer
	})
	if err != nil {
		_ = sock.Close()
		return nil, fmt.Errorf("rtp session: %w", err)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	l := &Leg{
		srv: s, dlg: dlg, tx: tx, sess: sess, m: &s.cfg.Media, log: log, baseLog: base, slot: slot,
		sid: binary.BigEndian.Uint64(id[:]) >> 1, offer: offer,
		info: make(chan byte, 16),
	}
	l.gone, l.end = context.WithCancelCause(context.Background())
	context.AfterFunc(dlg.Context(), func() { l.end(interpreter.ErrHangup) })
	return l, nil
}

// byeTimeout bounds our BYE: waiting for the ACK of our 2xx if it has not
// come yet, then for the answer to the BYE.
const byeTimeout = 5 * time.Second

// close ends the call's media at once, so that its RTP port is free for
// the next call, and, when the caller is still there, the dialog with a
// BYE whose transaction finishes in the background (under load a peer may
// take seconds to answer it). done runs when that BYE is over, or at once
// without one: the call stays findable until then, so that a BYE crossing
// ours gets 200, not 481. Every path out of a call comes through here.
func (l *Leg) close(done func()) {
	l.stopKeepalive()
	l.mu.Lock()
	var sent <-chan struct{} = l.byeDone
	needBye := (l.answered || l.sent2xx) && sent == nil
	l.mu.Unlock()
	l.end(errCallOver)
	_ = l.sess.Close()
	if needBye && l.dialogUp() {
		sent = l.bye()
	}
	if sent == nil {
		done()
		return
	}
	l.srv.wg.Add(1)
	go func() {
		defer l.srv.wg.Done()
		<-sent
		done()
	}()
}

// bye sends our BYE once, in the background; the channel is closed when
// its transaction has finished. The call's handler still runs (it calls
// bye or close), so the server's WaitGroup is above zero here.
func (l *Leg) bye() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byeDone != nil {
		return l.byeDone
	}
	done := make(chan struct{})
	l.byeDone = done // no keepalive starts from now on
	ka, ntf := l.ka, l.ntf
	l.ka = nil
	l.srv.wg.Add(1)
	go func() {
		defer l.srv.wg.Done()
		defer close(done)
		if ka != nil {
			// Our BYE must not share the dialog's CSeq counter with an
			// OPTIONS in flight.
			ka.stop()
			<-ka.done
		}
		if ntf != nil {
			// A transferor hears how its transfer went before our BYE
			// (RFC 5589 §6).
			ntf.wait()
		}
		ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
		defer cancel()
		if err := l.sendBye(ctx); err != nil {
			l.log.Warn("BYE", "err", err)
		}
	}()
	return done
}

// update applies a re-INVITE's offer and returns our answer to it.
func (l *Leg) update(o *Offer) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.apply(o)
	l.version++
	return Answer(o, l.srv.cfg.PublicIP, l.sess.LocalAddr().Port, l.sid, l.version)
}

// apply takes the peer's SDP, an offer or the answer to ours, for the
// media; l.mu is held.
func (l *Leg) apply(o *Offer) {
	l.offer = o
	l.sess.SetRemote(o.Addr, o.Codec, o.DTMFType) // a nil Addr (c=0.0.0.0) keeps the address
	if l.answered {
		l.sess.Hold(o.Hold)
		l.sess.Quiet(o.RecvOnly)
		l.watchPeer(o.Hold || o.RecvOnly)
	}
}

// reoffer returns a new offer of ours, for a re-INVITE without SDP (RFC
// 3261 §14.2: our 2xx carries the offer, the ACK the answer).
func (l *Leg) reoffer() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.version++
	return OfferSDP(l.srv.cfg.PublicIP, l.sess.LocalAddr().Port, l.sid, l.version)
}

// awaitsAnswer reports whether our 2xx to the INVITE carried an offer
// (the INVITE had none) whose answer has not come yet.
func (l *Leg) awaitsAnswer() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent2xx && l.offer == nil
}

// takeAnswer applies the answer to our offer, from an ACK's body.
func (l *Leg) takeAnswer(body []byte) error {
	o, err := ParseOffer(body)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.apply(o)
	l.mu.Unlock()
	return nil
}

// digit takes a DTMF key sent by SIP INFO.
func (l *Leg) digit(d byte) {
	select {
	case l.info <- d:
	default: // nobody is listening and the buffer is full: drop it
	}
}

// ctxErr says why ctx ended: the caller hung up (the dialog is over) or is
// gone, or the interpreter's own reason (an update, the time limit,
// shutdown).
func (l *Leg) ctxErr(ctx context.Context) error {
	if l.dialogCtx().Err() != nil || l.gone.Err() != nil {
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

// sendBye ends the leg's dialog from our side and waits for the answer.
func (l *Leg) sendBye(ctx context.Context) error {
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
	if l.dlg.Context().Err() != nil {
		return interpreter.ErrHangup
	}
	l.mu.Lock()
	if l.refused {
		l.mu.Unlock()
		return interpreter.ErrHangup
	}
	if l.sent2xx {
		// An earlier Answer sent the 200 OK and failed (no ACK, no usable
		// answer): sending it again would only wait again.
		l.mu.Unlock()
		return errors.New("200 OK: the session did not start")
	}
	l.version++
	var body []byte
	if l.offer != nil {
		body = Answer(l.offer, l.srv.cfg.PublicIP, l.sess.LocalAddr().Port, l.sid, l.version)
	} else {
		// A delayed offer: ours goes in the 200 OK, the answer comes in
		// the ACK (RFC 3264 §5, RFC 3261 §13.2.1), taken by onAck.
		body = OfferSDP(l.srv.cfg.PublicIP, l.sess.LocalAddr().Port, l.sid, l.version)
	}
	l.sent2xx = true
	l.mu.Unlock()
	// Our part of the setup is done; the ACK is the caller's.
	l.slot.setupOver()
	// RespondSDP waits for the ACK (up to Timer L, 32 s); ending the
	// transaction makes it return when ctx ends first.
	stop := context.AfterFunc(ctx, l.tx.Terminate)
	err := l.dlg.RespondSDP(body)
	stop()
	if err != nil {
		if l.dlg.Context().Err() != nil {
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
	if l.offer == nil {
		l.mu.Unlock()
		// The session cannot start: the caller has our 2xx, so the end
		// of the call is a BYE.
		return errors.New("200 OK: the ACK brought no usable SDP answer to our offer")
	}
	l.answered = true
	l.sess.Hold(l.offer.Hold)
	l.sess.Quiet(l.offer.RecvOnly)
	l.watchPeer(l.offer.Hold || l.offer.RecvOnly)
	l.mu.Unlock()
	return nil
}

// Reject implements interpreter.Leg: 486 Busy Here or 603 Decline. An
// outbound leg is answered already: it is hung up.
func (l *Leg) Reject(ctx context.Context, reason string) error {
	if l.dlg == nil {
		return l.Hangup(ctx)
	}
	if !l.refuse() {
		return nil // the caller hung up first: the INVITE has its 487
	}
	defer l.slot.setupOver()
	if reason == "busy" {
		return l.dlg.Respond(486, "Busy Here", nil)
	}
	return l.dlg.Respond(603, "Decline", nil)
}

// Hangup implements interpreter.Leg: BYE after the answer, 603 before.
// The BYE's transaction finishes in the background: the call is over for
// us at once, and close frees its media without waiting for the peer.
func (l *Leg) Hangup(context.Context) error {
	if !l.dialogUp() {
		return nil // already over, or an outbound leg never answered
	}
	l.mu.Lock()
	bye := l.answered || l.sent2xx
	l.mu.Unlock()
	if !bye {
		if !l.refuse() {
			return nil // the INVITE has its final response
		}
		defer l.slot.setupOver()
		return l.dlg.Respond(603, "Decline", nil)
	}
	l.bye()
	return nil
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
		if in.Speech && l.hearsSpeech() {
			speech = l.listen(*in).started // the utterance stays open for WaitInput
		}
	}
	done, stop := l.sess.PlayOwn(src)
	select {
	case err := <-done:
		if errors.Is(err, media.ErrClosed) {
			return nil, interpreter.ErrHangup
		}
		return nil, nil
	case d := <-rtpDigits:
		stop()
		return &interpreter.Input{Kind: interpreter.Digit, Digit: d}, nil
	case d := <-infoDigits:
		stop()
		return &interpreter.Input{Kind: interpreter.Digit, Digit: d}, nil
	case <-speech:
		// The caller started talking: stop the prompt and let WaitInput
		// hear the rest of the utterance.
		stop()
		return &interpreter.Input{Kind: interpreter.SpeechStarted}, nil
	case <-l.sess.Done():
		return nil, interpreter.ErrHangup
	case <-ctx.Done():
		stop()
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
