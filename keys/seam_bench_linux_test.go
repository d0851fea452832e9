package keys

import (
	"crypto/ecdsa"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/go-jose/go-jose/v4"
)

// threadCPU is the CPU time of the calling OS thread
// (CLOCK_THREAD_CPUTIME_ID): unlike wall time, it does not grow while
// other load on the machine keeps the thread off the CPU.
func threadCPU() time.Duration {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// BenchmarkSignSeamRatio signs with the active ES256 key through
// go-jose's cryptosigner.Opaque over the crypto.Signer (how Manager.Sign
// signs: the seam where a KMS fits) and through go-jose's native
// *ecdsa.PrivateKey signer (which skips cryptosigner's ASN.1 DER parse),
// alternating blocks of 64 signatures (signing and
// CompactSerialize) on one locked OS thread, and reports the thread CPU
// per signature of each and their ratio: interleaved in one run, both see
// the same machine.
func BenchmarkSignSeamRatio(b *testing.B) {
	m := newManager(b, &fakeStore{}, newClock(), nil)
	k := m.snap.Load().active[ES256]
	opts := (&jose.SignerOptions{}).WithType(TypeAccessToken).WithHeader("kid", k.kid)
	opaque, err := k.newSigner(TypeAccessToken)
	if err != nil {
		b.Fatal(err)
	}
	native, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.signer.(*ecdsa.PrivateKey)}, opts)
	if err != nil {
		b.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const block = 64
	sign := func(s jose.Signer) time.Duration {
		t0 := threadCPU()
		for range block {
			obj, err := s.Sign(benchClaims)
			if err == nil {
				_, err = obj.CompactSerialize()
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		return threadCPU() - t0
	}
	var tOpaque, tNative time.Duration
	n := 0
	for ; n < b.N; n += block {
		if n/block%2 == 0 {
			tOpaque += sign(opaque)
			tNative += sign(native)
		} else {
			tNative += sign(native)
			tOpaque += sign(opaque)
		}
	}
	b.ReportMetric(float64(tOpaque.Nanoseconds())/1e3/float64(n), "opaque-cpu-µs/op")
	b.ReportMetric(float64(tNative.Nanoseconds())/1e3/float64(n), "native-cpu-µs/op")
	b.ReportMetric(float64(tNative)/float64(tOpaque), "native/opaque")
}

// BenchmarkSignParts splits Manager.Sign's thread CPU per ES256 token in
// the same way, alternating blocks: go-jose's Sign alone (through the
// cached cryptosigner.Opaque signer), Sign plus CompactSerialize, and
// Manager.Sign (which adds the snapshot load and the signer lookup).
func BenchmarkSignParts(b *testing.B) {
	m := newManager(b, &fakeStore{}, newClock(), nil)
	s, err := m.snap.Load().active[ES256].signerFor(TypeAccessToken)
	if err != nil {
		b.Fatal(err)
	}
	parts := []struct {
		name string
		f    func() error
	}{
		{"jose-sign", func() error { _, err := s.Sign(benchClaims); return err }},
		{"jose-sign+serialize", func() error {
			obj, err := s.Sign(benchClaims)
			if err == nil {
				_, err = obj.CompactSerialize()
			}
			return err
		}},
		{"manager-sign", func() error { _, _, err := m.Sign(ES256, TypeAccessToken, benchClaims); return err }},
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const block = 64
	total := make([]time.Duration, len(parts))
	n := 0
	for ; n < b.N; n += block {
		for j := range parts {
			p := (j + n/block) % len(parts) // rotate the order
			t0 := threadCPU()
			for range block {
				if err := parts[p].f(); err != nil {
					b.Fatal(err)
				}
			}
			total[p] += threadCPU() - t0
		}
	}
	for j, p := range parts {
		b.ReportMetric(float64(total[j].Nanoseconds())/1e3/float64(n), p.name+"-cpu-µs/op")
	}
}
