module github.com/authd-dev/authd/verifier

go 1.26.8

require (
	github.com/go-jose/go-jose/v4 v4.1.9
	golang.org/x/sync v0.25.0
)
