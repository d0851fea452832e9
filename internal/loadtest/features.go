package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The costs of this round's features (issue 13): each feature scenario
// runs on the same instance as its baseline, in the same run, and the
// report divides the two (featureRow). The scenarios' answers are judged
// like every other's: a wrong one fails the run.

const (
	grantDeviceCode    = "urn:ietf:params:oauth:grant-type:device_code"
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
)

// featureRow pairs a feature's outcome with its baseline's, measured on
// the same instance in the same run.
type featureRow struct {
	Feature, Baseline string
	Note              string
}

// errProofsSpent stops a DPoP attack whose pre-minted proofs are used up.
var errProofsSpent = errors.New("every pre-minted DPoP proof has been sent")

// mintProofs signs n DPoP proofs (RFC 9449 §4.2) of one ES256 key for a
// POST to htu, each with its own jti (§11.1: the server remembers jtis),
// ahead of the run, so the load generator signs nothing on the hot path.
// Their iat is now: the attack must end within the server's
// --dpop-proof-max-age (60s by default).
func mintProofs(n int, htu string) ([]string, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, &jose.SignerOptions{
		ExtraHeaders: map[jose.HeaderKey]any{"typ": "dpop+jwt", "jwk": jose.JSONWebKey{Key: &priv.PublicKey}},
	})
	if err != nil {
		return nil, err
	}
	iat := time.Now().Unix()
	out := make([]string, n)
	jti := make([]byte, 16)
	for i := range out {
		rand.Read(jti)
		payload, err := json.Marshal(map[string]any{
			"jti": base64.RawURLEncoding.EncodeToString(jti), "htm": http.MethodPost, "htu": htu, "iat": iat,
		})
		if err != nil {
			return nil, err
		}
		jws, err := signer.Sign(payload)
		if err != nil {
			return nil, err
		}
		if out[i], err = jws.CompactSerialize(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// dpopClientCredentials is client_credentials with a DPoP proof (RFC 9449
// §5): each request carries the next pre-minted proof; a success is a
// token response with token_type DPoP.
func dpopClientCredentials(name string, in *instance, c client, proofs []string) scenario {
	body := []byte(url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}.Encode())
	auth := c.basicAuth()
	var next atomic.Int64
	return scenario{
		Name: name,
		Bare: "ES256",
		Targeter: func(t *vegeta.Target) error {
			i := next.Add(1) - 1
			if i >= int64(len(proofs)) {
				return errProofsSpent
			}
			t.Method, t.URL, t.Body = http.MethodPost, in.tokenURL, body
			t.Header = http.Header{
				"Content-Type":  {"application/x-www-form-urlencoded"},
				"Authorization": {auth},
				"Dpop":          {proofs[i]},
			}
			return nil
		},
		Check: dpopTokenCheck,
	}
}

// dpopTokenCheck accepts a DPoP-bound token response (RFC 9449 §5:
// token_type DPoP).
func dpopTokenCheck(body []byte) error {
	_, err := parseTokenAnswerOfType(body, "DPoP")
	return err
}

// proofBudget is how many proofs a DPoP attack of d may need: the rate
// of the bearer baseline just measured, with room for a faster run, and
// a floor for short runs.
func proofBudget(baseline outcome, d time.Duration) int {
	n := int(2*baseline.Rate*d.Seconds()) + 200
	return min(n, 400000)
}

// silentSSO sets up a browser session and returns the silent
// authorization scenario (OIDC Core §3.1.2.1 prompt=none): a GET of the
// authorization endpoint with the session cookie, answered by a redirect
// to the client's redirect_uri with a code (and iss, RFC 9207).
func silentSSO(ctx context.Context, in *instance, name string) (scenario, error) {
	const redirect = "http://127.0.0.1:9/cb"
	c, err := in.createClient(ctx, map[string]any{
		"client_name": "loadtest silent sso", "grant_types": []string{"authorization_code"},
		"redirect_uris": []string{redirect}, "scope": "openid", "skip_consent": true,
		"access_token_signing_alg": "ES256",
	})
	if err != nil {
		return scenario{}, fmt.Errorf("register SSO client: %w", err)
	}
	const user, pw = "loadtest-sso-user", "loadtest password of the sso user"
	if err := in.call(ctx, http.MethodPost, in.adminURL+"/admin/users", in.adminToken,
		map[string]any{"username": user, "password": pw, "email": "sso@example.com"}, nil); err != nil {
		return scenario{}, fmt.Errorf("create SSO user: %w", err)
	}
	verifier := make([]byte, 32)
	rand.Read(verifier)
	sum := sha256.Sum256([]byte(base64.RawURLEncoding.EncodeToString(verifier)))
	q := url.Values{
		"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {redirect}, "scope": {"openid"},
		"state": {"loadtest"}, "nonce": {"loadtest-nonce"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	authURL := in.authorizeURL + "?" + q.Encode()
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	status, page, _, err := browse(ctx, b, http.MethodGet, authURL, nil)
	if err != nil {
		return scenario{}, err
	}
	m := sealedRequest.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		return scenario{}, fmt.Errorf("SSO set-up: the authorization endpoint answered %d without a login form", status)
	}
	form := url.Values{"request": {strings.ReplaceAll(m[1], "&#43;", "+")}, "username": {user}, "password": {pw}}
	status, _, loc, err := browse(ctx, b, http.MethodPost, in.authorizeURL+"/login", form)
	if err != nil {
		return scenario{}, err
	}
	if err := codeRedirect(status, loc, redirect, in.issuer); err != nil {
		return scenario{}, fmt.Errorf("SSO set-up: the login did not end in a code: %w", err)
	}
	iu, _ := url.Parse(in.issuer)
	var cookies []string
	for _, ck := range jar.Cookies(iu) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}
	if len(cookies) == 0 {
		return scenario{}, errors.New("SSO set-up: the login set no cookie")
	}
	q.Set("prompt", "none")
	silentURL := in.authorizeURL + "?" + q.Encode()
	if status, _, loc, err = browse(ctx, b, http.MethodGet, silentURL, nil); err != nil {
		return scenario{}, err
	} else if err := codeRedirect(status, loc, redirect, in.issuer); err != nil {
		return scenario{}, fmt.Errorf("SSO set-up: prompt=none with the session: %w", err)
	}
	return scenario{
		Name:     name,
		Targeter: staticTarget(http.MethodGet, silentURL, nil, http.Header{"Cookie": {strings.Join(cookies, "; ")}}),
		Want:     http.StatusSeeOther,
		Redirect: func(loc string) error { return codeRedirect(http.StatusSeeOther, loc, redirect, in.issuer) },
	}, nil
}

// sealedRequest is the hidden field of the login form that carries the
// sealed authorization request.
var sealedRequest = regexp.MustCompile(`name="request" value="([^"]+)"`)

// browse sends one browser request (a form POST when form is not nil)
// and returns the status, the page and the Location header.
func browse(ctx context.Context, b *http.Client, method, u string, form url.Values) (int, string, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, "", "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(page), resp.Header.Get("Location"), err
}

// codeRedirect accepts a redirect (303) to redirect with a code, the
// state sent, and iss the issuer (RFC 6749 §4.1.2, RFC 9207 §2).
func codeRedirect(status int, loc, redirect, issuer string) error {
	if status != http.StatusSeeOther {
		return fmt.Errorf("status %d; want 303", status)
	}
	u, err := url.Parse(loc)
	if err != nil {
		return fmt.Errorf("Location is not a URL: %w", err)
	}
	q := u.Query()
	switch {
	case !strings.HasPrefix(loc, redirect+"?"):
		return errors.New("the redirect is not to the client's redirect_uri")
	case q.Get("error") != "":
		return fmt.Errorf("the redirect carries error=%s", q.Get("error"))
	case q.Get("code") == "":
		return errors.New("the redirect carries no code")
	case q.Get("state") != "loadtest" || q.Get("iss") != issuer:
		return errors.New("the redirect's state or iss is wrong")
	}
	return nil
}

// devicePoll starts one device authorization (RFC 8628 §3.1) that no
// user answers and returns the poll scenario (§3.4): every answer is a
// 400 saying the authorization is pending. Polled far faster than its
// interval, most answers are slow_down (§3.5), which costs the server the
// same store round trip; pending counts the answers of each kind.
func devicePoll(ctx context.Context, in *instance, name string, pending map[string]int) (scenario, error) {
	c, err := in.createClient(ctx, map[string]any{
		"client_name": "loadtest device", "grant_types": []string{grantDeviceCode}, "scope": "read",
	})
	if err != nil {
		return scenario{}, fmt.Errorf("register device client: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.deviceURL, strings.NewReader(url.Values{"scope": {"read"}}.Encode()))
	if err != nil {
		return scenario{}, err
	}
	req.Header = formHeader(c)
	var grant struct {
		DeviceCode string `json:"device_code"`
	}
	if err := in.do(req, &grant); err != nil || grant.DeviceCode == "" {
		return scenario{}, fmt.Errorf("device authorization: %v (device_code %q)", err, grant.DeviceCode)
	}
	form := url.Values{"grant_type": {grantDeviceCode}, "device_code": {grant.DeviceCode}}
	return scenario{
		Name:     name,
		Targeter: staticTarget(http.MethodPost, in.tokenURL, []byte(form.Encode()), formHeader(c)),
		Want:     http.StatusBadRequest,
		Check:    devicePendingCheck(pending),
	}, nil
}

// devicePendingCheck accepts an RFC 8628 §3.5 answer of a pending
// authorization (authorization_pending or slow_down) and counts each.
func devicePendingCheck(counts map[string]int) check {
	return func(body []byte) error {
		var a struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return fmt.Errorf("device poll answer is not JSON: %w", err)
		}
		if a.Error != "authorization_pending" && a.Error != "slow_down" {
			return fmt.Errorf("device poll answered error %q; want authorization_pending or slow_down", a.Error)
		}
		counts[a.Error]++
		return nil
	}
}

// tokenExchange sets up a delegation (RFC 8693 §1.1): a user's access
// token addressed to a service (the subject token) and a worker client's
// token (the actor token), which the service exchanges for a token to
// its backend; a success carries act naming the worker (§4.1).
func tokenExchange(ctx context.Context, in *instance, name string, logins client) (scenario, error) {
	svcID := "loadtest-svc-" + randomHex(4)
	svc, err := in.createClient(ctx, map[string]any{
		"client_id": svcID, "client_name": "loadtest exchanging service",
		"grant_types": []string{grantTokenExchange}, "scope": "read write",
		"audience": []string{"https://backend.example"}, "access_token_signing_alg": "ES256",
	})
	if err != nil {
		return scenario{}, fmt.Errorf("register exchanging client: %w", err)
	}
	front, err := in.createClient(ctx, map[string]any{
		"client_name": "loadtest front", "grant_types": []string{"password"}, "scope": "read write",
		"audience": []string{svcID}, "access_token_signing_alg": "ES256",
	})
	if err != nil {
		return scenario{}, fmt.Errorf("register front client: %w", err)
	}
	const user, pw = "loadtest-exchange-user", "loadtest password of the exchange user"
	if err := in.call(ctx, http.MethodPost, in.adminURL+"/admin/users", in.adminToken,
		map[string]any{"username": user, "password": pw, "email": "exchange@example.com"}, nil); err != nil {
		return scenario{}, fmt.Errorf("create exchange user: %w", err)
	}
	subject, err := in.token(ctx, front, url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}})
	if err != nil {
		return scenario{}, fmt.Errorf("subject token: %w", err)
	}
	actor, err := in.token(ctx, logins, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})
	if err != nil {
		return scenario{}, fmt.Errorf("actor token: %w", err)
	}
	form := url.Values{
		"grant_type": {grantTokenExchange}, "audience": {"https://backend.example"},
		"subject_token": {subject.AccessToken}, "subject_token_type": {tokenTypeAccess},
		"actor_token": {actor.AccessToken}, "actor_token_type": {tokenTypeAccess},
	}
	s := scenario{
		Name:     name,
		Bare:     "ES256",
		Targeter: staticTarget(http.MethodPost, in.tokenURL, []byte(form.Encode()), formHeader(svc)),
		Check:    exchangeCheck(logins.ID),
	}
	// One exchange first: a broken set-up fails here, not as a 0% row.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return s, err
	}
	req.Header = formHeader(svc)
	var raw json.RawMessage
	if err := in.do(req, &raw); err != nil {
		return s, fmt.Errorf("first token exchange: %w", err)
	}
	if err := s.Check(raw); err != nil {
		return s, fmt.Errorf("first token exchange: %w", err)
	}
	return s, nil
}

// exchangeCheck accepts a token-exchange response (RFC 8693 §2.2.1): an
// access token (issued_token_type) whose claims carry act with the
// actor's client_id (§4.1).
func exchangeCheck(actorClientID string) check {
	return func(body []byte) error {
		a, err := parseTokenAnswerOfType(body, "Bearer")
		if err != nil {
			return err
		}
		var extra struct {
			IssuedTokenType string `json:"issued_token_type"`
		}
		if err := json.Unmarshal(body, &extra); err != nil || extra.IssuedTokenType != tokenTypeAccess {
			return fmt.Errorf("token exchange answered issued_token_type %q; want %s", extra.IssuedTokenType, tokenTypeAccess)
		}
		// The claims are read, not verified: the signature is the
		// server's work, and every token check here is of the form.
		parts := strings.Split(a.AccessToken, ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			return fmt.Errorf("exchanged access token payload: %w", err)
		}
		var claims struct {
			Act struct {
				ClientID string `json:"client_id"`
			} `json:"act"`
		}
		if err := json.Unmarshal(payload, &claims); err != nil {
			return fmt.Errorf("exchanged access token claims: %w", err)
		}
		if claims.Act.ClientID != actorClientID {
			return fmt.Errorf("exchanged token's act names client %q; want %q", claims.Act.ClientID, actorClientID)
		}
		return nil
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// featureScenarios measures this round's features on in, each after the
// baseline outcome base (client_credentials ES256 on the same store),
// named with the store's label.
func featureScenarios(ctx context.Context, rep *report, in *instance, es client, base outcome, label string, atk attackOptions) error {
	proofs, err := mintProofs(proofBudget(base, atk.Duration), in.tokenURL)
	if err != nil {
		return fmt.Errorf("mint DPoP proofs: %w", err)
	}
	rep.featureOutcome(attack(ctx, dpopClientCredentials("client_credentials ES256 DPoP ("+label+")", in, es, proofs), atk), base.Name, "")

	sso, err := silentSSO(ctx, in, "silent SSO authorize prompt=none ("+label+")")
	if err != nil {
		return err
	}
	rep.featureOutcome(attack(ctx, sso, atk), base.Name, "")

	counts := map[string]int{}
	poll, err := devicePoll(ctx, in, "device poll, pending ("+label+")", counts)
	if err != nil {
		return err
	}
	rep.featureOutcome(attack(ctx, poll, atk), base.Name,
		fmt.Sprintf("%d authorization_pending, %d slow_down", counts["authorization_pending"], counts["slow_down"]))

	tx, err := tokenExchange(ctx, in, "token exchange ES256, delegation ("+label+")", es)
	if err != nil {
		return err
	}
	rep.featureOutcome(attack(ctx, tx, atk), base.Name, "")
	return nil
}

// featureOutcome adds o to the main table and pairs it with baseline in
// the features table.
func (r *report) featureOutcome(o outcome, baseline, note string) outcome {
	if o.Skipped {
		return o
	}
	r.add(o)
	r.features = append(r.features, featureRow{Feature: o.Name, Baseline: baseline, Note: note})
	return o
}
