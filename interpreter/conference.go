package interpreter

import (
	"context"
	"errors"
	"net/url"
	"time"
)

// Conferences runs the rooms of <Dial><Conference>. Package conference
// implements it over the shared store and a Mixer; the interpreter owns
// what the noun means for the participant's call: the wait document, how
// long it stays, the Dial action.
type Conferences interface {
	// Join seats the call in the room called name, creating the room
	// when it has no active conference. It fails with ErrConferenceFull
	// when the room holds p.Max participants; any other error is a
	// failure of the conference service.
	Join(ctx context.Context, name string, p Participant) (Seat, error)
}

// ErrConferenceFull refuses a participant beyond maxParticipants.
var ErrConferenceFull = errors.New("conference is full")

// Participant is a call joining a conference, with its Conference noun's
// attributes (https://www.twilio.com/docs/voice/twiml/conference).
type Participant struct {
	CallSid string
	Leg     Leg
	Label   string // participantLabel
	Muted   bool
	// Beep is "true", "false", "onEnter" or "onExit".
	Beep         string
	StartOnEnter bool
	EndOnExit    bool
	Max          int    // maxParticipants
	Coach        string // the CallSid this participant coaches; "" = none
	// StatusCallback receives the conference's events; the room keeps
	// the one of the participant that created it, as Twilio keeps the
	// first participant's.
	StatusCallback StatusCallback
	// Record, when set, records the conference (record=
	// "record-from-start"). As with StatusCallback, the room keeps the
	// one of the participant that created it: Twilio applies the first
	// participant's conference settings, and later participants' record,
	// trim and recordingStatusCallback attributes are ignored.
	Record *RoomRecording
	// Changed is called, from any goroutine and without blocking, when
	// the seat's state changes (the conference started, or ended).
	Changed func()
}

// StatusCallback is where a room's events go: the Conference noun's
// statusCallback, statusCallbackMethod and statusCallbackEvent ("start
// end join leave mute hold modify speaker announcement"). Post sends one
// event's parameters and must not block.
type StatusCallback struct {
	URL, Method string
	Events      []string
	Post        func(url, method string, params url.Values)
}

// RoomRecording is a conference's recording as the Conference noun asks
// for it (https://www.twilio.com/docs/voice/twiml/conference#attributes-record):
// the mix everyone hears, from the conference's start to its end, one
// channel.
type RoomRecording struct {
	Sid string // RE…; the mix stores the audio under it
	URL string // its RecordingUrl
	// Trim drops the silence at both ends (trim="trim-silence", the
	// Conference default).
	Trim bool
	// StatusCallback is recordingStatusCallback, …Method and …Event
	// ("in-progress completed absent"; none means completed), with the
	// Post of the call that asked for it.
	StatusCallback StatusCallback
}

// SeatState is where a participant is.
type SeatState int

// Seat states.
const (
	SeatWaiting SeatState = iota // the conference has not started: the wait document plays
	SeatTalking                  // in the mix
	SeatEnded                    // the conference ended, or the participant left
)

// Seat is a participant's place in a room.
type Seat interface {
	// Sid is the conference's ConferenceSid.
	Sid() string
	State() SeatState
	// Enter puts the participant into the mix once the conference is in
	// progress (SeatTalking). The participant's own call calls it after
	// its wait document stopped, so that the last of the wait music
	// cannot replace the mix on the leg. Calling it again does nothing.
	Enter()
	// Leave takes the participant out of the room (it hung up, pressed
	// '*' with hangupOnStar, reached its timeLimit, or was updated); it
	// may end the conference (endConferenceOnExit, or the last one out).
	// Calling it again does nothing.
	Leave(ctx context.Context)
}

// Mixer makes the audio of conferences for legs of one implementation
// (the SIP legs' RTP, or the simulator's), as a Dialer's legs bridge with
// the legs of their own kind.
type Mixer interface {
	NewMix() Mix
}

// Mix is one conference's audio: every member hears the others, never
// itself.
type Mix interface {
	// Add puts leg into the mix: from now on it hears the mix of the
	// others, and they hear it unless o says otherwise.
	Add(leg Leg, o MixOptions) (MixMember, error)
	// Beep plays the join/leave tone to every member but except (nil:
	// to all).
	Beep(except MixMember)
	// OnSpeech reports members starting and stopping to speak
	// (participant-speech-start/-stop); f must not block.
	OnSpeech(f func(m MixMember, speaking bool))
	// Record starts recording the mix as everyone hears it: the members
	// that are heard and the beeps, never a coach, a whisper or hold
	// music. It lasts until the recording's Stop, which is to come
	// before the mix's Close: what a closed mix would add is silence.
	Record(spec MixRecordSpec) (MixRecording, error)
	// Announce plays parts, in order, to every member (to nil; members
	// on hold do not hear it) or to one member only, and calls done once
	// they have played (nil) or when one could not be rendered (its
	// error; nothing more plays). It returns at once; done runs on a
	// goroutine of the mix's choosing and must not block. Twilio's
	// AnnounceUrl (the Conference and Participant resources).
	Announce(parts []AnnouncePart, to MixMember, done func(error))
	// HoldMusic makes parts, looped, what member hears while on hold in
	// place of the mix's own hold music (the REST API's HoldUrl); nil
	// parts go back to the mix's. done runs once the parts are rendered
	// (nil) or could not be; it must not block.
	HoldMusic(member MixMember, parts []AnnouncePart, done func(error))
	// Close ends the mix and removes every member.
	Close()
}

// AnnouncePart is one piece of an announcement, from a <Say>, <Play> or
// <Pause> of the AnnounceUrl document (or the audio it points at): one
// of Speech, URL or Pause is set. Loop plays it that many times (0 and 1
// once).
type AnnouncePart struct {
	Speech *Speech
	URL    string
	Pause  time.Duration
	Loop   int
}

// MixRecordSpec is what Mix.Record captures.
type MixRecordSpec struct {
	Sid  string // RE…; the mix stores the audio under it
	Trim bool   // drop the silence at both ends
	// AccountSid and ConferenceSid are kept beside the audio, for the
	// REST API's Recordings resource.
	AccountSid, ConferenceSid string
}

// MixRecording is a recording made by Mix.Record.
type MixRecording interface {
	// Stop ends the recording and stores it; see CallRecording.Stop.
	// Calling it again returns the same.
	Stop() (Recording, error)
}

// MixMember is a leg in a Mix.
type MixMember interface {
	Set(o MixOptions)
	// Remove takes the leg out of the mix; calling it again does
	// nothing.
	Remove()
}

// MixOptions say how a member is heard.
type MixOptions struct {
	Muted bool // heard by no one
	Hold  bool // hears hold music, heard by no one
	// Coach, when set, is the only member who hears this one.
	Coach MixMember
}
