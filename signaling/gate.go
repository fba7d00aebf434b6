package signaling

import (
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// gate lets requests reach their handlers until the server closes, and
// lets Close wait for the handlers already running before it closes the
// user agent.
//
// sipgo hands every request it reads to a goroutine of its own, which
// answers on a connection it finds in the user agent's pool. A request
// that crossed Close (a peer's BYE or OPTIONS as texml shuts down) could
// run after the user agent had closed its transports: sipgo then binds a
// fresh UDP socket to answer from, with a reader goroutine, and nothing
// is left to close them. Behind the gate such a request is not answered
// (the server is gone; the peer's transaction times out as for any
// vanished host), and a connection opened for it is closed.
type gate struct {
	mu      sync.Mutex
	shutAt  bool           // Close has begun closing the user agent
	running sync.WaitGroup // handlers let through and not yet returned
}

// guard wraps h so that it runs only while the gate is open.
func (g *gate) guard(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if !g.enter() {
			drop(tx)
			return
		}
		defer g.running.Done()
		h(req, tx)
	}
}

// enter reports whether a handler may run, and counts it if so.
func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shutAt {
		return false
	}
	g.running.Add(1)
	return true
}

// shut closes the gate and waits for the handlers it let through. The
// server's handlers do not wait on anything that outlives the calls, and
// Close has waited for the calls first.
func (g *gate) shut() {
	g.mu.Lock()
	g.shutAt = true
	g.mu.Unlock()
	g.running.Wait()
}

// drop ends the transaction of a request that will not be answered, and
// closes its connection: the listening socket's is only released (its
// owner closes the socket), any other is one sipgo opened to answer this
// request, which nobody else would close.
func drop(tx sip.ServerTransaction) {
	if tx == nil {
		return
	}
	tx.Terminate()
	if c, ok := tx.(interface{ Connection() sip.Connection }); ok && c.Connection() != nil {
		_ = c.Connection().Close()
	}
}
