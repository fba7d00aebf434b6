// Package conference implements interpreter.Conferences: rooms whose
// membership and status live in the shared store (so that the REST API and
// other nodes see them) and whose audio is mixed on this node by an
// interpreter.Mixer.
//
// A room's rules follow Twilio's Conference page
// (https://www.twilio.com/docs/voice/twiml/conference): it starts when it
// holds two participants and one of them has startConferenceOnEnter;
// until then its participants hear their wait documents. It ends when a
// participant with endConferenceOnExit leaves, or the last one does.
// Joining and leaving beep for the others (beep), and the room reports
// its events to the status callback of the participant that created it.
// When that participant asked for record="record-from-start", the room's
// mix is recorded from its start to its end (record.go).
//
// Each room is changed under its own lock by the goroutine of the call
// that joins or leaves; every change also goes through the store's atomic
// operations, which are what keep maxParticipants across nodes.
package conference

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/texml/texml/interpreter"
	"github.com/texml/texml/store"
)

// MaxParticipants is Twilio's limit on a conference's size, and the
// default of maxParticipants.
const MaxParticipants = 250

// Options configure a Service.
type Options struct {
	Node   string            // this process's id in the store
	Clock  interpreter.Clock // default the system clock
	Logger *slog.Logger
	// AccountSid goes into the status callbacks.
	AccountSid string
	// Alive, when set, says whether another node is alive (Sweep).
	Alive func(ctx context.Context, node string) bool
	// Remote, when set, reaches rooms mixed on other nodes (remote.go);
	// without it, a room created elsewhere is mixed here too.
	Remote Remote
	// Fetcher fetches AnnounceUrl documents and audio (Announce); nil:
	// the room cannot announce.
	Fetcher interpreter.Fetcher
	// Post sends a status callback that no participant's call sends:
	// the end of a room whose home node died. It must not block; nil:
	// that event is not sent.
	Post func(url, method string, params url.Values)
}

// Service is the conferences of one node.
type Service struct {
	st    store.Conferences
	mixer interpreter.Mixer
	o     Options
	log   *slog.Logger

	mu     sync.Mutex
	rooms  map[string]*room
	guests map[string]*remoteSeat // CallSid → a participant here in a room mixed elsewhere
}

var _ interpreter.Conferences = (*Service)(nil)

// New returns the conferences of a node: state in st, audio from mixer.
func New(st store.Conferences, mixer interpreter.Mixer, o Options) *Service {
	if o.Clock == nil {
		o.Clock = interpreter.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.AccountSid == "" {
		o.AccountSid = "AC" + "00000000000000000000000000000000"
	}
	return &Service{st: st, mixer: mixer, o: o, log: o.Logger, rooms: map[string]*room{}, guests: map[string]*remoteSeat{}}
}

// room is one active conference on this node.
type room struct {
	s    *Service
	name string

	mu       sync.Mutex
	sid      string  // readopt changes it, holding s.mu and r.mu: either lock reads it
	seats    []*seat // in order of joining
	started  bool
	ended    bool
	mix      interpreter.Mix
	cb       interpreter.StatusCallback // the creator's
	seq      int
	speaking map[interpreter.MixMember]*seat
	rec      recording // the creator's record
}

// seat is one participant.
type seat struct {
	r      *room
	p      interpreter.Participant
	joined time.Time
	state  interpreter.SeatState
	mem    interpreter.MixMember // set while in the mix
	left   bool
	hold   bool // on hold (the REST API): hears hold music, heard by no one
}

// Join implements interpreter.Conferences.
func (s *Service) Join(ctx context.Context, name string, p interpreter.Participant) (interpreter.Seat, error) {
	max := p.Max
	if max <= 0 || max > MaxParticipants {
		max = MaxParticipants
	}
	now := s.o.Clock.Now()
	s.mu.Lock()
	unlocked := false
	defer func() {
		if !unlocked {
			s.mu.Unlock()
		}
	}()
	conf, created, err := s.st.Join(ctx, name, s.stored(p, now), max, now)
	switch {
	case errors.Is(err, store.ErrConferenceFull):
		return nil, fmt.Errorf("conference %q: %w", name, interpreter.ErrConferenceFull)
	case err != nil:
		return nil, fmt.Errorf("conference %q: %w", name, err)
	}
	if !created && conf.Home != s.o.Node && s.o.Remote != nil && s.o.Remote.Alive(ctx, conf.Home) {
		// The room is mixed on its home node: this participant reaches
		// it with a node-to-node leg (remote.go).
		return s.joinRemote(ctx, conf, p, now)
	}
	st, notify := s.sit(ctx, name, conf, created, p, now)
	s.mu.Unlock()
	unlocked = true
	for _, f := range notify {
		f()
	}
	return st, nil
}

// sit gives p a seat in this node's room for the store's conference conf
// (created: this join made it), creating or re-adopting the room, and
// returns the Changed callbacks to call once s.mu is released. s.mu is
// held.
func (s *Service) sit(ctx context.Context, name string, conf store.Conference, created bool, p interpreter.Participant, now time.Time) (*seat, []func()) {
	r := s.rooms[name]
	if r != nil && r.isEnded() {
		r = nil // ended meanwhile: the store made a new conference
	}
	switch {
	case r != nil && r.sid != conf.Sid && created:
		// The store made a new conference of a room that is live here:
		// it lost the room (a Redis that restarted empty). Its calls
		// still talk in this node's mix; the newcomer joins them, and
		// the store learns of them again.
		s.readopt(ctx, r, conf.Sid, now)
	case r == nil || r.sid != conf.Sid:
		r = &room{s: s, name: name, sid: conf.Sid, cb: p.StatusCallback, speaking: map[interpreter.MixMember]*seat{},
			rec: recording{spec: p.Record}}
		s.rooms[name] = r
		if !created && conf.Home != s.o.Node && conf.Home != "" {
			// Its home node is gone (or unknown here): this node mixes
			// the participants it has.
			s.log.Warn("conference of another node mixed here", "room", name, "home", conf.Home)
		}
	}
	st := &seat{r: r, p: p, joined: now}
	r.mu.Lock()
	r.seats = append(r.seats, st)
	r.event("participant-join", "join", st, nil)
	var notify []func()
	if r.started {
		r.enter(st)
		if beepsOn(p.Beep, true) {
			r.mix.Beep(st.mem)
		}
	} else if r.shouldStart() {
		notify = r.start()
	}
	r.mu.Unlock()
	return st, notify
}

// stored is p as the store keeps it.
func (s *Service) stored(p interpreter.Participant, joined time.Time) store.Participant {
	return store.Participant{
		CallSid: p.CallSid, Node: s.o.Node, Label: p.Label, Muted: p.Muted,
		Coaching: p.Coach != "", CallSidToCoach: p.Coach,
		StartOnEnter: p.StartOnEnter, EndOnExit: p.EndOnExit, Joined: joined,
		RoomCallback: encodeCallback(p.StatusCallback),
	}
}

// readopt gives the live room r the store's new conference sid and joins
// its participants to it, as they were (no limit: they were admitted
// already), and starts it when r had started. Failures are logged: the
// room's audio does not depend on the store. s.mu is held.
func (s *Service) readopt(ctx context.Context, r *room, sid string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.log.Warn("conference: the store had lost a live room; its participants rejoin it", "room", r.name, "old_sid", r.sid, "sid", sid)
	r.sid = sid
	for _, st := range r.seats {
		if _, _, err := s.st.Join(ctx, r.name, s.stored(st.p, st.joined), 0, now); err != nil && !errors.Is(err, store.ErrExists) {
			s.log.Warn("conference rejoin", "room", r.name, "call_sid", st.p.CallSid, "err", err)
		}
	}
	if r.started {
		if err := s.st.Start(ctx, r.name, now); err != nil {
			s.log.Warn("conference start", "room", r.name, "err", err)
		}
	}
}

// beepsOn reports whether a participant's beep attribute sounds on
// entering (enter) or on leaving.
func beepsOn(beep string, enter bool) bool {
	switch beep {
	case "false":
		return false
	case "onEnter":
		return enter
	case "onExit":
		return !enter
	}
	return true
}

// shouldStart: two participants, one of them with startConferenceOnEnter
// (Twilio's Conference page: "Conferences will not start until at least
// two participants join"). r.mu is held.
func (r *room) shouldStart() bool {
	if len(r.seats) < 2 {
		return false
	}
	return slices.ContainsFunc(r.seats, func(s *seat) bool { return s.p.StartOnEnter })
}

// start begins the conference: everyone waiting enters the mix. It
// returns the seats' Changed callbacks, to be called without the lock.
func (r *room) start() []func() {
	r.started = true
	r.mix = r.s.mixer.NewMix()
	if r.cb.URL != "" && slices.Contains(r.cb.Events, "speaker") {
		// Voice activity costs a detector per member per packet: only
		// when the app asked for participant-speech events.
		r.mix.OnSpeech(r.speech)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.s.st.Start(ctx, r.name, r.s.o.Clock.Now()); err != nil {
		r.s.log.Warn("conference start", "room", r.name, "err", err)
	}
	r.event("conference-start", "start", nil, nil)
	r.startRecording()
	var notify []func()
	for _, st := range r.seats {
		// Each enters the mix from its own call (Seat.Enter) once its
		// wait document has stopped.
		st.state = interpreter.SeatTalking
		if st.p.Changed != nil {
			notify = append(notify, st.p.Changed)
		}
	}
	return notify
}

// Enter implements interpreter.Seat.
func (st *seat) Enter() {
	r := st.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if st.state == interpreter.SeatTalking && st.mem == nil && !st.left && !r.ended {
		r.enter(st)
	}
}

// enter puts a seat into the mix. r.mu is held.
func (r *room) enter(st *seat) {
	st.state = interpreter.SeatTalking
	mem, err := r.mix.Add(st.p.Leg, r.options(st))
	if err != nil {
		r.s.log.Warn("conference mix", "room", r.name, "call_sid", st.p.CallSid, "err", err)
		return
	}
	st.mem = mem
	r.speaking[mem] = st
	// A coach who joined before the one it coaches is set up now.
	for _, o := range r.seats {
		if o != st && o.mem != nil && o.p.Coach == st.p.CallSid {
			o.mem.Set(r.options(o))
		}
	}
}

// options are how st is heard. r.mu is held.
func (r *room) options(st *seat) interpreter.MixOptions {
	o := interpreter.MixOptions{Muted: st.p.Muted, Hold: st.hold}
	if st.p.Coach != "" {
		for _, c := range r.seats {
			if c.p.CallSid == st.p.Coach && c.mem != nil {
				o.Coach = c.mem
			}
		}
		if o.Coach == nil {
			o.Muted = true // the one it coaches is not here: nobody hears it
		}
	}
	return o
}

// speech turns the mix's voice activity into speaker events.
func (r *room) speech(m interpreter.MixMember, speaking bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.speaking[m]
	if st == nil || r.ended {
		return
	}
	name := "participant-speech-stop"
	if speaking {
		name = "participant-speech-start"
	}
	r.event(name, "speaker", st, nil)
}

// Sid implements interpreter.Seat.
func (st *seat) Sid() string {
	// A room's sid changes when the store lost it (readopt).
	st.r.mu.Lock()
	defer st.r.mu.Unlock()
	return st.r.sid
}

// State implements interpreter.Seat.
func (st *seat) State() interpreter.SeatState {
	st.r.mu.Lock()
	defer st.r.mu.Unlock()
	return st.state
}

// Leave implements interpreter.Seat.
func (st *seat) Leave(ctx context.Context) { st.leave(ctx, false) }

// leave takes st out of the room: it left, or (kicked) the REST API
// removed it, which Twilio reports with the -kicked reasons.
func (st *seat) leave(ctx context.Context, kicked bool) {
	r := st.r
	r.mu.Lock()
	if st.left {
		r.mu.Unlock()
		return
	}
	st.left = true
	wasIn := st.mem != nil
	if st.mem != nil {
		delete(r.speaking, st.mem)
		st.mem.Remove()
		st.mem = nil
	}
	st.state = interpreter.SeatEnded
	r.seats = slices.DeleteFunc(r.seats, func(x *seat) bool { return x == st })
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := r.s.st.Leave(cctx, r.name, st.p.CallSid, r.s.o.Clock.Now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		r.s.log.Warn("conference leave", "room", r.name, "call_sid", st.p.CallSid, "err", err)
	}
	var notify []func()
	if kicked && st.p.Changed != nil {
		notify = append(notify, st.p.Changed) // its Dial completes
	}
	if !r.ended {
		r.event("participant-leave", "leave", st, nil)
		how := "left"
		if kicked {
			how = "kicked"
		}
		switch {
		case st.p.EndOnExit:
			notify = append(notify, r.end(cctx, "participant-with-end-conference-on-exit-"+how, st)...)
		case len(r.seats) == 0:
			notify = append(notify, r.end(cctx, "last-participant-"+how, st)...)
		default:
			if wasIn && beepsOn(st.p.Beep, false) {
				r.mix.Beep(nil)
			}
			// Those it coached are heard by no one now.
			for _, o := range r.seats {
				if o.mem != nil && o.p.Coach == st.p.CallSid {
					o.mem.Set(r.options(o))
				}
			}
		}
	}
	ended := r.ended
	r.mu.Unlock()
	if ended {
		r.forget()
	}
	for _, f := range notify {
		f()
	}
}

// end completes the conference: every participant still in it is out,
// and its Dial completes. r.mu is held.
func (r *room) end(ctx context.Context, reason string, by *seat) []func() {
	r.ended = true
	endedBy := ""
	if by != nil {
		endedBy = by.p.CallSid
	}
	if _, err := r.s.st.End(ctx, r.name, reason, endedBy, r.s.o.Clock.Now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		r.s.log.Warn("conference end", "room", r.name, "err", err)
	}
	if r.started {
		r.event("conference-end", "end", nil, url.Values{
			"ReasonConferenceEnded":   {reason},
			"CallSidEndingConference": {endedBy},
			"Reason":                  {endReasonText(reason)},
		})
	}
	var notify []func()
	for _, st := range r.seats {
		st.state = interpreter.SeatEnded
		st.mem = nil
		st.left = true
		if st.p.Changed != nil {
			notify = append(notify, st.p.Changed)
		}
		ctx2, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = r.s.st.Leave(ctx2, r.name, st.p.CallSid, r.s.o.Clock.Now()) // the room ended: nothing to keep
		cancel()
	}
	r.seats = nil
	if r.mix != nil {
		r.stopRecording() // before Close: the recording ends with the conference
		r.mix.Close()
	}
	return notify
}

func (r *room) isEnded() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ended
}

// forget drops an ended room from the service; the caller holds no lock
// (Join takes the service's lock, then the room's).
func (r *room) forget() {
	r.s.mu.Lock()
	if r.s.rooms[r.name] == r {
		delete(r.s.rooms, r.name)
	}
	r.s.mu.Unlock()
}

func endReasonText(reason string) string {
	switch reason {
	case "last-participant-left":
		return "Last participant left the conference"
	case "participant-with-end-conference-on-exit-left":
		return "Participant with endConferenceOnExit left the conference"
	case "last-participant-kicked":
		return "Last participant was removed from the conference"
	case "participant-with-end-conference-on-exit-kicked":
		return "Participant with endConferenceOnExit was removed from the conference"
	case "conference-ended-via-api":
		return "Conference ended via API"
	}
	return reason
}

// event sends one status callback event, when the room's creator asked
// for its kind (Twilio's Conference page, "statusCallbackEvent"). r.mu is
// held.
func (r *room) event(name, kind string, st *seat, extra url.Values) {
	cb := r.cb
	if cb.URL == "" || cb.Post == nil || !slices.Contains(cb.Events, kind) {
		return
	}
	r.seq++
	p := url.Values{
		"ConferenceSid":       {r.sid},
		"FriendlyName":        {r.name},
		"AccountSid":          {r.s.o.AccountSid},
		"StatusCallbackEvent": {name},
		"SequenceNumber":      {strconv.Itoa(r.seq)},
		"Timestamp":           {r.s.o.Clock.Now().UTC().Format(time.RFC1123Z)},
	}
	if st != nil {
		p.Set("CallSid", st.p.CallSid)
		p.Set("Muted", strconv.FormatBool(st.p.Muted))
		p.Set("Hold", strconv.FormatBool(st.hold))
		p.Set("Coaching", strconv.FormatBool(st.p.Coach != ""))
		if st.p.Coach != "" {
			p.Set("CallSidToCoach", st.p.Coach)
		}
		p.Set("EndConferenceOnExit", strconv.FormatBool(st.p.EndOnExit))
		p.Set("StartConferenceOnEnter", strconv.FormatBool(st.p.StartOnEnter))
		if st.p.Label != "" {
			p.Set("ParticipantLabel", st.p.Label)
		}
	}
	for k, v := range extra {
		p[k] = v
	}
	cb.Post(cb.URL, cb.Method, p)
}

// Sweep takes the participants of dead nodes out of the active
// conferences, and ends a conference that has none left (reason
// last-participant-left: they all left with their node). The cluster
// runs it periodically. It also ends this node's participants in rooms
// whose home node is gone. It returns how many participants it removed
// or ended.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	guests := s.sweepGuests(ctx)
	if s.o.Alive == nil {
		return guests, nil
	}
	confs, err := s.st.List(ctx)
	if err != nil {
		return 0, err
	}
	alive := map[string]bool{s.o.Node: true}
	live := func(node string) bool {
		v, ok := alive[node]
		if !ok {
			v = node == "" || s.o.Alive(ctx, node)
			alive[node] = v
		}
		return v
	}
	removed := 0
	for _, c := range confs {
		left := len(c.Participants)
		var last string
		for _, p := range c.Participants {
			if live(p.Node) {
				continue
			}
			if _, err := s.st.Leave(ctx, c.Name, p.CallSid, s.o.Clock.Now()); err == nil {
				removed++
				left--
				last = p.CallSid
			}
		}
		if left == 0 && last != "" {
			if _, err := s.st.End(ctx, c.Name, "last-participant-left", last, s.o.Clock.Now()); err != nil && !errors.Is(err, store.ErrNotFound) {
				s.log.Warn("conference sweep", "room", c.Name, "err", err)
			}
		}
	}
	return removed + guests, nil
}
