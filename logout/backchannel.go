package logout

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Back-Channel Logout 1.0 §2.4: the logout token's typ (RFC 8725 §3.11
// explicit typing) and its one event.
const (
	TypeLogoutToken        = "logout+jwt"
	EventBackchannelLogout = "http://schemas.openid.net/event/backchannel-logout"
)

// Signer signs a JWS with one of the published keys (keys.Manager.Sign).
type Signer interface {
	Sign(alg, typ string, payload []byte) (token, kid string, err error)
}

// Notice is one logout token to deliver: to the client's
// backchannel_logout_uri, signed with alg, for the session sid of user sub.
type Notice struct {
	URI, ClientID, Alg, Subject, SessionID string
}

// BackchannelConfig configures a Backchannel; zero fields get defaults.
type BackchannelConfig struct {
	Issuer string
	Signer Signer
	// HTTP posts the tokens (default: a client with Timeout that follows
	// no redirect, §2.5 gives none to follow).
	HTTP *http.Client
	// Timeout bounds one POST (default 5 s).
	Timeout time.Duration
	// Queue bounds the tokens waiting (default 1024); past it Send drops.
	Queue int
	// Workers deliver in parallel (default 4).
	Workers int
	// Attempts per token (default 4) with Backoff before the second,
	// doubled each time (default 1 s).
	Attempts int
	Backoff  time.Duration
	// TokenTTL is the logout token's lifetime (default 2 min).
	TokenTTL time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// Backchannel delivers logout tokens asynchronously (Back-Channel Logout
// 1.0 §2.5): Send queues, the Run goroutines POST with bounded retries.
type Backchannel struct {
	cfg   BackchannelConfig
	queue chan Notice
}

// NewBackchannel validates cfg and fills its defaults.
func NewBackchannel(cfg BackchannelConfig) (*Backchannel, error) {
	if cfg.Issuer == "" || cfg.Signer == nil {
		return nil, errors.New("logout: back-channel Issuer and Signer are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: cfg.Timeout}
	}
	// §2.5 does not allow the OP to follow a redirect: it would send the
	// token somewhere the client did not register.
	hc := *cfg.HTTP
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.HTTP = &hc
	if cfg.Queue <= 0 {
		cfg.Queue = 1024
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Backchannel{cfg: cfg, queue: make(chan Notice, cfg.Queue)}, nil
}

// Send queues n without blocking; false when the queue is full.
func (b *Backchannel) Send(n Notice) bool {
	select {
	case b.queue <- n:
		return true
	default:
		return false
	}
}

// Run delivers queued tokens until ctx ends (the app's run group owns
// it); tokens still queued then are dropped.
func (b *Backchannel) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range b.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case n := <-b.queue:
					b.deliver(ctx, n)
				}
			}
		}()
	}
	wg.Wait()
}

// logoutClaims are the claims of a logout token (§2.4): no nonce.
type logoutClaims struct {
	Issuer    string                     `json:"iss"`
	Subject   string                     `json:"sub,omitempty"`
	Audience  string                     `json:"aud"`
	IssuedAt  int64                      `json:"iat"`
	ExpiresAt int64                      `json:"exp"`
	JTI       string                     `json:"jti"`
	SID       string                     `json:"sid,omitempty"`
	Events    map[string]json.RawMessage `json:"events"`
}

// LogoutToken signs the logout token of n (§2.4): typ logout+jwt, iss,
// aud the client, iat, exp, a random jti, sid and sub, the one event.
func (b *Backchannel) LogoutToken(n Notice) (string, error) {
	now := b.cfg.Now()
	jti := make([]byte, 16)
	rand.Read(jti)
	payload, err := json.Marshal(logoutClaims{
		Issuer: b.cfg.Issuer, Subject: n.Subject, Audience: n.ClientID, SID: n.SessionID,
		IssuedAt: now.Unix(), ExpiresAt: now.Add(b.cfg.TokenTTL).Unix(),
		JTI:    base64.RawURLEncoding.EncodeToString(jti),
		Events: map[string]json.RawMessage{EventBackchannelLogout: json.RawMessage("{}")},
	})
	if err != nil {
		return "", err
	}
	tok, _, err := b.cfg.Signer.Sign(n.Alg, TypeLogoutToken, payload)
	if err != nil {
		return "", fmt.Errorf("logout: sign logout token: %w", err)
	}
	return tok, nil
}

// errPermanent is an answer a retry would not change (a 4xx other than
// 429, or a redirect).
var errPermanent = errors.New("logout: the client refused the logout token")

// deliver posts one token, retrying network errors, 5xx and 429 with
// exponential backoff. The token is signed once, so a retry carries the
// same jti (§2.6 lets the client detect the replay).
func (b *Backchannel) deliver(ctx context.Context, n Notice) {
	log := b.cfg.Logger.With("client_id", n.ClientID)
	tok, err := b.LogoutToken(n)
	if err != nil {
		log.WarnContext(ctx, "back-channel logout: cannot sign", "err", err)
		return
	}
	wait := b.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err = b.post(ctx, n.URI, tok)
		if err == nil {
			log.DebugContext(ctx, "back-channel logout delivered", "attempt", attempt)
			return
		}
		if errors.Is(err, errPermanent) || attempt >= b.cfg.Attempts {
			log.WarnContext(ctx, "back-channel logout not delivered", "attempts", attempt, "err", err)
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait *= 2
	}
}

// post sends logout_token form-encoded (§2.5); a 2xx is success (§2.8
// says 200; 204 is accepted too).
func (b *Backchannel) post(ctx context.Context, uri, tok string) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cache-Control", "no-store")
	resp, err := b.cfg.HTTP.Do(req)
	if err != nil {
		// The URL error names the URI, never the token (it is in the body).
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("logout: the client answered %d", resp.StatusCode)
	default:
		return fmt.Errorf("%w: status %d", errPermanent, resp.StatusCode)
	}
}
