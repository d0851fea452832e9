package verifier_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/authd-dev/authd/verifier"
)

func TestMiddleware(t *testing.T) {
	e := newEnv(t)
	valid := e.iss.Issue(map[string]any{"aud": audience, "sub": "alice", "scope": "read"})
	expired := e.iss.Issue(map[string]any{"aud": audience, "exp": e.clock.Now().Add(-time.Hour)})
	foreign := e.iss.Issue(map[string]any{"aud": "https://other.example"})

	var seen *verifier.Claims
	h := e.v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := verifier.ClaimsFrom(r.Context())
		if !ok {
			t.Error("no claims in the context")
		}
		seen = c
		w.WriteHeader(http.StatusNoContent)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()

	realm := `Bearer realm="` + audience + `"`
	tests := []struct {
		name      string
		auth      []string
		status    int
		challenge string
	}{
		{"valid", []string{"Bearer " + valid}, http.StatusNoContent, ""},
		{"scheme is case-insensitive", []string{"bearer " + valid}, http.StatusNoContent, ""},
		{"no credentials", nil, http.StatusUnauthorized, realm},
		{"another scheme", []string{"Basic dXNlcjpwYXNz"}, http.StatusUnauthorized, realm},
		{"expired", []string{"Bearer " + expired}, http.StatusUnauthorized,
			realm + `, error="invalid_token", error_description="the access token expired"`},
		{"wrong audience", []string{"Bearer " + foreign}, http.StatusUnauthorized,
			realm + `, error="invalid_token", error_description="the access token is not meant for this resource"`},
		{"garbage", []string{"Bearer abc"}, http.StatusUnauthorized,
			realm + `, error="invalid_token", error_description="the access token is malformed"`},
		{"empty token", []string{"Bearer "}, http.StatusBadRequest,
			realm + `, error="invalid_request", error_description="malformed Authorization header"`},
		{"not a b64token", []string{"Bearer a,b"}, http.StatusBadRequest,
			realm + `, error="invalid_request", error_description="malformed Authorization header"`},
		{"two headers", []string{"Bearer " + valid, "Bearer " + valid}, http.StatusBadRequest,
			realm + `, error="invalid_request", error_description="malformed Authorization header"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen = nil
			req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range tt.auth {
				req.Header.Add("Authorization", a)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Fatalf("WWW-Authenticate = %s\nwant                %s", got, tt.challenge)
			}
			if tt.status == http.StatusNoContent && (seen == nil || seen.Subject != "alice" || !seen.HasScope("read")) {
				t.Fatalf("handler saw claims %+v", seen)
			}
			if tt.status != http.StatusNoContent && seen != nil {
				t.Fatal("handler called for a rejected request")
			}
		})
	}
}

func TestClaimsFromEmptyContext(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if c, ok := verifier.ClaimsFrom(r.Context()); ok || c != nil {
		t.Fatalf("ClaimsFrom = %v, %v", c, ok)
	}
}
