package keys

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authd-dev/authd/store"
)

// wantMaxAge is the max-age rule computed from the listed keys.
func wantMaxAge(infos []Info, now time.Time, rotation, ahead time.Duration) time.Duration {
	want := ahead
	for _, alg := range []string{RS256, ES256} {
		var at time.Time
		for _, in := range infos {
			if in.Alg == alg && in.State == store.KeyNext && (at.IsZero() || in.ActivatesAt.Before(at)) {
				at = in.ActivatesAt
			}
		}
		if at.IsZero() {
			for _, in := range infos {
				if in.Alg == alg && in.State == store.KeyActive {
					at = in.ActivatedAt.Add(rotation)
				}
			}
		}
		want = min(want, at.Sub(now))
	}
	return max(want, 0)
}

// signed is a token the walk issued.
type signed struct {
	token, kid, alg string
	payload         []byte
}

// TestLifecycleWalk walks four rotation periods in 30-minute steps and
// checks at every step the JWKS, the signing kid, the max-age and that every
// token signed so far verifies exactly until its key expires.
func TestLifecycleWalk(t *testing.T) {
	const (
		rotation = 10 * time.Hour
		ahead    = time.Hour
		retire   = 2*time.Hour + 10*time.Minute
		step     = 30 * time.Minute
	)
	ctx := context.Background()
	clk := newClock()
	start := clk.Now()
	st := &fakeStore{}
	m := newManager(t, st, clk, nil)

	var (
		tokens    []signed
		expiry    = map[string]time.Time{} // kid → ExpiresAt once retired
		firstSeen = map[string]time.Time{}
		prevKids  []string
		prevETag  string
		prevAct   = map[string]Info{}
		rotations = map[string]int{}
	)
	for i := 0; clk.Now().Before(start.Add(4*rotation + 3*time.Hour)); i++ {
		now := clk.Now()
		if err := m.Reload(ctx); err != nil {
			t.Fatalf("t+%s: Reload: %v", now.Sub(start), err)
		}
		at := "t+" + now.Sub(start).String()
		infos := m.List()
		kids := kidsOf(infos)
		slices.Sort(kids)
		for _, in := range infos {
			if _, ok := firstSeen[in.Kid]; !ok {
				firstSeen[in.Kid] = now
			}
			if in.State == store.KeyRetired {
				expiry[in.Kid] = in.ExpiresAt
				if !now.Before(in.ExpiresAt) {
					t.Errorf("%s: expired key %s still listed", at, in.Kid)
				}
				if want := in.RetiredAt.Add(retire); !in.ExpiresAt.Equal(want) {
					t.Errorf("%s: %s ExpiresAt %s, want RetiredAt+RetireAfter %s", at, in.Kid, in.ExpiresAt, want)
				}
			}
		}
		for _, kid := range prevKids {
			if !slices.Contains(kids, kid) {
				exp, ok := expiry[kid]
				if !ok || now.Before(exp) {
					t.Errorf("%s: key %s left the set before its expiry (%v)", at, kid, exp)
				}
			}
		}

		doc := m.JWKS()
		checkJWKS(t, doc.Body, kids)
		if changed := !slices.Equal(kids, prevKids); changed != (doc.ETag != prevETag) {
			t.Errorf("%s: set changed %v but ETag changed %v", at, changed, doc.ETag != prevETag)
		}
		if want := wantMaxAge(infos, now, rotation, ahead); doc.MaxAge != want {
			t.Errorf("%s: MaxAge = %s, want %s", at, doc.MaxAge, want)
		}
		prevKids, prevETag = kids, doc.ETag

		for _, alg := range []string{RS256, ES256} {
			act := activeOf(t, infos, alg)
			if prev, ok := prevAct[alg]; ok && prev.Kid != act.Kid {
				rotations[alg]++
				if want := prev.ActivatedAt.Add(rotation); !act.ActivatedAt.Equal(want) {
					t.Errorf("%s: %s activated at %s, want %s", at, alg, act.ActivatedAt, want)
				}
				if published := now.Sub(firstSeen[act.Kid]); published < ahead {
					t.Errorf("%s: %s key %s signs after being published only %s", at, alg, act.Kid, published)
				}
				if stateOf(infos, prev.Kid) != store.KeyRetired {
					t.Errorf("%s: previous %s key %s is %q, want retired", at, alg, prev.Kid, stateOf(infos, prev.Kid))
				}
			}
			prevAct[alg] = act
			payload := []byte(`{"sub":"walk","step":` + string(rune('0'+i%10)) + `}`)
			tok, kid, err := m.Sign(alg, TypeAccessToken, payload)
			if err != nil {
				t.Fatalf("%s: Sign %s: %v", at, alg, err)
			}
			if kid != act.Kid {
				t.Errorf("%s: %s signed with %s, want active %s", at, alg, kid, act.Kid)
			}
			tokens = append(tokens, signed{token: tok, kid: kid, alg: alg, payload: payload})
		}

		for _, tk := range tokens {
			exp, retired := expiry[tk.kid]
			wantOK := !retired || now.Before(exp)
			got, kid, typ, err := m.Verify(tk.token)
			switch {
			case wantOK && err != nil:
				t.Errorf("%s: token of %s (%s) rejected: %v", at, tk.kid, tk.alg, err)
			case wantOK && (!bytes.Equal(got, tk.payload) || kid != tk.kid || typ != TypeAccessToken):
				t.Errorf("%s: Verify = %s %s %s", at, got, kid, typ)
			case !wantOK && err == nil:
				t.Errorf("%s: token of %s verifies after the key expired at %s", at, tk.kid, exp)
			case !wantOK && !errors.Is(err, ErrKeyNotFound):
				t.Errorf("%s: expired-key error %v, want ErrKeyNotFound", at, err)
			}
		}
		clk.Add(step)
	}
	for _, alg := range []string{RS256, ES256} {
		if rotations[alg] != 4 {
			t.Errorf("%s rotated %d times in four periods, want 4", alg, rotations[alg])
		}
	}
	if len(expiry) < 6 {
		t.Errorf("only %d keys retired", len(expiry))
	}
}

// TestRetiredKeyExpiresExactly checks the verification boundary at
// ExpiresAt, without waiting for a reload.
func TestRetiredKeyExpiresExactly(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newManager(t, &fakeStore{}, clk, nil)
	tok, kid, err := m.Sign(ES256, TypeIDToken, []byte(`{"sub":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Rotate(ctx, ES256); err != nil {
		t.Fatal(err)
	}
	var exp time.Time
	for _, in := range m.List() {
		if in.Kid == kid {
			exp = in.ExpiresAt
		}
	}
	if want := clk.Now().Add(2*time.Hour + 10*time.Minute); !exp.Equal(want) {
		t.Fatalf("ExpiresAt = %s, want now+RetireAfter %s", exp, want)
	}
	clk.Set(exp.Add(-time.Nanosecond))
	if _, _, typ, err := m.Verify(tok); err != nil || typ != TypeIDToken {
		t.Fatalf("just before expiry: typ %q err %v", typ, err)
	}
	clk.Set(exp)
	if _, _, _, err := m.Verify(tok); !errors.Is(err, ErrKeyNotFound) || !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("at expiry: %v, want ErrInvalidToken and ErrKeyNotFound", err)
	}
	before := m.JWKS().ETag
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if stateOf(m.List(), kid) != "" || m.JWKS().ETag == before {
		t.Fatal("expired key still published after Reload")
	}
}

// TestReplicasRotateOnce races two managers on one store through the
// activation step (which also publishes the following next key): it
// happens exactly once.
func TestReplicasRotateOnce(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st := &fakeStore{}
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	ms := make([]*Manager, 2)
	for i := range ms {
		ms[i] = newManager(t, st, clk, func(c *Config) { c.Registerer = regs[i] })
	}
	race := func(phase string) {
		t.Helper()
		swaps0, conflicts0 := st.counts()
		st.hold(2)
		errs := make(chan error, 2)
		for _, m := range ms {
			go func() { errs <- m.Reload(ctx) }()
		}
		for range ms {
			if err := <-errs; err != nil {
				t.Fatalf("%s: %v", phase, err)
			}
		}
		swaps, conflicts := st.counts()
		if swaps-swaps0 != 1 || conflicts-conflicts0 != 1 {
			t.Fatalf("%s: %d swaps and %d conflicts, want 1 and 1", phase, swaps-swaps0, conflicts-conflicts0)
		}
		if !slices.Equal(ms[0].List(), ms[1].List()) || ms[0].JWKS().ETag != ms[1].JWKS().ETag {
			t.Fatalf("%s: replicas disagree", phase)
		}
	}

	// Every alg has its next key published from the start.
	infos := ms[0].List()
	for _, alg := range []string{RS256, ES256} {
		var next int
		for _, in := range infos {
			if in.Alg == alg && in.State == store.KeyNext {
				next++
			}
		}
		if next != 1 {
			t.Fatalf("%s: %d next keys, want 1", alg, next)
		}
	}

	clk.Add(10 * time.Hour) // RotationPeriod
	race("activate")
	for _, alg := range []string{RS256, ES256} {
		total := 0.0
		for _, reg := range regs {
			total += metricValue(t, reg, "authd_key_rotations_total", map[string]string{"alg": alg, "reason": reasonScheduled})
		}
		if total != 1 {
			t.Errorf("%s: %v scheduled rotations across replicas, want 1", alg, total)
		}
		_, k0, _ := ms[0].Sign(alg, TypeAccessToken, []byte(`{}`))
		_, k1, _ := ms[1].Sign(alg, TypeAccessToken, []byte(`{}`))
		if k0 != k1 || k0 != activeOf(t, ms[0].List(), alg).Kid {
			t.Errorf("%s: replicas sign with %s and %s", alg, k0, k1)
		}
	}
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newManager(t, &fakeStore{}, clk, nil)
	old := activeOf(t, m.List(), RS256)
	nextOf := func() Info {
		t.Helper()
		for _, in := range m.List() {
			if in.Alg == RS256 && in.State == store.KeyNext {
				return in
			}
		}
		t.Fatal("no next RS256 key published")
		return Info{}
	}

	// Rotate promotes the published next key at once; the old key retires
	// and a new next key is published in its place.
	for i := range 2 {
		next := nextOf()
		etag := m.JWKS().ETag
		clk.Add(time.Minute)
		got, err := m.Rotate(ctx, RS256)
		if err != nil {
			t.Fatal(err)
		}
		infos := m.List()
		if got != activeOf(t, infos, RS256) || got.Kid != next.Kid || !got.ActivatedAt.Equal(clk.Now()) {
			t.Fatalf("rotation %d: Rotate returned %+v; want the published next key %s active now", i, got, next.Kid)
		}
		for _, in := range infos {
			if in.Kid == old.Kid && (in.State != store.KeyRetired || !in.ExpiresAt.Equal(clk.Now().Add(2*time.Hour+10*time.Minute))) {
				t.Fatalf("rotation %d: old key after Rotate: %+v", i, in)
			}
		}
		if fresh := nextOf(); fresh.Kid == next.Kid || !fresh.ActivatesAt.Equal(clk.Now().Add(10*time.Hour)) {
			t.Fatalf("rotation %d: next key after Rotate %+v; want a new one due a period later", i, fresh)
		}
		if m.JWKS().ETag == etag {
			t.Fatalf("rotation %d: ETag unchanged though a key joined the set", i)
		}
		if _, kid, _ := m.Sign(RS256, TypeAccessToken, []byte(`{}`)); kid != next.Kid {
			t.Fatalf("rotation %d: signs with %s after Rotate, want %s", i, kid, next.Kid)
		}
		if es := activeOf(t, infos, ES256); es.ActivatedAt != activeOf(t, m.List(), ES256).ActivatedAt {
			t.Fatal("rotating RS256 touched ES256")
		}
		old = got
	}

	if _, err := m.Rotate(ctx, "HS256"); !errors.Is(err, ErrUnsupportedAlg) {
		t.Fatalf("Rotate(HS256) = %v, want ErrUnsupportedAlg", err)
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newManager(t, &fakeStore{}, clk, nil)

	if err := m.Delete(ctx, "no-such-kid"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Delete(unknown) = %v, want ErrKeyNotFound", err)
	}

	// Deleting the active key: the published next key takes over at once.
	old := activeOf(t, m.List(), ES256)
	var first string
	for _, in := range m.List() {
		if in.Alg == ES256 && in.State == store.KeyNext {
			first = in.Kid
		}
	}
	tok, _, _ := m.Sign(ES256, TypeAccessToken, []byte(`{}`))
	if err := m.Delete(ctx, old.Kid); err != nil {
		t.Fatal(err)
	}
	infos := m.List()
	if stateOf(infos, old.Kid) != "" || strings.Contains(string(m.JWKS().Body), old.Kid) {
		t.Fatal("deleted key still published")
	}
	if _, _, _, err := m.Verify(tok); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("token of a deleted key: %v, want ErrKeyNotFound", err)
	}
	repl := activeOf(t, infos, ES256)
	if repl.Kid != first {
		t.Fatalf("active after Delete = %s, want the published next key %s", repl.Kid, first)
	}
	if _, kid, err := m.Sign(ES256, TypeAccessToken, []byte(`{}`)); err != nil || kid != repl.Kid {
		t.Fatalf("after Delete signs with %s (%v), want %s", kid, err, repl.Kid)
	}

	// Later in the period, again the next key takes over.
	clk.Set(repl.ActivatedAt.Add(9 * time.Hour))
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	var next string
	for _, in := range m.List() {
		if in.Alg == ES256 && in.State == store.KeyNext {
			next = in.Kid
		}
	}
	if err := m.Delete(ctx, repl.Kid); err != nil {
		t.Fatal(err)
	}
	if a := activeOf(t, m.List(), ES256); a.Kid != next {
		t.Fatalf("active after Delete = %s, want next key %s", a.Kid, next)
	}
	if err := m.Delete(ctx, repl.Kid); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("second Delete = %v, want ErrKeyNotFound", err)
	}
}

func TestMaxAge(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	start := clk.Now()
	m := newManager(t, &fakeStore{}, clk, nil)
	for _, tc := range []struct {
		at     time.Duration // since start; Reload runs there unless stale
		stale  bool
		maxAge time.Duration
	}{
		{0, false, time.Hour},                                   // capped by PublishAhead
		{8*time.Hour + 30*time.Minute, false, time.Hour},        // 1h30m before the next key would activate
		{9 * time.Hour, false, time.Hour},                       // next key published, activates at 10h
		{9*time.Hour + 20*time.Minute, false, 40 * time.Minute}, // 40m before it activates
		{10*time.Hour + 5*time.Minute, true, 0},                 // activation overdue, not yet applied
		{10*time.Hour + 5*time.Minute, false, time.Hour},        // applied: new period
	} {
		clk.Set(start.Add(tc.at))
		if !tc.stale {
			if err := m.Reload(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if got := m.JWKS().MaxAge; got != tc.maxAge {
			t.Errorf("at %s (stale %v): MaxAge %s, want %s", tc.at, tc.stale, got, tc.maxAge)
		}
	}
}

// TestDowntimeKeepsPublishAhead: after a replica was down past the
// scheduled rotation, the next key is still published PublishAhead before
// it signs, and the old key keeps signing until then.
func TestDowntimeKeepsPublishAhead(t *testing.T) {
	clk := newClock()
	st := &fakeStore{}
	m := newManager(t, st, clk, nil)
	nextOf := func(m *Manager) Info {
		for _, in := range m.List() {
			if in.Alg == ES256 && in.State == store.KeyNext {
				return in
			}
		}
		t.Fatal("no next ES256 key")
		return Info{}
	}
	published := nextOf(m)  // in the JWKS since the start
	clk.Add(25 * time.Hour) // two and a half periods without a reload
	m = newManager(t, st, clk, nil)
	// The overdue next key has been published for 25h, far longer than
	// PublishAhead: it may sign at once.
	if _, kid, _ := m.Sign(ES256, TypeAccessToken, []byte(`{}`)); kid != published.Kid {
		t.Fatalf("signs with %s after the downtime, want the long-published %s", kid, published.Kid)
	}
	// Its successor is published now and signs no earlier than
	// now+PublishAhead (here a whole period later).
	fresh := nextOf(m)
	if fresh.ActivatesAt.Before(clk.Now().Add(time.Hour)) || !fresh.ActivatesAt.Equal(clk.Now().Add(10*time.Hour)) {
		t.Fatalf("next key activates at %s; want a period from now, %s", fresh.ActivatesAt, clk.Now().Add(10*time.Hour))
	}
}

// TestManualRotatePromotesPublishedKey: wherever in the lifecycle Rotate
// is called, the key it makes active was already in the JWKS body served
// before the call, so verifiers and other replicas already have it.
func TestManualRotatePromotesPublishedKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	both := func(t *testing.T, m *Manager, f func(alg string) error) {
		t.Helper()
		for _, alg := range []string{RS256, ES256} {
			must(t, f(alg))
		}
	}
	inState := func(m *Manager, alg, state string) string {
		for _, in := range m.List() {
			if in.Alg == alg && in.State == state {
				return in.Kid
			}
		}
		return ""
	}
	// rotateChecked rotates alg on m and checks the promoted key.
	rotateChecked := func(t *testing.T, m *Manager, alg string) {
		t.Helper()
		before := bodyKids(t, m.JWKS().Body)
		old := activeOf(t, m.List(), alg)
		got, err := m.Rotate(ctx, alg)
		must(t, err)
		if !before[got.Kid] {
			t.Fatalf("Rotate(%s) activated %s, which the JWKS before the call lacked (%v)", alg, got.Kid, before)
		}
		if got.Kid == old.Kid || got.State != store.KeyActive || activeOf(t, m.List(), alg).Kid != got.Kid {
			t.Fatalf("Rotate(%s) = %+v; the active key was %s", alg, got, old.Kid)
		}
		if _, kid, _ := m.Sign(alg, TypeAccessToken, []byte(`{}`)); kid != got.Kid {
			t.Fatalf("signs with %s after Rotate, want %s", kid, got.Kid)
		}
		if inState(m, alg, store.KeyNext) == "" {
			t.Fatalf("no %s next key published after Rotate", alg)
		}
	}

	base, _ := func() (store.KeySet, error) {
		st := &fakeStore{}
		newManager(t, st, newClock(), nil)
		return st.GetKeySet(ctx)
	}()
	for _, tc := range []struct {
		name string
		// at brings a fresh manager to a point of the lifecycle and returns
		// the manager to rotate on.
		at func(t *testing.T, m *Manager, st *fakeStore, clk *clock) *Manager
	}{
		{"first start", nil},
		{"mid period", func(t *testing.T, m *Manager, _ *fakeStore, clk *clock) *Manager {
			clk.Add(5 * time.Hour)
			must(t, m.Reload(ctx))
			return m
		}},
		{"just before the scheduled activation", func(t *testing.T, m *Manager, _ *fakeStore, clk *clock) *Manager {
			clk.Add(10*time.Hour - time.Second)
			must(t, m.Reload(ctx))
			return m
		}},
		{"scheduled activation due but not applied", func(t *testing.T, m *Manager, _ *fakeStore, clk *clock) *Manager {
			clk.Add(10 * time.Hour)
			return m
		}},
		{"right after a scheduled activation", func(t *testing.T, m *Manager, _ *fakeStore, clk *clock) *Manager {
			clk.Add(10 * time.Hour)
			must(t, m.Reload(ctx))
			return m
		}},
		{"right after a manual rotation", func(t *testing.T, m *Manager, _ *fakeStore, clk *clock) *Manager {
			clk.Add(time.Minute)
			both(t, m, func(alg string) error { _, err := m.Rotate(ctx, alg); return err })
			return m
		}},
		{"after the next key was deleted", func(t *testing.T, m *Manager, _ *fakeStore, clk *clock) *Manager {
			clk.Add(2 * time.Hour)
			both(t, m, func(alg string) error { return m.Delete(ctx, inState(m, alg, store.KeyNext)) })
			return m
		}},
		{"after the active key was deleted", func(t *testing.T, m *Manager, _ *fakeStore, clk *clock) *Manager {
			clk.Add(2 * time.Hour)
			both(t, m, func(alg string) error { return m.Delete(ctx, activeOf(t, m.List(), alg).Kid) })
			return m
		}},
		{"after a retired key expired", func(t *testing.T, m *Manager, _ *fakeStore, clk *clock) *Manager {
			clk.Add(10 * time.Hour)
			must(t, m.Reload(ctx))
			clk.Add(2*time.Hour + 10*time.Minute) // RetireAfter
			must(t, m.Reload(ctx))
			if n := len(m.List()); n != 4 {
				t.Fatalf("%d keys listed, want 4 once the retired keys expired", n)
			}
			return m
		}},
		{"restart after downtime past the rotation", func(t *testing.T, _ *Manager, st *fakeStore, clk *clock) *Manager {
			clk.Add(25 * time.Hour)
			return newManager(t, st, clk, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each case starts from a copy of one freshly created set
			// (RSA generation is slow under -race).
			clk := newClock()
			st := &fakeStore{set: store.KeySet{Version: base.Version, Keys: cloneKeys(base.Keys)}}
			m := newManager(t, st, clk, nil)
			if tc.at != nil {
				m = tc.at(t, m, st, clk)
			}
			for _, alg := range []string{ES256, RS256} {
				rotateChecked(t, m, alg)
			}
		})
	}

	// A walk through two and a half periods: at every step a copy of the
	// set, opened by another replica, is rotated.
	clk := newClock()
	st := &fakeStore{set: base}
	m := newManager(t, st, clk, nil)
	for step := range 20 {
		clk.Add(75 * time.Minute)
		must(t, m.Reload(ctx))
		set, _ := st.GetKeySet(ctx)
		fork := newManager(t, &fakeStore{set: set}, clk, nil)
		rotateChecked(t, fork, ES256)
		if step%10 == 0 { // RSA generation is slow under -race
			rotateChecked(t, fork, RS256)
		}
	}
}
