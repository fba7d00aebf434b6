package signaling

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/internal/sipphone"
	"github.com/texml/texml/interpreter"
)

// referCall has the test phone call the harness's server and returns the
// answered inbound leg and the phone's side of the call.
func referCall(t *testing.T, h *sipHarness) (interpreter.Leg, context.Context, *sipphone.Call) {
	t.Helper()
	return h.call(t, sipphone.New(t), "referee")
}

// TestReferInbound sends REFER to the caller's phone in the dialog of its
// call to us, as the UAS of that dialog, and follows the phone's NOTIFYs
// (RFC 3515).
func TestReferInbound(t *testing.T) {
	goroutineBaseline(t)
	h := newSIPHarness(t)
	tests := []struct {
		name    string
		reply   sipphone.ReferReply
		timeout time.Duration
		want    interpreter.ReferResult
		hangup  bool // the phone leaves after its last NOTIFY
	}{
		{"transfer completes", sipphone.ReferReply{Notify: []int{100, 180, 200}}, 5 * time.Second, interpreter.ReferResult{Code: 202, Notify: 200}, false},
		{"target busy", sipphone.ReferReply{Notify: []int{100, 486}}, 5 * time.Second, interpreter.ReferResult{Code: 202, Notify: 486}, false},
		{"refused", sipphone.ReferReply{Code: 603}, 5 * time.Second, interpreter.ReferResult{Code: 603}, false},
		{"no NOTIFY ever", sipphone.ReferReply{}, 300 * time.Millisecond, interpreter.ReferResult{Code: 202}, false},
		{"rings past the timeout", sipphone.ReferReply{Notify: []int{100, 200}, Gap: 200 * time.Millisecond}, 300 * time.Millisecond, interpreter.ReferResult{Code: 202, Notify: 100}, false},
		{"referee hangs up after NOTIFY 200", sipphone.ReferReply{Notify: []int{200}, Hangup: true}, 5 * time.Second, interpreter.ReferResult{Code: 202, Notify: 200}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leg, ctx, c := referCall(t, h)
			c.OnRefer(tt.reply)
			res, err := leg.Refer(ctx, interpreter.ReferTarget{
				URI:     "sip:agent@pbx.test?X-Ticket=42",
				Headers: map[string]string{"X-Queue": "gold line"},
				Timeout: tt.timeout,
			})
			if err != nil && !(tt.hangup && errors.Is(err, interpreter.ErrHangup)) {
				t.Fatalf("Refer: %v", err)
			}
			if res != tt.want {
				t.Errorf("result %+v, want %+v", res, tt.want)
			}
			var refer *sip.Request
			for _, r := range c.Requests() {
				if r.Method == sip.REFER {
					refer = r
				}
			}
			if refer == nil {
				t.Fatal("the phone got no REFER")
			}
			if h := refer.GetHeader("Refer-To"); h == nil || h.Value() != "<sip:agent@pbx.test?X-Ticket=42&X-Queue=gold%20line>" {
				t.Errorf("Refer-To %v", h)
			}
			// In the dialog: the phone's tag in To, ours in From, a CSeq
			// of our own above the INVITE's.
			if tag, _ := refer.To().Params.Get("tag"); tag == "" {
				t.Errorf("REFER without the phone's tag: %v", refer.To())
			}
			if tag, _ := refer.From().Params.Get("tag"); tag == "" {
				t.Errorf("REFER without our tag: %v", refer.From())
			}
			if refer.Contact() == nil {
				t.Error("REFER without Contact (RFC 3515 §2.4.1: it is target refresh request)")
			}
			if refer.Recipient.User != "texml-test-phone" { // the phone's Contact, not its To
				t.Errorf("REFER to %v, want the phone's Contact", refer.Recipient)
			}
			if n := len(tt.reply.Notify); n > 0 && tt.want.Notify == tt.reply.Notify[n-1] {
				waitFor(t, 2*time.Second, "every NOTIFY answered", func() bool { return len(c.Notified()) == n })
				for _, code := range c.Notified() {
					if code != 200 {
						t.Errorf("NOTIFY answered %d, want 200", code)
					}
				}
			}
		})
	}
}

// TestReferOutbound refers the callee of an outbound leg, in the dialog
// our INVITE created.
func TestReferOutbound(t *testing.T) {
	h := outboundHarness{newSIPHarness(t)}
	leg, ctx, _ := h.Start(t, nil)
	// The phone's call is the callee's; OnRefer goes on it through the
	// phone's Behaviour, which Start set; so the REFER gets 200 (no reply
	// set) and no NOTIFY: a referee that never reports.
	res, err := leg.Refer(ctx, interpreter.ReferTarget{URI: "sip:agent@pbx.test", Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res != (interpreter.ReferResult{Code: 200}) {
		t.Errorf("result %+v, want 200 and no NOTIFY", res)
	}
}

func TestNotifyWithoutRefer(t *testing.T) {
	h := newSIPHarness(t)
	_, _, c := referCall(t, h)
	res, err := c.Request(sip.NOTIFY, "message/sipfrag;version=2.0", []byte("SIP/2.0 200 OK\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 489 { // no Event: refer header
		t.Errorf("NOTIFY without Event: %d, want 489 Bad Event", res.StatusCode)
	}
}

func TestSipfragStatus(t *testing.T) {
	tests := []struct {
		body string
		code int
		ok   bool
	}{
		{"SIP/2.0 200 OK\r\n", 200, true},
		{"SIP/2.0 100 Trying", 100, true},
		{"sip/2.0 486 Busy Here\r\nContent-Length: 0\r\n", 486, true},
		{"", 0, false},
		{"HTTP/1.1 200 OK", 0, false},
		{"SIP/2.0 abc", 0, false},
		{"SIP/2.0 99 Low", 0, false},
	}
	for _, tt := range tests {
		code, ok := sipfragStatus([]byte(tt.body))
		if code != tt.code || ok != tt.ok {
			t.Errorf("sipfragStatus(%q) = %d, %v; want %d, %v", tt.body, code, ok, tt.code, tt.ok)
		}
	}
}

func TestReferToValue(t *testing.T) {
	tests := []struct {
		t    interpreter.ReferTarget
		want string
		err  bool
	}{
		{interpreter.ReferTarget{URI: "sip:a@b.test"}, "<sip:a@b.test>", false},
		{interpreter.ReferTarget{URI: " sip:a@b.test;transport=tcp "}, "<sip:a@b.test;transport=tcp>", false},
		{interpreter.ReferTarget{URI: "sip:a@b.test?X-A=1", Headers: map[string]string{"X-B": "2&3", "User-to-User": "abc;encoding=hex"}},
			"<sip:a@b.test?X-A=1&User-to-User=abc%3Bencoding%3Dhex&X-B=2%263>", false},
		{interpreter.ReferTarget{URI: "not a uri"}, "", true},
	}
	for _, tt := range tests {
		got, err := referToValue(tt.t)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("referToValue(%+v) = %q, %v; want %q", tt.t, got, err, tt.want)
		}
	}
}

// TestTransferFromCallee has the callee of an outbound leg send REFER:
// the Dial's progress gets Referred, its Reply is the REFER's answer, and
// its Notify calls reach the callee as NOTIFYs, in order, after the 202.
func TestTransferFromCallee(t *testing.T) {
	goroutineBaseline(t) // the notifier and the REFER's handler end
	h := newSIPHarness(t)
	ph := sipphone.New(t)
	calls := make(chan *sipphone.Call, 1)
	ph.Answer(sipphone.Behaviour{Then: func(c *sipphone.Call) {
		calls <- c
		c.WaitEnd(20 * time.Second)
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	transfers := make(chan *interpreter.Transfer, 1)
	answered := make(chan struct{}, 1)
	att, err := h.srv.Dial(ctx, interpreter.Target{Kind: interpreter.SIPTarget, Addr: ph.URI("agent"),
		From: "+15550001111", CallSid: interpreter.NewSid("CA"), Timeout: 10 * time.Second},
		func(p interpreter.Progress) {
			switch p.Kind {
			case interpreter.Answered:
				answered <- struct{}{}
			case interpreter.Referred:
				transfers <- p.Transfer
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Cancel()
	<-answered
	c := <-calls
	go func() {
		tr := <-transfers
		if tr.Target != "<sip:sales@pbx.test>" || tr.Headers["X-Ticket"] != "7" {
			t.Errorf("transfer %+v", tr)
		}
		tr.Reply(202)
		tr.Notify(100)
		tr.Notify(200)
	}()
	res, err := c.Refer("sip:sales@pbx.test", map[string]string{"X-Ticket": "7"})
	if err != nil || res.StatusCode != 202 {
		t.Fatalf("REFER: %v %v, want 202", res, err)
	}
	waitFor(t, 5*time.Second, "two NOTIFYs", func() bool { return len(c.Notifies()) == 2 })
	if got := c.Notifies(); got[0] != 100 || got[1] != 200 {
		t.Errorf("NOTIFYs %v, want 100 then 200", got)
	}
	var last *sip.Request
	for _, r := range c.Requests() {
		if r.Method == sip.NOTIFY {
			last = r
		}
	}
	if h := last.GetHeader("Subscription-State"); h == nil || !strings.HasPrefix(h.Value(), "terminated") {
		t.Errorf("last NOTIFY's Subscription-State %v, want terminated", h)
	}
	if h := last.GetHeader("Event"); h == nil || !strings.HasPrefix(h.Value(), "refer;id=") {
		t.Errorf("NOTIFY Event %v, want refer;id=CSeq", h)
	}
}

// TestReferFromCallerDeclined: the caller of an inbound call cannot
// transfer itself yet; a REFER without Refer-To is malformed.
func TestReferFromCallerDeclined(t *testing.T) {
	h := newSIPHarness(t)
	_, _, c := referCall(t, h)
	res, err := c.Refer("sip:sales@pbx.test", nil)
	if err != nil || res.StatusCode != 603 {
		t.Errorf("REFER from the caller: %v %v, want 603", res, err)
	}
	res, err = c.Request(sip.REFER, "", nil)
	if err != nil || res.StatusCode != 400 {
		t.Errorf("REFER without Refer-To: %v %v, want 400", res, err)
	}
}
