package tokens

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// exchangeFixture: a web client whose user tokens are addressed to the
// services "svc" (delegation only) and "svc-imp" (impersonation and
// refresh tokens allowed); "worker" gets client_credentials tokens that
// act as actor tokens; "backend" is svc's audience and exchanges again.
type exchangeFixture struct {
	*fixture
	web, svcC, imp, worker, backend, stranger store.Client
}

func newExchangeFixture(t *testing.T) *exchangeFixture {
	t.Helper()
	clk := &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	f := &exchangeFixture{fixture: newFixture(t, openBolt(t, clk), clk, nil)}
	issued := clk.Now().Add(-time.Hour)
	tx := []string{GrantTokenExchange}
	f.web = store.Client{ID: "web", GrantTypes: []string{GrantPassword}, Scope: "openid read write",
		Audience: []string{"svc", "svc-imp", "stranger-api"}, IssuedAt: issued}
	f.svcC = store.Client{ID: "svc", GrantTypes: append(tx, GrantClientCredentials), Scope: "read write admin",
		Audience: []string{"backend", "https://other.example"}, IssuedAt: issued}
	f.imp = store.Client{ID: "svc-imp", GrantTypes: append(tx, GrantRefreshToken), Scope: "read write",
		Audience: []string{"backend"}, TokenExchangeImpersonation: true, TokenExchangeRefresh: true, IssuedAt: issued}
	f.worker = store.Client{ID: "worker", GrantTypes: []string{GrantClientCredentials}, Scope: "jobs", IssuedAt: issued}
	f.backend = store.Client{ID: "backend", GrantTypes: append(tx, GrantClientCredentials), Scope: "read",
		Audience: []string{"db"}, IssuedAt: issued}
	f.stranger = store.Client{ID: "stranger", GrantTypes: tx, Scope: "read", Audience: []string{"x"},
		TokenExchangeImpersonation: true, IssuedAt: issued}
	f.addUser("u1")
	return f
}

func (f *exchangeFixture) userToken() string {
	f.t.Helper()
	resp, err := f.token(f.web, url.Values{"grant_type": {GrantPassword}, "username": {"u1"}, "password": {"pw-u1"}})
	if err != nil {
		f.t.Fatalf("password login: %v", err)
	}
	return resp.AccessToken
}

func (f *exchangeFixture) clientToken(c store.Client) string {
	f.t.Helper()
	resp, err := f.token(c, url.Values{"grant_type": {GrantClientCredentials}})
	if err != nil {
		f.t.Fatalf("client_credentials for %s: %v", c.ID, err)
	}
	return resp.AccessToken
}

// exchangeForm builds a token-exchange request; pairs add parameters.
func exchangeForm(subject, subjectType string, pairs ...string) url.Values {
	v := url.Values{"grant_type": {GrantTokenExchange}}
	if subject != "" {
		v.Set("subject_token", subject)
	}
	if subjectType != "" {
		v.Set("subject_token_type", subjectType)
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		v.Add(pairs[i], pairs[i+1])
	}
	return v
}

const (
	typAT  = oauth.TokenTypeAccessToken
	typRT  = oauth.TokenTypeRefreshToken
	typID  = oauth.TokenTypeIDToken
	typJWT = oauth.TokenTypeJWT
)

// TestTokenExchangePolicy is the policy table of RFC 8693 §2 as authd
// applies it (CONTRACT.md "Token exchange"; grant_token_exchange.go).
func TestTokenExchangePolicy(t *testing.T) {
	type tc struct {
		name   string
		client func(f *exchangeFixture) store.Client
		form   func(t *testing.T, f *exchangeFixture) url.Values
		want   string // OAuth error code; "" = success
		check  func(t *testing.T, f *exchangeFixture, resp *Response)
	}
	svc := func(f *exchangeFixture) store.Client { return f.svcC }
	imp := func(f *exchangeFixture) store.Client { return f.imp }
	delegation := func(t *testing.T, f *exchangeFixture) url.Values {
		return exchangeForm(f.userToken(), typAT, "actor_token", f.clientToken(f.worker), "actor_token_type", typAT)
	}
	for _, c := range []tc{
		{name: "delegation", client: svc, form: delegation, check: func(t *testing.T, f *exchangeFixture, resp *Response) {
			if resp.IssuedTokenType != typAT || resp.TokenType != "Bearer" || resp.ExpiresIn != 900 {
				t.Errorf("response %+v", resp)
			}
			cl := f.claims(resp.AccessToken)
			if cl.Subject != "u1" || cl.ClientID != "svc" || cl.SID == "" || !slices.Equal(cl.Roles, []string{"member"}) {
				t.Errorf("claims %+v", cl)
			}
			if !slices.Equal(cl.Audience, Audience{"backend", "https://other.example"}) || cl.Scope != "read write" || resp.Scope != "read write" {
				t.Errorf("aud %v scope %q (response %q); want the client's audience and read write", cl.Audience, cl.Scope, resp.Scope)
			}
			if cl.Actor == nil || *cl.Actor != (Actor{Subject: "worker", ClientID: "worker"}) {
				t.Errorf("act %+v; want worker", cl.Actor)
			}
		}},
		{name: "nested act chain", client: func(f *exchangeFixture) store.Client { return f.backend },
			form: func(t *testing.T, f *exchangeFixture) url.Values {
				resp, err := f.token(f.svcC, delegation(t, f))
				if err != nil {
					t.Fatalf("first exchange: %v", err)
				}
				return exchangeForm(resp.AccessToken, typAT, "actor_token", f.clientToken(f.backend), "actor_token_type", typJWT)
			}, check: func(t *testing.T, f *exchangeFixture, resp *Response) {
				cl := f.claims(resp.AccessToken)
				want := &Actor{Subject: "backend", ClientID: "backend", Act: &Actor{Subject: "worker", ClientID: "worker"}}
				if cl.Actor == nil || cl.Actor.Act == nil || *cl.Actor.Act != *want.Act || cl.Actor.Subject != "backend" || cl.Actor.ClientID != "backend" {
					t.Errorf("act %+v; want %+v", cl.Actor, want)
				}
				if cl.Subject != "u1" || cl.ClientID != "backend" || cl.Scope != "read" || !slices.Equal(cl.Audience, Audience{"db"}) {
					t.Errorf("claims %+v", cl)
				}
			}},
		{name: "impersonation refused", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return exchangeForm(f.userToken(), typAT)
		}, want: oauth.InvalidRequest},
		{name: "impersonation allowed", client: imp, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return exchangeForm(f.userToken(), typAT, "scope", "read")
		}, check: func(t *testing.T, f *exchangeFixture, resp *Response) {
			cl := f.claims(resp.AccessToken)
			if cl.Actor != nil || cl.Subject != "u1" || cl.ClientID != "svc-imp" || cl.Scope != "read" {
				t.Errorf("claims %+v", cl)
			}
		}},
		{name: "subject not addressed to the client", client: func(f *exchangeFixture) store.Client { return f.stranger },
			form: func(t *testing.T, f *exchangeFixture) url.Values { return exchangeForm(f.userToken(), typAT) }, want: oauth.InvalidGrant},
		{name: "revoked subject token", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			form := delegation(t, f)
			if err := f.fixture.svc.Revoke(context.Background(), f.web, form.Get("subject_token"), ""); err != nil {
				t.Fatal(err)
			}
			return form
		}, want: oauth.InvalidGrant},
		{name: "expired subject token", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			form := delegation(t, f)
			f.clock.Add(16 * time.Minute)
			return form
		}, want: oauth.InvalidGrant},
		{name: "user revoked", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			form := delegation(t, f)
			f.users.update("u1", func(u *store.User) { u.NotBefore = f.clock.Now() })
			return form
		}, want: oauth.InvalidGrant},
		{name: "garbage subject token", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return exchangeForm("a.b.c", typAT, "actor_token", f.clientToken(f.worker), "actor_token_type", typAT)
		}, want: oauth.InvalidGrant},
		{name: "garbage actor token", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return exchangeForm(f.userToken(), typAT, "actor_token", "not-a-token", "actor_token_type", typAT)
		}, want: oauth.InvalidGrant},
		{name: "ID token typed as access token", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return exchangeForm(f.idToken(f.svcC), typAT, "actor_token", f.clientToken(f.worker), "actor_token_type", typAT)
		}, want: oauth.InvalidGrant},
		{name: "audience outside the client's", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return withParams(delegation(t, f), "audience", "https://evil.example")
		}, want: oauth.InvalidTarget},
		{name: "resource picks one audience", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return withParams(delegation(t, f), "resource", "https://other.example")
		}, check: func(t *testing.T, f *exchangeFixture, resp *Response) {
			if aud := f.claims(resp.AccessToken).Audience; !slices.Equal(aud, Audience{"https://other.example"}) {
				t.Errorf("aud %v", aud)
			}
		}},
		{name: "client without audience", client: func(f *exchangeFixture) store.Client {
			c := f.svcC
			c.Audience = nil
			return c
		}, form: delegation, want: oauth.InvalidTarget},
		{name: "scope wider than the subject's", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return withParams(delegation(t, f), "scope", "read admin")
		}, want: oauth.InvalidScope},
		{name: "scope outside the client's", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return withParams(delegation(t, f), "scope", "openid")
		}, want: oauth.InvalidScope},
		{name: "ID token as subject", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return exchangeForm(f.idToken(f.svcC), typID, "actor_token", f.clientToken(f.worker), "actor_token_type", typAT)
		}, check: func(t *testing.T, f *exchangeFixture, resp *Response) {
			cl := f.claims(resp.AccessToken)
			if cl.Subject != "u1" || cl.Scope != "" || cl.SID == "" || cl.Actor == nil || cl.Actor.Subject != "worker" {
				t.Errorf("claims %+v; want u1's, without scope (an ID token grants none)", cl)
			}
		}},
		{name: "logout token as subject", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			// A back-channel logout token is signed with the same keys and
			// addressed to a client, but is no sign-in.
			payload := fmt.Sprintf(`{"iss":%q,"sub":"u1","aud":"svc","iat":%d,"exp":%d,"jti":"j","sid":"s",`+
				`"events":{"http://schemas.openid.net/event/backchannel-logout":{}}}`, testIssuer, f.clock.Now().Unix(), f.clock.Now().Add(time.Minute).Unix())
			tok, _, err := f.signer.Sign("RS256", "logout+jwt", []byte(payload))
			if err != nil {
				t.Fatal(err)
			}
			return exchangeForm(tok, typID, "actor_token", f.clientToken(f.svcC), "actor_token_type", typAT)
		}, want: oauth.InvalidGrant},
		{name: "ID token of another client", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return exchangeForm(f.idToken(f.web), typID, "actor_token", f.clientToken(f.worker), "actor_token_type", typAT)
		}, want: oauth.InvalidGrant},
		{name: "refresh token requested without policy", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return withParams(delegation(t, f), "requested_token_type", typRT)
		}, want: oauth.InvalidRequest},
		{name: "refresh token requested with policy", client: imp, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return exchangeForm(f.userToken(), typAT, "requested_token_type", typRT)
		}, check: func(t *testing.T, f *exchangeFixture, resp *Response) {
			if resp.IssuedTokenType != typRT || resp.TokenType != oauth.TokenTypeNA || resp.ExpiresIn != int64((72*time.Hour).Seconds()) {
				t.Errorf("response %+v", resp)
			}
			r, err := f.token(f.imp, refreshForm(resp.AccessToken))
			if err != nil {
				t.Fatalf("the issued refresh token does not refresh: %v", err)
			}
			if cl := f.claims(r.AccessToken); cl.Subject != "u1" || cl.ClientID != "svc-imp" || cl.Scope != "read write" {
				t.Errorf("refreshed claims %+v", cl)
			}
		}},
		{name: "refresh token for a client subject", client: imp, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return exchangeForm(f.clientTokenFor(f.svcC, "svc-imp"), typAT, "requested_token_type", typRT)
		}, want: oauth.InvalidRequest},
		{name: "refresh token with an actor", client: imp, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return exchangeForm(f.userToken(), typAT, "actor_token", f.clientToken(f.worker), "actor_token_type", typAT, "requested_token_type", typRT)
		}, want: oauth.InvalidRequest},
		{name: "client without the grant", client: func(f *exchangeFixture) store.Client { return f.web }, form: delegation,
			want: oauth.UnauthorizedClient},
		{name: "missing subject_token", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return exchangeForm("", typAT)
		}, want: oauth.InvalidRequest},
		{name: "missing subject_token_type", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return exchangeForm(f.userToken(), "")
		}, want: oauth.InvalidRequest},
		{name: "refresh token as subject type", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return exchangeForm(f.userToken(), typRT)
		}, want: oauth.InvalidRequest},
		{name: "unknown subject type", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return exchangeForm(f.userToken(), "urn:example:saml")
		}, want: oauth.InvalidRequest},
		{name: "actor_token without its type", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return exchangeForm(f.userToken(), typAT, "actor_token", f.clientToken(f.worker))
		}, want: oauth.InvalidRequest},
		{name: "actor_token_type without a token", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return exchangeForm(f.userToken(), typAT, "actor_token_type", typAT)
		}, want: oauth.InvalidRequest},
		{name: "unsupported requested_token_type", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			return withParams(delegation(t, f), "requested_token_type", typID)
		}, want: oauth.InvalidRequest},
		{name: "repeated subject_token", client: svc, form: func(t *testing.T, f *exchangeFixture) url.Values {
			form := delegation(t, f)
			form.Add("subject_token", form.Get("subject_token"))
			return form
		}, want: oauth.InvalidRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newExchangeFixture(t)
			resp, err := f.token(c.client(f), c.form(t, f))
			if got := oauthCode(err); got != c.want {
				t.Fatalf("error %q (%v); want %q", got, err, c.want)
			}
			if c.check != nil {
				c.check(t, f, resp)
			}
		})
	}
}

// TestTokenExchangeFollowsTheLogin: a derived token keeps the subject's
// sid, so ending the login (logout, reuse, admin revoke) ends it too.
func TestTokenExchangeFollowsTheLogin(t *testing.T) {
	f := newExchangeFixture(t)
	// A login with a refresh-token family: the web client may refresh.
	f.web.GrantTypes = append(f.web.GrantTypes, GrantRefreshToken)
	login, err := f.token(f.web, url.Values{"grant_type": {GrantPassword}, "username": {"u1"}, "password": {"pw-u1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.token(f.svcC, exchangeForm(login.AccessToken, typAT, "actor_token", f.clientToken(f.worker), "actor_token_type", typAT))
	if err != nil {
		t.Fatal(err)
	}
	if !f.active(f.svcC, resp.AccessToken) {
		t.Fatal("the derived token is not active")
	}
	if err := f.fixture.svc.Revoke(context.Background(), f.web, login.RefreshToken, "refresh_token"); err != nil {
		t.Fatal(err)
	}
	if f.active(f.svcC, resp.AccessToken) {
		t.Error("the derived token is still active after its login was revoked")
	}
}

func TestChainActors(t *testing.T) {
	a := &Actor{Subject: "a", Act: &Actor{Subject: "b"}}
	c := &Actor{Subject: "c"}
	got := chainActors(a, c)
	if got.depth() != 3 || got.Act.Act.Subject != "c" || a.Act.Act != nil {
		t.Errorf("chain %+v (a changed: %v)", got, a.Act.Act != nil)
	}
	if chainActors(nil, c) != c || chainActors(nil, nil) != nil {
		t.Error("chaining onto nothing")
	}
}

func withParams(v url.Values, pairs ...string) url.Values {
	for i := 0; i+1 < len(pairs); i += 2 {
		v.Set(pairs[i], pairs[i+1])
	}
	return v
}

// clientTokenFor is a client_credentials token of c addressed to aud.
func (f *exchangeFixture) clientTokenFor(c store.Client, aud string) string {
	f.t.Helper()
	c.Audience = append(c.Audience, aud)
	resp, err := f.token(c, url.Values{"grant_type": {GrantClientCredentials}, "audience": {aud}})
	if err != nil {
		f.t.Fatalf("client_credentials: %v", err)
	}
	return resp.AccessToken
}

// idToken is an ID token of u1 issued to c.
func (f *exchangeFixture) idToken(c store.Client) string {
	f.t.Helper()
	now := f.clock.Now()
	fam := store.Family{ID: "fam-1", ClientID: c.ID, Subject: "u1", Scope: "openid", AuthTime: now, CreatedAt: now}
	tok, err := f.fixture.svc.mintIDToken(c, store.User{ID: "u1"}, fam, "n", "at", now, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}
