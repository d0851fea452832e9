package app

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the log output's buffer (NewLogWriter).
const (
	// DefaultLogBufferSize bounds the bytes held before a write: at about
	// 250 bytes a request line, 64 KiB is some 260 lines per write(2).
	DefaultLogBufferSize = 64 << 10
	// DefaultLogFlushInterval is the longest a line waits in the buffer,
	// and so the most a crash can lose.
	DefaultLogFlushInterval = 100 * time.Millisecond
)

// LogWriter buffers the log output so that the one line each request
// logs is not one write(2) each. The buffer is written out when the next
// line would overflow it, every flush interval, and on Close. It is safe
// for concurrent use and keeps the order of lines.
//
// The trade-off: lines logged within the last flush interval before the
// process dies without Close (a crash, SIGKILL, an OOM kill) are lost; a
// clean shutdown loses nothing. A request waits for the output only when
// its line fills the buffer, for one write of at most size bytes; a flush
// in progress does not hold up lines that still fit. Write errors are
// counted (Errors) and the buffered bytes dropped: a log write has nowhere
// better to report its failure, and the next write is tried afresh.
type LogWriter struct {
	out  io.Writer
	size int

	flushMu sync.Mutex // serialises writes to out, so lines keep their order

	mu    sync.Mutex // guards buf and spare
	buf   []byte
	spare []byte

	errs   atomic.Uint64
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once
}

// NewLogWriter returns a LogWriter over out holding at most size bytes
// (a line longer than size is written through at once) and writing them
// out at least every interval. Close stops its timer and flushes.
func NewLogWriter(out io.Writer, size int, interval time.Duration) *LogWriter {
	size = max(size, 1)
	w := &LogWriter{
		out:   out,
		size:  size,
		buf:   make([]byte, 0, size),
		spare: make([]byte, 0, size),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go w.run(interval)
	return w
}

// run flushes every interval until Close.
func (w *LogWriter) run(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(max(interval, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.Flush()
		}
	}
}

// Write buffers p (one log line: slog handlers write each record in one
// call). It never fails; a failed write to the output shows in Errors.
func (w *LogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	for len(w.buf)+len(p) > w.size {
		if len(w.buf) == 0 { // longer than the buffer: write it through
			w.mu.Unlock()
			w.flushMu.Lock()
			w.flushHeld()
			w.writeOut(p)
			w.flushMu.Unlock()
			return len(p), nil
		}
		w.mu.Unlock()
		w.Flush()
		w.mu.Lock()
	}
	w.buf = append(w.buf, p...)
	w.mu.Unlock()
	return len(p), nil
}

// Flush writes out what is buffered.
func (w *LogWriter) Flush() {
	w.flushMu.Lock()
	w.flushHeld()
	w.flushMu.Unlock()
}

// flushHeld is Flush with flushMu held: it swaps the buffers, so lines keep
// arriving while the full one is written.
func (w *LogWriter) flushHeld() {
	w.mu.Lock()
	b := w.buf
	if len(b) == 0 {
		w.mu.Unlock()
		return
	}
	w.buf, w.spare = w.spare[:0], nil
	w.mu.Unlock()
	w.writeOut(b)
	w.mu.Lock()
	w.spare = b[:0]
	w.mu.Unlock()
}

// writeOut writes b to the output, counting a failure.
func (w *LogWriter) writeOut(b []byte) {
	if _, err := w.out.Write(b); err != nil {
		w.errs.Add(1)
	}
}

// Errors is the number of writes to the output that failed.
func (w *LogWriter) Errors() uint64 { return w.errs.Load() }

// Close stops the flush timer and writes out what is buffered; later
// lines are written through at once. It does not close the output.
func (w *LogWriter) Close() error {
	w.closed.Do(func() {
		close(w.stop)
		<-w.done
		w.mu.Lock()
		w.size = 0
		w.mu.Unlock()
		w.Flush()
	})
	return nil
}
