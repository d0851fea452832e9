package keys

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authd-dev/authd/store"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrKeyNotFound: no key with that kid is in the set (or, for Verify,
	// published any more).
	ErrKeyNotFound = errors.New("keys: key not found")
	// ErrUnsupportedAlg: the algorithm is not RS256 or ES256.
	ErrUnsupportedAlg = errors.New("keys: unsupported algorithm")
	// ErrInvalidToken wraps every Verify failure, together with the
	// go-jose error when there is one.
	ErrInvalidToken = errors.New("keys: invalid token")
	// ErrNoActiveKey: the alg has no active key (the set is being repaired).
	ErrNoActiveKey = errors.New("keys: no active signing key")
)

// maxSwapAttempts bounds compare-and-swap retries of one update.
const maxSwapAttempts = 8

// Manager owns the signing keys of one replica. Its read methods (Sign,
// Verify, JWKS, List) are lock-free; writers (Reload, Rotate, Delete, Run)
// are serialised and coordinate with other replicas through the store.
type Manager struct {
	cfg     Config
	timing  timing
	sealer  *sealer
	metrics *metrics
	snap    atomic.Pointer[snapshot]

	mu     sync.Mutex            // serialises writers
	opened map[string]*openedKey // by kid; guarded by mu
}

// NewManager validates cfg, loads the key set and applies due transitions;
// on an empty store it creates one active RS256 and one active ES256 key.
// It fails if a stored key does not open with the KEK (or PreviousKEK);
// keys that open only with PreviousKEK are re-sealed with KEK.
func NewManager(ctx context.Context, cfg Config) (*Manager, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s, err := newSealer(cfg.KEK, cfg.PreviousKEK)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg:    cfg,
		timing: timing{rotationPeriod: cfg.RotationPeriod, publishAhead: cfg.PublishAhead, retireAfter: cfg.RetireAfter},
		sealer: s,
		opened: make(map[string]*openedKey),
	}
	m.metrics = newMetrics(m)
	if err := m.Reload(ctx); err != nil {
		return nil, err
	}
	if err := m.metrics.register(cfg.Registerer); err != nil {
		return nil, err
	}
	return m, nil
}

// Sign signs payload (JSON claims) with the active key of alg and returns
// the compact JWS (RFC 7515 §7.1) and the kid used. The protected header
// carries alg, kid and typ (RFC 9068 §2.1: "at+jwt" for access tokens,
// "JWT" for ID tokens; other values work but are not cached).
func (m *Manager) Sign(alg, typ string, payload []byte) (token string, kid string, err error) {
	k := m.snap.Load().active[alg]
	if k == nil {
		if !supported(alg) {
			return "", "", fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
		}
		return "", "", fmt.Errorf("%w: %s", ErrNoActiveKey, alg)
	}
	signer, err := k.signerFor(typ)
	if err != nil {
		return "", "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", "", fmt.Errorf("keys: sign with %q: %w", k.kid, err)
	}
	token, err = obj.CompactSerialize()
	if err != nil {
		return "", "", fmt.Errorf("keys: serialise JWS: %w", err)
	}
	return token, k.kid, nil
}

// Verify checks a compact JWS against the published keys and returns the
// payload and the header's kid and typ. Only RS256 and ES256 are accepted
// (RFC 8725 §3.1); the header must name a published kid of that alg, and a
// retired key stops verifying at its ExpiresAt. Claims are not checked.
// Every error wraps ErrInvalidToken.
func (m *Manager) Verify(token string) (payload []byte, kid, typ string, err error) {
	// The allowlist (RFC 8725 §3.1): never none or HS*.
	obj, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	h := obj.Signatures[0].Header
	pub, ok := m.snap.Load().byKID[h.KeyID]
	if !ok {
		return nil, "", "", fmt.Errorf("%w: %w: kid %q", ErrInvalidToken, ErrKeyNotFound, h.KeyID)
	}
	if !pub.expiresAt.IsZero() && !m.cfg.Now().Before(pub.expiresAt) {
		return nil, "", "", fmt.Errorf("%w: %w: kid %q expired at %s", ErrInvalidToken, ErrKeyNotFound, h.KeyID, pub.expiresAt)
	}
	if h.Algorithm != pub.key.alg {
		return nil, "", "", fmt.Errorf("%w: alg %q does not match key %q (%s)", ErrInvalidToken, h.Algorithm, h.KeyID, pub.key.alg)
	}
	payload, err = obj.Verify(pub.key.public.Key)
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	typ, _ = h.ExtraHeaders[jose.HeaderType].(string)
	return payload, h.KeyID, typ, nil
}

// Published reports whether kid is in the JWKS now (and has not passed its
// expiry): a cheap check for callers that cache verification results.
func (m *Manager) Published(kid string) bool {
	pub, ok := m.snap.Load().byKID[kid]
	return ok && (pub.expiresAt.IsZero() || m.cfg.Now().Before(pub.expiresAt))
}

// JWKS returns the current JWK Set document with its strong ETag and the
// max-age to send: min(PublishAhead, time until a key not yet signing may
// start to), never negative. It counts authd_jwks_served_total.
func (m *Manager) JWKS() JWKS {
	s := m.snap.Load()
	m.metrics.jwksServed.Inc()
	maxAge := m.cfg.PublishAhead
	if s.nextActivation.IsZero() {
		maxAge = 0
	} else if d := s.nextActivation.Sub(m.cfg.Now()); d < maxAge {
		maxAge = max(d, 0)
	}
	return JWKS{Body: s.body, ETag: s.etag, MaxAge: maxAge}
}

// List returns the published keys (next, active, unexpired retired) of
// both algorithms, ordered by alg then creation.
func (m *Manager) List() []Info {
	return append([]Info(nil), m.snap.Load().infos...)
}

// Algorithms returns the algs that have an active key.
func (m *Manager) Algorithms() []string {
	s := m.snap.Load()
	var out []string
	for _, alg := range supportedAlgs() {
		if s.active[alg] != nil {
			out = append(out, alg)
		}
	}
	return out
}

// Rotate makes the published next key of alg active at once (generating
// and activating one if there is none); the active key retires and stays
// published for RetireAfter. It returns the key that now signs.
func (m *Manager) Rotate(ctx context.Context, alg string) (Info, error) {
	if !supported(alg) {
		return Info{}, fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var kid string
	err := m.update(ctx, func(p *plan) (err error) {
		kid, err = p.rotate(alg)
		return err
	})
	if err != nil {
		return Info{}, err
	}
	for _, in := range m.snap.Load().infos {
		if in.Kid == kid {
			return in, nil
		}
	}
	return Info{}, fmt.Errorf("%w: rotated key %q not in the stored set", ErrKeyNotFound, kid)
}

// Delete removes the key kid from the set at once (a compromised key): it
// leaves the JWKS and stops verifying. If it was active, the next key of
// its alg takes over, or a new key is generated and activated.
// ErrKeyNotFound if the set has no such key.
func (m *Manager) Delete(ctx context.Context, kid string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.update(ctx, func(p *plan) error { return p.remove(kid) })
}

// Run reloads the set every RefreshInterval and applies due transitions,
// until ctx is done. With a Notifier it also reloads as soon as another
// replica publishes a change on store.TopicKeys, and whenever its
// subscription (re)starts (a change may have been missed meanwhile).
// Errors are logged; the last good snapshot keeps serving.
func (m *Manager) Run(ctx context.Context) {
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	if m.cfg.Notifier != nil {
		wg.Go(func() { m.follow(ctx, wake) })
	}
	t := time.NewTicker(m.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		if err := m.Reload(ctx); err != nil && ctx.Err() == nil {
			m.cfg.Logger.Warn("reload signing keys", "err", err)
		}
	}
}

// follow turns the notices of store.TopicKeys into wake-ups of Run (at
// most one pending: a burst of changes costs one reload).
func (m *Manager) follow(ctx context.Context, wake chan<- struct{}) {
	_ = m.cfg.Notifier.Subscribe(ctx, store.TopicKeys, func(n store.Notice) {
		switch n.Kind {
		case store.NoticeMessage, store.NoticeSubscribed:
			select {
			case wake <- struct{}{}:
			default:
			}
		case store.NoticeLost:
			m.cfg.Logger.Warn("key-set notifications interrupted; replicas pick up key changes by polling until they resume", "interval", m.cfg.RefreshInterval)
		}
	})
}

// publishTimeout bounds the notification of a stored key-set change.
const publishTimeout = time.Second

// announce tells the other replicas that version is stored. A failure only
// delays them until their next poll.
func (m *Manager) announce(ctx context.Context, version uint64) {
	if m.cfg.Notifier == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	if err := m.cfg.Notifier.Publish(ctx, store.TopicKeys, strconv.FormatUint(version, 10)); err != nil {
		m.cfg.Logger.Warn("publish key-set change; other replicas pick it up by polling", "version", version, "err", err)
	}
}

// Reload reads the set from the store, rebuilds the snapshot if the
// stored version changed, and applies the transitions due at Now.
func (m *Manager) Reload(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.snap.Load()
	if cur == nil {
		return m.update(ctx, nil)
	}
	set, err := m.cfg.Store.GetKeySet(ctx)
	if err != nil {
		return fmt.Errorf("keys: load key set: %w", err)
	}
	if set.Version == cur.version && m.cfg.Now().Before(cur.nextChange) {
		return nil
	}
	return m.updateFrom(ctx, set, nil)
}

// update applies op (if any) and the due transitions to the stored set.
// Callers hold mu.
func (m *Manager) update(ctx context.Context, op func(*plan) error) error {
	set, err := m.cfg.Store.GetKeySet(ctx)
	if err != nil {
		return fmt.Errorf("keys: load key set: %w", err)
	}
	return m.updateFrom(ctx, set, op)
}

// updateFrom plans op and the due transitions on set, re-seals keys still
// under PreviousKEK, and stores the result by compare-and-swap; on a lost
// race it reloads and plans again. The snapshot is rebuilt from what is
// stored. Callers hold mu.
func (m *Manager) updateFrom(ctx context.Context, set store.KeySet, op func(*plan) error) error {
	for attempt := 1; ; attempt++ {
		p := newPlan(set.Keys, m.cfg.Now(), m.timing, m.generate)
		if op != nil {
			if err := op(p); err != nil {
				return err
			}
		}
		if err := p.advance(); err != nil {
			return err
		}
		if err := m.reseal(p); err != nil {
			return err
		}
		if !p.changed() {
			return m.install(set)
		}
		stored, err := m.cfg.Store.SwapKeySet(ctx, set.Version, p.keys)
		if err == nil {
			m.applied(p)
			err = m.install(stored)
			m.announce(ctx, stored.Version)
			return err
		}
		if !errors.Is(err, store.ErrConflict) || attempt == maxSwapAttempts {
			return fmt.Errorf("keys: store key set: %w", err)
		}
		if set, err = m.cfg.Store.GetKeySet(ctx); err != nil {
			return fmt.Errorf("keys: load key set: %w", err)
		}
	}
}

// generate creates a new sealed key of alg.
func (m *Manager) generate(alg string) (store.Key, error) {
	return generate(m.sealer, alg, m.cfg.RSABits)
}

// openCached returns the opened form of k, opening it if its sealed bytes
// are new. Callers hold mu.
func (m *Manager) openCached(k store.Key) (*openedKey, error) {
	if o := m.opened[k.ID]; o != nil && o.alg == k.Alg && string(o.sealed) == string(k.Sealed) {
		return o, nil
	}
	o, err := openKey(m.sealer, k)
	if err != nil {
		return nil, err
	}
	m.opened[k.ID] = o
	return o, nil
}

// reseal opens every key of the plan and seals again with KEK those that
// opened only with PreviousKEK. A key that opens with neither fails the
// update (ErrWrongKEK).
func (m *Manager) reseal(p *plan) error {
	for i, k := range p.keys {
		if !supported(k.Alg) {
			continue
		}
		o, err := m.openCached(k)
		if err != nil {
			return err
		}
		if !o.viaPrevious {
			continue
		}
		plain, _, err := m.sealer.open(k.ID, k.Alg, k.Sealed)
		if err != nil {
			return err
		}
		p.keys[i].Sealed = m.sealer.seal(k.ID, k.Alg, plain)
		clear(plain)
		p.record(evResealed, k, "", time.Time{})
	}
	return nil
}

// install builds the snapshot of set and publishes it. Callers hold mu.
func (m *Manager) install(set store.KeySet) error {
	now := m.cfg.Now()
	if cur := m.snap.Load(); cur != nil && cur.version == set.Version && set.Version != 0 {
		return nil
	}
	opened := make(map[string]*openedKey, len(set.Keys))
	for _, k := range set.Keys {
		if !isPublished(k, now) {
			continue
		}
		o, err := m.openCached(k)
		if err != nil {
			return err
		}
		opened[k.ID] = o
	}
	s, err := buildSnapshot(set, opened, now, m.timing)
	if err != nil {
		return err
	}
	m.opened = opened
	m.snap.Store(s)
	return nil
}

// applied logs and counts the events of a stored plan.
func (m *Manager) applied(p *plan) {
	log := m.cfg.Logger
	for _, e := range p.events {
		attrs := []any{"kid", e.kid, "alg", e.alg}
		switch e.kind {
		case evActivated:
			m.metrics.rotations.WithLabelValues(e.alg, e.reason).Inc()
			log.Info("signing key activated", append(attrs, "reason", e.reason)...)
		case evGenerated:
			log.Info("signing key generated", append(attrs, "activates_at", e.at)...)
		case evRetired:
			log.Info("signing key retired", append(attrs, "expires_at", e.at)...)
		case evRemoved:
			log.Info("retired signing key expired and left the set", attrs...)
		case evDeleted:
			log.Warn("signing key deleted", attrs...)
		case evResealed:
			log.Info("signing key re-sealed with the new KEK", attrs...)
		}
	}
}

// activeAge is the age of the active key of alg (0 if there is none).
func (m *Manager) activeAge(alg string) time.Duration {
	s := m.snap.Load()
	if s == nil {
		return 0
	}
	for _, in := range s.infos {
		if in.Alg == alg && in.State == store.KeyActive {
			return m.cfg.Now().Sub(in.ActivatedAt)
		}
	}
	return 0
}
