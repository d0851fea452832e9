package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// Consent keys (hash tag: the user, so that one script touches both):
//
//	P{consent:<user>}:c            hash: client ID → store.Consent JSON
//	P{consent:<user>}:f:<client>   sorted set: family ID scored by its
//	                               ExpiresAt (Unix ms); expires with the last
func (s *Store) consentKey(userID string) string { return s.prefix + "{consent:" + userID + "}:c" }
func (s *Store) userFamiliesKey(userID, clientID string) string {
	return s.prefix + "{consent:" + userID + "}:f:" + clientID
}

// GetConsent returns the user's consent for the client (one HGET);
// ErrNotFound if there is none.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (store.Consent, error) {
	raw, err := s.rdb.HGet(ctx, s.consentKey(userID), clientID).Bytes()
	if errors.Is(err, goredis.Nil) {
		return store.Consent{}, fmt.Errorf("redis get consent: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Consent{}, s.fail("get consent", err)
	}
	var c store.Consent
	if err := json.Unmarshal(raw, &c); err != nil {
		return store.Consent{}, fmt.Errorf("redis get consent: decode: %w", err)
	}
	return c, nil
}

// GrantConsent merges scope into the stored consent in an optimistic
// transaction (WATCH/MULTI on the user's consent hash, retried on a
// conflict). On a durable store the transaction's connection then WAITs
// (durable.go: a consent a failover lost would show the page again; one
// it kept after a withdrawal is the security case, DeleteConsent).
func (s *Store) GrantConsent(ctx context.Context, userID, clientID, scope string, at, since time.Time) (store.Consent, error) {
	if userID == "" || clientID == "" {
		return store.Consent{}, errors.New("redis grant consent: empty user or client ID")
	}
	key := s.consentKey(userID)
	var out store.Consent
	var wait *goredis.Cmd
	err := s.watch(ctx, "grant consent", func(tx *goredis.Tx) error {
		var old store.Consent
		raw, err := tx.HGet(ctx, key, clientID).Bytes()
		switch {
		case errors.Is(err, goredis.Nil):
		case err != nil:
			return err
		default:
			if err := json.Unmarshal(raw, &old); err != nil {
				return abort{fmt.Errorf("redis grant consent: decode: %w", err)}
			}
		}
		if old.GrantedAt.Before(since) {
			old.Scope = "" // given to an earlier client of the same ID
		}
		out = store.Consent{UserID: userID, ClientID: clientID, Scope: store.ConsentScope(old.Scope, scope), GrantedAt: at}
		b, err := json.Marshal(out)
		if err != nil {
			return abort{err}
		}
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.HSet(ctx, key, clientID, b)
			return nil
		})
		if err == nil && s.durable() {
			// WAIT counts the writes of its own connection: the Tx's.
			wait = tx.Do(ctx, "WAIT", s.waitReplicas, s.waitTimeout.Milliseconds())
		}
		return err
	}, key)
	if err != nil {
		return store.Consent{}, err
	}
	if wait != nil {
		if err := s.replicated("grant consent", wait); err != nil {
			return store.Consent{}, err
		}
	}
	return out, nil
}

// ListConsents returns the user's consents ordered by client ID.
func (s *Store) ListConsents(ctx context.Context, userID string) ([]store.Consent, error) {
	all, err := s.rdb.HGetAll(ctx, s.consentKey(userID)).Result()
	if err != nil {
		return nil, s.fail("list consents", err)
	}
	out := make([]store.Consent, 0, len(all))
	for _, raw := range all {
		var c store.Consent
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return nil, fmt.Errorf("redis list consents: decode: %w", err)
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b store.Consent) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out, nil
}

// deleteConsentScript removes a consent and its family index. KEYS:
// consent hash, family index. ARGV: client ID. Returns the indexed family
// IDs, or nil when there was neither.
var deleteConsentScript = goredis.NewScript(`
local found = redis.call('HDEL', KEYS[1], ARGV[1])
local fams = redis.call('ZRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[2])
if found == 0 and #fams == 0 then
	return false
end
return fams
`)

// DeleteConsent removes the consent and the pair's family index in one
// script and returns the indexed family IDs.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) ([]string, error) {
	keys := []string{s.consentKey(userID), s.userFamiliesKey(userID, clientID)}
	var reply *goredis.Cmd
	var wait waitReply
	if s.durable() {
		// A withdrawal is a revocation: a failover must not bring the
		// consent back (durable.go).
		var err error
		if reply, wait, err = s.runDurable(ctx, deleteConsentScript, keys, clientID); err != nil {
			return nil, s.fail("delete consent", err)
		}
	} else {
		reply = deleteConsentScript.Run(ctx, s.rdb, keys, clientID)
	}
	fams, err := reply.StringSlice()
	if errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("redis delete consent: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, s.fail("delete consent", err)
	}
	if wait != nil {
		if err := s.replicated("delete consent", wait); err != nil {
			return nil, err
		}
	}
	return fams, nil
}

// indexFamilyScript adds a family to its user's index for its client,
// drops expired entries and keeps the key until the last one expires.
// KEYS: index. ARGV: now (ms), expires (ms), family ID.
var indexFamilyScript = goredis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], top[2])
return 1
`)

// indexUserFamily is CreateFamily's first step: the index entry is
// written before the family, so a family never exists unindexed (an entry
// whose family was never created is harmless: revoking it finds nothing).
func (s *Store) indexUserFamily(ctx context.Context, f store.Family) error {
	if f.Subject == "" || f.ClientID == "" {
		return nil
	}
	key := s.userFamiliesKey(f.Subject, f.ClientID)
	args := []any{s.now().UnixMilli(), f.ExpiresAt.UnixMilli(), f.ID}
	if s.durable() {
		// Held by replicas before the family exists: a failover never
		// keeps a family whose index entry it lost (durable.go).
		reply, wait, err := s.runDurable(ctx, indexFamilyScript, []string{key}, args...)
		if err == nil {
			err = reply.Err()
		}
		if err != nil {
			return s.fail("index family", err)
		}
		return s.replicated("index family", wait)
	}
	if err := indexFamilyScript.Run(ctx, s.rdb, []string{key}, args...).Err(); err != nil {
		return s.fail("index family", err)
	}
	return nil
}

// UserFamilies returns the live entries of the pair's family index.
func (s *Store) UserFamilies(ctx context.Context, userID, clientID string) ([]string, error) {
	from := fmt.Sprint(s.now().UnixMilli())
	fams, err := s.rdb.ZRangeByScore(ctx, s.userFamiliesKey(userID, clientID), &goredis.ZRangeBy{Min: from, Max: "+inf"}).Result()
	if err != nil {
		return nil, s.fail("user families", err)
	}
	return fams, nil
}
