package authorize_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/authorize"
	"github.com/authd-dev/authd/store"
)

// fakeSessions keeps sessions in a map; getErr and touchErr inject
// failures.
type fakeSessions struct {
	mu       sync.Mutex
	m        map[string]store.Session
	getErr   error
	touchErr error
	reads    int
}

func (f *fakeSessions) CreateSession(ctx context.Context, s store.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[s.ID] = s
	return nil
}

func (f *fakeSessions) GetSession(ctx context.Context, id string) (store.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.getErr != nil {
		return store.Session{}, f.getErr
	}
	s, ok := f.m[id]
	if !ok {
		return store.Session{}, store.ErrNotFound
	}
	return s, nil
}

func (f *fakeSessions) TouchSession(ctx context.Context, id string, t store.SessionTouch) (store.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.touchErr != nil {
		return store.Session{}, f.touchErr
	}
	s, ok := f.m[id]
	if !ok {
		return store.Session{}, store.ErrNotFound
	}
	t.Apply(&s)
	f.m[id] = s
	return s, nil
}

func (f *fakeSessions) DeleteSession(ctx context.Context, id string) (store.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.m[id]
	if !ok {
		return store.Session{}, store.ErrNotFound
	}
	delete(f.m, id)
	return s, nil
}

func sessionFixture(t *testing.T) (fixture, *fakeSessions) {
	t.Helper()
	fx := newFixture(t, fakeUsers{})
	sess := &fakeSessions{m: map[string]store.Session{}}
	clients := fakeClients{"first": {ID: "first", RedirectURIs: []string{redirect}, SkipConsent: true}}
	f, err := authorize.New(authorize.Config{Requests: fx.reqs, Users: fakeUsers{}, Clients: clients, Consents: fakeConsents{},
		Now: func() time.Time { return time.Unix(1000, 0) }, Sessions: sess, SessionIdleTTL: time.Hour, SessionMaxLifetime: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fx.flow = f
	return fx, sess
}

// signInOnce signs ann in through the login page and returns the
// session cookie value the outcome asks to set.
func signInOnce(t *testing.T, fx fixture, oldCookie string) string {
	t.Helper()
	ctx := context.Background()
	out := fx.flow.AuthorizeInSession(ctx, query("first", "prompt", "login"), "csrf", oldCookie)
	if out.Page == nil || out.Page.Kind != authorize.PageLogin {
		t.Fatalf("%+v; want the login page", out)
	}
	out = fx.flow.Continue(ctx, authorize.Input{Request: out.Page.Request, CSRF: "csrf", Username: "ann", Password: "right", Session: oldCookie})
	if out.Redirect == nil || out.SetSession == nil || len(out.SetSession.Value) != 43 {
		t.Fatalf("%+v; want the code and a session cookie", out)
	}
	return out.SetSession.Value
}

// TestSessionSignsIn: a valid session signs the next request in with one
// session read; the code's request names the session and its family is
// recorded in it before the code is issued.
func TestSessionSignsIn(t *testing.T) {
	fx, sess := sessionFixture(t)
	cookie := signInOnce(t, fx, "")
	sess.reads = 0
	out := fx.flow.AuthorizeInSession(context.Background(), query("first", "prompt", "none"), "csrf", cookie)
	if out.Redirect == nil || out.Redirect.Params.Get("code") == "" || out.SetSession != nil {
		t.Fatalf("%+v; want the code at once and no new cookie", out)
	}
	if sess.reads != 1 {
		t.Errorf("%d session reads, want 1", sess.reads)
	}
	issued := fx.reqs.issued[len(fx.reqs.issued)-1]
	s := sess.m[authorize.SessionID(cookie)]
	if issued.SessionID != s.ID || issued.Subject != "u-ann" || len(s.Families) != 2 || s.Families[1] != issued.FamilyID || s.Clients[0] != "first" {
		t.Errorf("issued %+v, session %+v; want the session's id and its new family recorded", issued, s)
	}
}

// TestSessionEndedMeanwhile: a session gone between the read and the
// touch (an admin logout) asks for a sign-in again.
func TestSessionEndedMeanwhile(t *testing.T) {
	fx, sess := sessionFixture(t)
	cookie := signInOnce(t, fx, "")
	sess.touchErr = fmt.Errorf("touch: %w", store.ErrNotFound)
	out := fx.flow.AuthorizeInSession(context.Background(), query("first", "prompt", "none"), "csrf", cookie)
	if out.Failure == nil || out.Failure.Back == nil || code(out.Failure.Err) != "login_required" {
		t.Errorf("prompt=none: %+v; want login_required back to the client", out)
	}
	out = fx.flow.AuthorizeInSession(context.Background(), query("first"), "csrf", cookie)
	if out.Page == nil || out.Page.Kind != authorize.PageLogin {
		t.Errorf("%+v; want the login page", out)
	}
}

// TestSessionStoreDown: a session that cannot be read is the store's
// error, shown (a 503 page), not a silent sign-out.
func TestSessionStoreDown(t *testing.T) {
	fx, sess := sessionFixture(t)
	cookie := signInOnce(t, fx, "")
	sess.getErr = fmt.Errorf("get: %w", store.ErrUnavailable)
	out := fx.flow.AuthorizeInSession(context.Background(), query("first"), "csrf", cookie)
	if out.Failure == nil || out.Failure.Back != nil || !errors.Is(out.Failure.Err, store.ErrUnavailable) {
		t.Errorf("%+v; want the store's error, shown", out)
	}
}

// TestSignInRotatesSession: a new sign-in gets a new cookie and session
// id; the old session of the same user is deleted and its clients and
// families carry over (no fixation, nothing lost for logout).
func TestSignInRotatesSession(t *testing.T) {
	fx, sess := sessionFixture(t)
	first := signInOnce(t, fx, "")
	old := sess.m[authorize.SessionID(first)]
	second := signInOnce(t, fx, first)
	if second == first {
		t.Fatal("the session cookie was not rotated")
	}
	if _, ok := sess.m[authorize.SessionID(first)]; ok {
		t.Error("the replaced session is still stored")
	}
	now := sess.m[authorize.SessionID(second)]
	if len(now.Families) != len(old.Families)+1 || now.Families[0] != old.Families[0] {
		t.Errorf("families %v; want the old ones %v and the new one", now.Families, old.Families)
	}
	// max_age too large for a Duration is no limit, not an overflow.
	out := fx.flow.AuthorizeInSession(context.Background(), query("first", "prompt", "none", "max_age", "9300000000"), "csrf", second)
	if out.Redirect == nil {
		t.Errorf("huge max_age: %+v; want the code", out)
	}
}

// TestSessionTouchSlack: a silent authorization less than a twentieth of
// the idle TTL after the last recorded activity of a known client leaves
// the session's activity as it was (its family still recorded); once that
// slack has passed, the next one extends the session again.
func TestSessionTouchSlack(t *testing.T) {
	fx := newFixture(t, fakeUsers{})
	sess := &fakeSessions{m: map[string]store.Session{}}
	clients := fakeClients{"first": {ID: "first", RedirectURIs: []string{redirect}, SkipConsent: true}}
	var mu sync.Mutex
	clock := time.Unix(1000, 0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); clock = clock.Add(d) }
	const idle = time.Hour
	f, err := authorize.New(authorize.Config{Requests: fx.reqs, Users: fakeUsers{}, Clients: clients, Consents: fakeConsents{},
		Now: now, Sessions: sess, SessionIdleTTL: idle, SessionMaxLifetime: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fx.flow = f
	cookie := signInOnce(t, fx, "")
	id := authorize.SessionID(cookie)
	signedIn := sess.m[id].LastActiveAt
	silent := func() store.Session {
		t.Helper()
		out := fx.flow.AuthorizeInSession(context.Background(), query("first", "prompt", "none"), "csrf", cookie)
		if out.Redirect == nil || out.Redirect.Params.Get("code") == "" {
			t.Fatalf("%+v; want a code", out)
		}
		return sess.m[id]
	}
	advance(idle/20 - time.Second)
	s := silent()
	if !s.LastActiveAt.Equal(signedIn) || !s.IdleExpiresAt.Equal(signedIn.Add(idle)) || len(s.Families) != 2 {
		t.Errorf("within the slack: last active %v, idle end %v, %d families; want %v, %v, 2", s.LastActiveAt, s.IdleExpiresAt, len(s.Families), signedIn, signedIn.Add(idle))
	}
	advance(time.Second)
	s = silent()
	if want := now(); !s.LastActiveAt.Equal(want) || !s.IdleExpiresAt.Equal(want.Add(idle)) || len(s.Families) != 3 {
		t.Errorf("past the slack: last active %v, idle end %v, %d families; want %v, %v, 3", s.LastActiveAt, s.IdleExpiresAt, len(s.Families), want, want.Add(idle))
	}
}
