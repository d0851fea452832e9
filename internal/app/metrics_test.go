package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// scrape GETs /metrics on the admin listener with token ("" for none) and
// returns the status and whether the body is Prometheus text.
func scrape(t *testing.T, in *instance, path, token string) (int, bool) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, in.Admin.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without a Bearer challenge")
	}
	return resp.StatusCode, strings.Contains(string(body), "# TYPE go_goroutines")
}

// TestMetricsAuth: /metrics on the admin listener is open by default; with
// --metrics-require-auth it needs the admin token; with --metrics-token it
// needs that token or the admin token, and the metrics token opens
// nothing else.
func TestMetricsAuth(t *testing.T) {
	const scraper = "scraper-token-0123456789abcdef"
	tests := []struct {
		name  string
		args  []string
		calls map[string]int // token name → status of /metrics
	}{
		{"default open", nil, map[string]int{"none": 200, "admin": 200, "wrong": 200}},
		{"require auth", []string{"--metrics-require-auth"}, map[string]int{"none": 401, "admin": 200, "wrong": 401, "scraper": 401}},
		{"metrics token", []string{"--metrics-token", scraper}, map[string]int{"none": 401, "admin": 200, "wrong": 401, "scraper": 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := start(t, "", tt.args...)
			tokens := map[string]string{"none": "", "admin": in.App.Config.AdminToken, "wrong": "not-the-token-0123456789", "scraper": scraper}
			for name, want := range tt.calls {
				status, isMetrics := scrape(t, in, "/metrics", tokens[name])
				if status != want || (want == 200) != isMetrics {
					t.Errorf("/metrics with %s token: %d (metrics body %v), want %d", name, status, isMetrics, want)
				}
			}
			// The metrics token is not an admin token.
			if status, _ := scrape(t, in, "/admin/clients", scraper); status != http.StatusUnauthorized {
				t.Errorf("admin API with the metrics token: %d, want 401", status)
			}
		})
	}
}
