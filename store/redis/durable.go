package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// Durable writes.
//
// Redis replication is asynchronous: a primary answers a write before any
// replica has it, and a replica promoted by Sentinel (or a Cluster
// failover) lacks whatever had not reached it. For a refresh-token family
// that is fatal: the client holds the successor of a rotation the new
// primary never saw, so its next refresh presents a token the family
// already replaced (reuse, the login ends), while the token the client
// used before is Current again and a thief holding it could redeem it.
//
// With Options.WaitReplicas = N > 0, every family write (create, rotate,
// revoke) and denylist write is followed, on the same connection and in
// the same round trip where possible, by WAIT N WaitTimeout: the write is
// acknowledged to authd's caller only once N replicas hold it. A WAIT that
// comes back short answers store.ErrUnavailable (the client gets 503) —
// the write is on the primary, it is just not yet safe.
//
// That leaves one case to design for: a rotation that committed on the
// primary but whose WAIT timed out. The client got 503 and retries with
// the same token, which is now Previous; with no reuse leeway that would
// be judged reuse. So a durable rotation is stored *pending* (flag bit 2
// of the record, in the same script that rotates) and only marked
// acknowledged (ackRotationScript) after WAIT confirmed it. While a
// rotation is pending, presenting its Previous within pendingWindow
// rotates again: the unacknowledged successor never left authd (its
// answer was a 503), so replacing it is safe, and the family keeps one
// line of descent. Whatever a failover keeps — the state before the
// rotation (the retry is Current) or after it, pending (the retry
// re-rotates) — the honest retry succeeds. A crash between a successful
// WAIT and the acknowledgement leaves the rotation pending: then the
// token the client just used may rotate once more within pendingWindow
// (the client's own successor then counts as reuse and ends the login,
// as any theft would), a bounded weakening only after a failover.

// pendingWindow is how long after an unacknowledged rotation its
// Previous may rotate again (see above): long enough for a client's
// retries after a 503, short enough to bound the exposure.
const pendingWindow = 5 * time.Minute

// famPending is the record flag of a rotation not yet acknowledged.
const famPending = 2

// MaxWaitTimeout bounds Options.WaitTimeout: the WAIT shares a pipelined
// round trip with its write, which go-redis bounds by the read timeout.
const MaxWaitTimeout = defaultIOTimeout - 100*time.Millisecond

// errNotReplicated is wrapped (with store.ErrUnavailable) when WAIT comes
// back with fewer replicas than Options.WaitReplicas.
var errNotReplicated = errors.New("write not acknowledged by enough replicas in time")

// ackRotationScript marks a pending rotation acknowledged. KEYS: family.
// ARGV: the Current digest it rotated to. Returns 1 if cleared.
var ackRotationScript = goredis.NewScript(luaFamily + `
local v = redis.call('GET', KEYS[1])
if not v then
	return 0
end
local ver, x, i, r, n, g, fl, cu = struct.unpack(HEAD, v)
if ver ~= 1 or cu ~= ARGV[1] or math.floor(fl / 2) % 2 ~= 1 then
	return 0
end
redis.call('SETRANGE', KEYS[1], ` + strconv.Itoa(famFlagsOffset) + `, string.char(fl - 2))
return 1
`)

// durable reports whether writes wait for replicas.
func (s *Store) durable() bool { return s.waitReplicas > 0 }

// primaryConn returns one connection to the primary holding key (WAIT
// counts the writes of its own connection only). Close it after use.
func (s *Store) primaryConn(ctx context.Context, key string) (*goredis.Conn, error) {
	switch c := s.rdb.(type) {
	case *goredis.ClusterClient:
		node, err := c.MasterForKey(ctx, key)
		if err != nil {
			return nil, err
		}
		return node.Conn(), nil
	case *goredis.Client:
		return c.Conn(), nil
	}
	return nil, fmt.Errorf("durable writes need a go-redis Client or ClusterClient, not %T", s.rdb)
}

// runDurable runs sc on the primary holding keys[0], followed by WAIT on
// the same connection in one pipelined round trip (again with EVAL if the
// server lost its script cache, as after a failover). It returns the
// script's reply and the WAIT; err is set only when no connection could
// be had.
func (s *Store) runDurable(ctx context.Context, sc *goredis.Script, keys []string, args ...any) (*goredis.Cmd, waitReply, error) {
	conn, err := s.primaryConn(ctx, keys[0])
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	var reply *goredis.Cmd
	var wait *goredis.Cmd
	run := func(eval bool) {
		pipe := conn.Pipeline()
		if eval {
			reply = sc.Eval(ctx, pipe, keys, args...)
		} else {
			reply = sc.EvalSha(ctx, pipe, keys, args...)
		}
		wait = pipe.Do(ctx, "WAIT", s.waitReplicas, s.waitTimeout.Milliseconds())
		_, _ = pipe.Exec(ctx) // errors are checked per command
	}
	run(false)
	if isNoScript(reply.Err()) {
		run(true)
	}
	return reply, wait, nil
}

// waitReply is the answer of a WAIT, pipelined (*goredis.Cmd) or not
// (*goredis.IntCmd).
type waitReply interface{ Int64() (int64, error) }

// replicated checks the answer of a WAIT: nil when enough replicas
// acknowledged, else an error wrapping store.ErrUnavailable.
func (s *Store) replicated(op string, wait waitReply) error {
	n, err := wait.Int64()
	if err != nil {
		return s.fail(op+" (wait for replicas)", err)
	}
	if int(n) < s.waitReplicas {
		s.log.Warn("redis write not replicated in time", "op", op, "replicas", n, "want", s.waitReplicas, "timeout", s.waitTimeout)
		return fmt.Errorf("redis %s: %w: %w (%d of %d in %v)", op, store.ErrUnavailable, errNotReplicated, n, s.waitReplicas, s.waitTimeout)
	}
	return nil
}

// ackRotation clears the pending flag of a rotation WAIT confirmed. A
// failure is logged only: the rotation stands, and stays pending (see
// the comment at the top of this file).
func (s *Store) ackRotation(ctx context.Context, key string, current []byte) {
	if err := ackRotationScript.Run(ctx, s.rdb, []string{key}, current).Err(); err != nil {
		s.log.Warn("redis acknowledge rotation", "err", err)
	}
}

// denyDurable is Deny with WaitReplicas > 0: the denylist script and the
// feed append, then WAIT on each primary written to.
func (s *Store) denyDurable(ctx context.Context, denyKeys []string, denyArgs []any, feedKeys []string, feedArgs []any) error {
	if _, cluster := s.rdb.(*goredis.ClusterClient); cluster {
		// The entry and the stream live in different slots: each is
		// written and waited for on its own primary.
		reply, wait, err := s.runDurable(ctx, denyScript, denyKeys, denyArgs...)
		if err != nil {
			return s.fail("deny", err)
		}
		if err := reply.Err(); err != nil {
			return s.fail("deny", err)
		}
		if err := s.replicated("deny", wait); err != nil {
			return err
		}
		reply, wait, err = s.runDurable(ctx, feedAppendScript, feedKeys, feedArgs...)
		if err != nil {
			return s.fail("append revocation feed", err)
		}
		if err := reply.Err(); err != nil && !errors.Is(err, goredis.Nil) {
			return s.fail("append revocation feed", err)
		}
		return s.replicated("append revocation feed", wait)
	}
	conn, err := s.primaryConn(ctx, denyKeys[0])
	if err != nil {
		return s.fail("deny", err)
	}
	defer conn.Close()
	pipe := conn.TxPipeline()
	deny := denyScript.EvalSha(ctx, pipe, denyKeys, denyArgs...)
	feed := feedAppendScript.EvalSha(ctx, pipe, feedKeys, feedArgs...)
	_, _ = pipe.Exec(ctx) // errors are checked per command
	if isNoScript(deny.Err()) {
		deny = denyScript.Eval(ctx, conn, denyKeys, denyArgs...)
	}
	if err := deny.Err(); err != nil {
		return s.fail("deny", err)
	}
	if isNoScript(feed.Err()) {
		feed = feedAppendScript.Eval(ctx, conn, feedKeys, feedArgs...)
	}
	if err := feed.Err(); err != nil && !errors.Is(err, goredis.Nil) {
		return s.fail("append revocation feed", err)
	}
	// WAIT on the connection that wrote; its own read timeout applies.
	return s.replicated("deny", intReply{conn.Wait(ctx, s.waitReplicas, s.waitTimeout)})
}

// intReply adapts a WAIT sent on its own to waitReply.
type intReply struct{ *goredis.IntCmd }

func (r intReply) Int64() (int64, error) { return r.Result() }
