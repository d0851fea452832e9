package app

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/authd-dev/authd/tokens"
)

// newWebhook returns a security-event sink that POSTs each event as JSON
// to url, asynchronously and bounded (a slow receiver never delays token
// requests; events beyond the queue are dropped and logged). Empty url: no
// webhook.
func newWebhook(url string, log *slog.Logger) func(tokens.SecurityEvent) {
	if url == "" {
		return nil
	}
	queue := make(chan tokens.SecurityEvent, 256)
	client := &http.Client{Timeout: 5 * time.Second}
	go func() {
		for ev := range queue {
			body, _ := json.Marshal(ev)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			if err == nil {
				req.Header.Set("Content-Type", "application/json")
				var resp *http.Response
				if resp, err = client.Do(req); err == nil {
					resp.Body.Close()
					if resp.StatusCode >= 300 {
						log.Warn("security webhook answered with an error", "status", resp.StatusCode)
					}
				}
			}
			if err != nil {
				log.Warn("security webhook failed", "err", err)
			}
			cancel()
		}
	}()
	return func(ev tokens.SecurityEvent) {
		select {
		case queue <- ev:
		default:
			log.Warn("security webhook queue full; event dropped", "event", ev.Type, "sid", ev.FamilyID)
		}
	}
}
