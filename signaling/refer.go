package signaling

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/texml/texml/interpreter"
)

// referSub is the implicit subscription a REFER we sent creates (RFC 3515
// §2.4.4): the referee's NOTIFYs report how its call to the target goes.
// One REFER runs at a time per leg (the call's goroutine sends it), so
// a NOTIFY with Event: refer in the leg's dialog belongs to it; the id
// parameter (the REFER's CSeq, §2.4.6) is not needed to tell REFERs apart,
// and a NOTIFY may even come before the 202 (§2.4.4), when the CSeq is
// not known to us yet.
type referSub struct {
	notes chan referNote
}

// referNote is one NOTIFY: the status line of its message/sipfrag body
// (RFC 3515 §2.4.5) and whether it ends the subscription.
type referNote struct {
	code       int
	terminated bool
}

// errNoReferResponse: the party never answered our REFER.
var errNoReferResponse = errors.New("no final response to the REFER")

// Refer implements interpreter.Leg: a REFER in the leg's dialog whose
// Refer-To is t's URI (its embedded headers and t.Headers go to the
// target in the referee's INVITE), then the NOTIFYs until one reports a
// final status or ends the subscription, or until t.Timeout.
func (l *Leg) Refer(ctx context.Context, t interpreter.ReferTarget) (interpreter.ReferResult, error) {
	var res interpreter.ReferResult
	if !l.dialogUp() || l.gone.Err() != nil {
		return res, interpreter.ErrHangup
	}
	referTo, err := referToValue(t)
	if err != nil {
		return res, fmt.Errorf("refer-to: %w", err)
	}
	sub := &referSub{notes: make(chan referNote, 8)}
	l.mu.Lock()
	l.refer = sub
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.refer = nil
		l.mu.Unlock()
	}()
	code, err := l.sendRefer(ctx, referTo)
	res.Code = code
	if err != nil {
		if l.ctxErr(ctx) != nil || l.gone.Err() != nil {
			return res, l.hangupErr(ctx)
		}
		l.log.Warn("REFER", "err", err)
		return res, nil // the party did not take it: code 0
	}
	if code < 200 || code >= 300 {
		return res, nil
	}
	wait := t.Timeout
	if wait <= 0 {
		wait = interpreter.ReferTimeout
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case n := <-sub.notes:
			res.Notify = n.code
			if n.code >= 200 || n.terminated {
				return res, nil
			}
		case <-timer.C:
			l.log.Info("REFER: no final NOTIFY in time", "wait", wait, "last", res.Notify)
			return res, nil
		case <-l.gone.Done():
			// A referee often hangs up right after its final NOTIFY:
			// take the NOTIFYs that came before the BYE first.
			drainNotes(sub, &res)
			return res, interpreter.ErrHangup
		case <-ctx.Done():
			drainNotes(sub, &res)
			return res, l.ctxErr(ctx)
		}
	}
}

// hangupErr is the error of a REFER cut short by the end of the call.
func (l *Leg) hangupErr(ctx context.Context) error {
	if l.gone.Err() != nil {
		return interpreter.ErrHangup
	}
	return l.ctxErr(ctx)
}

// drainNotes takes the NOTIFYs already received into res.
func drainNotes(sub *referSub, res *interpreter.ReferResult) {
	for {
		select {
		case n := <-sub.notes:
			res.Notify = n.code
		default:
			return
		}
	}
}

// sendRefer sends the REFER in the leg's dialog, inbound (we are its UAS:
// sipgo's dialog session builds the request from the INVITE, with its
// route set, our tag and the next CSeq, RFC 3261 §12.2.1.1) or outbound
// (our own UAC dialog), and returns the final response's code.
func (l *Leg) sendRefer(ctx context.Context, referTo string) (int, error) {
	var req *sip.Request
	if l.out != nil {
		req = l.out.request(sip.REFER)
	} else {
		req = sip.NewRequest(sip.REFER, remoteTarget(l.dlg.InviteRequest))
	}
	req.AppendHeader(sip.NewHeader("Refer-To", referTo))
	// Referred-By names us to the target (RFC 3892); Twilio sends its
	// own, and a PBX may show it.
	req.AppendHeader(sip.NewHeader("Referred-By", "<"+l.srv.dua.ContactHDR.Address.String()+">"))
	req.AppendHeader(sip.NewHeader("User-Agent", l.srv.cfg.UserAgent))
	var tx sip.ClientTransaction
	var err error
	if l.out != nil {
		tx, err = l.srv.client.TransactionRequest(ctx, req, sipgo.ClientRequestAddVia)
	} else {
		tx, err = l.dlg.TransactionRequest(ctx, req)
	}
	if err != nil {
		return 0, fmt.Errorf("REFER: %w", err)
	}
	defer func() {
		if tx != nil {
			tx.Terminate()
		}
	}()
	authed := false
	for {
		select {
		case r := <-tx.Responses():
			if r.IsProvisional() {
				continue
			}
			if (r.StatusCode == 401 || r.StatusCode == 407) && !authed && l.out != nil && l.out.pass != "" {
				// Challenged as our INVITE was (RFC 3261 §22.2): once
				// more with the same credentials. sipgo gives the retry
				// the next CSeq; the dialog's counter moves past it.
				authed = true
				l.out.cseq.Add(1)
				tx.Terminate()
				tx, err = l.srv.client.TransactionDigestAuth(ctx, req, r, sipgo.DigestAuth{Username: l.out.user, Password: l.out.pass})
				if err != nil {
					return 0, fmt.Errorf("REFER: %w", err)
				}
				continue
			}
			return r.StatusCode, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return 0, fmt.Errorf("REFER: %w", err)
			}
			return 0, errNoReferResponse
		case <-l.gone.Done():
			return 0, interpreter.ErrHangup
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		}
	}
}

// remoteTarget is where requests in an inbound call's dialog go: the
// caller's Contact (RFC 3261 §12.1.1), or its From URI when the INVITE
// had none.
func remoteTarget(invite *sip.Request) sip.Uri {
	if ct := invite.Contact(); ct != nil {
		return *ct.Address.Clone()
	}
	return *invite.From().Address.Clone()
}

// referToValue is the Refer-To header of t: the URI in angle brackets,
// which it needs as soon as it has parameters or headers (RFC 3261 §20,
// name-addr), with t.Headers embedded after its own (RFC 3261 §19.1.1:
// hname=hvalue, escaped, joined by &).
func referToValue(t interpreter.ReferTarget) (string, error) {
	uri := strings.TrimSpace(t.URI)
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil || u.Host == "" {
		return "", fmt.Errorf("bad SIP URI %q", t.URI)
	}
	if len(t.Headers) > 0 {
		names := make([]string, 0, len(t.Headers))
		for k := range t.Headers {
			names = append(names, k)
		}
		sort.Strings(names)
		sep := "?"
		if strings.Contains(uri, "?") {
			sep = "&"
		}
		var b strings.Builder
		b.WriteString(uri)
		for _, k := range names {
			b.WriteString(sep)
			b.WriteString(uriEscape(k) + "=" + uriEscape(t.Headers[k]))
			sep = "&"
		}
		uri = b.String()
	}
	return "<" + uri + ">", nil
}

// uriEscape escapes a header name or value for a SIP URI: as a URL query
// does, but a space is %20 (a "+" is a plus in SIP).
func uriEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// onNotify takes a NOTIFY in a call's dialog. Only the refer event
// package is ours (RFC 3515 §2.4.4); any other event gets 489 Bad Event
// (RFC 6665 §4.1.3), and a NOTIFY when no REFER of ours is running 481
// (the subscription does not exist, RFC 6665 §4.1.3).
func (s *Server) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	leg := s.lookup(req)
	if leg == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	ev := ""
	if h := req.GetHeader("Event"); h != nil {
		ev, _, _ = strings.Cut(h.Value(), ";")
	}
	if !strings.EqualFold(strings.TrimSpace(ev), "refer") {
		respond(tx, req, 489, "Bad Event")
		return
	}
	leg.mu.Lock()
	sub := leg.refer
	leg.mu.Unlock()
	if sub == nil {
		respond(tx, req, 481, "Subscription Does Not Exist")
		return
	}
	code, ok := sipfragStatus(req.Body())
	terminated := false
	if h := req.GetHeader("Subscription-State"); h != nil {
		state, _, _ := strings.Cut(h.Value(), ";")
		terminated = strings.EqualFold(strings.TrimSpace(state), "terminated")
	}
	if !ok && !terminated {
		respond(tx, req, 400, "Bad Request")
		return
	}
	// The note goes to the waiting REFER before our 200: a referee that
	// hangs up once its final NOTIFY is answered cannot overtake it.
	select {
	case sub.notes <- referNote{code: code, terminated: terminated}:
	default:
		leg.log.Warn("REFER: NOTIFY dropped; too many unread", "code", code)
	}
	respond(tx, req, 200, "OK")
}

// sipfragStatus reads the status code of a message/sipfrag body's status
// line ("SIP/2.0 200 OK", RFC 3420), as a REFER's NOTIFY carries it (RFC
// 3515 §2.4.5).
func sipfragStatus(body []byte) (int, bool) {
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	if !sc.Scan() {
		return 0, false
	}
	f := strings.Fields(sc.Text())
	if len(f) < 2 || !strings.HasPrefix(strings.ToUpper(f[0]), "SIP/") {
		return 0, false
	}
	code, err := strconv.Atoi(f[1])
	if err != nil || code < 100 || code > 699 {
		return 0, false
	}
	return code, true
}
