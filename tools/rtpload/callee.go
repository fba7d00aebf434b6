package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// callees is the callee side (-callee): a user agent server on its own
// loopback socket that answers every INVITE texml sends it (the outbound
// legs of <Dial><Sip>), sends 20 ms RTP on each answered leg, measures
// what arrives, and waits for texml's BYE.
type callees struct {
	ua   *sipgo.UserAgent
	conn net.PacketConn
	dlgs *sipgo.DialogServerCache
	eng  *engine
	ctx  context.Context // the run's: a callee still up when it ends sends BYE

	next              atomic.Uint32 // stream ids, from 1<<31 up (callers count from 1)
	answered, refused atomic.Int64
	active            atomic.Int64 // legs answered and not ended yet
	wg                sync.WaitGroup

	mu   sync.Mutex
	legs []*calleeLeg
}

// calleeLeg is one answered (or failed) outbound leg of texml.
type calleeLeg struct {
	err    error
	byPeer bool // texml sent BYE (the normal end: the caller hung up)
	byeErr error
	leg    *leg
}

// newCallees starts answering on addr, a loopback IP:port.
func newCallees(ctx context.Context, addr string, eng *engine) (*callees, error) {
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	host, portText, _ := net.SplitHostPort(conn.LocalAddr().String())
	port, _ := strconv.Atoi(portText)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("texml-rtpload-callee"))
	if err != nil {
		conn.Close()
		return nil, err
	}
	srv, err := sipgo.NewServer(ua)
	if err == nil {
		var cl *sipgo.Client
		cl, err = sipgo.NewClient(ua, sipgo.WithClientAddr(conn.LocalAddr().String()))
		if err == nil {
			c := &callees{ua: ua, conn: conn, eng: eng, ctx: ctx}
			c.next.Store(1 << 31)
			c.dlgs = sipgo.NewDialogServerCache(cl, sip.ContactHeader{
				Address: sip.Uri{Scheme: "sip", User: "callee", Host: host, Port: port}})
			srv.OnInvite(c.onInvite)
			srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = c.dlgs.ReadAck(req, tx) })
			srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) { _ = c.dlgs.ReadBye(req, tx) })
			go func() { _ = srv.ServeUDP(conn) }()
			return c, nil
		}
	}
	ua.Close()
	conn.Close()
	return nil, err
}

// onInvite answers one outbound leg of texml. It blocks for the whole
// leg: sipgo ends the INVITE transaction when the handler returns.
func (c *callees) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	c.wg.Add(1)
	defer c.wg.Done()
	cl := &calleeLeg{}
	defer func() {
		c.mu.Lock()
		c.legs = append(c.legs, cl)
		c.mu.Unlock()
	}()
	remote, err := mediaAddr(req.Body())
	if err != nil {
		cl.err = err
		c.refused.Add(1)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return
	}
	dlg, err := c.dlgs.ReadInvite(req, tx)
	if err != nil {
		cl.err = fmt.Errorf("INVITE: %w", err)
		c.refused.Add(1)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	defer dlg.Close()
	id := c.next.Add(1)
	l, err := newLeg(id, c.eng)
	if err != nil {
		cl.err = fmt.Errorf("RTP socket: %w", err)
		c.refused.Add(1)
		_ = dlg.Respond(503, "Service Unavailable", nil)
		return
	}
	cl.leg = l
	defer c.eng.remove(l)
	defer l.close()
	l.setRemote(remote)
	answer := fmt.Sprintf("v=0\r\no=callee %d 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"+
		"a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n", id, l.port())
	// RespondSDP sends the 200 and waits for the ACK.
	if err := dlg.RespondSDP([]byte(answer)); err != nil {
		cl.err = fmt.Errorf("200 OK: %w", err)
		c.refused.Add(1)
		return
	}
	c.answered.Add(1)
	c.active.Add(1)
	defer c.active.Add(-1)
	stop := startMedia(c.eng, l)
	select {
	case <-dlg.Context().Done():
		cl.byPeer = true
	case <-c.ctx.Done():
		bctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cl.byeErr = dlg.Bye(bctx)
		cancel()
	}
	stop()
}

// results waits (up to wait) for the legs still up, then returns them all.
func (c *callees) results(wait time.Duration) []*calleeLeg {
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*calleeLeg(nil), c.legs...)
}

// close stops the user agent and its socket.
func (c *callees) close() {
	_ = c.ua.Close()
	_ = c.conn.Close()
}
