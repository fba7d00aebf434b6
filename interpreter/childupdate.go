package interpreter

import "errors"

// Live updates of a Dial's child calls (Twilio's POST /Calls/{Sid} on a
// CallSid of a <Dial><Number>, <Sip> or <Client> leg: "How do I modify a
// call after it has been created?",
// https://support.twilio.com/hc/en-us/articles/223132247, finds those
// CallSids through the nouns' statusCallback).
//
// Status=completed ends the child: a bridged callee is hung up and the
// caller goes on with the Dial's action (DialCallStatus=completed), as
// when the callee hangs up; a child still ringing is canceled, and when
// no other party of the Dial is left its DialCallStatus is canceled
// (Twilio's Dial page: "canceled — the call was canceled via the REST
// API before it was answered"). The parent's Dial goroutine does both,
// so the child's state keeps one owner: the update only posts an event
// to the Dial's inbox.

// ErrChildRedirect is the answer to a new document (Url or Twiml) for a
// Dial child: taking the callee out of the bridge to run a document of
// its own is not supported yet.
var ErrChildRedirect = errors.New("redirecting a <Dial> child call to new TwiML is not supported yet; " +
	"redirect the parent call, or end the child with Status=completed")

// watchUpdates makes updates of f's child call reach the Dial s until f
// ends (fork.end stops it).
func (s *dialState) watchUpdates(f *fork) {
	f.call.setChild(func(u Update) error {
		if !u.Hangup {
			return ErrChildRedirect
		}
		s.box.add(forkEvent{f: f, hangup: true})
		return nil
	})
}

// setChild sets (nil: clears) the call's child update hook.
func (c *Call) setChild(h func(Update) error) {
	c.mu.Lock()
	c.child = h
	c.mu.Unlock()
}

// hangUpFork ends a fork that rings, or hears its whisper, because the
// REST API ended its child call.
func (f *fork) hangUpFork() {
	if f.done {
		return
	}
	if f.att != nil {
		f.att.Cancel()
	}
	f.end("canceled", 0, "ended by the REST API")
}
