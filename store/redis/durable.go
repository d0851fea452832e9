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
// revoke), denylist write, SSO session write (create, touch with a new
// login, delete) and consent write (grant, withdraw) is followed, on the same connection and in
// the same round trip where possible, by WAIT N WaitTimeout: the write is
// acknowledged to authd's caller only once N replicas hold it. A WAIT that
// comes back short answers store.ErrUnavailable (the client gets 503) —
// the write is on the primary, it is just not yet safe. For sessions and
// consent that matters as much as for families: a logout or a withdrawn
// consent that a failover brings back is a security bug (the browser is
// signed in again, the client may skip the consent page), and a session
// that loses a login's link would not end that login at logout.
//
// That leaves one case to design for: a rotation that committed on the
// primary but whose WAIT timed out. The client got 503 and retries with
// the same token, which is now Previous; with no reuse leeway that would
// be judged reuse. So a durable rotation is stored *in flight* (flag bit
// 2 of the record, set by the same script that rotates) and finished by
// finishRotationScript once WAIT answered: acknowledged (bits cleared,
// the client gets 200) or abandoned (bit 4, the client gets 503). While
// a rotation is abandoned, presenting its Previous within pendingWindow
// rotates again: the abandoned successor never left authd, so replacing
// it is safe, and the family keeps one line of descent. While it is in
// flight (its request still running), presenting Previous is a
// concurrent replay and is reuse, as without WAIT — the client cannot be
// retrying an answer it has not had; inside a reuse leeway it answers
// ErrUnavailable instead of handing out the successor again before that
// is durable. An in-flight rotation older than
// inFlightBound was never finished (the primary or authd died between
// the rotation and its finish) and counts as abandoned.
//
// Whatever a failover keeps — the state before the rotation (the retry
// presents Current), the abandoned rotation (the retry rotates again) or
// an in-flight one (the retry rotates again once inFlightBound passed;
// a failover takes longer than that) — the honest retry succeeds, and no
// token is ever answered 200 twice: a rotation is answered 200 only if
// its finish found it still Current. The remaining weakening, after a
// failover only: an acknowledgement that did not reach the promoted
// replica leaves the rotation in flight there, so for pendingWindow the
// token the client just used can rotate once more (the client's own
// successor then counts as reuse and ends the login, as any theft would).

// pendingWindow is how long after an unacknowledged rotation its
// Previous may rotate again (see above): long enough for a client's
// retries after a 503, short enough to bound the exposure.
const pendingWindow = 5 * time.Minute

// inFlightBound is how long a rotation may stay in flight before it is
// taken as abandoned: the WAIT timeout plus 250 ms for the round trips of
// its finish. A failover takes longer than this (Sentinel's
// down-after-milliseconds alone is ≥ 500 ms in any sane deployment), so a
// rotation the promoted replica holds in flight is always past it when
// the client's retry arrives. Too short a bound is safe, only less kind:
// a replay racing a slow request rotates again, the slow request's finish
// then finds itself superseded and answers 503 rather than 200.
func (s *Store) inFlightBound() time.Duration { return s.waitTimeout + 250*time.Millisecond }

// MaxWaitTimeout bounds Options.WaitTimeout: the WAIT shares a pipelined
// round trip with its write, which go-redis bounds by the read timeout.
const MaxWaitTimeout = defaultIOTimeout - 100*time.Millisecond

// errNotReplicated is wrapped (with store.ErrUnavailable) when WAIT comes
// back with fewer replicas than Options.WaitReplicas.
var errNotReplicated = errors.New("write not acknowledged by enough replicas in time")

// finishRotationScript ends an in-flight rotation. KEYS: family. ARGV:
// the Current digest it rotated to; "1" if acknowledged (clear bits 2
// and 4), "0" if abandoned (set bit 4). Returns finishCurrent if the
// rotation is still the family's newest (Current unchanged),
// finishSuperseded if another rotation replaced it, finishGone if the
// record is gone: it expired (its key's PX) between the rotation and
// the finish, as a rotation just before the family's end leaves it with
// a TTL of about a millisecond. Nothing but expiry removes a family key
// (revocation keeps it), so a gone record was never rotated again.
var finishRotationScript = goredis.NewScript(luaFamily + `
local v = redis.call('GET', KEYS[1])
if not v then
	return ` + strconv.Itoa(finishGone) + `
end
local ver, x, i, r, n, g, fl, cu = struct.unpack(HEAD, v)
if ver ~= 1 or cu ~= ARGV[1] then
	return ` + strconv.Itoa(finishSuperseded) + `
end
if math.floor(fl / 2) % 2 == 1 then
	local nf = fl
	if ARGV[2] == '1' then
		nf = fl % 2
	elseif math.floor(fl / 4) % 2 == 0 then
		nf = fl + 4
	end
	redis.call('SETRANGE', KEYS[1], ` + strconv.Itoa(famFlagsOffset) + `, string.char(nf))
end
return ` + strconv.Itoa(finishCurrent) + `
`)

// Replies of finishRotationScript.
const (
	finishSuperseded = 0
	finishCurrent    = 1
	finishGone       = 2
)

// errInFlight is wrapped (with store.ErrUnavailable) when a retry inside
// the reuse leeway meets a rotation still in flight: the successor it
// would get again is not durable yet.
var errInFlight = errors.New("rotation still in flight")

// errSuperseded is wrapped (with store.ErrUnavailable) when an in-flight
// rotation was rotated again before it was finished.
var errSuperseded = errors.New("rotation superseded before it was acknowledged")

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

// script runs sc: on a durable store by runDurable (WAIT on the same
// connection, wait set), otherwise plainly (wait nil). err is set only
// when no connection could be had.
func (s *Store) script(ctx context.Context, sc *goredis.Script, keys []string, args ...any) (*goredis.Cmd, waitReply, error) {
	if s.durable() {
		return s.runDurable(ctx, sc, keys, args...)
	}
	return sc.Run(ctx, s.rdb, keys, args...), nil, nil
}

// checkReplicated is replicated for an optional WAIT (nil: the store is
// not durable, nothing to check).
func (s *Store) checkReplicated(op string, wait waitReply) error {
	if wait == nil {
		return nil
	}
	return s.replicated(op, wait)
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

// finishRotation finishes the in-flight rotation to next at key after
// its WAIT: nil (answer 200) if enough replicas hold it and it is still
// the family's newest, or if its record has expired since (nothing can
// have rotated it again, and a non-durable store answers such a
// rotation 200 too; its successor then finds the family gone, as it
// would have a moment later anyway); otherwise it is marked abandoned
// and the error wraps store.ErrUnavailable (answer 503; the client's
// retry rotates again). A finish that cannot be written after a good
// WAIT is logged only: the rotation is durable, and stays in flight
// (see above).
func (s *Store) finishRotation(ctx context.Context, key string, next []byte, wait waitReply) error {
	if werr := s.replicated("rotate refresh", wait); werr != nil {
		if err := finishRotationScript.Run(ctx, s.rdb, []string{key}, next, "0").Err(); err != nil {
			s.log.Warn("redis mark rotation abandoned", "err", err)
		}
		return werr
	}
	n, err := finishRotationScript.Run(ctx, s.rdb, []string{key}, next, "1").Int()
	switch {
	case err != nil:
		s.log.Warn("redis acknowledge rotation", "err", err)
	case n == finishSuperseded:
		return fmt.Errorf("redis rotate refresh: %w: %w", store.ErrUnavailable, errSuperseded)
	}
	return nil
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
