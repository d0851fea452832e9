package keys

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authd-dev/authd/store"
)

// JWKS is the published JWK Set document (RFC 7517 §5).
type JWKS struct {
	// Body is the serialised set, {"keys":[...]}: public keys only. It is
	// shared; callers must not modify it.
	Body []byte
	// ETag is a strong entity tag of Body (RFC 9110 §8.8.3): the quoted
	// hex SHA-256 of Body, equal on every replica holding the same set.
	ETag string
	// MaxAge is how long a client may cache Body (RFC 9111 §5.2.2.1): at
	// most PublishAhead, and never past the time a key not in a cached
	// copy could start signing. Never negative.
	MaxAge time.Duration
}

// Info describes one published key for the admin API: public data only.
// Zero times are omitted from JSON.
type Info struct {
	Kid         string    `json:"kid"`
	Alg         string    `json:"alg"`
	State       string    `json:"state"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	ActivatesAt time.Time `json:"activates_at,omitzero"` // next keys: when they start signing
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	RetiredAt   time.Time `json:"retired_at,omitzero"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
}

// published is a key Verify accepts.
type published struct {
	key *openedKey
	// expiresAt is the end of a retired key; zero for next and active.
	expiresAt time.Time
}

// snapshot is an immutable view of one stored key set, read without locks
// by Sign, Verify, JWKS and List.
type snapshot struct {
	version uint64
	active  map[string]*openedKey // by alg
	byKID   map[string]published
	body    []byte
	etag    string
	infos   []Info
	// nextActivation is the earliest time a key that does not sign yet
	// may start to (bounds MaxAge); zero if an alg lacks an active key.
	nextActivation time.Time
	// nextChange is the earliest scheduled transition; zero if one is due.
	nextChange time.Time
}

// buildSnapshot assembles the snapshot of set at now from its opened keys
// (opened holds every published key of set by kid).
func buildSnapshot(set store.KeySet, opened map[string]*openedKey, now time.Time, t timing) (*snapshot, error) {
	s := &snapshot{
		version: set.Version,
		active:  make(map[string]*openedKey, 2),
		byKID:   make(map[string]published, len(set.Keys)),
	}
	var keys []store.Key
	for _, k := range set.Keys {
		if isPublished(k, now) {
			keys = append(keys, k)
		}
	}
	// A deterministic order makes the body, and so the ETag, a function of
	// the published set alone: a state change does not alter it.
	slices.SortFunc(keys, func(a, b store.Key) int {
		return cmp.Or(cmp.Compare(algRank(a.Alg), algRank(b.Alg)), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	doc := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	nextFor := make(map[string]time.Time, 2)
	change := func(at time.Time) {
		if s.nextChange.IsZero() || at.Before(s.nextChange) {
			s.nextChange = at
		}
	}
	for _, k := range keys {
		o := opened[k.ID]
		if o == nil {
			return nil, fmt.Errorf("keys: key %q was not opened", k.ID)
		}
		pub := published{key: o}
		switch k.State {
		case store.KeyActive:
			s.active[k.Alg] = o
		case store.KeyNext:
			if at, ok := nextFor[k.Alg]; !ok || k.ActivatesAt.Before(at) {
				nextFor[k.Alg] = k.ActivatesAt
			}
		case store.KeyRetired:
			pub.expiresAt = k.ExpiresAt
			change(k.ExpiresAt)
		}
		s.byKID[k.ID] = pub
		doc.Keys = append(doc.Keys, o.public)
		info := Info{Kid: k.ID, Alg: k.Alg, State: k.State, CreatedAt: k.CreatedAt, ActivatedAt: k.ActivatedAt, RetiredAt: k.RetiredAt, ExpiresAt: k.ExpiresAt}
		if k.State == store.KeyNext {
			info.ActivatesAt = k.ActivatesAt
		}
		s.infos = append(s.infos, info)
	}
	dueNow := false
	for _, alg := range supportedAlgs() {
		activeAt, hasActive := activatedAt(set.Keys, alg)
		if !hasActive {
			dueNow = true
			continue
		}
		at, hasNext := nextFor[alg]
		if hasNext {
			change(at)
		} else {
			at = activeAt.Add(t.rotationPeriod)
			change(activeAt.Add(t.rotationPeriod - t.publishAhead))
		}
		if s.nextActivation.IsZero() || at.Before(s.nextActivation) {
			s.nextActivation = at
		}
	}
	if dueNow {
		s.nextActivation, s.nextChange = time.Time{}, time.Time{}
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("keys: encode JWKS: %w", err)
	}
	sum := sha256.Sum256(body)
	s.body, s.etag = body, `"`+hex.EncodeToString(sum[:])+`"`
	return s, nil
}

// isPublished reports whether k belongs in the JWKS at now.
func isPublished(k store.Key, now time.Time) bool {
	if !supported(k.Alg) {
		return false
	}
	switch k.State {
	case store.KeyNext, store.KeyActive:
		return true
	case store.KeyRetired:
		return now.Before(k.ExpiresAt)
	}
	return false
}

// activatedAt returns when the active key of alg was activated.
func activatedAt(keys []store.Key, alg string) (time.Time, bool) {
	for _, k := range keys {
		if k.Alg == alg && k.State == store.KeyActive {
			return k.ActivatedAt, true
		}
	}
	return time.Time{}, false
}

// algRank orders algs in the JWKS as supportedAlgs does.
func algRank(alg string) int {
	for i, a := range supportedAlgs() {
		if a == alg {
			return i
		}
	}
	return -1
}
