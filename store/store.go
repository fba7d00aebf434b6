// Package store holds the state that outlives one call and that several
// texml nodes share: queues of waiting callers, conferences and their
// participants, the records of calls (and which node runs each), which
// nodes are alive, and a bus that carries commands to the node that owns
// a call or a room.
//
// Two implementations pass one contract suite (store/storetest):
// store/memory, the default, for one node with nothing to run; and
// store/redis, chosen with --redis-url, for several nodes.
//
// The store records state; it makes no decisions. The rules of queues
// and conferences (who is handed to an agent, when a room starts or ends)
// live in the interpreter and its queue and conference services, and each
// room or queue is changed by one owner. The store makes every change that
// touches several keys atomic, so that two agents dequeuing at once get
// different callers and a full queue or room refuses the one member too
// many, on any number of nodes.
package store

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors the store returns; an implementation wraps them with %w. Any
// other error is a failure of the store itself (Redis down), which the
// interpreter reports as QueueResult=system-error.
var (
	ErrNotFound       = errors.New("store: not found")
	ErrQueueFull      = errors.New("store: queue is full")
	ErrConferenceFull = errors.New("store: conference is full")
	// ErrExists refuses a second Push or Join of one CallSid: a call
	// waits in a queue, or sits in a room, once. It also refuses a queue
	// created, or renamed, with the name of another.
	ErrExists = errors.New("store: already there")
	// ErrNotEmpty refuses to delete or rename a queue that has members.
	ErrNotEmpty = errors.New("store: queue is not empty")
)

// Queue size limits (Twilio's Queue resource, "MaxSize": "The default is
// 1000. The maximum is 5000",
// https://www.twilio.com/docs/voice/api/queue-resource).
const (
	DefaultQueueSize = 1000
	MaxQueueSize     = 5000
)

// Retention is how long a completed conference stays readable by Sid:
// status callbacks and the REST API ask after a room has ended, and a day
// covers them without keeping every room for ever.
const Retention = 24 * time.Hour

// Store is one set of shared state. Close releases connections; the
// state itself stays (in Redis) or goes (in memory).
type Store struct {
	Queues      Queues
	Conferences Conferences
	Calls       Calls
	Nodes       Nodes
	Bus         Bus
	io.Closer
}

// Member is a call waiting in a queue.
type Member struct {
	CallSid string
	// Node is the node whose leg the call is; a member of a node that is
	// no longer alive must never be handed to an agent.
	Node     string
	Enqueued time.Time
}

// QueueInfo describes a queue (Twilio's Queue resource).
type QueueInfo struct {
	Name    string
	Sid     string // QU + 32 hex digits, stable for the name
	Size    int    // members now
	MaxSize int    // the size limit (Create, Update, or the last Push that gave one)
	Created time.Time
	// MeanEnqueued is the mean of the members' Enqueued times (zero for
	// an empty queue): now minus it is their average wait (Twilio's
	// AvgQueueTime, the Queue resource's average_wait_time), without
	// reading every member.
	MeanEnqueued time.Time
}

// Queues are FIFO queues of calls, created on demand by the first Push.
type Queues interface {
	// Push adds m at the back of queue, creating the queue when it does
	// not exist. max > 0 is the queue's size limit from now on; max 0
	// keeps the queue's own (DefaultQueueSize for a queue this Push
	// creates). A Push that would exceed the limit fails with
	// ErrQueueFull and changes nothing. It returns m's 1-based position.
	// Pushing a CallSid that is already in the queue fails with
	// ErrExists. A zero m.Enqueued is set to the store's clock.
	Push(ctx context.Context, queue string, m Member, max int) (pos int, err error)
	// Create makes an empty queue with the size limit max (0:
	// DefaultQueueSize); ErrExists when the name is taken.
	Create(ctx context.Context, queue string, max int) (QueueInfo, error)
	// SetMax changes the queue's size limit (members beyond it stay);
	// ErrNotFound when there is no such queue.
	SetMax(ctx context.Context, queue string, max int) (QueueInfo, error)
	// Rename gives an empty queue another name, keeping its Sid, Created
	// and MaxSize: ErrNotEmpty when it has members, ErrExists when the
	// new name is taken, ErrNotFound when there is no such queue.
	Rename(ctx context.Context, queue, to string) (QueueInfo, error)
	// Delete removes an empty queue: ErrNotEmpty when it has members,
	// ErrNotFound when there is none.
	Delete(ctx context.Context, queue string) error
	// Pop removes and returns the front member in one atomic step: two
	// Pops, on any nodes, never return the same member. ErrNotFound when
	// the queue is empty.
	Pop(ctx context.Context, queue string) (Member, error)
	// Remove takes callSid out of queue wherever it is, atomically; false
	// means it was not there (an agent's Pop got it first).
	Remove(ctx context.Context, queue, callSid string) (bool, error)
	// Position returns callSid's 1-based position and the queue's size;
	// pos is 0 when the call is not in the queue (or the queue does not
	// exist: then size is 0 too).
	Position(ctx context.Context, queue, callSid string) (pos, size int, err error)
	// Members lists the queue, front first; empty for an unknown queue.
	Members(ctx context.Context, queue string) ([]Member, error)
	// Info describes queue; ErrNotFound when it was never created.
	Info(ctx context.Context, queue string) (QueueInfo, error)
	// List describes every queue, by name.
	List(ctx context.Context) ([]QueueInfo, error)
}

// Conference statuses (Twilio's Conference resource, "status").
const (
	ConferenceInit       = "init"        // created, waiting for a participant with startConferenceOnEnter
	ConferenceInProgress = "in-progress" // started
	ConferenceCompleted  = "completed"   // ended
)

// Participant is one call in a conference.
type Participant struct {
	CallSid string
	Node    string // the node whose leg the call is
	Label   string // participantLabel
	Muted   bool
	Hold    bool
	// Coaching: the participant coaches CallSidToCoach, who alone hears it.
	Coaching       bool
	CallSidToCoach string
	StartOnEnter   bool // startConferenceOnEnter
	EndOnExit      bool // endConferenceOnExit
	Joined         time.Time
	// RoomCallback is the status callback of the conference this join
	// creates, in the conference service's own encoding; the store keeps
	// it as Conference.Callback only when the join creates the room.
	RoomCallback string `json:"-"`
}

// Conference is one room: the active conference of a name, or a
// completed one.
type Conference struct {
	Sid    string // CF + 32 hex digits, new for every conference of a name
	Name   string // the room name (FriendlyName)
	Home   string // the node that mixes its audio: the first joiner's
	Status string
	// Reason and EndedBy say why a completed conference ended
	// (ReasonConferenceEnded, CallSidEndingConference).
	Reason, EndedBy  string
	Created, Updated time.Time
	Participants     []Participant // in order of joining
	// Callback is its creator's RoomCallback: another node can then
	// report the room's end when its home node died.
	Callback string
}

// Conferences are rooms by name. A name has at most one active (init or
// in-progress) conference; the join after it completed creates a new one
// with a new Sid.
type Conferences interface {
	// Join adds p to the active conference called name, creating it
	// (status init, Home = p.Node, a new Sid) when there is none; max >
	// 0 limits the participants (ErrConferenceFull, nothing changed).
	// It returns the conference after the join and whether this join
	// created it. Joining twice with one CallSid fails with ErrExists.
	Join(ctx context.Context, name string, p Participant, max int, now time.Time) (c Conference, created bool, err error)
	// Leave removes callSid from the active conference called name and
	// returns the conference after it; ErrNotFound when callSid is not in it.
	Leave(ctx context.Context, name, callSid string, now time.Time) (Conference, error)
	// Update replaces the participant with p.CallSid (mute, hold, coach);
	// ErrNotFound when it is not in the active conference called name.
	Update(ctx context.Context, name string, p Participant, now time.Time) error
	// Start marks the active conference in-progress; ErrNotFound when
	// there is none. Starting a started conference changes nothing.
	Start(ctx context.Context, name string, now time.Time) error
	// End completes the active conference called name, with its reason
	// and the CallSid that ended it, and returns it; the next Join
	// creates a new one. Completed conferences stay readable by Sid for
	// Retention. ErrNotFound when there is no active conference.
	End(ctx context.Context, name, reason, endedBy string, now time.Time) (Conference, error)
	// Get returns the active conference called name; ErrNotFound when none.
	Get(ctx context.Context, name string) (Conference, error)
	// BySid returns a conference, active or completed, by its Sid.
	BySid(ctx context.Context, sid string) (Conference, error)
	// List returns the active conferences, oldest first.
	List(ctx context.Context) ([]Conference, error)
	// Completed returns the conferences that ended less than Retention
	// ago, oldest first (the REST API lists them with the active ones).
	Completed(ctx context.Context) ([]Conference, error)
}

// Call statuses (Twilio's Call resource, "status"). A call goes queued
// (REST-created, not dialed yet) → ringing → in-progress → completed, or
// ends unanswered as busy, no-answer, failed or canceled.
const (
	CallQueued     = "queued"
	CallRinging    = "ringing"
	CallInProgress = "in-progress"
	CallCompleted  = "completed"
	CallBusy       = "busy"
	CallNoAnswer   = "no-answer"
	CallFailed     = "failed"
	CallCanceled   = "canceled"
)

// CallEnded reports whether status is final.
func CallEnded(status string) bool {
	switch status {
	case CallCompleted, CallBusy, CallNoAnswer, CallFailed, CallCanceled:
		return true
	}
	return false
}

// CallRecord is one call, live or ended, as the REST API's Call resource
// shows it (https://www.twilio.com/docs/voice/api/call-resource), and
// the node that runs it, so that a live update reaches that node.
type CallRecord struct {
	Sid           string // CA…
	AccountSid    string
	ParentCallSid string // the call whose <Dial> placed this one
	From, To      string
	// Direction is inbound, outbound-api (created through the API) or
	// outbound-dial (a <Dial> child).
	Direction  string
	Status     string // one of the Call… statuses
	AnsweredBy string // answering-machine detection's result, when asked for
	CallerName string
	// ForwardedFrom is the number that forwarded an inbound call
	// (Diversion), when known.
	ForwardedFrom string
	// Node runs the call; a live update for it goes there.
	Node string
	// Created is when the record was made: the INVITE, or the API
	// request. Start is when the call was dialed or arrived, Answered
	// when it was answered (zero when never), End when it ended.
	Created, Updated, Start, Answered, End time.Time
}

// CallMaxAge bounds a call's life from its record's Created to its end:
// the interpreter's time limit (interpreter.DefaultMaxDuration, 4 h,
// Twilio's default) and an hour for queueing and ringing. A record that
// no Put ever ended (its node died mid-call) is dropped as if the call
// had ended CallMaxAge after Created, so that it does not stay for ever;
// an interpreter given a longer time limit would lose its record.
const CallMaxAge = 5 * time.Hour

// CallExpires is when the store drops r: Retention after r.End for an
// ended call (after now, the Put's time, when End is zero), and
// Retention after Created plus CallMaxAge for a call not ended yet.
func CallExpires(r CallRecord, now time.Time) time.Time {
	if !CallEnded(r.Status) {
		return r.Created.Add(CallMaxAge + Retention)
	}
	if r.End.IsZero() {
		return now.Add(Retention)
	}
	return r.End.Add(Retention)
}

// Calls are the records of calls, live and recently ended. An ended call
// is kept for Retention after its End, like a completed conference after
// its end (see CallExpires); a Put of a record already past that stores
// nothing.
type Calls interface {
	// Put stores r, replacing the record with r.Sid; r.Sid and
	// r.Created must be set, and r.Created (which orders the account's
	// listing) and r.AccountSid must not change between Puts.
	Put(ctx context.Context, r CallRecord) error
	// Get returns a call's record; ErrNotFound when unknown (or expired).
	// Its times are equal (time.Equal) to those Put, perhaps in another
	// Location.
	Get(ctx context.Context, sid string) (CallRecord, error)
	// List returns the account's calls newest first: by Created, to the
	// microsecond (the Redis store's index scores), then by Sid, greatest
	// first (the order Redis gives members of equal score), skipping the
	// first offset and returning at most limit (limit <= 0: all the rest).
	// Another account's calls never appear.
	List(ctx context.Context, account string, offset, limit int) ([]CallRecord, error)
	// Delete forgets a call's record; deleting an unknown call is no
	// error.
	Delete(ctx context.Context, sid string) error
}

// Node is one texml process sharing the store.
type Node struct {
	ID string
	// Addr is where other nodes reach it with node-to-node SIP legs
	// (host:port).
	Addr string
	Seen time.Time // the last heartbeat
}

// Nodes are the processes alive now. A node heartbeats more often than
// its ttl; when the heartbeats stop it is gone after ttl.
type Nodes interface {
	// Heartbeat records n alive until ttl from now; n.Seen is set to the
	// store's clock.
	Heartbeat(ctx context.Context, n Node, ttl time.Duration) error
	// Get returns a live node; ErrNotFound when it is unknown or expired.
	Get(ctx context.Context, id string) (Node, error)
	// List returns the live nodes, by ID.
	List(ctx context.Context) ([]Node, error)
	// Forget removes a node at once (clean shutdown).
	Forget(ctx context.Context, id string) error
	// Secret returns the key that nodes sharing this store sign their
	// node-to-node requests with: made at random by the first node that
	// asks, the same for every node after it. Whoever can read the store
	// can act as a node, so the store is the trust boundary.
	Secret(ctx context.Context) ([]byte, error)
}

// Message is a command for the node that owns a call or a room.
type Message struct {
	Kind    string // e.g. "update", "dequeue", "participant"
	CallSid string
	Room    string
	Body    []byte // the command's own encoding (JSON)
}

// Bus carries Messages to a node. Delivery is at most once and only to a
// node subscribed at the time: a command for a dead node is lost, and the
// sender learns the outcome from the state, not from the bus.
type Bus interface {
	// Publish sends m to node; a node with no subscriber is no error,
	// and the message is lost.
	Publish(ctx context.Context, node string, m Message) error
	// Subscribe delivers the node's messages until ctx ends, then closes
	// the channel. Messages published after Subscribe returns reach it.
	Subscribe(ctx context.Context, node string) (<-chan Message, error)
}
