package tokens

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestNewRejectsInsteadOfDefaulting (issue 8 item 13): internal/config is
// the one source of defaults; New refuses a missing or invalid value
// instead of replacing it, and keeps a meaningful zero.
func TestNewRejectsInsteadOfDefaulting(t *testing.T) {
	valid := func() Config {
		cfg := testConfig()
		cfg.Signer, cfg.Families, cfg.Deny, cfg.DenyReader, cfg.Users = payloadSigner{}, nopStore{}, nopStore{}, nopStore{}, nopStore{}
		return cfg
	}
	if _, err := New(valid()); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, mod := range map[string]func(*Config){
		"issuer with a trailing slash": func(c *Config) { c.Issuer += "/" },
		"no issuer":                    func(c *Config) { c.Issuer = "" },
		"no default audience":          func(c *Config) { c.DefaultAudience = nil },
		"empty default audience":       func(c *Config) { c.DefaultAudience = []string{""} },
		"no default alg":               func(c *Config) { c.DefaultAlg = "" },
		"unknown alg":                  func(c *Config) { c.DefaultAlg = "HS256" },
		"zero access-token TTL":        func(c *Config) { c.AccessTokenTTL = 0 },
		"zero ID-token TTL":            func(c *Config) { c.IDTokenTTL = 0 },
		"zero refresh TTL":             func(c *Config) { c.RefreshTokenTTL = 0 },
		"max lifetime below idle TTL":  func(c *Config) { c.RefreshTokenMaxLifetime = time.Hour },
		"negative leeway":              func(c *Config) { c.RefreshReuseLeeway = -time.Second },
		"negative retries":             func(c *Config) { c.RefreshReuseMaxRetries = -1 },
		"no deny reader":               func(c *Config) { c.DenyReader = nil },
		"short code key":               func(c *Config) { c.CodeKey = c.CodeKey[:16] },
		"DPoP without algorithms":      func(c *Config) { c.DPoP = DPoPConfig{Replay: nopReplay{}, MaxAge: time.Minute} },
		"DPoP without max age":         func(c *Config) { c.DPoP = DPoPConfig{Replay: nopReplay{}, Algorithms: []string{"ES256"}} },
		"DPoP short nonce key": func(c *Config) {
			c.DPoP = DPoPConfig{Replay: nopReplay{}, Algorithms: []string{"ES256"}, MaxAge: time.Minute, NonceKey: make([]byte, 16)}
		},
	} {
		cfg := valid()
		mod(&cfg)
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v; want ErrInvalidConfig", name, err)
		}
	}
	cfg := valid()
	cfg.RefreshReuseMaxRetries = 0
	s, err := New(cfg)
	if err != nil || s.cfg.RefreshReuseMaxRetries != 0 {
		t.Errorf("zero retries: %v, kept %d; want 0 kept", err, s.cfg.RefreshReuseMaxRetries)
	}
}

// nopReplay accepts every identifier.
type nopReplay struct{}

func (nopReplay) MarkUsed(context.Context, string, time.Time) error { return nil }
