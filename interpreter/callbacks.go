package interpreter

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/texml/texml/fetcher"
)

// Callback is one asynchronous webhook: a status callback, a recording
// status callback or a partial speech result.
type Callback struct {
	Kind    string // "status", "recording-status", "partial"
	URL     string
	Method  string
	Params  url.Values
	CallSid string
	// Signing, when set, signs the callback instead of the Fetcher's own
	// settings (Config.Signing).
	Signing *fetcher.Signing
	Tracer  Tracer        // receives a "callback" event when delivered or given up
	T       time.Duration // call time when queued, for the trace
}

// DispatcherOptions configure a Dispatcher; zero values take defaults.
type DispatcherOptions struct {
	Workers  int           // default 4
	Queue    int           // pending callbacks before new ones are dropped; default 1024
	Attempts int           // deliveries tried per callback; default 3
	Backoff  time.Duration // wait before the second attempt, doubled after; default 1 s
	Timeout  time.Duration // per attempt; default 15 s
	Logger   *slog.Logger
}

// Dispatcher delivers callbacks in the background through a bounded queue
// with retries, so that a slow or failing callback URL never blocks or
// fails a call (Twilio's call resource, "StatusCallback": callbacks are
// asynchronous). One Dispatcher serves many calls.
type Dispatcher struct {
	f    Fetcher
	o    DispatcherOptions
	q    chan Callback
	wg   sync.WaitGroup
	mu   sync.RWMutex // guards done against Send racing Close
	done bool
	stop chan struct{}
	once sync.Once // closes stop
	// base parents every delivery; Close cancels it when its deadline
	// passes so that in-flight requests end too.
	base  context.Context
	abort context.CancelFunc
}

// NewDispatcher starts the delivery workers.
func NewDispatcher(f Fetcher, o DispatcherOptions) *Dispatcher {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Queue <= 0 {
		o.Queue = 1024
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{f: f, o: o, q: make(chan Callback, o.Queue), stop: make(chan struct{})}
	d.base, d.abort = context.WithCancel(context.Background())
	for range o.Workers {
		d.wg.Add(1)
		go d.work()
	}
	return d
}

// Send queues cb without blocking. It reports false when the queue is full
// or the dispatcher is closed; the callback is then dropped and logged.
func (d *Dispatcher) Send(cb Callback) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.done {
		d.o.Logger.Warn("callback dropped: dispatcher closed", "call_sid", cb.CallSid, "url", fetcher.Redact(cb.URL))
		return false
	}
	select {
	case d.q <- cb:
		return true
	default:
		d.o.Logger.Warn("callback dropped: queue full", "call_sid", cb.CallSid, "url", fetcher.Redact(cb.URL))
		return false
	}
}

// Close stops accepting callbacks and waits for the queued ones to be
// delivered, or for ctx to end, whichever comes first.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.done {
		d.done = true
		close(d.q)
	}
	d.mu.Unlock()
	finished := make(chan struct{})
	go func() { d.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		d.abort()
		return nil
	case <-ctx.Done():
		d.once.Do(func() { close(d.stop) }) // abandon retries
		d.abort()                           // and the requests in flight
		<-finished
		return ctx.Err()
	}
}

func (d *Dispatcher) work() {
	defer d.wg.Done()
	for cb := range d.q {
		d.deliver(cb)
	}
}

func (d *Dispatcher) deliver(cb Callback) {
	backoff := d.o.Backoff
	var err error
	attempt := 0
	for attempt = 1; attempt <= d.o.Attempts; attempt++ {
		ctx, cancel := context.WithTimeout(d.base, d.o.Timeout)
		var resp *fetcher.Response
		resp, err = d.f.Fetch(ctx, fetcher.Request{URL: cb.URL, Method: cb.Method, Params: cb.Params, Signing: cb.Signing})
		cancel()
		if err == nil || !retryable(err) {
			status := 0
			if resp != nil {
				status = resp.Status
			}
			if err == nil || delivered(err) {
				d.report(cb, attempt, status, nil)
				return
			}
			break
		}
		if attempt == d.o.Attempts {
			break
		}
		select {
		case <-time.After(backoff):
		case <-d.stop:
			d.report(cb, attempt, 0, err)
			return
		}
		backoff *= 2
	}
	d.o.Logger.Warn("callback failed", "call_sid", cb.CallSid, "kind", cb.Kind, "url", fetcher.Redact(cb.URL), "attempts", attempt, "err", err)
	d.report(cb, attempt, 0, err)
}

// delivered reports a response that reached the app with a 2xx status but
// a body the fetcher would not run as TwiML; for a callback that is success.
func delivered(err error) bool {
	var fe *fetcher.Error
	return errors.As(err, &fe) && fe.Status >= 200 && fe.Status < 300
}

// retryable: connection failures and 5xx are retried; 4xx are final.
func retryable(err error) bool {
	var fe *fetcher.Error
	if !errors.As(err, &fe) {
		return true
	}
	if delivered(err) {
		return false
	}
	return fe.Status == 0 || fe.Status >= 500
}

func (d *Dispatcher) report(cb Callback, attempts, status int, err error) {
	if cb.Tracer == nil {
		return
	}
	f := map[string]any{"kind": cb.Kind, "method": cb.Method, "url": cb.URL, "params": flatten(cb.Params), "attempts": attempts}
	if status != 0 {
		f["status"] = status
	}
	if err != nil {
		f["error"] = err.Error()
	}
	cb.Tracer.Trace(Event{Name: "callback", T: cb.T, Fields: f})
}

// statusEvent sends a call status callback when the app subscribed to
// event (https://www.twilio.com/docs/voice/api/call-resource#statuscallbackevent):
// initiated, ringing, answered or completed.
func (c *Call) statusEvent(event string, at time.Time) {
	c.notify(event, at)
	if c.cfg.StatusCallback == "" {
		return
	}
	subscribed := false
	for _, e := range c.cfg.StatusCallbackEvents {
		if e == event {
			subscribed = true
		}
	}
	if !subscribed {
		return
	}
	p := c.baseParams()
	switch event {
	case "initiated":
		p.Set("CallStatus", "initiated")
	case "ringing":
		p.Set("CallStatus", "ringing")
	case "answered":
		p.Set("CallStatus", "in-progress")
	case "completed":
		p.Set("CallDuration", "0")
		if !c.answered.IsZero() {
			p.Set("CallDuration", strconv.Itoa(wholeSeconds(at.Sub(c.answered))))
		}
		if c.sipCode != 0 {
			p.Set("SipResponseCode", strconv.Itoa(c.sipCode))
		}
	}
	p.Set("CallbackSource", "call-progress-events")
	p.Set("SequenceNumber", strconv.Itoa(c.seq))
	p.Set("Timestamp", c.timestamp(at))
	c.seq++
	c.post("status", c.cfg.StatusCallback, c.cfg.StatusCallbackMethod, p)
}
