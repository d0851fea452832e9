package admin_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/authd-dev/authd/admin"
	"github.com/authd-dev/authd/clients"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/users"
)

// journal records the calls in order.
type journal struct {
	calls     []string
	revokeErr error
}

type fakeUsers struct{ j *journal }

func (f fakeUsers) Create(ctx context.Context, req users.CreateRequest) (users.View, error) {
	return users.View{}, nil
}
func (f fakeUsers) Get(ctx context.Context, id string) (users.View, error) {
	if id == "ghost" {
		return users.View{}, oauth.New(oauth.NotFound, "no user %q", id)
	}
	f.j.calls = append(f.j.calls, "get "+id)
	return users.View{ID: id}, nil
}
func (f fakeUsers) List(ctx context.Context) ([]users.View, error) { return nil, nil }
func (f fakeUsers) Patch(ctx context.Context, id string, req users.PatchRequest) (users.View, error) {
	f.j.calls = append(f.j.calls, "patch "+id)
	return users.View{ID: id}, nil
}
func (f fakeUsers) Delete(ctx context.Context, id string) error {
	f.j.calls = append(f.j.calls, "delete "+id)
	return nil
}
func (f fakeUsers) Revoke(ctx context.Context, id string) (time.Time, error) {
	f.j.calls = append(f.j.calls, "not-before "+id)
	return time.Unix(50, 0), nil
}

type fakeClients struct{ j *journal }

func (f fakeClients) Create(ctx context.Context, m clients.Metadata) (clients.Registered, error) {
	return clients.Registered{}, nil
}
func (f fakeClients) Get(ctx context.Context, id string) (clients.Metadata, error) {
	f.j.calls = append(f.j.calls, "get "+id)
	return clients.Metadata{}, nil
}
func (f fakeClients) List(ctx context.Context) ([]clients.Metadata, error) { return nil, nil }
func (f fakeClients) Replace(ctx context.Context, id string, m clients.Metadata) (clients.Registered, error) {
	return clients.Registered{}, nil
}
func (f fakeClients) Delete(ctx context.Context, id string) error {
	f.j.calls = append(f.j.calls, "delete "+id)
	return fmt.Errorf("gone meanwhile: %w", store.ErrNotFound)
}
func (f fakeClients) ResetSecret(ctx context.Context, id string) (clients.Registered, error) {
	return clients.Registered{}, nil
}

type fakeKeys struct{}

func (fakeKeys) List() []keys.Info { return nil }
func (fakeKeys) Rotate(ctx context.Context, alg string) (keys.Info, error) {
	return keys.Info{}, fmt.Errorf("rotate %q: %w", alg, keys.ErrUnsupportedAlg)
}
func (fakeKeys) Delete(ctx context.Context, kid string) error {
	return fmt.Errorf("delete %q: %w", kid, keys.ErrKeyNotFound)
}

type fakeRevoker struct{ j *journal }

func (f fakeRevoker) RevokeSubject(ctx context.Context, sub string, at time.Time) error {
	f.j.calls = append(f.j.calls, fmt.Sprintf("revoke sub %s at %d", sub, at.Unix()))
	return f.j.revokeErr
}
func (f fakeRevoker) RevokeClient(ctx context.Context, id string, at time.Time) error {
	f.j.calls = append(f.j.calls, fmt.Sprintf("revoke client %s at %d", id, at.Unix()))
	return f.j.revokeErr
}

func newService(t *testing.T) (*admin.Service, *journal) {
	t.Helper()
	j := &journal{}
	s, err := admin.New(admin.Config{Clients: fakeClients{j}, Users: fakeUsers{j}, Keys: fakeKeys{}, Revoker: fakeRevoker{j},
		Consents: &fakeConsents{j: j}, Families: fakeEnder{j: j}, Now: func() time.Time { return time.Unix(100, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	return s, j
}

func TestNewRequiresARevoker(t *testing.T) {
	j := &journal{}
	if _, err := admin.New(admin.Config{Clients: fakeClients{j}, Users: fakeUsers{j}, Keys: fakeKeys{}, Now: time.Now}); err == nil {
		t.Fatal("admin.New without a Revoker succeeded")
	}
}

func TestUseCases(t *testing.T) {
	pw := "new-password"
	tests := []struct {
		name    string
		run     func(s *admin.Service) error
		want    []string
		wantErr string // oauth code, "" for none
	}{
		{"delete user is the users service's (it revokes first)", func(s *admin.Service) error { return s.DeleteUser(context.Background(), "u1") },
			[]string{"delete u1"}, ""},
		{"delete client revokes first; a concurrent delete is success", func(s *admin.Service) error { return s.DeleteClient(context.Background(), "c1") },
			[]string{"get c1", "revoke client c1 at 100", "delete c1"}, ""},
		{"password change revokes", func(s *admin.Service) error {
			_, err := s.PatchUser(context.Background(), "u1", users.PatchRequest{Password: &pw})
			return err
		}, []string{"patch u1", "revoke sub u1 at 100"}, ""},
		{"other changes do not", func(s *admin.Service) error {
			_, err := s.PatchUser(context.Background(), "u1", users.PatchRequest{})
			return err
		}, []string{"patch u1"}, ""},
		{"revoke user is the users service's (it writes the watermark)", func(s *admin.Service) error { return s.RevokeUser(context.Background(), "u1") },
			[]string{"not-before u1"}, ""},
		{"unsupported alg", func(s *admin.Service) error { _, err := s.RotateKey(context.Background(), "HS256"); return err },
			nil, oauth.InvalidRequest},
		{"unknown key", func(s *admin.Service) error { return s.DeleteKey(context.Background(), "k9") },
			nil, oauth.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, j := newService(t)
			err := tt.run(s)
			if got := oauth.As(err); (tt.wantErr == "") != (err == nil) || (got != nil && got.Code != tt.wantErr) {
				t.Fatalf("err %v; want code %q", err, tt.wantErr)
			}
			if !slices.Equal(j.calls, tt.want) {
				t.Errorf("calls %q; want %q", j.calls, tt.want)
			}
		})
	}
}

func TestFailedRevocationFailsTheCall(t *testing.T) {
	s, j := newService(t)
	j.revokeErr = fmt.Errorf("deny: %w", store.ErrUnavailable)
	if err := s.DeleteClient(context.Background(), "c1"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("err %v; want the store's", err)
	}
	if slices.Contains(j.calls, "delete c1") {
		t.Errorf("the client was deleted although its tokens could not be revoked: %q", j.calls)
	}
	pw := "x"
	if _, err := s.PatchUser(context.Background(), "u1", users.PatchRequest{Password: &pw}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("password change with a failed revocation: %v; want the store's error", err)
	}
}

// fakeConsents journals the consent calls; families names what the index
// holds, deleted what the deletion returns.
type fakeConsents struct {
	j        *journal
	families []string
	deleted  []string
	missing  bool
}

func (f *fakeConsents) ListConsents(ctx context.Context, userID string) ([]store.Consent, error) {
	return nil, nil
}

func (f *fakeConsents) UserFamilies(ctx context.Context, userID, clientID string) ([]string, error) {
	f.j.calls = append(f.j.calls, "families "+userID+" "+clientID)
	return f.families, nil
}

func (f *fakeConsents) DeleteConsent(ctx context.Context, userID, clientID string) ([]string, error) {
	f.j.calls = append(f.j.calls, "delete consent "+userID+" "+clientID)
	if f.missing {
		return nil, store.ErrNotFound
	}
	return f.deleted, nil
}

type fakeEnder struct {
	j   *journal
	err error
}

func (f fakeEnder) EndFamilies(ctx context.Context, ids []string) error {
	f.j.calls = append(f.j.calls, fmt.Sprint("end ", ids))
	return f.err
}

// TestDeleteConsentEndsFamiliesFirst: the families are ended before the
// consent goes (a failure leaves it for the retry), and those begun in
// between are ended after.
func TestDeleteConsentEndsFamiliesFirst(t *testing.T) {
	ctx := context.Background()
	build := func(c *fakeConsents, e fakeEnder) *admin.Service {
		s, err := admin.New(admin.Config{Clients: fakeClients{c.j}, Users: fakeUsers{c.j}, Keys: fakeKeys{}, Revoker: fakeRevoker{c.j},
			Consents: c, Families: e, Now: time.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	j := &journal{}
	c := &fakeConsents{j: j, families: []string{"f1"}, deleted: []string{"f1", "f2"}}
	if err := build(c, fakeEnder{j: j}).DeleteConsent(ctx, "u1", "web"); err != nil {
		t.Fatal(err)
	}
	want := []string{"families u1 web", "end [f1]", "delete consent u1 web", "end [f1 f2]"}
	if !slices.Equal(j.calls, want) {
		t.Errorf("calls %q; want %q", j.calls, want)
	}

	j = &journal{}
	c = &fakeConsents{j: j, families: []string{"f1"}}
	err := build(c, fakeEnder{j: j, err: store.ErrUnavailable}).DeleteConsent(ctx, "u1", "web")
	if !errors.Is(err, store.ErrUnavailable) || slices.Contains(j.calls, "delete consent u1 web") {
		t.Errorf("with the store down: %v, calls %q; want the failure and the consent kept", err, j.calls)
	}

	j = &journal{}
	c = &fakeConsents{j: j, missing: true}
	err = build(c, fakeEnder{j: j}).DeleteConsent(ctx, "u1", "web")
	if e := oauth.As(err); e == nil || e.Code != oauth.NotFound {
		t.Errorf("no consent: %v; want not_found", err)
	}
}
