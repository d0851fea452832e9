package redis

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/redistest"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/storetest"
)

// outageLimit bounds how long an operation may take to report an outage:
// the 500 ms timeouts plus generous scheduling slack.
const outageLimit = 3 * time.Second

func TestOpenUnreachable(t *testing.T) {
	refused := closedAddr(t)
	silent := silentListener(t)
	tests := []struct {
		name, addr string
		timeout    bool
	}{
		{"connection refused", refused, false},
		{"no answer", silent, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			s, err := Open(context.Background(), Options{URL: "redis://" + tt.addr})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("Open: %v, want ErrUnavailable", err)
			}
			var ne net.Error
			if tt.timeout && !(errors.As(err, &ne) && ne.Timeout()) {
				t.Fatalf("Open: %v, want the timeout kept as the cause", err)
			}
			if d := time.Since(start); d > outageLimit {
				t.Fatalf("Open took %v to give up, want < %v", d, outageLimit)
			}
		})
	}
}

// TestOutageAndRecovery runs the store through a proxy that is cut and
// restored: during the outage every kind of operation answers
// ErrUnavailable quickly; afterwards the same Store works again.
func TestOutageAndRecovery(t *testing.T) {
	ctx := context.Background()
	u, err := url.Parse(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	u.Host = p.addr // same credentials and database, through the proxy
	rdb := redistest.Client(t)
	s, err := Open(ctx, Options{URL: u.String(), Prefix: redistest.Prefix(t, rdb)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := storetest.Now()
	if err := s.CreateFamily(ctx, storetest.NewFamily("f1", now, "t0")); err != nil {
		t.Fatal(err)
	}

	p.cut()
	ops := map[string]func() error{
		"Ping":          func() error { return s.Ping(ctx) },
		"GetClient":     func() error { _, err := s.GetClient(ctx, "c1"); return err },
		"UpdateUser":    func() error { _, err := s.UpdateUser(ctx, "u1", func(*store.User) error { return nil }); return err },
		"SwapKeySet":    func() error { _, err := s.SwapKeySet(ctx, 0, nil); return err },
		"RotateRefresh": func() error { _, err := s.RotateRefresh(ctx, storetest.Rotate("f1", "t0", "t1", now)); return err },
		"DenyState": func() error {
			_, err := s.DenyState(ctx, store.DenyQuery{JTI: "j", SID: "s"})
			return err
		},
		"Deny":         func() error { return s.Deny(ctx, jtiDenial("j", time.Now())) },
		"Denials":      func() error { _, _, err := s.Denials(ctx); return err },
		"DenialsAfter": func() error { _, err := s.DenialsAfter(ctx, "", 10*time.Second); return err },
	}
	for name, op := range ops {
		start := time.Now()
		err := op()
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s during the outage: %v, want ErrUnavailable", name, err)
		}
		if d := time.Since(start); d > outageLimit {
			t.Errorf("%s took %v to fail, want < %v", name, d, outageLimit)
		}
	}

	p.restore()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after recovery: %v", err)
	}
	// The rotation refused during the outage never happened.
	if _, err := s.RotateRefresh(ctx, storetest.Rotate("f1", "t0", "t1", now)); err != nil {
		t.Fatalf("RotateRefresh after recovery: %v", err)
	}
}

func TestServerErrorIsNotUnavailable(t *testing.T) {
	s := openTest(t, Options{})
	// A real server error from the test Redis: not an outage.
	err := s.fail("test", s.rdb.Do(context.Background(), "NOSUCHCOMMAND").Err())
	if err == nil || errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("unknown command: %v, want a plain error", err)
	}
	if err := s.fail("test", context.Canceled); errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v, want context.Canceled without ErrUnavailable", err)
	}
	for _, msg := range []string{"LOADING Redis is loading", "CLUSTERDOWN The cluster is down", "READONLY You can't write"} {
		if err := s.fail("test", serverError(msg)); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%q: %v, want ErrUnavailable", msg, err)
		}
	}
}

// serverError is a server error reply as go-redis reports it.
type serverError string

func (e serverError) Error() string { return string(e) }
func (serverError) RedisError()     {}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentListener accepts connections and never answers.
func silentListener(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// proxy forwards TCP to a target; cut closes the listener and every
// connection, restore listens again on the same address.
type proxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	l      net.Listener
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, addr: "127.0.0.1:0", target: target}
	p.restore()
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) restore() {
	l, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.l, p.addr = l, l.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	})
}

func (p *proxy) cut() {
	p.mu.Lock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
