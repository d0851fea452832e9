// Package recipes holds the Go recipes of docs/verifying-tokens.md: how a
// resource server checks an authd access token with authd's verifier
// package, with coreos/go-oidc and with lestrrat-go/jwx. The code between
// the "recipe:begin" and "recipe:end" lines of each file is quoted in the
// document verbatim (TestDocQuotesRecipes keeps the two in sync), and the
// tests run each recipe against a real authd.
package recipes
