// Command benchdiff compares two saved outputs of `make bench` and prints,
// for every figure found in both, the new value over the old one, so that
// a regression is seen at a glance. It reads the rows of Go benchmarks
// (ns/op, B/op, allocs/op and custom metrics) and of the load test's
// tables (throughput, latencies, CPU per answer, the server CPU figure).
//
// The machine is shared and the figures are noisy: a ratio past ±Threshold
// in the bad direction is marked "worse", past it in the good one
// "better", and the command never fails on figures (only on unreadable
// files), so `make bench` does not fail on noise.
//
//	go run ./internal/loadtest/benchdiff [-threshold 0.1] OLD NEW
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "benchdiff:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchdiff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	threshold := fs.Float64("threshold", 0.10, "relative change past which a figure is marked better or worse")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("usage: benchdiff [-threshold 0.1] OLD NEW")
	}
	old, err := parseFile(fs.Arg(0))
	if err != nil {
		return err
	}
	cur, err := parseFile(fs.Arg(1))
	if err != nil {
		return err
	}
	compare(stdout, old, cur, *threshold)
	return nil
}

// figure is one measured value of one row.
type figure struct {
	Row, Metric string
	Value       float64
	// LowerBetter: times, bytes, allocations, CPU; throughput is the
	// other way.
	LowerBetter bool
}

func (f figure) key() string { return f.Row + "\x00" + f.Metric }

func parseFile(path string) ([]figure, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parse(f)
}

var (
	// benchLine is a Go benchmark result: name, iterations, then value
	// and unit pairs.
	benchLine = regexp.MustCompile(`^(Benchmark\S+)\s+\d+\s+(.+)$`)
	// columns splits the load test's tabwriter rows (two spaces or more;
	// scenario names hold single spaces).
	columns = regexp.MustCompile(`\s{2,}`)
	// serverCPULine is the load test's server CPU estimate.
	serverCPULine = regexp.MustCompile(`^server CPU per request .*: ([0-9.]+)µs$`)
)

// parse reads the figures of one `make bench` output. Go benchmark rows
// are named by package and benchmark; the load test's by table and
// scenario.
func parse(r io.Reader) ([]figure, error) {
	var (
		out    []figure
		pkg    string
		header []string // columns of the load-test table being read
		table  string
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t")
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(line, "pkg: ")
			header = nil
		case benchLine.MatchString(line):
			m := benchLine.FindStringSubmatch(line)
			out = append(out, benchFigures(pkg+" "+m[1], strings.Fields(m[2]))...)
			header = nil
		case strings.HasPrefix(trimmed, "scenario  "):
			header = columns.Split(trimmed, -1)
			table = "load"
			if len(header) > 1 && header[1] == "rate" {
				table = "open loop"
			}
		case header != nil && trimmed != "" && !strings.HasPrefix(trimmed, "("):
			cols := columns.Split(trimmed, -1)
			if len(cols) != len(header) {
				header = nil // the table has ended
				continue
			}
			for i := 1; i < len(cols); i++ {
				if v, unit, lower, ok := loadValue(cols[i]); ok {
					out = append(out, figure{Row: table + ": " + cols[0], Metric: strings.TrimSpace(header[i] + " " + unit), Value: v, LowerBetter: lower})
				}
			}
		default:
			header = nil
			if m := serverCPULine.FindStringSubmatch(trimmed); m != nil {
				if v, err := strconv.ParseFloat(m[1], 64); err == nil {
					out = append(out, figure{Row: "load: server CPU per client_credentials ES256 request", Metric: "µs", Value: v, LowerBetter: true})
				}
			}
		}
	}
	return out, sc.Err()
}

// benchFigures reads the value/unit pairs of a benchmark row.
func benchFigures(row string, f []string) []figure {
	var out []figure
	for i := 0; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			continue
		}
		unit := f[i+1]
		out = append(out, figure{Row: row, Metric: unit, Value: v, LowerBetter: !strings.HasSuffix(unit, "/s")})
	}
	return out
}

// loadValue reads one cell of a load-test table: a rate, a percentage, a
// duration (ms, µs; returned in µs) or a ratio; "-" and the like are
// skipped.
func loadValue(cell string) (v float64, unit string, lowerBetter, ok bool) {
	cell = strings.TrimSpace(cell)
	switch {
	case strings.HasSuffix(cell, "%"):
		v, err := strconv.ParseFloat(strings.TrimSuffix(cell, "%"), 64)
		return v, "%", false, err == nil
	case strings.HasSuffix(cell, "ms") || strings.HasSuffix(cell, "µs"):
		d, err := time.ParseDuration(cell)
		return float64(d) / float64(time.Microsecond), "µs", true, err == nil
	}
	if f := strings.Fields(cell); len(f) > 0 { // "0.24 ES256"
		v, err := strconv.ParseFloat(f[0], 64)
		return v, "", false, err == nil
	}
	return 0, "", false, false
}

// compare prints new/old for every figure in both, in the new output's
// order, marking the changes past threshold.
func compare(w io.Writer, old, cur []figure, threshold float64) {
	prev := make(map[string]figure, len(old))
	for _, f := range old {
		prev[f.key()] = f
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "row\tmetric\told\tnew\tnew/old\t")
	var worse, better, compared int
	for _, f := range cur {
		p, ok := prev[f.key()]
		if !ok || p.Value == 0 {
			continue
		}
		compared++
		ratio := f.Value / p.Value
		mark := ""
		bad := ratio > 1+threshold
		good := ratio < 1-threshold
		if !f.LowerBetter {
			bad, good = good, bad
		}
		switch {
		case bad:
			mark, worse = "worse", worse+1
		case good:
			mark, better = "better", better+1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f×\t%s\n", f.Row, f.Metric, num(p.Value), num(f.Value), ratio, mark)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d figures compared: %d worse, %d better by more than %.0f%% (noise on shared cores is often larger: rerun before believing one)\n",
		compared, worse, better, 100*threshold)
}

// num prints v with about four significant digits and no exponent.
func num(v float64) string {
	if v >= 1000 || v <= -1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
