package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestRegistrationTokenListAndRevoke: GET /admin/registration-tokens lists
// the live initial access tokens by id, uses left and times, never a
// token; DELETE /admin/registration-tokens/{id} ends one at once (204),
// and a second DELETE is 404.
func TestRegistrationTokenListAndRevoke(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", append(storeArgs, "--dynamic-registration", "token", "--registration-ip-burst", "1000")...)
		issue := func(uses int) (id, token string) {
			t.Helper()
			var out map[string]any
			if st := in.admin(http.MethodPost, "/admin/registration-tokens", map[string]any{"expires_in": 3600, "uses": uses}, &out); st != http.StatusCreated {
				t.Fatalf("POST /admin/registration-tokens: %d", st)
			}
			id, _ = out["id"].(string)
			token, _ = out["token"].(string)
			if id == "" || token == "" || out["uses"] != float64(uses) || out["expires_at"] == nil {
				t.Fatalf("POST answer %v: want id, token, uses, expires_at", out)
			}
			return id, token
		}
		keepID, keep := issue(3)
		goneID, gone := issue(2)
		in.register(keep, webApp()) // one of keep's three uses

		type row struct {
			ID        string `json:"id"`
			ExpiresAt int64  `json:"expires_at"`
			Uses      int    `json:"uses"`
			CreatedAt int64  `json:"created_at"`
		}
		list := func() []row {
			t.Helper()
			var raw json.RawMessage
			if st := in.admin(http.MethodGet, "/admin/registration-tokens", nil, &raw); st != http.StatusOK {
				t.Fatalf("GET /admin/registration-tokens: %d", st)
			}
			if strings.Contains(string(raw), keep) || strings.Contains(string(raw), gone) || strings.Contains(string(raw), `"token"`) {
				t.Fatalf("the list shows a token: %s", raw)
			}
			var doc struct{ Tokens []row }
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			return doc.Tokens
		}
		got := list()
		byID := map[string]row{}
		for _, r := range got {
			byID[r.ID] = r
		}
		if len(got) != 2 || byID[keepID].Uses != 2 || byID[goneID].Uses != 2 ||
			byID[keepID].CreatedAt == 0 || byID[keepID].ExpiresAt < byID[keepID].CreatedAt+3590 {
			t.Fatalf("list: %+v; want %s and %s, each with 2 uses left", got, keepID, goneID)
		}

		if st := in.admin(http.MethodDelete, "/admin/registration-tokens/"+goneID, nil, nil); st != http.StatusNoContent {
			t.Fatalf("DELETE: %d, want 204", st)
		}
		if a := in.registration(http.MethodPost, "", gone, webApp()); a.Status != 401 || a.str("error") != "invalid_token" {
			t.Fatalf("registration with a revoked token: %d %s", a.Status, a.Raw)
		}
		if st := in.admin(http.MethodDelete, "/admin/registration-tokens/"+goneID, nil, nil); st != http.StatusNotFound {
			t.Fatalf("second DELETE: %d, want 404", st)
		}
		if got := list(); len(got) != 1 || got[0].ID != keepID {
			t.Fatalf("list after the delete: %+v", got)
		}
		in.register(keep, webApp()) // the other token still works
		if st := in.adminWithToken("", http.MethodGet, "/admin/registration-tokens", nil, nil); st != http.StatusUnauthorized {
			t.Fatalf("GET without the admin token: %d", st)
		}
	})
}

// TestRegistrationTokenCheckedFirst: in token mode a caller without a
// valid initial access token learns nothing of its body — bad metadata,
// a malformed body and a good one all get 401 invalid_token — and a valid
// token with bad metadata gets the 400 without spending a use.
func TestRegistrationTokenCheckedFirst(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", append(storeArgs, "--dynamic-registration", "token", "--registration-ip-burst", "1000")...)
		bodies := map[string]any{
			"unknown grant type":  map[string]any{"grant_types": []string{"implicit"}, "redirect_uris": []string{regRedirect}},
			"bad redirect URI":    map[string]any{"redirect_uris": []string{"not a uri"}},
			"member of bad type":  `{"redirect_uris": "https://app.example/cb"}`,
			"malformed JSON":      `{"redirect_uris": [`,
			"operator-only field": map[string]any{"redirect_uris": []string{regRedirect}, "skip_consent": true},
		}
		spent := in.registrationToken(3600, 1)
		in.register(spent, webApp())
		for _, bearer := range []string{"", "never-issued", spent} {
			for name, body := range bodies {
				if a := in.registration(http.MethodPost, "", bearer, body); a.Status != 401 || a.str("error") != "invalid_token" {
					t.Errorf("token %q, %s: %d %s; want 401 invalid_token", bearer, name, a.Status, a.Raw)
				}
			}
		}

		id, tok := "", in.registrationToken(3600, 1)
		var doc struct {
			Tokens []struct {
				ID   string `json:"id"`
				Uses int    `json:"uses"`
			}
		}
		for name, body := range bodies {
			if a := in.registration(http.MethodPost, "", tok, body); a.Status != 400 || a.str("error") == "invalid_token" {
				t.Errorf("valid token, %s: %d %s; want 400", name, a.Status, a.Raw)
			}
		}
		if st := in.admin(http.MethodGet, "/admin/registration-tokens", nil, &doc); st != 200 || len(doc.Tokens) != 1 || doc.Tokens[0].Uses != 1 {
			t.Fatalf("after %d refused registrations the token has %+v; want its 1 use left", len(bodies), doc.Tokens)
		}
		id = doc.Tokens[0].ID
		in.register(tok, webApp()) // the one use
		if st := in.admin(http.MethodDelete, "/admin/registration-tokens/"+id, nil, nil); st != http.StatusNotFound {
			t.Fatalf("the 1-use token after its registration: DELETE %d, want 404 (used up)", st)
		}
	})
}
