package tokens

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// Authorization codes (RFC 6749 §4.1) live 60 seconds and work once.
//
// A code is sealed (AES-256-GCM under a key derived from the KEK, the
// client id as additional data) and carries what the token request must
// match: redirect_uri, the PKCE challenge, the nonce. Its single use rides
// on the refresh-token family: issuing a code starts the login's family
// with the code's digest as the current "token", and the exchange is an
// ordinary rotation. A second exchange is therefore reuse: the store
// revokes the family, and with it every token issued from the code (RFC
// 6749 §4.1.2, RFC 9700 §4.14.2), with no new store operation.

// CodeTTL is the lifetime of an authorization code.
const CodeTTL = 60 * time.Second

// AuthRequest is a validated authorization request (RFC 6749 §4.1.1, OIDC
// Core §3.1.2.1) and, once the user has logged in, who did and when.
type AuthRequest struct {
	ClientID      string   `json:"cid"`
	RedirectURI   string   `json:"ru"`
	Scope         string   `json:"sc,omitempty"`
	Audience      []string `json:"au,omitempty"`
	State         string   `json:"st,omitempty"`
	Nonce         string   `json:"n,omitempty"`
	CodeChallenge string   `json:"cc,omitempty"`
	Subject       string   `json:"sub,omitempty"`
	AuthTime      int64    `json:"at,omitempty"`
	// CSRF binds a pending request to the browser that started it.
	CSRF    string `json:"x,omitempty"`
	Expires int64  `json:"exp"`
}

// authCode is the sealed content of a code.
type authCode struct {
	FID         string `json:"f"`
	Secret      string `json:"s"`
	RedirectURI string `json:"ru"`
	Challenge   string `json:"cc,omitempty"`
	Nonce       string `json:"n,omitempty"`
	Expires     int64  `json:"exp"`
}

// sealer encrypts small JSON values under one key.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(v any, aad string) (string, error) {
	pt, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(pt)+s.aead.Overhead())
	rand.Read(nonce)
	return b64.EncodeToString(s.aead.Seal(nonce, nonce, pt, []byte(aad))), nil
}

func (s *sealer) open(text, aad string, v any) bool {
	if len(text) > 8192 {
		return false
	}
	raw, err := b64.DecodeString(text)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return false
	}
	pt, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], []byte(aad))
	return err == nil && json.Unmarshal(pt, v) == nil
}

// SealRequest protects a pending authorization request carried by the
// login and consent pages (the browser holds it; only authd can read it).
func (s *Service) SealRequest(r AuthRequest) (string, error) {
	return s.codes.seal(r, "authreq")
}

// OpenRequest reverses SealRequest; false for anything tampered or expired.
func (s *Service) OpenRequest(text string) (AuthRequest, bool) {
	var r AuthRequest
	if !s.codes.open(text, "authreq", &r) || s.cfg.Now().Unix() > r.Expires {
		return AuthRequest{}, false
	}
	return r, true
}

// RedirectError is an authorization error that may be sent back to the
// client's redirect_uri (RFC 6749 §4.1.2.1): the client and redirect_uri
// were valid.
type RedirectError struct{ Err *oauth.Error }

func (e *RedirectError) Error() string { return e.Err.Error() }

// Unwrap exposes the OAuth error.
func (e *RedirectError) Unwrap() error { return e.Err }

// ValidateAuthorize checks an authorization request. Errors before the
// client and redirect_uri are known good are *oauth.Error (show, never
// redirect); later ones are *RedirectError.
func (s *Service) ValidateAuthorize(c store.Client, q url.Values) (AuthRequest, error) {
	for _, p := range []string{"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method"} {
		if len(q[p]) > 1 {
			return AuthRequest{}, oauth.New(oauth.InvalidRequest, "parameter %q is repeated", p)
		}
	}
	ru := q.Get("redirect_uri")
	if ru == "" && len(c.RedirectURIs) == 1 {
		ru = c.RedirectURIs[0]
	}
	if !slices.Contains(c.RedirectURIs, ru) { // exact match (RFC 9700 §4.1.3)
		return AuthRequest{}, oauth.New(oauth.InvalidRequest, "redirect_uri is not registered for this client")
	}
	req := AuthRequest{ClientID: c.ID, RedirectURI: ru, State: q.Get("state"), Nonce: q.Get("nonce"),
		Expires: s.cfg.Now().Add(10 * time.Minute).Unix()}
	fail := func(code, format string, args ...any) (AuthRequest, error) {
		return req, &RedirectError{oauth.New(code, format, args...)}
	}
	if q.Get("response_type") != "code" {
		return fail(oauth.UnsupportedResponseType, "response_type must be code")
	}
	if !slices.Contains(c.GrantTypes, GrantAuthorizationCode) {
		return fail(oauth.UnauthorizedClient, "the client may not use the authorization code flow")
	}
	scope, err := checkScope(q.Get("scope"), c.Scope)
	if err != nil {
		return fail(oauth.InvalidScope, "%s", oauth.As(err).Description)
	}
	req.Scope = scope
	aud, err := checkAudience(q, c.Audience)
	if err != nil {
		return fail(oauth.InvalidTarget, "%s", oauth.As(err).Description)
	}
	req.Audience = aud
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "" && c.TokenEndpointAuthMethod == "none":
		return fail(oauth.InvalidRequest, "public clients must use PKCE (code_challenge with S256)")
	case challenge != "" && method != "S256":
		return fail(oauth.InvalidRequest, "code_challenge_method must be S256")
	case challenge != "" && (len(challenge) != 43 || !isBase64URL(challenge)):
		return fail(oauth.InvalidRequest, "code_challenge must be a base64url SHA-256 (43 characters)")
	}
	req.CodeChallenge = challenge
	if len(req.Nonce) > 512 || len(req.State) > 2048 {
		return fail(oauth.InvalidRequest, "state or nonce too long")
	}
	return req, nil
}

func isBase64URL(s string) bool {
	_, err := b64.DecodeString(s)
	return err == nil
}

// IssueCode starts the login of an approved request and returns the code.
func (s *Service) IssueCode(ctx context.Context, c store.Client, r AuthRequest) (string, error) {
	now := s.cfg.Now()
	fid := newID(16)
	ac := authCode{FID: fid, Secret: newID(16), RedirectURI: r.RedirectURI, Challenge: r.CodeChallenge, Nonce: r.Nonce, Expires: now.Add(CodeTTL).Unix()}
	code, err := s.codes.seal(ac, c.ID)
	if err != nil {
		return "", err
	}
	expires := now.Add(s.cfg.RefreshTokenMaxLifetime)
	fam := store.Family{
		ID: fid, ClientID: c.ID, Subject: r.Subject, Scope: r.Scope, Audience: r.Audience,
		AuthTime: time.Unix(r.AuthTime, 0), CreatedAt: now, ExpiresAt: expires,
		IdleExpiresAt: now.Add(CodeTTL), Current: digest(code),
	}
	if err := s.cfg.Families.CreateFamily(ctx, fam); err != nil {
		return "", storeError(err, "store authorization code")
	}
	return code, nil
}

var errBadCode = oauth.New(oauth.InvalidGrant, "the authorization code is invalid, expired or used")

// authorizationCode is the token request of RFC 6749 §4.1.3 with PKCE
// (RFC 7636 §4.6).
func (s *Service) authorizationCode(ctx context.Context, req *Request, _ string, _ []string) (*Response, error) {
	code := req.Form.Get("code")
	if code == "" {
		return nil, oauth.New(oauth.InvalidRequest, "code is required")
	}
	var ac authCode
	if !s.codes.open(code, req.Client.ID, &ac) {
		return nil, errBadCode
	}
	now := s.cfg.Now()
	if now.Unix() > ac.Expires {
		return nil, errBadCode
	}
	if req.Form.Get("redirect_uri") != ac.RedirectURI {
		return nil, oauth.New(oauth.InvalidGrant, "redirect_uri does not match the authorization request")
	}
	verifier := req.Form.Get("code_verifier")
	switch {
	case ac.Challenge == "" && verifier != "":
		return nil, oauth.New(oauth.InvalidGrant, "code_verifier sent but no code_challenge was")
	case ac.Challenge != "":
		if len(verifier) < 43 || len(verifier) > 128 {
			return nil, oauth.New(oauth.InvalidGrant, "code_verifier must be 43 to 128 characters")
		}
		sum := sha256.Sum256([]byte(verifier))
		if subtle.ConstantTimeCompare([]byte(b64.EncodeToString(sum[:])), []byte(ac.Challenge)) != 1 {
			return nil, oauth.New(oauth.InvalidGrant, "code_verifier does not match the code_challenge")
		}
	}
	refresh := s.newRefreshToken(req.Client.ID, ac.FID)
	res, err := s.cfg.Families.RotateRefresh(ctx, store.Rotation{
		FamilyID: ac.FID, Presented: digest(code), Next: digest(refresh), Now: now,
		IdleTTL: s.cfg.RefreshTokenTTL, // no leeway: a code works exactly once
	})
	switch {
	case errors.Is(err, store.ErrReused):
		s.reuseDetected(ctx, req, ac.FID)
		return nil, errBadCode
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrRevoked):
		return nil, errBadCode
	case err != nil:
		return nil, storeError(err, "redeem authorization code")
	}
	fam := res.Family
	user, err := s.cfg.Users.Lookup(ctx, fam.Subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.endFamily(ctx, ac.FID)
		return nil, errBadCode
	case err != nil:
		return nil, storeError(err, "look up user")
	}
	at, err := s.mintAccess(req.Client, now, AccessClaims{
		Subject: fam.Subject, Audience: s.audienceFor(req.Client, fam.Audience), Scope: fam.Scope,
		AuthTime: fam.AuthTime.Unix(), Roles: user.Roles, SID: fam.ID,
	})
	if err != nil {
		return nil, err
	}
	resp := s.bearer(at, fam.Scope)
	if contains(req.Client.GrantTypes, GrantRefreshToken) {
		resp.RefreshToken = refresh
	}
	if contains(strings.Fields(fam.Scope), "openid") {
		if resp.IDToken, err = s.mintIDToken(req.Client, user, fam, ac.Nonce, at, now); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// IDClaims are the claims of an ID token (OIDC Core §2, §5.1).
type IDClaims struct {
	Issuer            string   `json:"iss"`
	Subject           string   `json:"sub"`
	Audience          Audience `json:"aud"`
	ExpiresAt         int64    `json:"exp"`
	IssuedAt          int64    `json:"iat"`
	AuthTime          int64    `json:"auth_time"`
	Nonce             string   `json:"nonce,omitempty"`
	AccessTokenHash   string   `json:"at_hash,omitempty"`
	AuthorizedParty   string   `json:"azp"`
	SID               string   `json:"sid,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Email             string   `json:"email,omitempty"`
	Roles             []string `json:"roles,omitempty"`
}

// mintIDToken signs an ID token for the client (RS256 unless the client
// registered id_token_signed_response_alg, OIDC Registration §2).
func (s *Service) mintIDToken(c store.Client, u store.User, fam store.Family, nonce, accessToken string, now time.Time) (string, error) {
	alg := c.IDTokenSignedAlg
	if alg == "" {
		alg = "RS256"
	}
	// at_hash: the left half of the SHA-256 of the access token (OIDC Core
	// §3.1.3.6; RS256 and ES256 both use SHA-256).
	sum := sha256.Sum256([]byte(accessToken))
	claims := IDClaims{
		Issuer: s.cfg.Issuer, Subject: u.ID, Audience: Audience{c.ID}, IssuedAt: now.Unix(),
		ExpiresAt: now.Add(s.cfg.IDTokenTTL).Unix(), AuthTime: fam.AuthTime.Unix(), Nonce: nonce,
		AccessTokenHash: b64.EncodeToString(sum[:16]), AuthorizedParty: c.ID, SID: fam.ID, Roles: u.Roles,
	}
	scopes := strings.Fields(fam.Scope)
	if contains(scopes, "profile") {
		claims.PreferredUsername = u.Username
	}
	if contains(scopes, "email") {
		claims.Email = u.Email
	}
	payload, err := json.Marshal(&claims)
	if err != nil {
		return "", err
	}
	tok, _, err := s.cfg.Signer.Sign(alg, "JWT", payload)
	if err != nil {
		return "", fmt.Errorf("sign ID token: %w", err)
	}
	return tok, nil
}

// UserInfo answers OIDC Core §5.3 for an access token: the token must be
// active and carry the openid scope.
func (s *Service) UserInfo(ctx context.Context, accessToken string) (map[string]any, error) {
	in, ok, err := s.introspectAccess(ctx, accessToken)
	if err != nil {
		return nil, err
	}
	if !ok || !in.Active || in.SID == "" {
		return nil, oauth.New(oauth.InvalidToken, "the access token is invalid, expired or revoked")
	}
	scopes := strings.Fields(in.Scope)
	if !contains(scopes, "openid") {
		return nil, oauth.Errorf(403, "insufficient_scope", "the access token lacks the openid scope")
	}
	u, err := s.cfg.Users.Lookup(ctx, in.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oauth.New(oauth.InvalidToken, "the user no longer exists")
	} else if err != nil {
		return nil, storeError(err, "look up user")
	}
	out := map[string]any{"sub": u.ID}
	if contains(scopes, "profile") {
		out["preferred_username"] = u.Username
	}
	if contains(scopes, "email") && u.Email != "" {
		out["email"] = u.Email
	}
	if len(u.Roles) > 0 {
		out["roles"] = u.Roles
	}
	return out, nil
}
