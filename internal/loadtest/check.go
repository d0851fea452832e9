package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// A check decides whether an answer with the wanted status says what a
// successful answer of its scenario must say: a status alone proves
// little (an inactive token is introspected with 200 too). A check sees
// the body of every such answer, on the one goroutine that reads the
// attack's results, so it may keep state without a lock. Its error names
// what is wrong and never quotes the body (a 200 carries tokens).
type check func(body []byte) error

// errNoCheck is the verdict on every answer of a scenario without a check:
// such a scenario cannot succeed, so none is forgotten.
var errNoCheck = errors.New("the scenario has no body check")

// tokenCheck accepts a successful token response (RFC 6749 §5.1): an
// access token in JWS compact form (RFC 7515 §7.1, the JWT access tokens
// of RFC 9068), token_type Bearer (case-insensitive, RFC 6749 §7.1) and a
// positive expires_in.
func tokenCheck(body []byte) error {
	_, err := parseTokenAnswer(body)
	return err
}

// tokenFields are the members of a token response that the checks read.
type tokenFields struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

func parseTokenAnswer(body []byte) (tokenFields, error) {
	return parseTokenAnswerOfType(body, "Bearer")
}

// parseTokenAnswerOfType is parseTokenAnswer for a token_type of
// wantType (DPoP for a DPoP-bound token, RFC 9449 §5).
func parseTokenAnswerOfType(body []byte, wantType string) (tokenFields, error) {
	var a tokenFields
	if err := json.Unmarshal(body, &a); err != nil {
		return a, fmt.Errorf("token response is not JSON: %w", err)
	}
	if strings.Count(a.AccessToken, ".") != 2 {
		return a, errors.New("token response has no access_token in JWS compact form")
	}
	if !strings.EqualFold(a.TokenType, wantType) {
		return a, fmt.Errorf("token response has token_type %q; want %s", a.TokenType, wantType)
	}
	if a.ExpiresIn <= 0 {
		return a, fmt.Errorf("token response has expires_in %d; want > 0", a.ExpiresIn)
	}
	return a, nil
}

// rotationCheck accepts a refresh answer (RFC 6749 §6) that is a token
// response with a refresh token never seen before (rotation: a new one
// each time, never the presented one) and hands that successor to next.
// seen holds the tokens issued so far, the logins' first ones included.
func rotationCheck(seen map[string]struct{}, next func(refreshToken string)) check {
	return func(body []byte) error {
		a, err := parseTokenAnswer(body)
		if err != nil {
			return err
		}
		if a.RefreshToken == "" {
			return errors.New("refresh answer has no refresh_token")
		}
		if _, dup := seen[a.RefreshToken]; dup {
			return errors.New("refresh answer repeats a refresh token already issued")
		}
		seen[a.RefreshToken] = struct{}{}
		next(a.RefreshToken)
		return nil
	}
}

// introspectionCheck accepts an introspection answer (RFC 7662 §2.2) that
// reports the token active and issued to clientID.
func introspectionCheck(clientID string) check {
	return func(body []byte) error {
		var a struct {
			Active   bool   `json:"active"`
			ClientID string `json:"client_id"`
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return fmt.Errorf("introspection answer is not JSON: %w", err)
		}
		if !a.Active {
			return errors.New("introspection answer says the token is not active")
		}
		if a.ClientID != clientID {
			return fmt.Errorf("introspection answer has client_id %q; want %q", a.ClientID, clientID)
		}
		return nil
	}
}

// sameBodyCheck accepts exactly want, a body validated once beforehand
// (the JWKS fetched at set-up), so a check per answer costs a comparison.
func sameBodyCheck(want []byte) check {
	return func(body []byte) error {
		if !bytes.Equal(body, want) {
			return fmt.Errorf("body (%d bytes) differs from the one validated at set-up (%d bytes)", len(body), len(want))
		}
		return nil
	}
}

// emptyBodyCheck accepts an empty body, the only one a 304 may have
// (RFC 9110 §15.4.5).
func emptyBodyCheck(body []byte) error {
	if len(body) != 0 {
		return fmt.Errorf("a 304 with a %d-byte body", len(body))
	}
	return nil
}

// jwksCheck accepts a JWK Set (RFC 7517 §5) of at least one public key,
// each with kty, kid, use "sig" and an alg, and no private member.
func jwksCheck(body []byte) error {
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return fmt.Errorf("JWKS is not JSON: %w", err)
	}
	if len(set.Keys) == 0 {
		return errors.New("JWKS has no keys")
	}
	for i, k := range set.Keys {
		for _, member := range []string{"kty", "kid", "alg"} {
			if s, _ := k[member].(string); s == "" {
				return fmt.Errorf("JWKS key %d has no %s", i, member)
			}
		}
		if use, ok := k["use"]; ok && use != "sig" {
			return fmt.Errorf("JWKS key %d has use %v; want sig", i, use)
		}
		// Private members of RSA and EC keys (RFC 7518 §6.2.2, §6.3.2).
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				return fmt.Errorf("JWKS key %d publishes the private member %q", i, private)
			}
		}
	}
	return nil
}
