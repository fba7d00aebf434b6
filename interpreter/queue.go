package interpreter

import (
	"context"
	"errors"
	"time"
)

// Queues keeps calls waiting in named queues (<Enqueue>) and hands them to
// agents (<Dial><Queue>). Package queue implements it over the shared
// store, on one node or several; the interpreter owns what the verbs mean:
// the wait document, <Leave>, QueueResult and when the action fires.
type Queues interface {
	// Enqueue puts the call at the back of queue. It fails with
	// ErrQueueFull when w.Max > 0 and the queue holds that many; any
	// other error is a failure of the queue service (system-error).
	// picked is called, from any goroutine and without blocking, when an
	// agent takes the call: Place.Pickup then returns the hand-off.
	Enqueue(ctx context.Context, queue string, w Waiter, picked func()) (Place, error)
	// Take starts taking the front caller of queue for an agent. progress
	// receives, from any goroutine and without blocking: Answered with
	// the caller's Leg once the caller has heard the agent's Queue url
	// document, then Ended if the caller hangs up during the bridge. An
	// empty queue makes the attempt wait for a caller. Cancel gives up
	// waiting or, after Answered, ends the bridge and sends the caller on
	// to its action. ErrNoQueue when no call was ever queued there.
	Take(ctx context.Context, queue string, a Agent, progress func(Progress)) (Attempt, error)
}

// Errors of Queues.
var (
	ErrQueueFull = errors.New("queue is full")
	ErrNoQueue   = errors.New("no such queue")
)

// Waiter is a call entering a queue.
type Waiter struct {
	CallSid  string
	Leg      Leg
	Max      int // maxQueueSize; 0 = the queue's default
	Enqueued time.Time
}

// Agent is the call that dequeues (<Dial><Queue>).
type Agent struct {
	CallSid string
	// URL and Method are the Queue noun's url document, run on the
	// dequeued caller before the bridge ("" = none).
	URL, Method string
}

// QueueStatus is what a waiting caller's wait document is told
// (Twilio's Enqueue page, "waitUrl" request parameters).
type QueueStatus struct {
	Sid      string
	Position int // 1-based
	Size     int
	Max      int
	// AvgWait is the average time the calls now in the queue have waited.
	AvgWait time.Duration
}

// Place is a call's place in a queue.
type Place interface {
	// Status describes the queue as the waiting call sees it now.
	Status(ctx context.Context) (QueueStatus, error)
	// Leave takes the call out of the queue. false means an agent took it
	// first: the picked callback has run or will run.
	Leave(ctx context.Context) (bool, error)
	// Pickup returns the agent's hand-off once the call was picked, nil
	// before.
	Pickup() *Pickup
	// Redirected returns, once the REST API dequeued the call into a new
	// document (the Member resource's update with Url), that document's
	// URL and method; the picked callback has run.
	Redirected() (url, method string, ok bool)
}

// Pickup is an agent's hand-off of the caller it took.
type Pickup struct {
	Agent Agent
	// Ready gives the caller's leg to the agent once the Queue url
	// document has run; released is called (from any goroutine, without
	// blocking) when the agent ends the bridge (bridged), or gives up
	// before it (the caller goes back to the queue).
	Ready func(leg Leg, released func(bridged bool))
	// Gone tells the agent that the caller hung up or cannot be bridged.
	Gone func()
}
