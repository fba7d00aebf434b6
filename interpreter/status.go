package interpreter

import "time"

// StatusChange is one change of a call's status, for Config.OnStatus.
type StatusChange struct {
	// Call is the call that changed. Update may be sent to it while its
	// Run or Place runs; a Dial child is never updated that way.
	Call *Call
	// Status is the call's status now, as the REST API's Call resource
	// spells it (https://www.twilio.com/docs/voice/api/call-resource#call-status-values):
	// queued, ringing, in-progress, completed, busy, no-answer, failed
	// or canceled.
	Status string
	At     time.Time
}

// Info is who a call is between, fixed when the call is created.
type Info struct {
	CallSid, AccountSid, ParentCallSid string
	From, To                           string
	Direction                          string
}

// Info returns the call's identity; safe from any goroutine.
func (c *Call) Info() Info {
	return Info{
		CallSid: c.cfg.CallSid, AccountSid: c.cfg.AccountSid, ParentCallSid: c.cfg.ParentCallSid,
		From: c.cfg.From, To: c.cfg.To, Direction: c.cfg.Direction,
	}
}

// notify tells Config.OnStatus about a status callback event: initiated
// is the resource's "queued" (Twilio's Call resource has no "initiated"
// status), answered is "in-progress", completed the call's final status.
func (c *Call) notify(event string, at time.Time) {
	if c.cfg.OnStatus == nil {
		return
	}
	status := map[string]string{"initiated": "queued", "ringing": "ringing", "answered": "in-progress"}[event]
	if event == "completed" {
		status = c.final
		if status == "" {
			status = "completed"
		}
	}
	c.cfg.OnStatus(StatusChange{Call: c, Status: status, At: at})
}
