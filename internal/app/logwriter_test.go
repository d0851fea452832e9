package app_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/app"
)

// recordingOut is a log output that records each write it gets.
type recordingOut struct {
	mu     sync.Mutex
	writes []string
	fail   bool
}

func (o *recordingOut) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail {
		return 0, errors.New("disk full")
	}
	o.writes = append(o.writes, string(p))
	return len(p), nil
}

func (o *recordingOut) snapshot() (writes int, all string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.writes), strings.Join(o.writes, "")
}

// TestLogWriterBuffersUntilFull: lines wait in the buffer until the next
// would overflow it; then the buffered lines go out in one write, and a
// line longer than the buffer is written through after them.
func TestLogWriterBuffersUntilFull(t *testing.T) {
	out := &recordingOut{}
	w := app.NewLogWriter(out, 100, time.Hour)
	defer w.Close()
	line := strings.Repeat("a", 39) + "\n" // 40 bytes
	w.Write([]byte(line))
	w.Write([]byte(line))
	if n, _ := out.snapshot(); n != 0 {
		t.Fatalf("%d writes for 80 buffered bytes; want 0", n)
	}
	w.Write([]byte(line)) // 120 > 100: the first two go out
	if n, all := out.snapshot(); n != 1 || all != line+line {
		t.Fatalf("after overflow: %d writes %q; want the first two lines in one", n, all)
	}
	long := strings.Repeat("b", 150) + "\n"
	w.Write([]byte(long))
	if n, all := out.snapshot(); n != 3 || all != line+line+line+long {
		t.Fatalf("after a long line: %d writes %q; want the buffered line, then the long one", n, all)
	}
}

// TestLogWriterFlushesOnTimer: a line reaches the output within the flush
// interval without anything else being written.
func TestLogWriterFlushesOnTimer(t *testing.T) {
	out := &recordingOut{}
	w := app.NewLogWriter(out, 1<<16, 20*time.Millisecond)
	defer w.Close()
	w.Write([]byte("msg=request\n"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, all := out.snapshot(); all == "msg=request\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the line was not flushed by the timer")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLogWriterConcurrentOrderAndClose: lines written from many
// goroutines all arrive whole, each goroutine's in its order, and Close
// flushes the rest; after Close a line is written at once.
func TestLogWriterConcurrentOrderAndClose(t *testing.T) {
	out := &recordingOut{}
	w := app.NewLogWriter(out, 512, time.Millisecond)
	const writers, lines = 8, 500
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(w, "g=%d i=%d\n", g, i)
			}
		})
	}
	wg.Wait()
	w.Close()
	_, all := out.snapshot()
	next := make([]int, writers)
	got := strings.Split(strings.TrimSuffix(all, "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("%d lines; want %d", len(got), writers*lines)
	}
	for _, l := range got {
		var g, i int
		if _, err := fmt.Sscanf(l, "g=%d i=%d", &g, &i); err != nil || g < 0 || g >= writers {
			t.Fatalf("mangled line %q", l)
		}
		if i != next[g] {
			t.Fatalf("writer %d: line %d after %d", g, i, next[g]-1)
		}
		next[g]++
	}
	before, _ := out.snapshot()
	w.Write([]byte("late\n"))
	if n, all := out.snapshot(); n != before+1 || !strings.HasSuffix(all, "late\n") {
		t.Fatalf("a line after Close was not written at once (%d writes, was %d)", n, before)
	}
}

// TestLogWriterCountsErrors: a failing output never fails the writer (a
// request's log line has nowhere to report it); each failed write counts,
// and writing resumes when the output recovers.
func TestLogWriterCountsErrors(t *testing.T) {
	out := &recordingOut{fail: true}
	w := app.NewLogWriter(out, 1<<16, time.Hour)
	defer w.Close()
	if n, err := w.Write([]byte("lost\n")); n != 5 || err != nil {
		t.Fatalf("Write = %d, %v; want 5, nil", n, err)
	}
	w.Flush()
	if got := w.Errors(); got != 1 {
		t.Fatalf("Errors = %d; want 1", got)
	}
	out.mu.Lock()
	out.fail = false
	out.mu.Unlock()
	w.Write([]byte("kept\n"))
	w.Flush()
	if _, all := out.snapshot(); all != "kept\n" || w.Errors() != 1 {
		t.Fatalf("after recovery: %q, %d errors; want only the new line, 1 error", all, w.Errors())
	}
}

// TestLogWriterUnderSlog: the request logger writes whole records
// through the buffer (one slog record per Write).
func TestLogWriterUnderSlog(t *testing.T) {
	var buf bytes.Buffer
	w := app.NewLogWriter(&buf, 1<<16, time.Hour)
	log := app.NewLogger(w, "info", "text")
	log.Info("request", "route", "token", "status", 200)
	log.Debug("hidden")
	if buf.Len() != 0 {
		t.Fatalf("written before a flush: %q", buf.String())
	}
	w.Close()
	if s := buf.String(); strings.Count(s, "\n") != 1 || !strings.Contains(s, "msg=request route=token status=200") {
		t.Fatalf("log output %q", s)
	}
}
