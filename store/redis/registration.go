package redis

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// Initial access tokens of dynamic registration (store.RegistrationTokens):
//
//	Pregtok:<hex digest>   remaining uses, expiring at ExpiresAt (PXAT)
//	Pregtoks               sorted set: "<created ms>:<hex digest>" scored by
//	                       ExpiresAt in ms, the admin API's list
//
// Redis expires the token key by itself; the last use deletes it. The
// index is not updated atomically with the token key (they may live in
// different cluster slots): a token key alone is what authorizes, so the
// index entry is written before the token key and removed after it, and
// entries whose token is gone (expired, used up) are pruned by the next
// create or list. Tokens issued before the index existed work but are not
// listed.

var _ store.RegistrationTokens = (*Store)(nil)

func (s *Store) regTokenIdx() string { return s.prefix + "regtoks" }

func (s *Store) regTokenKey(digest []byte) string {
	return s.prefix + "regtok:" + hex.EncodeToString(digest)
}

// useRegTokenScript takes one use, atomic on the server. KEYS: the token.
// Returns the uses left, or -1 if the token is missing (expired, used up).
var useRegTokenScript = goredis.NewScript(`
local v = tonumber(redis.call('GET', KEYS[1]) or '')
if v == nil or v < 1 then return -1 end
if v == 1 then
	redis.call('DEL', KEYS[1])
else
	redis.call('SET', KEYS[1], v - 1, 'KEEPTTL')
end
return v - 1
`)

// CreateRegistrationToken implements store.RegistrationTokens: one SET NX
// PXAT.
func (s *Store) CreateRegistrationToken(ctx context.Context, t store.RegistrationToken) error {
	if len(t.Digest) == 0 || t.Uses < 1 {
		return errors.New("redis: create registration token: empty digest or uses < 1")
	}
	if !t.ExpiresAt.After(s.now()) {
		return fmt.Errorf("redis: create registration token: expiresAt %s is not in the future", t.ExpiresAt)
	}
	idx, member := s.regTokenIdx(), regTokenMember(t)
	if err := s.rdb.ZRemRangeByScore(ctx, idx, "-inf", strconv.FormatInt(s.now().UnixMilli(), 10)).Err(); err != nil {
		return s.fail("create registration token", err)
	}
	if err := s.rdb.ZAdd(ctx, idx, goredis.Z{Score: float64(t.ExpiresAt.UnixMilli()), Member: member}).Err(); err != nil {
		return s.fail("create registration token", err)
	}
	// ErrExists when the digest is taken: the index member is the same
	// token's (it is derived from the digest), so it stays.
	return s.setNX(ctx, "create registration token", s.regTokenKey(t.Digest), t.Uses, goredis.SetArgs{ExpireAt: t.ExpiresAt})
}

// UseRegistrationToken implements store.RegistrationTokens in one script.
func (s *Store) UseRegistrationToken(ctx context.Context, digest []byte) error {
	left, err := useRegTokenScript.Run(ctx, s.rdb, []string{s.regTokenKey(digest)}).Int64()
	if err != nil {
		return s.fail("use registration token", err)
	}
	if left < 0 {
		return fmt.Errorf("redis: use registration token: %w", store.ErrNotFound)
	}
	return nil
}

// regTokenMember is the index entry of t: its creation time (for the
// list) and its digest (to find the token key).
func regTokenMember(t store.RegistrationToken) string {
	return strconv.FormatInt(t.CreatedAt.UnixMilli(), 10) + ":" + hex.EncodeToString(t.Digest)
}

// indexedRegToken is one index entry, parsed.
type indexedRegToken struct {
	member  string
	created time.Time
	digest  []byte
	expires time.Time
}

// regTokenEntries prunes expired entries and returns the live ones.
func (s *Store) regTokenEntries(ctx context.Context, op string) ([]indexedRegToken, error) {
	idx, now := s.regTokenIdx(), strconv.FormatInt(s.now().UnixMilli(), 10)
	if err := s.rdb.ZRemRangeByScore(ctx, idx, "-inf", now).Err(); err != nil {
		return nil, s.fail(op, err)
	}
	zs, err := s.rdb.ZRangeByScoreWithScores(ctx, idx, &goredis.ZRangeBy{Min: "(" + now, Max: "+inf"}).Result()
	if err != nil {
		return nil, s.fail(op, err)
	}
	out := make([]indexedRegToken, 0, len(zs))
	for _, z := range zs {
		m, _ := z.Member.(string)
		ms, hx, ok := strings.Cut(m, ":")
		created, err1 := strconv.ParseInt(ms, 10, 64)
		digest, err2 := hex.DecodeString(hx)
		if !ok || err1 != nil || err2 != nil {
			continue // not ours: ignored
		}
		out = append(out, indexedRegToken{member: m, created: time.UnixMilli(created).UTC(), digest: digest,
			expires: time.UnixMilli(int64(z.Score)).UTC()})
	}
	return out, nil
}

// ListRegistrationTokens implements store.RegistrationTokens: the index,
// then the uses left of every entry in one pipeline; entries whose token
// is gone are pruned.
func (s *Store) ListRegistrationTokens(ctx context.Context) ([]store.RegistrationToken, error) {
	entries, err := s.regTokenEntries(ctx, "list registration tokens")
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	cmds := make([]*goredis.StringCmd, len(entries))
	if _, err := s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, e := range entries {
			cmds[i] = p.Get(ctx, s.regTokenKey(e.digest))
		}
		return nil
	}); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, s.fail("list registration tokens", err)
	}
	var out []store.RegistrationToken
	var gone []any
	for i, e := range entries {
		uses, err := cmds[i].Int()
		if err != nil || uses < 1 {
			gone = append(gone, e.member)
			continue
		}
		out = append(out, store.RegistrationToken{ID: store.RegistrationTokenID(e.digest), Digest: e.digest, Uses: uses,
			CreatedAt: e.created, ExpiresAt: e.expires})
	}
	if len(gone) > 0 {
		s.rdb.ZRem(ctx, s.regTokenIdx(), gone...) // best effort: the next list prunes again
	}
	slices.SortFunc(out, func(a, b store.RegistrationToken) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// DeleteRegistrationToken implements store.RegistrationTokens: the token
// key is deleted first (one DEL: from then on no use succeeds), then its
// index entry.
func (s *Store) DeleteRegistrationToken(ctx context.Context, id string) error {
	entries, err := s.regTokenEntries(ctx, "delete registration token")
	if err != nil {
		return err
	}
	for _, e := range entries {
		if store.RegistrationTokenID(e.digest) != id {
			continue
		}
		n, err := s.rdb.Del(ctx, s.regTokenKey(e.digest)).Result()
		if err != nil {
			return s.fail("delete registration token", err)
		}
		if err := s.rdb.ZRem(ctx, s.regTokenIdx(), e.member).Err(); err != nil {
			return s.fail("delete registration token", err)
		}
		if n == 0 {
			break // used up already
		}
		return nil
	}
	return fmt.Errorf("redis: delete registration token: %w", store.ErrNotFound)
}

// CheckRegistrationToken implements store.RegistrationTokens: one GET
// (Redis has expired the key if the token has).
func (s *Store) CheckRegistrationToken(ctx context.Context, digest []byte) error {
	uses, err := s.rdb.Get(ctx, s.regTokenKey(digest)).Int()
	switch {
	case errors.Is(err, goredis.Nil) || (err == nil && uses < 1):
		return fmt.Errorf("redis: check registration token: %w", store.ErrNotFound)
	case err != nil:
		return s.fail("check registration token", err)
	}
	return nil
}
