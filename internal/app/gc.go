package app

import "runtime/debug"

// DefaultGCPercent is the GC target `authd serve` runs with when GOGC is
// not set: the heap may grow to three times the live heap between
// collections instead of twice. authd's live heap is small (tens of MB),
// so the runtime's default collects very often under load; at 200 the
// client_credentials ES256 benchmark spent ≈ 0.86× the CPU per token for
// ≈ 10 MB more RSS (docs/performance.md). A GOMEMLIMIT, when set, still
// bounds the heap: the runtime collects earlier as it nears the limit.
const DefaultGCPercent = 200

// SetDefaultGC applies DefaultGCPercent unless the operator chose a GC
// setting with GOGC (getenv reads the environment); it returns the
// percent it set, or 0 when it left the runtime alone. It changes the
// whole process, so only a main calls it.
func SetDefaultGC(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		return 0
	}
	debug.SetGCPercent(DefaultGCPercent)
	return DefaultGCPercent
}
