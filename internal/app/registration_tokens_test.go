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
		if len(got) != 2 || got[0].ID != keepID || got[0].Uses != 2 || got[1].ID != goneID || got[1].Uses != 2 ||
			got[0].CreatedAt == 0 || got[0].ExpiresAt < got[0].CreatedAt+3590 {
			t.Fatalf("list: %+v; want %s with 2 uses left, then %s with 2", got, keepID, goneID)
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
