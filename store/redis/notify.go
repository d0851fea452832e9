package redis

import (
	"context"
	"errors"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// Timing of a subscription: how long a quiet connection waits before it
// is checked with a PING, and the bounds of the pause after a failure.
const (
	notifyHealthCheck = 5 * time.Second
	notifyMinBackoff  = 50 * time.Millisecond
	notifyMaxBackoff  = 2 * time.Second
)

var _ store.Notifier = (*Store)(nil)

// notifyChannel is the Pub/Sub channel of a topic: Pnotify:<topic>.
func (s *Store) notifyChannel(topic string) string { return s.prefix + "notify:" + topic }

// Publish sends msg on the topic's Pub/Sub channel (store.Notifier). On a
// Cluster, go-redis publishes on one node and the cluster bus carries the
// message to subscribers on every node.
func (s *Store) Publish(ctx context.Context, topic, msg string) error {
	if err := s.rdb.Publish(ctx, s.notifyChannel(topic), msg).Err(); err != nil {
		return s.fail("publish", err)
	}
	return nil
}

// Subscribe follows the topic's Pub/Sub channel until ctx ends
// (store.Notifier). go-redis reconnects and re-subscribes after a failure;
// each confirmed (re)subscription is reported as NoticeSubscribed and each
// failure once as NoticeLost. A quiet connection is checked with PING every
// 5 s, so a silently dead one is noticed.
func (s *Store) Subscribe(ctx context.Context, topic string, fn func(store.Notice)) error {
	ps := s.rdb.Subscribe(ctx, s.notifyChannel(topic))
	defer ps.Close()
	// A blocked receive does not watch ctx; closing the subscription ends it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	live := false
	backoff := notifyMinBackoff
	lost := func() {
		if live {
			live = false
			fn(store.Notice{Kind: store.NoticeLost})
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := ps.ReceiveTimeout(ctx, notifyHealthCheck)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if perr := ps.Ping(ctx); perr == nil {
					continue // the PONG (or a message) comes next
				}
			}
			lost()
			s.log.Debug("redis subscription down", "topic", topic, "err", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, notifyMaxBackoff)
			continue
		}
		switch m := m.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				live, backoff = true, notifyMinBackoff
				fn(store.Notice{Kind: store.NoticeSubscribed})
			}
		case *goredis.Message:
			fn(store.Notice{Kind: store.NoticeMessage, Msg: m.Payload})
		}
	}
}
