package app_test

import (
	"runtime/debug"
	"testing"

	"github.com/authd-dev/authd/internal/app"
)

// TestSetDefaultGC: without GOGC the GC target becomes DefaultGCPercent;
// an operator's GOGC (any value, "off" included) is left alone.
func TestSetDefaultGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	env := map[string]string{"GOGC": "off"}
	if got := app.SetDefaultGC(func(k string) string { return env[k] }); got != 0 {
		t.Fatalf("with GOGC=off: set %d; want 0", got)
	}
	if cur := debug.SetGCPercent(100); cur != 100 {
		t.Fatalf("with GOGC set the GC percent changed to %d", cur)
	}
	if got := app.SetDefaultGC(func(string) string { return "" }); got != app.DefaultGCPercent {
		t.Fatalf("without GOGC: set %d; want %d", got, app.DefaultGCPercent)
	}
	if cur := debug.SetGCPercent(100); cur != app.DefaultGCPercent {
		t.Fatalf("GC percent %d; want %d", cur, app.DefaultGCPercent)
	}
}
