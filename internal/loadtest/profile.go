package main

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of the pprof profile.proto messages that topFunctions
// reads (github.com/google/pprof/proto/profile.proto).
const (
	profSampleType  = 1 // Profile.sample_type: ValueType
	profSample      = 2 // Profile.sample: Sample
	profLocation    = 4 // Profile.location: Location
	profFunction    = 5 // Profile.function: Function
	profStringTable = 6 // Profile.string_table: string

	valueTypeType = 1 // ValueType.type: string index

	sampleLocationID = 1 // Sample.location_id: repeated uint64
	sampleValue      = 2 // Sample.value: repeated int64

	locationID   = 1 // Location.id
	locationLine = 4 // Location.line: Line (several when inlined)

	lineFunctionID = 1 // Line.function_id

	functionID   = 1 // Function.id
	functionName = 2 // Function.name: string index
)

// funcShare is one function's share of a CPU profile.
type funcShare struct {
	Name string
	// Flat is the time spent in the function itself, Cum the time with
	// the functions it called, both in the profile's unit (nanoseconds).
	Flat, Cum int64
}

// cpuProfile is what the load test needs of a CPU profile: per sample,
// the distinct functions on its stack (leaf first) and the CPU time.
type cpuProfile struct {
	Total   int64
	Samples []cpuSample
}

type cpuSample struct {
	Funcs []string // distinct, leaf first
	Value int64
}

// parseCPUProfile decodes a gzipped pprof profile as runtime/pprof writes
// it, keeping the CPU-time value of each sample.
func parseCPUProfile(data []byte) (*cpuProfile, error) {
	if zr, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
		if data, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("profile: gunzip: %w", err)
		}
	}
	var (
		strs        []string
		sampleTypes []int64 // string indexes
		rawSamples  [][]byte
		locLines    = map[uint64][]uint64{} // location → function ids, leaf first
		funcNames   = map[uint64]int64{}    // function → string index
	)
	err := eachField(data, func(num protowire.Number, typ protowire.Type, v uint64, b []byte) error {
		switch num {
		case profStringTable:
			strs = append(strs, string(b))
		case profSampleType:
			return eachField(b, func(n protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
				if n == valueTypeType {
					sampleTypes = append(sampleTypes, int64(v))
				}
				return nil
			})
		case profSample:
			rawSamples = append(rawSamples, b)
		case profLocation:
			var id uint64
			var fns []uint64
			err := eachField(b, func(n protowire.Number, _ protowire.Type, v uint64, lb []byte) error {
				switch n {
				case locationID:
					id = v
				case locationLine:
					return eachField(lb, func(n protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
						if n == lineFunctionID {
							fns = append(fns, v)
						}
						return nil
					})
				}
				return nil
			})
			locLines[id] = fns
			return err
		case profFunction:
			var id uint64
			var name int64
			err := eachField(b, func(n protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
				switch n {
				case functionID:
					id = v
				case functionName:
					name = int64(v)
				}
				return nil
			})
			funcNames[id] = name
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	str := func(i int64) string {
		if i < 0 || int(i) >= len(strs) {
			return "?"
		}
		return strs[i]
	}
	// The CPU profile's values are [samples/count, cpu/nanoseconds].
	valueIdx := len(sampleTypes) - 1
	for i, t := range sampleTypes {
		if str(t) == "cpu" {
			valueIdx = i
		}
	}
	if valueIdx < 0 {
		return nil, errors.New("profile: no sample types")
	}
	p := &cpuProfile{}
	for _, raw := range rawSamples {
		var locs []uint64
		var values []int64
		err := eachField(raw, func(n protowire.Number, typ protowire.Type, v uint64, b []byte) error {
			switch n {
			case sampleLocationID:
				return repeatedVarint(typ, v, b, func(x uint64) { locs = append(locs, x) })
			case sampleValue:
				return repeatedVarint(typ, v, b, func(x uint64) { values = append(values, int64(x)) })
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if valueIdx >= len(values) {
			continue
		}
		s := cpuSample{Value: values[valueIdx]}
		for _, l := range locs {
			for _, f := range locLines[l] {
				if name := str(funcNames[f]); !slices.Contains(s.Funcs, name) {
					s.Funcs = append(s.Funcs, name)
				}
			}
		}
		p.Total += s.Value
		p.Samples = append(p.Samples, s)
	}
	return p, nil
}

// top returns the n functions with the largest cumulative time, leaving
// out runtime.goexit (the root of every goroutine, 100% by construction).
func (p *cpuProfile) top(n int) []funcShare {
	byName := map[string]*funcShare{}
	for _, s := range p.Samples {
		for i, f := range s.Funcs {
			if f == "runtime.goexit" {
				continue
			}
			fs := byName[f]
			if fs == nil {
				fs = &funcShare{Name: f}
				byName[f] = fs
			}
			fs.Cum += s.Value
			if i == 0 {
				fs.Flat += s.Value
			}
		}
	}
	out := make([]funcShare, 0, len(byName))
	for _, fs := range byName {
		out = append(out, *fs)
	}
	slices.SortFunc(out, func(a, b funcShare) int {
		return cmp.Or(cmp.Compare(b.Cum, a.Cum), strings.Compare(a.Name, b.Name))
	})
	return out[:min(n, len(out))]
}

// category groups the functions of one concern, for "where the time goes".
type category struct {
	Name string
	// Match reports whether a function (full name) belongs to it.
	Match func(fn string) bool
}

// share returns, per category, the CPU time of the samples with at least
// one function of the category on their stack. Categories overlap (a JSON
// encode inside the handler counts for both), so shares do not add up.
func (p *cpuProfile) share(cats []category) []int64 {
	out := make([]int64, len(cats))
	for _, s := range p.Samples {
		for i, c := range cats {
			if slices.ContainsFunc(s.Funcs, c.Match) {
				out[i] += s.Value
			}
		}
	}
	return out
}

// partition attributes each sample to one category: the one that matches
// the deepest function of its stack (the first of cats wins on a tie), or
// to the extra last slot when none matches. The slots add up to Total.
func (p *cpuProfile) partition(cats []category) []int64 {
	out := make([]int64, len(cats)+1)
	for _, s := range p.Samples {
		slot := len(cats)
	stack:
		for _, f := range s.Funcs { // leaf first
			for i, c := range cats {
				if c.Match(f) {
					slot = i
					break stack
				}
			}
		}
		out[slot] += s.Value
	}
	return out
}

// eachField calls f for every field of one protobuf message: v is the
// value of varint and fixed fields, b the bytes of length-delimited ones.
func eachField(msg []byte, f func(num protowire.Number, typ protowire.Type, v uint64, b []byte) error) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return fmt.Errorf("profile: %w", protowire.ParseError(n))
		}
		msg = msg[n:]
		var (
			v uint64
			b []byte
		)
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(msg)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(msg)
		case protowire.Fixed32Type:
			var v32 uint32
			v32, n = protowire.ConsumeFixed32(msg)
			v = uint64(v32)
		case protowire.BytesType:
			b, n = protowire.ConsumeBytes(msg)
		default:
			n = protowire.ConsumeFieldValue(num, typ, msg)
		}
		if n < 0 {
			return fmt.Errorf("profile: field %d: %w", num, protowire.ParseError(n))
		}
		msg = msg[n:]
		if err := f(num, typ, v, b); err != nil {
			return err
		}
	}
	return nil
}

// repeatedVarint reads a repeated varint field, packed or not.
func repeatedVarint(typ protowire.Type, v uint64, b []byte, add func(uint64)) error {
	if typ != protowire.BytesType {
		add(v)
		return nil
	}
	for len(b) > 0 {
		x, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return fmt.Errorf("profile: packed varint: %w", protowire.ParseError(n))
		}
		add(x)
		b = b[n:]
	}
	return nil
}
