package app_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope"`
	ClientID  string `json:"client_id"`
	Sub       string `json:"sub"`
	Iss       string `json:"iss"`
	Exp       int64  `json:"exp"`
	Iat       int64  `json:"iat"`
	Jti       string `json:"jti"`
	TokenType string `json:"token_type"`
}

func (in *instance) introspect(c registeredClient, token string) introspection {
	in.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, in.Public.URL+"/oauth2/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		in.t.Fatalf("introspect: status %d", resp.StatusCode)
	}
	var out introspection
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		in.t.Fatal(err)
	}
	return out
}

func (in *instance) revoke(c registeredClient, token, hint string) int {
	in.t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	req, _ := http.NewRequest(http.MethodPost, in.Public.URL+"/oauth2/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestIntrospection(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		rs := in.createClient(map[string]any{"client_name": "resource server"})
		c := in.createClient(map[string]any{"client_name": "svc", "scope": "read"})
		at := in.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"client_credentials"}}).AccessToken

		got := in.introspect(rs, at)
		if !got.Active || got.ClientID != c.ClientID || got.Sub != c.ClientID || got.Scope != "read" ||
			got.Iss != in.Issuer || got.Jti == "" || got.Exp == 0 || got.Iat == 0 || got.TokenType == "" {
			t.Fatalf("active token: %+v", got)
		}
		for name, tok := range map[string]string{
			"garbage":          "not-a-token",
			"empty-ish":        "a.b.c",
			"tampered":         at[:len(at)-4] + "AAAA",
			"foreign":          foreignJWT(t),
			"alg none":         noneJWT(t, decodeClaims(t, at)),
			"client secret":    c.ClientSecret,
			"oversize":         strings.Repeat("a", 10000),
			"refresh of other": "x.y.z",
		} {
			if in.introspect(rs, tok).Active {
				t.Errorf("%s: active", name)
			}
		}
		// Unauthenticated introspection is refused.
		resp, err := http.Post(in.Public.URL+"/oauth2/introspect", "application/x-www-form-urlencoded", strings.NewReader("token="+at))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("unauthenticated introspection: %d; want 401", resp.StatusCode)
		}
	})
}

// foreignJWT is a well-formed token signed by nobody authd knows.
func foreignJWT(t *testing.T) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"foreign","typ":"at+jwt"}`))
	p := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"x","sub":"y","jti":"z","exp":9999999999}`))
	sig := make([]byte, 64)
	rand.Read(sig)
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// noneJWT is an unsigned copy of real claims.
func noneJWT(t *testing.T, claims map[string]any) string {
	b, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

func TestRevocation(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		rs := in.createClient(map[string]any{"client_name": "resource server"})
		c := loginClient(in)
		u := in.createUser("kim", "password-of-kim")

		t.Run("access token", func(t *testing.T) {
			login := password(in, c, "kim", "password-of-kim")
			if st := in.revoke(c, login.AccessToken, "access_token"); st != 200 {
				t.Fatalf("revoke: %d", st)
			}
			if in.introspect(rs, login.AccessToken).Active {
				t.Error("revoked access token still active")
			}
			// The login itself goes on.
			if r := refresh(in, c, login.RefreshToken); r.Status != 200 {
				t.Errorf("refresh after access-token revocation: %d", r.Status)
			}
		})
		t.Run("refresh token revokes the login", func(t *testing.T) {
			login := password(in, c, "kim", "password-of-kim")
			r1 := refresh(in, c, login.RefreshToken)
			if st := in.revoke(c, r1.RefreshToken, ""); st != 200 { // no hint: detected
				t.Fatalf("revoke: %d", st)
			}
			if r := refresh(in, c, r1.RefreshToken); r.Error != "invalid_grant" {
				t.Errorf("refresh after revocation: %d %s", r.Status, r.Error)
			}
			for _, at := range []string{login.AccessToken, r1.AccessToken} {
				if in.introspect(rs, at).Active {
					t.Error("access token of a revoked login still active")
				}
			}
		})
		t.Run("other client's token: no effect", func(t *testing.T) {
			login := password(in, c, "kim", "password-of-kim")
			if st := in.revoke(rs, login.AccessToken, ""); st != 200 {
				t.Fatalf("revoke: %d", st)
			}
			if st := in.revoke(rs, login.RefreshToken, "refresh_token"); st != 200 {
				t.Fatalf("revoke: %d", st)
			}
			if !in.introspect(rs, login.AccessToken).Active {
				t.Error("another client revoked the token")
			}
			if r := refresh(in, c, login.RefreshToken); r.Status != 200 {
				t.Error("another client revoked the login")
			}
			if st := in.revoke(c, "garbage", "refresh_token"); st != 200 {
				t.Errorf("unknown token: %d; want 200", st)
			}
		})
		t.Run("admin user revoke", func(t *testing.T) {
			before := password(in, c, "kim", "password-of-kim")
			if st := in.admin("POST", "/admin/users/"+u.ID+"/revoke", nil, nil); st != 204 {
				t.Fatalf("user revoke: %d", st)
			}
			if in.introspect(rs, before.AccessToken).Active {
				t.Error("token issued before the user revoke is active")
			}
			// iat has second precision; a revocation covers its whole second.
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
			after := password(in, c, "kim", "password-of-kim")
			if !in.introspect(rs, after.AccessToken).Active {
				t.Error("token issued after the user revoke is inactive")
			}
		})
	})
}

// sseEvent is one Server-Sent Event.
type sseEvent struct{ Event, ID, Data string }

// readFeed connects to the revocation feed and sends its events on a channel.
func readFeed(t *testing.T, in *instance, c registeredClient) <-chan sseEvent {
	t.Helper()
	resp, events := openFeed(t, in, c, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("feed: status %d", resp.StatusCode)
	}
	return events
}

func TestRevocationFeedAcrossReplicas(t *testing.T) {
	shared := sharedRedisArgs(t)
	a := start(t, "", shared...)
	b := start(t, "", shared...)
	c := a.createClient(map[string]any{"client_name": "svc"})
	events := readFeed(t, b, c)
	if first := nextEvent(t, events, 5*time.Second); first.Event != "snapshot" {
		t.Fatalf("first event %q; want snapshot", first.Event)
	}
	at := a.token(c.ClientID, c.ClientSecret, url.Values{"grant_type": {"client_credentials"}}).AccessToken
	jti, _ := decodeClaims(t, at)["jti"].(string)
	start := time.Now()
	if st := a.revoke(c, at, ""); st != 200 {
		t.Fatalf("revoke on A: %d", st)
	}
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the feed of B ended before the revocation arrived")
		}
		var e struct{ Kind, Value string }
		json.Unmarshal([]byte(ev.Data), &e)
		if ev.Event != "revocation" || e.Kind != "jti" || e.Value != jti || ev.ID == "" {
			t.Fatalf("event %+v; want revocation of jti %s", ev, jti)
		}
		t.Logf("revocation on A reached a subscriber of B in %v", time.Since(start))
	case <-time.After(time.Second):
		t.Fatal("no revocation event on B within 1s")
	}
	// B's introspection agrees within --deny-mirror-staleness (10ms): it
	// answers from its local denylist mirror, which follows the feed.
	if !eventually(t, time.Second, func() bool { return !b.introspect(c, at).Active }) {
		t.Error("B still reports the token active after 1s")
	}
	t.Logf("B's introspection reports it inactive %v after the revocation on A", time.Since(start))
}
