// Package testwait bounds the waits of tests: far beyond what any step
// takes even on a loaded machine under -race, so only a real hang trips
// it, and then with a message naming the wait instead of the package
// timeout's goroutine dump. (The verifier module, which cannot import
// this one, keeps its own copy in verifier/wait_test.go.)
package testwait

import (
	"testing"
	"time"
)

// Limit bounds every wait.
const Limit = 10 * time.Second

// Recv receives from ch within Limit; ok is false if ch was closed.
func Recv[T any](t testing.TB, ch <-chan T, what string) (v T, ok bool) {
	t.Helper()
	select {
	case v, ok = <-ch:
		return v, ok
	case <-time.After(Limit):
		t.Fatalf("no %s within %v", what, Limit)
	}
	return v, false
}

// Eventually polls cond every millisecond until it holds, failing the
// test if it does not within Limit.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, Limit)
		}
		time.Sleep(time.Millisecond)
	}
}
