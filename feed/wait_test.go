package feed

import (
	"testing"
	"time"
)

// waitLimit bounds every wait of these tests: far beyond what any step
// takes even on a loaded machine under -race, so only a real hang trips
// it, and then with a message naming the wait instead of the package
// timeout's goroutine dump.
const waitLimit = 10 * time.Second

// recv receives from ch within waitLimit; ok is false if ch was closed.
func recv[T any](t testing.TB, ch <-chan T, what string) (v T, ok bool) {
	t.Helper()
	select {
	case v, ok = <-ch:
		return v, ok
	case <-time.After(waitLimit):
		t.Fatalf("no %s within %v", what, waitLimit)
	}
	return v, false
}

// eventually polls cond every millisecond until it holds, failing the
// test if it does not within waitLimit.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitLimit)
		}
		time.Sleep(time.Millisecond)
	}
}
