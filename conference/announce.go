package conference

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/texml/texml/fetcher"
	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
	"github.com/texml/texml/verbs"
)

// Announcements: the REST API's AnnounceUrl on a Conference (to everyone)
// or on a Participant (to that participant alone). "The URL may return an
// MP3 file, a WAV file, or a TwiML document that contains <Play>, <Say>,
// <Pause>, or <Redirect> verbs"
// (https://www.twilio.com/docs/voice/api/conference-resource#update-a-conference-resource).
// The end of an announcement, or its failure, is reported to the room's
// status callback as announcement-end or announcement-fail (the
// "announcement" statusCallbackEvent,
// https://www.twilio.com/docs/voice/twiml/conference#attributes-statusCallbackEvent).

// maxAnnounceRedirects bounds the <Redirect>s followed by one
// announcement, as a call's redirect loop is bounded.
const maxAnnounceRedirects = 10

// announceFetchTimeout bounds the documents' fetches of one announcement.
const announceFetchTimeout = 30 * time.Second

// Announce plays the document or audio at u (fetched with method,
// default POST) into the room called name: to everyone, or, when callSid
// is set, to that participant alone. It returns once the room and the
// participant are found; the fetch and the playing go on after it, and
// their end goes to the room's status callback. A room mixed on another
// node is reached there.
func (s *Service) Announce(ctx context.Context, name, callSid, u, method string) error {
	err := s.announceLocal(ctx, name, callSid, u, method)
	if !errors.Is(err, ErrNotHere) {
		return err
	}
	// The effect of an announcement is not in the store: the home node
	// answers for it in the callback.
	return s.forward(ctx, name, control{Op: "announce", CallSid: callSid, URL: u, Method: method}, func(store.Conference, error) bool { return true })
}

// announceLocal is Announce for a room mixed here.
func (s *Service) announceLocal(ctx context.Context, name, callSid, u, method string) error {
	if s.o.Fetcher == nil {
		return errors.New("conference: announcements need a fetcher")
	}
	s.mu.Lock()
	r := s.rooms[name]
	s.mu.Unlock()
	if r == nil {
		return fmt.Errorf("conference %q: %w", name, ErrNotHere)
	}
	var st *seat
	if callSid != "" {
		var err error
		if _, st, err = s.seatOf(name, callSid); err != nil {
			return err
		}
	}
	r.mu.Lock()
	mix, sid := r.mix, r.sid
	var to interpreter.MixMember
	if st != nil {
		to = st.mem
	}
	r.mu.Unlock()
	if mix == nil || st != nil && to == nil {
		return fmt.Errorf("conference %q: not started, or the participant is not in the mix yet: %w", name, ErrNotHere)
	}
	params := url.Values{"AccountSid": {s.o.AccountSid}, "ConferenceSid": {sid}, "FriendlyName": {name}}
	if callSid != "" {
		params.Set("CallSid", callSid)
	}
	go func() {
		fctx, cancel := context.WithTimeout(context.Background(), announceFetchTimeout)
		defer cancel()
		parts, err := s.announcement(fctx, u, method, params)
		end := func(err error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if err != nil {
				s.log.Warn("conference: announcement failed", "room", name, "call_sid", callSid, "err", err)
				r.event("announcement-fail", "announcement", st, url.Values{"ReasonAnnouncementFailed": {err.Error()}})
				return
			}
			r.event("announcement-end", "announcement", st, nil)
		}
		if err != nil {
			end(err)
			return
		}
		mix.Announce(parts, to, end)
	}()
	return nil
}

// announcement fetches u and turns it into the parts to play: the audio
// itself, or the <Say>, <Play> and <Pause> of a TwiML document, following
// its <Redirect>s. Other verbs are skipped and logged.
func (s *Service) announcement(ctx context.Context, u, method string, params url.Values) ([]interpreter.AnnouncePart, error) {
	var parts []interpreter.AnnouncePart
	for range maxAnnounceRedirects + 1 {
		res, err := s.o.Fetcher.Fetch(ctx, fetcher.Request{URL: u, Method: method, Params: params})
		if err != nil {
			return nil, err
		}
		if res.Kind == fetcher.Audio {
			return append(parts, interpreter.AnnouncePart{URL: res.URL}), nil
		}
		doc, err := verbs.Parse(res.Body, verbs.Main)
		if err != nil {
			return nil, fmt.Errorf("AnnounceUrl document: %w", err)
		}
		next := ""
		for _, v := range doc.Verbs {
			switch v := v.(type) {
			case *verbs.Say:
				parts = append(parts, interpreter.AnnouncePart{Speech: &interpreter.Speech{Text: v.Text, SSML: v.SSML, Voice: v.Voice, Language: v.Language}, Loop: v.Loop})
			case *verbs.Play:
				if v.URL == "" {
					continue
				}
				abs, err := fetcher.Resolve(res.URL, v.URL)
				if err != nil {
					return nil, fmt.Errorf("AnnounceUrl document: <Play> %q: %w", v.URL, err)
				}
				parts = append(parts, interpreter.AnnouncePart{URL: abs, Loop: v.Loop})
			case *verbs.Pause:
				parts = append(parts, interpreter.AnnouncePart{Pause: time.Duration(v.Length) * time.Second})
			case *verbs.Redirect:
				next = v.URL
				if next == "" {
					next = res.URL
				}
				method = v.Method
			default:
				s.log.Info("conference: a verb an announcement cannot play was skipped", "verb", v.Name(), "url", fetcher.Redact(res.URL))
			}
			if next != "" {
				break
			}
		}
		if next == "" {
			return parts, nil
		}
		abs, err := fetcher.Resolve(res.URL, next)
		if err != nil {
			return nil, fmt.Errorf("AnnounceUrl document: <Redirect> %q: %w", next, err)
		}
		u = abs
	}
	return nil, fmt.Errorf("AnnounceUrl: more than %d redirects", maxAnnounceRedirects)
}

// holdMusic fetches the participant's HoldUrl and makes it what st hears
// on hold, from when it is rendered; until then, and if it fails (logged),
// st hears the room's hold music. r.mu is held.
func (s *Service) holdMusic(r *room, st *seat, u, method string) {
	mem, mix, sid := st.mem, r.mix, r.sid
	if mem == nil || mix == nil || s.o.Fetcher == nil {
		s.log.Warn("conference: hold music for a participant not in the mix", "room", r.name, "call_sid", st.p.CallSid)
		return
	}
	if method == "" {
		method = "GET" // HoldMethod's default (the Participant resource)
	}
	params := url.Values{"AccountSid": {s.o.AccountSid}, "ConferenceSid": {sid}, "FriendlyName": {r.name}, "CallSid": {st.p.CallSid}}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), announceFetchTimeout)
		defer cancel()
		parts, err := s.announcement(ctx, u, method, params)
		if err != nil {
			s.log.Warn("conference: hold music", "room", r.name, "call_sid", st.p.CallSid, "err", err)
			return
		}
		mix.HoldMusic(mem, parts, func(err error) {
			if err != nil {
				s.log.Warn("conference: hold music", "room", r.name, "call_sid", st.p.CallSid, "err", err)
			}
		})
	}()
}
