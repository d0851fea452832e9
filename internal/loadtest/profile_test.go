package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// message appends fields built by fs to a protobuf message.
func message(fs ...func([]byte) []byte) []byte {
	var b []byte
	for _, f := range fs {
		b = f(b)
	}
	return b
}

func varintField(num protowire.Number, v uint64) func([]byte) []byte {
	return func(b []byte) []byte {
		b = protowire.AppendTag(b, num, protowire.VarintType)
		return protowire.AppendVarint(b, v)
	}
}

func bytesField(num protowire.Number, v []byte) func([]byte) []byte {
	return func(b []byte) []byte {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendBytes(b, v)
	}
}

func packed(num protowire.Number, vs ...uint64) func([]byte) []byte {
	var p []byte
	for _, v := range vs {
		p = protowire.AppendVarint(p, v)
	}
	return bytesField(num, p)
}

// syntheticProfile has functions main(1) → handler(2) → sign(3, with
// json(4) inlined into the same location), CPU values in nanoseconds.
func syntheticProfile(t *testing.T) []byte {
	t.Helper()
	strs := []string{"", "samples", "count", "cpu", "nanoseconds", "main", "handler", "sign", "json"}
	var fields []func([]byte) []byte
	for _, s := range strs {
		fields = append(fields, bytesField(profStringTable, []byte(s)))
	}
	fields = append(fields,
		bytesField(profSampleType, message(varintField(valueTypeType, 1), varintField(2, 2))),
		bytesField(profSampleType, message(varintField(valueTypeType, 3), varintField(2, 4))),
	)
	for id, name := range map[uint64]uint64{1: 5, 2: 6, 3: 7, 4: 8} {
		fields = append(fields, bytesField(profFunction, message(varintField(functionID, id), varintField(functionName, name))))
	}
	line := func(fn uint64) []byte { return message(varintField(lineFunctionID, fn)) }
	fields = append(fields,
		bytesField(profLocation, message(varintField(locationID, 10), bytesField(locationLine, line(1)))),
		bytesField(profLocation, message(varintField(locationID, 20), bytesField(locationLine, line(2)))),
		// Inlined: json (leaf) inside sign at one location.
		bytesField(profLocation, message(varintField(locationID, 30), bytesField(locationLine, line(4)), bytesField(locationLine, line(3)))),
		// sign → handler → main, packed, 3 samples = 30ms.
		bytesField(profSample, message(packed(sampleLocationID, 30, 20, 10), packed(sampleValue, 3, 30e6))),
		// handler → main, unpacked fields, 1 sample = 10ms.
		bytesField(profSample, message(varintField(sampleLocationID, 20), varintField(sampleLocationID, 10),
			varintField(sampleValue, 1), varintField(sampleValue, 10e6))),
		// recursion counts once per sample: handler → handler → main, 10ms.
		bytesField(profSample, message(packed(sampleLocationID, 20, 20, 10), packed(sampleValue, 1, 10e6))),
	)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(message(fields...))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParseCPUProfileSynthetic(t *testing.T) {
	p, err := parseCPUProfile(syntheticProfile(t))
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 50e6 {
		t.Errorf("total = %d; want 50ms of CPU (the cpu value, not the count)", p.Total)
	}
	want := []funcShare{
		{Name: "main", Flat: 0, Cum: 50e6},
		{Name: "handler", Flat: 20e6, Cum: 50e6},
		{Name: "json", Flat: 30e6, Cum: 30e6},
		{Name: "sign", Flat: 0, Cum: 30e6},
	}
	got := p.top(10)
	slices.SortStableFunc(got, func(a, b funcShare) int {
		return slices.Index([]string{"main", "handler", "json", "sign"}, a.Name) - slices.Index([]string{"main", "handler", "json", "sign"}, b.Name)
	})
	if !slices.Equal(got, want) {
		t.Errorf("top =\n%+v\nwant\n%+v", got, want)
	}
	if top := p.top(1); len(top) != 1 || top[0].Cum != 50e6 {
		t.Errorf("top(1) = %+v", top)
	}
	shares := p.share([]category{
		{"signing", exact("sign")},
		{"json or handler", anyOf(exact("json"), exact("handler"))},
		{"nothing", prefix("net/")},
	})
	if !slices.Equal(shares, []int64{30e6, 50e6, 0}) {
		t.Errorf("shares = %v", shares)
	}
	// The deepest named function wins: the inlined json leaf is JSON, not
	// signing; samples naming no category land in the last slot.
	part := p.partition([]category{
		{"signing", exact("sign")},
		{"json", exact("json")},
		{"handler", exact("handler")},
	})
	if !slices.Equal(part, []int64{0, 30e6, 20e6, 0}) {
		t.Errorf("partition = %v", part)
	}
	if part := p.partition([]category{{"signing", exact("sign")}}); !slices.Equal(part, []int64{30e6, 20e6}) {
		t.Errorf("partition with signing only = %v", part)
	}
}

func TestParseCPUProfileMalformed(t *testing.T) {
	for name, data := range map[string][]byte{
		"truncated varint": {0x08, 0xff},
		"truncated bytes":  {0x12, 0x05, 0x01},
		"bad gzip body":    append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, 0xde, 0xad),
	} {
		if _, err := parseCPUProfile(data); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

//go:noinline
func burnCPU(d time.Duration) {
	deadline := time.Now().Add(d)
	sum := sha256.Sum256(nil)
	for time.Now().Before(deadline) {
		for range 1000 {
			sum = sha256.Sum256(sum[:])
		}
	}
}

// TestParseCPUProfileRuntime parses a real profile of runtime/pprof.
func TestParseCPUProfileRuntime(t *testing.T) {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		t.Fatalf("start profile (is another one running?): %v", err)
	}
	burnCPU(300 * time.Millisecond)
	pprof.StopCPUProfile()
	p, err := parseCPUProfile(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if p.Total <= 0 || len(p.Samples) == 0 {
		t.Fatalf("empty profile: %+v", p)
	}
	var burn funcShare
	for _, f := range p.top(1000) {
		if strings.HasSuffix(f.Name, ".burnCPU") {
			burn = f
		}
		if f.Name == "runtime.goexit" {
			t.Error("runtime.goexit listed")
		}
	}
	if burn.Cum < p.Total/2 {
		t.Errorf("burnCPU has %d of %d ns; want most of the profile", burn.Cum, p.Total)
	}
}
