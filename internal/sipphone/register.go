package sipphone

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// RegisterOptions shape a REGISTER the phone sends.
type RegisterOptions struct {
	// Username and Password answer the registrar's digest challenge
	// (401 or 407); without them the challenge is the final response.
	Username, Password string
	// Expires is the registration asked for, in the Expires header;
	// 0 sends none (the registrar's default). Unregister asks for 0.
	Expires time.Duration
	// Contact replaces the phone's own Contact URI. A private address
	// that is not the phone's (sip:alice@10.0.0.5:5060) plays a phone
	// behind NAT: requests for it must come to the address the
	// REGISTER came from, which is the phone's.
	Contact string
	// TCP registers over TCP, on a connection of the phone's own that
	// the registrar must reuse to reach it (the phone needs WithTCP).
	TCP bool
}

// registration is what stays the same across one user's REGISTERs to
// one registrar: the Call-ID, and the CSeq that rises (RFC 3261 §10.2.4).
type registration struct {
	callID string
	cseq   uint32
}

// Register binds the phone to user at the registrar at host:port (the
// address of record is sip:user@host) over UDP, from the phone's
// listening socket as a phone's REGISTER leaves, and returns the final
// response, after answering one digest challenge. Refreshes reuse the
// Call-ID with a higher CSeq.
func (p *Phone) Register(ctx context.Context, registrar, user string, o RegisterOptions) (*sip.Response, error) {
	return p.sendRegister(ctx, registrar, user, o, strconv.Itoa(int(o.Expires/time.Second)), o.Expires > 0)
}

// Unregister removes the binding Register made (Expires: 0).
func (p *Phone) Unregister(ctx context.Context, registrar, user string, o RegisterOptions) (*sip.Response, error) {
	return p.sendRegister(ctx, registrar, user, o, "0", true)
}

func (p *Phone) sendRegister(ctx context.Context, registrar, user string, o RegisterOptions, expires string, sendExpires bool) (*sip.Response, error) {
	host, portText, err := net.SplitHostPort(registrar)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, err
	}
	key := registrar + " " + user
	p.mu.Lock()
	reg, ok := p.regs[key]
	if !ok {
		reg = &registration{callID: fmt.Sprintf("reg-%s-%d-%d", user, p.port, time.Now().UnixNano())}
		p.regs[key] = reg
	}
	reg.cseq++
	cseq := reg.cseq
	p.mu.Unlock()

	aor := sip.Uri{Scheme: "sip", User: user, Host: host}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: host, Port: port})
	from := &sip.FromHeader{Address: aor}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	callID := sip.CallIDHeader(reg.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.REGISTER})
	contact := sip.HeaderClone(&p.udpUA.ContactHDR).(*sip.ContactHeader)
	contact.Address.User = user
	if o.Contact != "" {
		if err := sip.ParseUri(o.Contact, &contact.Address); err != nil {
			return nil, fmt.Errorf("contact %q: %w", o.Contact, err)
		}
	}
	req.AppendHeader(contact)
	if sendExpires {
		req.AppendHeader(sip.NewHeader("Expires", expires))
	}
	cli := p.udpUA.Client
	if o.TCP {
		req.SetTransport("TCP")
		contact.Address.UriParams = sip.NewParams()
		contact.Address.UriParams.Add("transport", "tcp")
		cli = p.tcpUA.Client
	}
	res, err := cli.Do(ctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) && o.Password != "" {
		res, err = cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: o.Username, Password: o.Password})
	}
	p.mu.Lock()
	reg.cseq = max(reg.cseq, req.CSeq().SeqNo)
	p.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("sipphone: REGISTER %s at %s: %w", user, registrar, err)
	}
	return res, nil
}
