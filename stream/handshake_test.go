package stream

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// silentServer is a TCP listener that accepts connections and never
// answers on them: an app whose WebSocket upgrade never comes back. It
// hands each accepted connection to the test, which the cleanup closes.
func silentServer(t *testing.T) (addr string, accepted chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		for {
			select {
			case c := <-accepted:
				_ = c.Close()
			default:
				return
			}
		}
	})
	return ln.Addr().String(), accepted
}

// TestHandshakeTimeout: an app that takes the TCP connection but never
// answers the upgrade is Twilio's error 31901, "no answer to the
// connection request" (https://www.twilio.com/docs/api/errors/31901),
// once Dialer.HandshakeTimeout has passed (the README's feature matrix
// promises 31920/31901 when the socket cannot open). When the caller's
// own context ends first, the app is not to blame: 31920, not 31901.
func TestHandshakeTimeout(t *testing.T) {
	t.Run("app never answers", func(t *testing.T) {
		addr, accepted := silentServer(t)
		s := New(config(false, nil))
		start := time.Now()
		err := s.Connect(context.Background(), &Dialer{HandshakeTimeout: 100 * time.Millisecond}, "ws://"+addr+"/media")
		took := time.Since(start)
		var de *DialError
		if !errors.As(err, &de) || de.Code != CodeTimeout {
			t.Fatalf("Connect = %v, want a DialError with code %d", err, CodeTimeout)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Connect = %v, want the handshake's deadline as its cause", err)
		}
		// The dialer's timeout bounds the wait, not DefaultHandshakeTimeout.
		if took > DefaultHandshakeTimeout/2 {
			t.Errorf("Connect took %v with a 100ms HandshakeTimeout", took)
		}
		// The TCP connection was made: it is the upgrade that got no
		// answer, not the connect.
		select {
		case <-accepted:
		case <-time.After(5 * time.Second):
			t.Error("the server accepted no connection")
		}
		if !errors.Is(s.Err(), err) {
			t.Errorf("Err = %v, want the connect error: the stream has ended", s.Err())
		}
		_ = s.Close(context.Background())
	})
	t.Run("caller gives up first", func(t *testing.T) {
		addr, _ := silentServer(t)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		s := New(config(false, nil))
		err := s.Connect(ctx, &Dialer{HandshakeTimeout: time.Minute}, "ws://"+addr+"/media")
		var de *DialError
		if !errors.As(err, &de) || de.Code != CodeHandshake {
			t.Fatalf("Connect = %v, want a DialError with code %d", err, CodeHandshake)
		}
		_ = s.Close(context.Background())
	})
}
