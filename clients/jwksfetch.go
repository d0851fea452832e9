package clients

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// Bounds of the client key fetcher (private_key_jwt with a jwks_uri,
// RFC 7591 §2, RFC 7523 §3, OIDC Core §10.1.1).
const (
	// MaxJWKSBytes bounds a fetched client JWK set.
	MaxJWKSBytes = 64 << 10
	// MinJWKSCacheAge and MaxJWKSCacheAge clamp the response's
	// Cache-Control max-age; DefaultJWKSCacheAge applies without one.
	MinJWKSCacheAge     = time.Minute
	MaxJWKSCacheAge     = 24 * time.Hour
	DefaultJWKSCacheAge = 5 * time.Minute
	// JWKSRefetchInterval is the least time between two fetches of one
	// client's keys forced by an unknown kid (or a failed signature without
	// kid), and between retries after a failed fetch: a client cannot make
	// authd hammer its (or anyone's) server.
	JWKSRefetchInterval = 30 * time.Second
	// MaxConcurrentJWKSFetches bounds the fetches of all clients running
	// at once on one replica; a request that finds them taken waits (for
	// as long as its context allows).
	MaxConcurrentJWKSFetches = 16
	maxFetcherEntries        = 10_000
)

// ErrKeysFetch is the cause of a failed authentication whose client keys
// could not be fetched; the client sees only invalid_client.
var ErrKeysFetch = errors.New("clients: fetch jwks_uri")

// FetcherConfig configures a KeyFetcher.
type FetcherConfig struct {
	// Timeout bounds one fetch (connect, TLS, headers and body). Required.
	Timeout time.Duration
	// AllowPrivate admits every address the SSRF guard refuses by default
	// (loopback, RFC 1918, unique-local, link-local, CGNAT …).
	AllowPrivate bool
	// AllowLoopback admits loopback addresses only (development mode).
	AllowLoopback bool
	// RootCAs, if set, replaces the system roots (tests, private PKIs).
	RootCAs *x509.CertPool
	Now     func() time.Time
	Logger  *slog.Logger
}

// KeyFetcher fetches and caches the JWK sets clients publish at their
// jwks_uri. Each replica caches on its own: it is a cache of a remote
// source, and an entry is dropped as soon as the client record it was
// fetched for changes (see keysFor).
type KeyFetcher struct {
	cfg    FetcherConfig
	client *http.Client
	group  singleflight.Group
	slots  chan struct{} // MaxConcurrentJWKSFetches

	mu      sync.Mutex
	entries map[string]*keysEntry // by client id
}

type keysEntry struct {
	uri     string
	version time.Time // the client record's UpdatedAt
	set     jose.JSONWebKeySet
	have    bool // set holds a fetched set
	etag    string
	expires time.Time // fresh until
	fetched time.Time // last attempt, successful or not
	err     error     // last attempt's error, while set is not fresh
}

// NewKeyFetcher validates cfg and returns a fetcher whose connections pass
// the SSRF guard.
func NewKeyFetcher(cfg FetcherConfig) (*KeyFetcher, error) {
	if cfg.Timeout <= 0 {
		return nil, errors.New("clients: key fetcher Timeout must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	guard := addrGuard{allowPrivate: cfg.AllowPrivate, allowLoopback: cfg.AllowLoopback}
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: guard.control}
	tr := &http.Transport{
		// No proxy: the guard must see the address actually dialled.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    cfg.Timeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		MaxResponseHeaderBytes: 16 << 10,
		MaxIdleConns:           16,
		IdleConnTimeout:        90 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	f := &KeyFetcher{cfg: cfg, entries: make(map[string]*keysEntry), slots: make(chan struct{}, MaxConcurrentJWKSFetches)}
	f.client = &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		// Redirects are refused: a jwks_uri is the registered location,
		// and a redirect is the classic way around an SSRF check.
		CheckRedirect: func(*http.Request, []*http.Request) error { return errRedirect },
	}
	return f, nil
}

var errRedirect = errors.New("redirects are not followed")

// keysFor returns the client's key set from cache, fetching it when the
// cached one has expired, was fetched for another version of the record,
// or (refresh) when the caller met an unknown kid — at most once per
// JWKSRefetchInterval. Concurrent callers share one fetch, and each waits
// only as long as its own ctx.
func (f *KeyFetcher) keysFor(ctx context.Context, id, uri string, version time.Time, refresh bool) (jose.JSONWebKeySet, error) {
	now := f.cfg.Now()
	f.mu.Lock()
	e := f.entries[id]
	if e != nil && (e.uri != uri || !e.version.Equal(version)) {
		delete(f.entries, id) // the client record changed: its keys go with it
		e = nil
	}
	if e != nil {
		fresh := e.have && now.Before(e.expires)
		recent := now.Sub(e.fetched) < JWKSRefetchInterval
		switch {
		case fresh && (!refresh || recent):
			set := e.set
			f.mu.Unlock()
			return set, nil
		case !fresh && recent && e.err != nil:
			err := e.err // failed a moment ago: do not retry yet
			f.mu.Unlock()
			return jose.JSONWebKeySet{}, err
		}
	}
	f.mu.Unlock()

	// One flight per client and record version: a caller that read a
	// changed record does not join a fetch of the old jwks_uri.
	key := id + "\x00" + uri + "\x00" + version.String()
	ch := f.group.DoChan(key, func() (any, error) {
		// The fetch outlives any one caller: a cancelled request must not
		// fail the others waiting for it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.Timeout)
		defer cancel()
		return f.fetch(fctx, id, uri, version, refresh)
	})
	select {
	case <-ctx.Done():
		return jose.JSONWebKeySet{}, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return jose.JSONWebKeySet{}, res.Err
		}
		return res.Val.(jose.JSONWebKeySet), nil
	}
}

// fetch runs inside the singleflight group. It rechecks the entry first:
// a fetch that finished just before this one started already answers.
func (f *KeyFetcher) fetch(ctx context.Context, id, uri string, version time.Time, refresh bool) (jose.JSONWebKeySet, error) {
	now := f.cfg.Now()
	f.mu.Lock()
	e := f.entries[id]
	if e != nil && (e.uri != uri || !e.version.Equal(version)) {
		e = nil
	}
	if e != nil && now.Sub(e.fetched) < JWKSRefetchInterval {
		set, have, err := e.set, e.have && (refresh || now.Before(e.expires)), e.err
		f.mu.Unlock()
		if have {
			return set, nil
		}
		if err == nil {
			err = fmt.Errorf("%w: no keys", ErrKeysFetch)
		}
		return jose.JSONWebKeySet{}, err
	}
	var etag string
	var old jose.JSONWebKeySet
	if e != nil && e.have {
		etag, old = e.etag, e.set
	}
	f.mu.Unlock()

	select {
	case f.slots <- struct{}{}:
		defer func() { <-f.slots }()
	case <-ctx.Done():
		return jose.JSONWebKeySet{}, fmt.Errorf("%w: too many fetches at once: %w", ErrKeysFetch, ctx.Err())
	}
	set, newTag, maxAge, notModified, err := f.get(ctx, uri, etag)
	now = f.cfg.Now()
	ne := &keysEntry{uri: uri, version: version, fetched: now}
	switch {
	case err != nil:
		ne.err = err
		f.cfg.Logger.WarnContext(ctx, "fetch client jwks_uri", "client_id", id, "err", err)
	case notModified:
		ne.set, ne.have, ne.etag, ne.expires = old, true, etag, now.Add(maxAge)
	default:
		ne.set, ne.have, ne.etag, ne.expires = set, true, newTag, now.Add(maxAge)
	}
	f.mu.Lock()
	if len(f.entries) >= maxFetcherEntries {
		for k := range f.entries { // drop anything: it is only a cache
			delete(f.entries, k)
			if len(f.entries) < maxFetcherEntries {
				break
			}
		}
	}
	f.entries[id] = ne
	f.mu.Unlock()
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	return ne.set, nil
}

// get performs one GET of uri: https only, no redirects, the body bounded
// by MaxJWKSBytes, conditional on etag when there is one.
func (f *KeyFetcher) get(ctx context.Context, uri, etag string) (set jose.JSONWebKeySet, newTag string, maxAge time.Duration, notModified bool, err error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return set, "", 0, false, fmt.Errorf("%w: jwks_uri must be an absolute https URL", ErrKeysFetch)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return set, "", 0, false, fmt.Errorf("%w: %w", ErrKeysFetch, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return set, "", 0, false, fmt.Errorf("%w: %w", ErrKeysFetch, err)
	}
	defer resp.Body.Close()
	maxAge = cacheAge(resp.Header.Get("Cache-Control"))
	switch {
	case resp.StatusCode == http.StatusNotModified && etag != "":
		return set, etag, maxAge, true, nil
	case resp.StatusCode != http.StatusOK:
		return set, "", 0, false, fmt.Errorf("%w: status %d", ErrKeysFetch, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return set, "", 0, false, fmt.Errorf("%w: %w", ErrKeysFetch, err)
	}
	if len(body) > MaxJWKSBytes {
		return set, "", 0, false, fmt.Errorf("%w: larger than %d bytes", ErrKeysFetch, MaxJWKSBytes)
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return set, "", 0, false, fmt.Errorf("%w: not a JWK set: %w", ErrKeysFetch, err)
	}
	// Only public signature keys of the algorithms verifyWithSet accepts
	// count; others (private parts, enc keys) are dropped, never trusted.
	kept := set.Keys[:0]
	for _, k := range set.Keys {
		if k.Valid() && k.IsPublic() && (k.Use == "" || k.Use == "sig") {
			kept = append(kept, k)
		}
	}
	set.Keys = kept
	return set, resp.Header.Get("ETag"), maxAge, false, nil
}

// cacheAge reads max-age from a Cache-Control header (RFC 9111 §5.2.2.1)
// and clamps it to [MinJWKSCacheAge, MaxJWKSCacheAge]; no-store and
// no-cache mean the floor, no max-age DefaultJWKSCacheAge.
func cacheAge(header string) time.Duration {
	age := DefaultJWKSCacheAge
	for _, d := range strings.Split(header, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return MinJWKSCacheAge
		case "max-age":
			if s, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && s >= 0 {
				age = time.Duration(min(s, int64(MaxJWKSCacheAge/time.Second))) * time.Second
			}
		}
	}
	return min(max(age, MinJWKSCacheAge), MaxJWKSCacheAge)
}
