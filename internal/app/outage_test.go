package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/redistest"
)

// TestRedisOutageAnswers503AndRecovers stops Redis under a running authd:
// token requests that need it answer 503 temporarily_unavailable quickly,
// /readyz reports it, nothing is half-written, and authd recovers by itself
// when Redis returns.
func TestRedisOutageAnswers503AndRecovers(t *testing.T) {
	srv := redistest.NewServer(t)
	in := start(t, "", "--store", "redis", "--redis-url", srv.URL(), "--redis-prefix", "outage:")
	c := loginClient(in)
	in.createUser("olga", "password-of-olga")
	login := password(in, c, "olga", "password-of-olga")
	if login.Status != 200 {
		t.Fatalf("login: %d %s", login.Status, login.Error)
	}

	srv.Stop()
	began := time.Now()
	r := refresh(in, c, login.RefreshToken)
	took := time.Since(began)
	if r.Status != http.StatusServiceUnavailable || r.Error != "temporarily_unavailable" {
		t.Fatalf("refresh during the outage: %d %s; want 503 temporarily_unavailable", r.Status, r.Error)
	}
	if took > 3*time.Second {
		t.Errorf("the 503 took %v; want a quick answer", took)
	}
	if r.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	resp, err := http.Get(in.Public.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the outage: %d; want 503", resp.StatusCode)
	}

	srv.Start()
	if !eventually(t, 10*time.Second, func() bool {
		resp, err := http.Get(in.Public.URL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}) {
		t.Fatal("/readyz did not recover")
	}
	// The refresh refused during the outage changed nothing: the same
	// token still works, exactly once.
	if r := refresh(in, c, login.RefreshToken); r.Status != 200 {
		t.Fatalf("refresh after recovery: %d %s", r.Status, r.Error)
	}
}

// TestReuseIsASecurityEvent: a replayed refresh token is reported to the
// webhook with client, subject, family and source address, never a token.
func TestReuseIsASecurityEvent(t *testing.T) {
	var mu sync.Mutex
	var events []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev map[string]any
		json.Unmarshal(body, &ev)
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}))
	defer hook.Close()
	in := start(t, "", "--security-webhook-url", hook.URL)
	c := loginClient(in)
	u := in.createUser("mallory-victim", "password-of-victim")
	login := password(in, c, "mallory-victim", "password-of-victim")
	refresh(in, c, login.RefreshToken)
	refresh(in, c, login.RefreshToken) // the replay
	// got copies the events under the lock: the webhook handler appends
	// from the server's goroutines while the test reads.
	got := func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return append([]map[string]any(nil), events...)
	}
	if !eventually(t, 3*time.Second, func() bool { return len(got()) == 1 }) {
		t.Fatalf("webhook got %d events; want 1", len(got()))
	}
	ev := got()[0]
	sid := decodeClaims(t, login.AccessToken)["sid"]
	if ev["type"] != "refresh_token_reuse" || ev["client_id"] != c.ClientID || ev["sub"] != u.ID || ev["sid"] != sid || ev["source_ip"] != "127.0.0.1" {
		t.Errorf("event %v", ev)
	}
	raw, _ := json.Marshal(ev)
	for _, secret := range []string{login.RefreshToken, login.AccessToken, c.ClientSecret} {
		if secret != "" && json.Valid(raw) && strings.Contains(string(raw), secret) {
			t.Error("the event carries a token or secret")
		}
	}
	// The reuse counter moved.
	resp, _ := http.Get(in.Admin.URL + "/metrics")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "authd_refresh_token_reuse_total 1") {
		t.Error("authd_refresh_token_reuse_total did not count the reuse")
	}
}
