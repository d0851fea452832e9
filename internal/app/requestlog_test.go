package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authd-dev/authd/internal/app"
)

// TestRequestLogLine: the one line a request logs at info carries every
// field an audit needs — listener, method, route, status, duration,
// remote and request_id, the latter exactly once — for a success and for
// an error answer. The middleware writes this line without the request-id
// wrapper (server/middleware.go logRequest), so this checks it adds the
// id itself and the wrapper does not add it a second time.
func TestRequestLogLine(t *testing.T) {
	logs := &syncBuffer{}
	in := startWrapped(t, app.Options{}, logs)
	c := in.createClient(map[string]any{"client_name": "log line", "grant_types": []string{"client_credentials"}, "scope": "read"})

	for _, tc := range []struct {
		id, secret, status string
	}{
		{"rid-log-ok", c.ClientSecret, "status=200"},
		{"rid-log-denied", "wrong secret", "status=401"},
	} {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
		req, _ := http.NewRequest(http.MethodPost, in.Public.URL+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Request-Id", tc.id)
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(tc.secret))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Request-Id"); got != tc.id {
			t.Errorf("X-Request-Id answered %q; want %q", got, tc.id)
		}
		lines := logLines(logs, "msg=request ", "request_id="+tc.id)
		if len(lines) != 1 {
			t.Fatalf("request lines with id %s: %q; want one", tc.id, lines)
		}
		l := lines[0]
		for _, want := range []string{"level=INFO", "listener=public", "method=POST", "route=token", tc.status, "duration=", "remote=127.0.0.1"} {
			if !strings.Contains(l, want) {
				t.Errorf("request line lacks %q: %s", want, l)
			}
		}
		if n := strings.Count(l, "request_id="); n != 1 {
			t.Errorf("request line has request_id %d times: %s", n, l)
		}
	}
}
