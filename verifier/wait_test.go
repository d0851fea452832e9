package verifier_test

import (
	"testing"
	"time"
)

// waitLimit bounds every wait of these tests (channel receives through
// recv, polls, contexts of waits): far beyond what any step takes even on
// a loaded machine under -race, so only a real hang trips it, and then
// with a message naming the wait instead of the package timeout's
// goroutine dump. It is the verifier module's one copy: the module cannot
// import the test helpers of authd's feed/ and store/redis, which keep
// their own.
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
