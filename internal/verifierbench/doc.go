// Package verifierbench compares the cost of verifying an access token
// through authd's verifier with bare go-jose and with go-oidc on the same
// tokens (see bench_test.go). It lives in authd's module, not the
// verifier's, so that go-oidc never enters the verifier's dependency list.
package verifierbench
