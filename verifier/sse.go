package verifier

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// maxSSELine bounds one line of the event stream. A snapshot event carries
// the whole denylist on one data line, so this is generous.
const maxSSELine = 16 << 20

// sseEvent is one dispatched Server-Sent Event (HTML Living Standard,
// "Server-sent events" §9.2.6 "Interpreting an event stream").
type sseEvent struct {
	// Type is the event type; "message" when the stream named none.
	Type string
	// ID is the last event ID after this event (it persists across events
	// until a later "id" field changes it).
	ID string
	// Data is the data buffer with its final newline removed.
	Data string
}

// sseReader interprets an event stream. It is a small hand-written parser:
// SSE is a line format with four fields and comments.
type sseReader struct {
	sc      *bufio.Scanner
	started bool
	lastID  string
	// retry is the last valid "retry" field, zero if none was sent.
	retry time.Duration
	// onComment, if set, is called for each comment line (": ping").
	onComment func()
}

// newSSEReader reads events from r.
func newSSEReader(r io.Reader) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxSSELine)
	sc.Split(scanSSELines)
	return &sseReader{sc: sc}
}

// errSSELineTooLong is returned for a line longer than maxSSELine.
var errSSELineTooLong = errors.New("verifier: event stream line too long")

// Next returns the next dispatched event. At the end of the stream it
// returns io.EOF; an event not terminated by a blank line is discarded, as
// the standard requires.
func (r *sseReader) Next() (sseEvent, error) {
	var (
		typ  string
		data strings.Builder
	)
	for r.sc.Scan() {
		line := r.sc.Text()
		if !r.started {
			r.started = true
			line = strings.TrimPrefix(line, "\uFEFF") // one leading BOM is ignored
		}
		if line == "" {
			// Dispatch. An event with an empty data buffer is not
			// dispatched, but its id still counts.
			if data.Len() == 0 {
				typ = ""
				continue
			}
			d := data.String()
			ev := sseEvent{Type: typ, ID: r.lastID, Data: d[:len(d)-1]}
			if ev.Type == "" {
				ev.Type = "message"
			}
			return ev, nil
		}
		if line[0] == ':' {
			if r.onComment != nil {
				r.onComment()
			}
			continue
		}
		field, value, found := strings.Cut(line, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch field {
		case "event":
			typ = value
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
		case "id":
			if !strings.ContainsRune(value, 0) {
				r.lastID = value
			}
		case "retry":
			if ms, err := strconv.ParseUint(value, 10, 31); err == nil && isASCIIDigits(value) {
				r.retry = time.Duration(ms) * time.Millisecond
			}
		}
		// Other fields are ignored.
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return sseEvent{}, errSSELineTooLong
		}
		return sseEvent{}, err
	}
	return sseEvent{}, io.EOF
}

func isASCIIDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// scanSSELines is a bufio.SplitFunc for SSE lines, which end in CRLF, LF or
// a lone CR.
func scanSSELines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		if data[i] == '\n' {
			return i + 1, data[:i], nil
		}
		// A CR: if it is the last byte we need one more byte to know whether
		// an LF follows, unless the stream has ended.
		if i+1 < len(data) {
			if data[i+1] == '\n' {
				return i + 2, data[:i], nil
			}
			return i + 1, data[:i], nil
		}
		if atEOF {
			return i + 1, data[:i], nil
		}
		return 0, nil, nil
	}
	if atEOF {
		// A final line without a terminator belongs to an event that is
		// never dispatched: drop it.
		return len(data), nil, nil
	}
	return 0, nil, nil
}
