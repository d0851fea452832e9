package verifier

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

const (
	// maxJWKSBody bounds the JWKS response.
	maxJWKSBody = 1 << 20
	// defaultJWKSMaxAge is the freshness of a JWKS served without max-age.
	defaultJWKSMaxAge = 5 * time.Minute
	// maxJWKSMaxAge caps a served max-age, so a deleted key does not stay
	// trusted for days.
	maxJWKSMaxAge = 24 * time.Hour
	// fetchTimeout bounds one discovery or JWKS request.
	fetchTimeout = 10 * time.Second
)

// publicKey is one usable verification key of the JWKS.
type publicKey struct {
	alg string // "" when the JWK names none
	key any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// keySnapshot is an immutable view of the JWKS; refreshes swap it whole.
type keySnapshot struct {
	keys      map[string][]publicKey // by kid
	etag      string
	expiresAt time.Time // freshness per Cache-Control max-age
	// staleUntil is how long the keys may serve past expiresAt while
	// refreshing fails (stale-if-error, bounded by the max staleness).
	staleUntil time.Time
}

// keySet caches the issuer's JWKS (RFC 7517 §5). Lookups of a known, fresh
// kid take a read lock only. A refresh happens when a kid is unknown or the
// set is stale, at most once per minInterval, and concurrent callers share
// it (singleflight); each waits only as long as its own ctx allows. While
// refreshes fail, a stale set serves until its staleUntil, then lookups
// fail closed with ErrStaleKeys.
type keySet struct {
	url         string
	client      *http.Client
	now         func() time.Time
	minInterval time.Duration
	maxStale    time.Duration
	log         *slog.Logger
	// base is the context of fetches: they outlive the caller that happened
	// to start them, and end when the Verifier closes.
	base context.Context

	sf singleflight.Group

	mu        sync.RWMutex
	snap      *keySnapshot
	lastFetch time.Time // start of the last fetch attempt, successful or not
	fetched   bool
	lastErr   error // error of the last fetch attempt, nil if it succeeded
}

// refreshResult is what one shared refresh hands every waiter.
type refreshResult struct {
	snap *keySnapshot // the current snapshot, possibly nil
	// current is true when the last fetch attempt succeeded: the snapshot
	// was validated by the issuer no longer than minInterval ago.
	current bool
}

// lookup returns the keys published under kid, refreshing the set if kid
// is unknown or the set is stale and the minimum interval allows.
func (s *keySet) lookup(ctx context.Context, kid string) ([]publicKey, error) {
	s.mu.RLock()
	snap := s.snap
	s.mu.RUnlock()
	if snap != nil && s.now().Before(snap.expiresAt) {
		if keys, ok := snap.keys[kid]; ok {
			return keys, nil
		}
	}
	res, err := s.refresh(ctx)
	if res.snap == nil {
		return nil, fmt.Errorf("%w: kid %q: %w", ErrUnknownKey, kid, err)
	}
	if err != nil && !res.current {
		// The issuer could not be asked (now or at the last attempt): a
		// stale set serves only within its stale-if-error allowance
		// (RFC 5861 §4), then fails closed.
		if !s.now().Before(res.snap.staleUntil) {
			return nil, fmt.Errorf("%w: stale since %s: %w", ErrStaleKeys, res.snap.expiresAt.UTC().Format(time.RFC3339), err)
		}
	}
	if keys, ok := res.snap.keys[kid]; ok {
		if err != nil && !errors.Is(err, errRefreshTooSoon) {
			s.log.Warn("verifier: using stale JWKS", "stale_until", res.snap.staleUntil, "err", err)
		}
		return keys, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: kid %q: %w", ErrUnknownKey, kid, err)
	}
	return nil, fmt.Errorf("%w: kid %q is not in the JWKS", ErrUnknownKey, kid)
}

// errRefreshTooSoon explains an unknown kid within the minimum interval.
var errRefreshTooSoon = errors.New("JWKS refreshed less than the minimum interval ago")

// refresh fetches the JWKS once for all concurrent callers, unless the
// last fetch began less than minInterval ago. It returns the current
// snapshot (possibly nil) and the error of the fetch, if any.
func (s *keySet) refresh(ctx context.Context) (refreshResult, error) {
	ch := s.sf.DoChan("jwks", func() (any, error) {
		s.mu.Lock()
		now := s.now()
		if s.fetched && now.Sub(s.lastFetch) < s.minInterval {
			res := refreshResult{snap: s.snap, current: s.lastErr == nil}
			err := errRefreshTooSoon
			if s.lastErr != nil {
				err = fmt.Errorf("%w; the last fetch failed: %w", errRefreshTooSoon, s.lastErr)
			}
			s.mu.Unlock()
			return res, err
		}
		s.lastFetch, s.fetched = now, true
		old := s.snap
		s.mu.Unlock()

		fctx, cancel := context.WithTimeout(s.base, fetchTimeout)
		defer cancel()
		snap, err := s.fetch(fctx, old)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.lastErr = err
		if err != nil {
			s.log.Warn("verifier: JWKS fetch failed", "url", s.url, "err", err)
			return refreshResult{snap: s.snap}, err
		}
		s.snap = snap
		return refreshResult{snap: snap, current: true}, nil
	})
	select {
	case <-ctx.Done():
		return refreshResult{}, ctx.Err()
	case res := <-ch:
		r, _ := res.Val.(refreshResult)
		return r, res.Err
	}
}

// fetch GETs the JWKS, revalidating with If-None-Match when old has an ETag
// (RFC 9110 §13.1.2); a 304 keeps the old keys with a new freshness
// (RFC 9111 §4.3.4).
func (s *keySet) fetch(ctx context.Context, old *keySnapshot) (*keySnapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	if old != nil && old.etag != "" {
		req.Header.Set("If-None-Match", old.etag)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	now := s.now()
	fresh, stale := cacheLifetimes(resp.Header, s.maxStale)
	switch {
	case resp.StatusCode == http.StatusNotModified && old != nil && old.etag != "":
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxJWKSBody))
		return &keySnapshot{keys: old.keys, etag: old.etag, expiresAt: now.Add(fresh), staleUntil: now.Add(fresh + stale)}, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("JWKS %s: status %s", s.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBody+1))
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", s.url, err)
	}
	if len(body) > maxJWKSBody {
		return nil, fmt.Errorf("JWKS %s: larger than %d bytes", s.url, maxJWKSBody)
	}
	keys, err := parseJWKS(body, s.log)
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", s.url, err)
	}
	return &keySnapshot{keys: keys, etag: resp.Header.Get("ETag"), expiresAt: now.Add(fresh), staleUntil: now.Add(fresh + stale)}, nil
}

// cacheLifetimes reads a response's Cache-Control: the freshness lifetime
// (RFC 9111 §5.2.2.1 max-age; no-cache and no-store make it 0, §5.2.2.4,
// §5.2.2.5), and how long past it the keys may still serve while
// refreshing fails: stale-if-error (RFC 5861 §4) when present, maxStale
// when absent, never more than maxStale, and none at all with
// must-revalidate, no-cache or no-store (RFC 9111 §5.2.2.2: a stale
// response must not be used without successful validation).
func cacheLifetimes(h http.Header, maxStale time.Duration) (fresh, stale time.Duration) {
	fresh, stale = defaultJWKSMaxAge, maxStale
	seconds := func(val string) (time.Duration, bool) {
		n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
		if err != nil || n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int64(math.MaxInt64/time.Second))) * time.Second, true
	}
	noCache, noStale := false, false
	for _, v := range h.Values("Cache-Control") {
		for dir := range strings.SplitSeq(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(name) {
			case "no-cache", "no-store":
				noCache, noStale = true, true
			case "must-revalidate":
				noStale = true
			case "max-age":
				// RFC 9111 §4.2.1: an invalid max-age is stale (0).
				d, _ := seconds(val)
				fresh = min(d, maxJWKSMaxAge)
			case "stale-if-error":
				// An invalid allowance allows nothing.
				d, _ := seconds(val)
				stale = min(d, maxStale)
			}
		}
	}
	if noCache {
		fresh = 0
	}
	if noStale {
		stale = 0
	}
	return fresh, stale
}

// parseJWKS decodes a JWK Set. Keys that are not asymmetric public
// signature keys (wrong "use", symmetric "oct", unknown "kty" or curve) are
// skipped, as RFC 7517 §5 asks; a key without "kid" cannot be selected and
// is skipped too.
func parseJWKS(body []byte, log *slog.Logger) (map[string][]publicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, err
	}
	out := make(map[string][]publicKey, len(set.Keys))
	for _, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			log.Debug("verifier: skipping JWK", "err", err)
			continue
		}
		if jwk.KeyID == "" || (jwk.Use != "" && jwk.Use != "sig") {
			continue
		}
		var key any
		switch k := jwk.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			key = k
		case *rsa.PrivateKey:
			key = &k.PublicKey
		case *ecdsa.PrivateKey:
			key = &k.PublicKey
		case ed25519.PrivateKey:
			key = k.Public()
		default:
			continue // never a symmetric key
		}
		out[jwk.KeyID] = append(out[jwk.KeyID], publicKey{alg: jwk.Algorithm, key: key})
	}
	return out, nil
}

// keyFits reports whether key may verify a signature made with alg: the
// JWK's own "alg", if any, must match, and the key type must be the one
// the algorithm uses (RFC 7518 §3.1, RFC 8037 §3.1).
func keyFits(k publicKey, alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch k.key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		return strings.HasPrefix(alg, "ES")
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}
