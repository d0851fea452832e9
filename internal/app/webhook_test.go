package app_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/authd-dev/authd/internal/app"
)

// startLogged is start with every log line (debug and up) also written to
// logs, so that a test can check what authd logs.
func startLogged(t *testing.T, logs io.Writer, args ...string) *instance {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	return startApp(t, "", slog.LevelDebug, app.Options{Logger: logger, Argon2: testArgon2}, args...)
}

func newWebhookSecret(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// webhookRequest is one delivery a test receiver got.
type webhookRequest struct {
	header http.Header
	body   []byte
}

// hookReceiver answers every delivery with status and records it.
func hookReceiver(t *testing.T, status int) (*httptest.Server, func() []webhookRequest) {
	var mu sync.Mutex
	var got []webhookRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, webhookRequest{header: r.Header.Clone(), body: body})
		mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []webhookRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]webhookRequest(nil), got...)
	}
}

// replayRefreshToken makes authd detect a refresh-token reuse, which it
// reports to the security webhook.
func replayRefreshToken(in *instance) (registeredClient, tokenResponse) {
	in.t.Helper()
	c := loginClient(in)
	in.createUser("hook-victim", "password-of-hook-victim")
	login := password(in, c, "hook-victim", "password-of-hook-victim")
	if login.Status != 200 {
		in.t.Fatalf("login: %d %s", login.Status, login.Error)
	}
	refresh(in, c, login.RefreshToken)
	refresh(in, c, login.RefreshToken) // the replay
	return c, login
}

// TestSecurityWebhookSignedPerStandardWebhooks: the reuse event reaches the
// receiver signed with --security-webhook-secret, and the Standard
// Webhooks reference library verifies it (headers webhook-id,
// webhook-timestamp, webhook-signature v1).
func TestSecurityWebhookSignedPerStandardWebhooks(t *testing.T) {
	secret := newWebhookSecret(t)
	hook, got := hookReceiver(t, http.StatusNoContent)
	in := start(t, "", "--security-webhook-url", hook.URL+"/authd", "--security-webhook-secret", secret)
	c, login := replayRefreshToken(in)
	if !eventually(t, 5*time.Second, func() bool { return len(got()) == 1 }) {
		t.Fatalf("webhook got %d deliveries; want 1", len(got()))
	}
	d := got()[0]
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(d.body, d.header); err != nil {
		t.Fatalf("the reference library rejects the delivery: %v (headers %v)", err, d.header)
	}
	var ev map[string]any
	if err := json.Unmarshal(d.body, &ev); err != nil || ev["type"] != "refresh_token_reuse" || ev["client_id"] != c.ClientID {
		t.Fatalf("event %s: %v", d.body, err)
	}
	for _, s := range []string{login.RefreshToken, login.AccessToken, c.ClientSecret, secret} {
		if strings.Contains(string(d.body), s) {
			t.Fatal("the event carries a token or secret")
		}
	}
}

// TestSecurityWebhookURLNotLoggedAndNoRedirect: a receiver that redirects
// is not followed (its target gets nothing), and neither the path nor the
// query of the configured URL, nor the Location, appears in authd's log;
// the host does.
func TestSecurityWebhookURLNotLoggedAndNoRedirect(t *testing.T) {
	target, targetGot := hookReceiver(t, http.StatusOK)
	var redirects sync.WaitGroup
	redirects.Add(1)
	var once sync.Once
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/LOCATION-SECRET", http.StatusFound)
		once.Do(redirects.Done)
	}))
	t.Cleanup(hook.Close)
	var logs syncBuffer
	in := startLogged(t, &logs,
		"--security-webhook-url", hook.URL+"/hooks/PATH-SECRET?token=QUERY-SECRET",
		"--security-webhook-secret", newWebhookSecret(t))
	replayRefreshToken(in)
	redirects.Wait()
	if !eventually(t, 5*time.Second, func() bool { return strings.Contains(logs.String(), "giving up") }) {
		t.Fatalf("no failed delivery logged:\n%s", logs.String())
	}
	if n := len(targetGot()); n != 0 {
		t.Fatalf("the redirect was followed: its target got %d requests", n)
	}
	out := logs.String()
	for _, secret := range []string{"PATH-SECRET", "QUERY-SECRET", "LOCATION-SECRET", "/hooks"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log contains %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "webhook_host="+strings.TrimPrefix(hook.URL, "http://")) {
		t.Errorf("the log does not name the webhook's host:\n%s", out)
	}
}
