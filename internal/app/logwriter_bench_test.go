//go:build unix

package app_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/app"
)

// processCPU is the CPU time (user and system) of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRequestLogOutput is the cost of one request's log line (the
// seven attributes server's middleware logs, text format, level info)
// written to a file on every core: "direct" is one write(2) per line, as
// before the LogWriter; "buffered" goes through the LogWriter `authd
// serve` logs through. cpu-µs/op is the process CPU per line, formatting
// included, which other load on a shared machine disturbs less than
// ns/op.
func BenchmarkRequestLogOutput(b *testing.B) {
	for _, mode := range []string{"direct", "buffered"} {
		b.Run(mode, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "authd.log"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var log *slog.Logger
			if mode == "buffered" {
				w := app.NewLogWriter(f, app.DefaultLogBufferSize, app.DefaultLogFlushInterval)
				defer w.Close()
				log = app.NewLogger(w, "info", "text")
			} else {
				log = app.NewLogger(f, "info", "text")
			}
			b.ReportAllocs()
			start := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					log.Info("request", "listener", "public", "method", "POST", "route", "token", "status", 200,
						"duration", 183*time.Microsecond, "remote", "127.0.0.1", "request_id", "5f3a9c1e-1z4")
				}
			})
			b.StopTimer()
			b.ReportMetric(float64((processCPU()-start).Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
		})
	}
}
