package app_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// TestLegacyClientIDsStayManageable: item 8. A client whose id holds '/',
// ".." or other reserved characters (as older versions accepted) is
// created straight in the store; the admin API reads it, replaces it,
// gives it a new secret (which then works at the token endpoint) and
// deletes it, addressed percent-encoded. A new client with such an id is
// refused with a clear 400.
func TestLegacyClientIDsStayManageable(t *testing.T) {
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		in := start(t, "", storeArgs...)
		ctx := context.Background()
		for _, tc := range []struct{ id, path string }{
			{"team/a", url.PathEscape("team/a")},
			{"../admin:b", url.PathEscape("../admin:b")},
			{"..", "%2E%2E"},
			{"a?b#c%d+e", url.PathEscape("a?b#c%d+e")},
		} {
			t.Run(tc.id, func(t *testing.T) {
				now := time.Now().UTC().Truncate(time.Microsecond)
				legacy := store.Client{ID: tc.id, TokenEndpointAuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"}, IssuedAt: now, UpdatedAt: now}
				if err := in.App.Store.CreateClient(ctx, legacy); err != nil {
					t.Fatal(err)
				}
				base := "/admin/clients/" + tc.path
				var got registeredClient
				if st := in.admin(http.MethodGet, base, nil, &got); st != http.StatusOK || got.ClientID != tc.id {
					t.Fatalf("GET %s: %d %+v", base, st, got)
				}
				var replaced struct {
					ClientID   string `json:"client_id"`
					ClientName string `json:"client_name"`
				}
				if st := in.admin(http.MethodPut, base, map[string]any{"client_name": "renamed", "token_endpoint_auth_method": "client_secret_basic"}, &replaced); st != http.StatusOK || replaced.ClientName != "renamed" || replaced.ClientID != tc.id {
					t.Fatalf("PUT %s: %d %+v", base, st, replaced)
				}
				var reset registeredClient
				if st := in.admin(http.MethodPost, base+"/secret", nil, &reset); st != http.StatusOK || reset.ClientSecret == "" {
					t.Fatalf("POST %s/secret: %d %+v", base, st, reset)
				}
				if r := in.token(tc.id, reset.ClientSecret, url.Values{"grant_type": {"client_credentials"}}); r.Status != http.StatusOK {
					t.Fatalf("token with the new secret: %d %s %s", r.Status, r.Error, r.Description)
				}
				if st := in.admin(http.MethodDelete, base, nil, nil); st != http.StatusNoContent {
					t.Fatalf("DELETE %s: %d", base, st)
				}
				if st := in.admin(http.MethodGet, base, nil, nil); st != http.StatusNotFound {
					t.Fatalf("GET after DELETE: %d, want 404", st)
				}
			})
		}
		for _, id := range []string{"a/b", "..", "x:y", "a b"} {
			var e struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			st := in.admin(http.MethodPost, "/admin/clients", map[string]any{"client_id": id}, &e)
			if st != http.StatusBadRequest || e.Error != "invalid_client_metadata" || !strings.Contains(e.Description, "unreserved") {
				t.Errorf("create %q: %d %+v; want 400 invalid_client_metadata naming the allowed characters", id, st, e)
			}
		}
	})
}
