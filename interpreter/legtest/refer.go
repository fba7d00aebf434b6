package legtest

import (
	"context"
	"time"

	"github.com/texml/texml/interpreter"
)

// referTarget is where the contract's REFERs send the party.
var referTarget = interpreter.ReferTarget{URI: "sip:target@example.com", Timeout: 10 * time.Second}

// referCases: a transfer the party accepts but does not finish (its
// target keeps ringing) ends with the party's hang-up, or at the wait's
// end with what was reported, on every leg alike.
var referCases = []contractCase{
	{"hang-up while a transfer is pending", []Act{{Kind: StallRefer}, {At: 300 * time.Millisecond, Kind: HangUp}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			res, err := leg.Refer(ctx, referTarget)
			c.hungUp(ctx, err)
			c.at("the hang-up", 300*time.Millisecond)
			if res.Code != 202 {
				c.t.Errorf("REFER answered %d, want 202", res.Code)
			}
		}},
	{"a transfer that never ends times out", []Act{{Kind: StallRefer}},
		func(ctx context.Context, leg interpreter.Leg, c *check) {
			t := referTarget
			t.Timeout = time.Second
			res, err := leg.Refer(ctx, t)
			if err != nil {
				c.t.Fatalf("Refer: %v", err)
			}
			c.at("the end of the wait", time.Second)
			if res != (interpreter.ReferResult{Code: 202, Notify: 180}) {
				c.t.Errorf("result %+v, want 202 and the last NOTIFY, 180", res)
			}
		}},
}
