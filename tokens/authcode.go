package tokens

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
	// RedirectURIOmitted: the request named no redirect_uri (allowed with
	// exactly one registered); the token request then need not send one
	// (RFC 6749 §4.1.3).
	RedirectURIOmitted bool   `json:"rn,omitempty"`
	Subject            string `json:"sub,omitempty"`
	AuthTime           int64  `json:"at,omitempty"`
	// FamilyID is the login the code will start, chosen when the request
	// is sealed after sign-in: IssueCode creates the family under this id,
	// so a sealed consent request yields at most one code.
	FamilyID string `json:"fid,omitempty"`
	// SessionID is the SSO session the user signed in with ("" for none):
	// the "sid" of the ID tokens of the login (OIDC Front/Back-Channel
	// Logout §3, §2.4). LoginHint prefills the login form (OIDC Core
	// §3.1.2.1 login_hint).
	SessionID string `json:"sid,omitempty"`
	LoginHint string `json:"lh,omitempty"`
	// PromptConsent: the request asked for prompt=consent (OIDC Core
	// §3.1.2.1), so the consent page is shown even for a remembered grant.
	PromptConsent bool `json:"pc,omitempty"`
	// FormPost: the answer goes back by response_mode=form_post (OAuth 2.0
	// Form Post Response Mode §2), not in the query.
	FormPost bool `json:"fp,omitempty"`
	// Claims is the claims request parameter (OIDC Core §5.5; claims.go).
	Claims *ClaimsRequest `json:"cl,omitempty"`
	// DPoPJKT is the dpop_jkt parameter (RFC 9449 §10): the thumbprint
	// of the key whose proof must come with the code's exchange.
	DPoPJKT string `json:"jkt,omitempty"`
	// Device is the normalised user code of the device authorization
	// (RFC 8628 §3.3) this interaction verifies: no redirect_uri, the
	// user's decision goes to the device instead (authorize/device.go).
	// DeviceForm marks the verification page's own form, before a code
	// was entered.
	Device     string `json:"dv,omitempty"`
	DeviceForm bool   `json:"df,omitempty"`
	// Pushed and PushedID make this a reload ticket of a pushed request
	// (RFC 9126 §4; authorize/par.go), never a pending interaction: the
	// pushed form, URL-encoded, and the store key of its request_uri.
	Pushed   string `json:"pq,omitempty"`
	PushedID string `json:"pid,omitempty"`
	// CSRF binds a pending request to the browser that started it.
	CSRF    string `json:"x,omitempty"`
	Expires int64  `json:"exp"`
}

// authCode is the sealed content of a code.
type authCode struct {
	FID         string `json:"f"`
	Secret      string `json:"s"`
	RedirectURI string `json:"ru"`
	// RedirectOmitted: the authorization request named no redirect_uri.
	RedirectOmitted bool   `json:"rn,omitempty"`
	Challenge       string `json:"cc,omitempty"`
	Nonce           string `json:"n,omitempty"`
	// Claims is the request's claims parameter (claims.go).
	Claims *ClaimsRequest `json:"cl,omitempty"`
	// JKT is the request's dpop_jkt (RFC 9449 §10).
	JKT     string `json:"jkt,omitempty"`
	Expires int64  `json:"exp"`
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
// A request with a signed-in user gets its login's family id here, so the
// consent page it rides on can be used once (see IssueCode).
func (s *Service) SealRequest(r AuthRequest) (string, error) {
	if r.Subject != "" && r.FamilyID == "" {
		r.FamilyID = newID(16)
	}
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

// Error implements error with the OAuth error's text.
func (e *RedirectError) Error() string { return e.Err.Error() }

// Unwrap exposes the OAuth error.
func (e *RedirectError) Unwrap() error { return e.Err }

// ValidateAuthorize checks an authorization request. Errors before the
// client and redirect_uri are known good are *oauth.Error (show, never
// redirect); later ones are *RedirectError.
func (s *Service) ValidateAuthorize(c store.Client, q url.Values) (AuthRequest, error) {
	for _, p := range []string{"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "dpop_jkt"} {
		if len(q[p]) > 1 {
			return AuthRequest{}, oauth.New(oauth.InvalidRequest, "parameter %q is repeated", p)
		}
	}
	ru := q.Get("redirect_uri")
	omitted := ru == ""
	if omitted && len(c.RedirectURIs) == 1 {
		ru = c.RedirectURIs[0]
	}
	if !slices.Contains(c.RedirectURIs, ru) { // exact match (RFC 9700 §4.1.3)
		return AuthRequest{}, oauth.New(oauth.InvalidRequest, "redirect_uri is not registered for this client")
	}
	req := AuthRequest{ClientID: c.ID, RedirectURI: ru, RedirectURIOmitted: omitted, State: q.Get("state"), Nonce: q.Get("nonce"),
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
	// RFC 9449 §10: dpop_jkt is a base64url SHA-256 JWK thumbprint.
	if jkt := q.Get("dpop_jkt"); jkt != "" {
		if len(jkt) != 43 || !isBase64URL(jkt) {
			return fail(oauth.InvalidRequest, "dpop_jkt must be a base64url SHA-256 JWK thumbprint (43 characters)")
		}
		req.DPoPJKT = jkt
	}
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
//
// It re-validates the request against c, the client as it is now (the
// request may have been validated up to ten minutes ago): the redirect_uri
// must still be registered (RFC 9700 §4.1.3; otherwise an *oauth.Error to
// show, never a redirect), and the authorization_code grant, the scope,
// the audience and PKCE must still be allowed (*RedirectError). The login
// must still stand (checkLogin). The family is created under the request's
// FamilyID, so a second post of the same consent page finds it taken and
// gets an error to show, not a second code.
func (s *Service) IssueCode(ctx context.Context, c store.Client, r AuthRequest) (string, error) {
	if c.ID != r.ClientID || !slices.Contains(c.RedirectURIs, r.RedirectURI) {
		return "", oauth.New(oauth.InvalidRequest, "the redirect_uri is no longer registered for this client; go back to the application and start again")
	}
	if r.Subject == "" {
		return "", oauth.New(oauth.InvalidRequest, "no user has signed in")
	}
	fail := func(code, format string, args ...any) (string, error) {
		return "", &RedirectError{oauth.New(code, format, args...)}
	}
	if !slices.Contains(c.GrantTypes, GrantAuthorizationCode) {
		return fail(oauth.UnauthorizedClient, "the client may not use the authorization code flow")
	}
	if _, err := checkScope(r.Scope, c.Scope); err != nil {
		return fail(oauth.InvalidScope, "%s", oauth.As(err).Description)
	}
	for _, a := range r.Audience {
		if !contains(c.Audience, a) {
			return fail(oauth.InvalidTarget, "audience %q is not allowed for this client", a)
		}
	}
	if r.CodeChallenge == "" && c.TokenEndpointAuthMethod == "none" {
		return fail(oauth.InvalidRequest, "public clients must use PKCE (code_challenge with S256)")
	}
	now := s.cfg.Now()
	fid := r.FamilyID
	if fid == "" { // no consent page: the request was never sealed with a user
		fid = newID(16)
	}
	ac := authCode{FID: fid, Secret: newID(16), RedirectURI: r.RedirectURI, RedirectOmitted: r.RedirectURIOmitted,
		Challenge: r.CodeChallenge, Nonce: r.Nonce, Claims: r.Claims, JKT: r.DPoPJKT, Expires: now.Add(CodeTTL).Unix()}
	code, err := s.codes.seal(ac, c.ID)
	if err != nil {
		return "", err
	}
	expires := now.Add(s.cfg.RefreshTokenMaxLifetime)
	fam := store.Family{
		ID: fid, ClientID: c.ID, Subject: r.Subject, Scope: r.Scope,
		// The resolved audience: refreshed tokens carry what the first did.
		Audience: s.audienceFor(c, r.Audience),
		AuthTime: time.Unix(r.AuthTime, 0), CreatedAt: now, ExpiresAt: expires,
		IdleExpiresAt: now.Add(CodeTTL), Current: digest(code), SessionID: r.SessionID,
	}
	if _, err := s.checkLogin(ctx, c, fam, GrantAuthorizationCode); errors.Is(err, errLoginEnded) {
		return "", &RedirectError{oauth.New(oauth.AccessDenied, "the sign-in is no longer valid").WithCause(ErrSignInEnded)}
	} else if err != nil {
		return "", redirectable(err)
	}
	if err := s.cfg.Families.CreateFamily(ctx, fam); errors.Is(err, store.ErrExists) {
		return "", oauth.New(oauth.InvalidRequest, "this consent was already given; go back to the application and start again")
	} else if err != nil {
		return "", redirectable(storeError(err, "store authorization code"))
	}
	return code, nil
}

// redirectable wraps an OAuth error (e.g. temporarily_unavailable) as one
// that may go back to the validated redirect_uri; other errors stay as
// they are (shown as an internal error, and logged).
func redirectable(err error) error {
	var e *oauth.Error
	if errors.As(err, &e) {
		return &RedirectError{e}
	}
	return err
}

var errBadCode = oauth.New(oauth.InvalidGrant, "the authorization code is invalid, expired or used")

// authorizationCode is the token request of RFC 6749 §4.1.3 with PKCE
// (RFC 7636 §4.6). As in the refresh grant, everything that can fail runs
// before the code is spent.
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
	// RFC 6749 §4.1.3: redirect_uri is required, and identical, if it was
	// in the authorization request; if it was omitted there, it may be
	// omitted here (a value sent anyway must be the one the code went to).
	if ru, sent := req.Form["redirect_uri"]; (sent || !ac.RedirectOmitted) && (len(ru) != 1 || ru[0] != ac.RedirectURI) {
		return nil, oauth.New(oauth.InvalidGrant, "redirect_uri does not match the authorization request")
	}
	verifier := req.Form.Get("code_verifier")
	switch {
	case ac.Challenge == "" && verifier != "":
		return nil, oauth.New(oauth.InvalidGrant, "code_verifier sent but no code_challenge was")
	case ac.Challenge != "":
		// RFC 7636 §4.1: 43 to 128 characters; §4.6: S256 compare.
		if len(verifier) < 43 || len(verifier) > 128 {
			return nil, oauth.New(oauth.InvalidGrant, "code_verifier must be 43 to 128 characters")
		}
		sum := sha256.Sum256([]byte(verifier))
		if subtle.ConstantTimeCompare([]byte(b64.EncodeToString(sum[:])), []byte(ac.Challenge)) != 1 {
			return nil, oauth.New(oauth.InvalidGrant, "code_verifier does not match the code_challenge")
		}
	}
	// RFC 9449 §10: a code bound with dpop_jkt is exchanged only with a
	// proof of that key (checked before the code is spent).
	if jkt := jktFrom(ctx); ac.JKT != "" && !hmac.Equal([]byte(jkt), []byte(ac.JKT)) {
		return nil, oauth.New(oauth.InvalidGrant, "the code is bound to a DPoP key (dpop_jkt): send a DPoP proof of that key")
	}
	fam, err := s.liveFamily(ctx, ac.FID, errBadCode)
	if err != nil {
		return nil, err
	}
	user, err := s.checkLogin(ctx, req.Client, fam, GrantAuthorizationCode)
	if errors.Is(err, errLoginEnded) {
		s.endFamily(ctx, ac.FID)
		return nil, errBadCode
	} else if err != nil {
		return nil, err
	}
	at, err := s.mintAccess(ctx, req.Client, now, AccessClaims{
		Subject: fam.Subject, Audience: s.familyAudience(req.Client, fam), Scope: fam.Scope,
		AuthTime: fam.AuthTime.Unix(), Roles: user.Roles, SID: fam.ID, UserInfoClaims: ac.Claims.userInfo(),
	})
	if err != nil {
		return nil, err
	}
	resp := s.bearer(at, fam.Scope)
	if contains(strings.Fields(fam.Scope), oauth.ScopeOpenID) {
		if resp.IDToken, err = s.mintIDToken(req.Client, user, fam, ac.Nonce, at, now, ac.Claims); err != nil {
			return nil, err
		}
	}
	refresh := s.newRefreshToken(req.Client.ID, ac.FID)
	res, err := s.cfg.Families.RotateRefresh(ctx, store.Rotation{
		FamilyID: ac.FID, Presented: digest(code), Next: digest(refresh), Now: now,
		IdleTTL: s.cfg.RefreshTokenTTL,            // no leeway: a code works exactly once
		BindJKT: newBinding(ctx, req.Client, fam), // RFC 9449 §5 (dpop.go)
	})
	if err := s.rotateError(ctx, req, fam, err, errBadCode); err != nil {
		return nil, err
	}
	if contains(req.Client.GrantTypes, GrantRefreshToken) {
		resp.RefreshToken = refresh
		s.families.put(res.Family, now) // the first refresh skips the read too
	}
	return resp, nil
}

// IDClaims are the claims of an ID token (OIDC Core §2, §5.1).
type IDClaims struct {
	Issuer          string   `json:"iss"`
	Subject         string   `json:"sub"`
	Audience        Audience `json:"aud"`
	ExpiresAt       int64    `json:"exp"`
	IssuedAt        int64    `json:"iat"`
	AuthTime        int64    `json:"auth_time"`
	Nonce           string   `json:"nonce,omitempty"`
	AccessTokenHash string   `json:"at_hash,omitempty"`
	AuthorizedParty string   `json:"azp"`
	SID             string   `json:"sid,omitempty"`
	// AMR and ACR: how the user authenticated (OIDC Core §2, RFC 8176),
	// set for logins begun in an SSO session.
	AMR []string `json:"amr,omitempty"`
	ACR string   `json:"acr,omitempty"`
}

// ACRPassword is oauth.ACRPassword (kept for callers of this package).
const ACRPassword = oauth.ACRPassword

// mintIDToken signs an ID token for the client (RS256 unless the client
// registered id_token_signed_response_alg, OIDC Registration §2).
func (s *Service) mintIDToken(c store.Client, u store.User, fam store.Family, nonce, accessToken string, now time.Time, req *ClaimsRequest) (string, error) {
	alg := c.IDTokenSignedAlg
	if alg == "" {
		alg = oauth.AlgRS256
	}
	// at_hash: the left half of the SHA-256 of the access token (OIDC Core
	// §3.1.3.6; RS256 and ES256 both use SHA-256).
	sum := sha256.Sum256([]byte(accessToken))
	claims := IDClaims{
		Issuer: s.cfg.Issuer, Subject: u.ID, Audience: Audience{c.ID}, IssuedAt: now.Unix(),
		ExpiresAt: now.Add(s.cfg.IDTokenTTL).Unix(), AuthTime: fam.AuthTime.Unix(), Nonce: nonce,
		AccessTokenHash: b64.EncodeToString(sum[:16]), AuthorizedParty: c.ID, SID: fam.ID,
	}
	if fam.SessionID != "" {
		// sid is the SSO session (OIDC Back-Channel Logout §2.4); a
		// browser login is a password today (RFC 8176 "pwd"), ACRPassword.
		claims.SID, claims.AMR, claims.ACR = fam.SessionID, []string{oauth.AMRPassword}, oauth.ACRPassword
	}
	payload, err := json.Marshal(&claims)
	if err != nil {
		return "", err
	}
	if payload, err = idTokenClaims(payload, u, fam.Scope, req); err != nil { // claims.go
		return "", err
	}
	tok, _, err := s.cfg.Signer.Sign(alg, TypeIDToken, payload)
	if err != nil {
		return "", fmt.Errorf("sign ID token: %w", err)
	}
	return tok, nil
}

// UserInfo answers OIDC Core §5.3 for an access token: the token must be
// active and carry the openid scope. proof is nil for the Bearer scheme;
// with the DPoP scheme it is the request's proof (RFC 9449 §7), checked
// with ath, the server nonce when nonces are on (§9), and its jti
// recorded. A DPoP-bound token needs the DPoP scheme
// and a proof of its key (§7.1); errors of either are 401, and those of
// a DPoP request or a bound token wrap ErrDPoPRequired.
func (s *Service) UserInfo(ctx context.Context, accessToken string, proof *DPoPRequest) (map[string]any, error) {
	var jkt string
	if proof != nil {
		p := *proof
		p.AccessToken = accessToken
		if len(p.Proofs) == 0 || !s.cfg.DPoP.enabled() {
			return nil, dpopDenied(oauth.InvalidDPoPProof, "the DPoP scheme needs a DPoP proof")
		}
		// §9: with nonces on, userinfo (a resource server) asks for the
		// same stateless nonce as the token endpoint (§8), so a nonce
		// from either works at both and on every replica; use_dpop_nonce
		// is a 401 DPoP challenge carrying DPoP-Nonce here (§9), not the
		// token endpoint's 400.
		checked, err := s.checkProof(ctx, p, true)
		if e := oauth.As(err); e != nil && (e.Code == oauth.InvalidDPoPProof || e.Code == oauth.UseDPoPNonce) {
			d := oauth.Errorf(http.StatusUnauthorized, e.Code, "%s", e.Description).WithCause(ErrDPoPRequired)
			d.DPoPNonce = e.DPoPNonce
			return nil, d
		} else if err != nil {
			return nil, err
		}
		jkt = checked.JKT
	}
	in, ok, err := s.introspectAccess(ctx, accessToken)
	if err != nil {
		return nil, err
	}
	if !ok || !in.Active || in.SID == "" {
		return nil, oauth.New(oauth.InvalidToken, "the access token is invalid, expired or revoked")
	}
	switch {
	case in.Confirmation != nil && proof == nil:
		return nil, dpopDenied(oauth.InvalidToken, "the access token is DPoP-bound: use the DPoP scheme with a proof")
	case in.Confirmation != nil && !hmac.Equal([]byte(in.Confirmation.JKT), []byte(jkt)):
		return nil, dpopDenied(oauth.InvalidToken, "the DPoP proof's key is not the one the access token is bound to")
	case in.Confirmation == nil && proof != nil:
		return nil, dpopDenied(oauth.InvalidToken, "the access token is not DPoP-bound: use the Bearer scheme")
	}
	scopes := strings.Fields(in.Scope)
	if !contains(scopes, oauth.ScopeOpenID) {
		return nil, oauth.Errorf(403, oauth.InsufficientScope, "the access token lacks the openid scope")
	}
	u, err := s.cfg.Users.Lookup(ctx, in.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oauth.New(oauth.InvalidToken, "the user no longer exists")
	} else if err != nil {
		return nil, storeError(err, "look up user")
	}
	return userInfoClaims(u, in.Scope, in.userInfoClaims), nil // claims.go
}
