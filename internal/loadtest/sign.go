package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// benchClaims is a payload of the size of a client_credentials access
// token (RFC 9068 §2.2), so the bare rate signs what the server signs.
var benchClaims = []byte(`{"iss":"http://127.0.0.1:8080","sub":"loadtest-client-es256","aud":"http://127.0.0.1:8080","exp":1767225600,"iat":1767224700,"jti":"3q2-7wAAAAAAAAAAAAAAAA","client_id":"loadtest-client-es256","scope":"read"}`)

// newBareSigner returns a go-jose signer of alg with a fresh key and the
// protected header the server's access tokens carry (alg, kid, typ).
func newBareSigner(alg jose.SignatureAlgorithm) (jose.Signer, error) {
	var key crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("unsupported alg %s", alg)
	}
	if err != nil {
		return nil, err
	}
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "bare-"+string(alg))
	return jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
}

// bareSign is the measured bare signing rate of one alg.
type bareSign struct {
	PerSec float64       // signatures per second, wall clock
	CPU    time.Duration // process CPU time per signature
}

// bareSignRate measures compact JWS signatures of alg with `goroutines`
// goroutines signing for d: the ceiling of a token endpoint on this
// machine.
func bareSignRate(ctx context.Context, alg jose.SignatureAlgorithm, goroutines int, d time.Duration) (bareSign, error) {
	signer, err := newBareSigner(alg)
	if err != nil {
		return bareSign{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		n        atomic.Int64
		wg       sync.WaitGroup
		firstErr atomic.Pointer[error]
	)
	start, cpu0 := time.Now(), processCPU()
	for range goroutines {
		wg.Go(func() {
			for ctx.Err() == nil {
				obj, err := signer.Sign(benchClaims)
				if err == nil {
					_, err = obj.CompactSerialize()
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					cancel()
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	if e := firstErr.Load(); e != nil {
		return bareSign{}, fmt.Errorf("bare %s signing: %w", alg, *e)
	}
	ops := n.Load()
	if ops == 0 {
		return bareSign{}, fmt.Errorf("bare %s signing: no signature in %s", alg, d)
	}
	return bareSign{PerSec: float64(ops) / elapsed.Seconds(), CPU: cpu / time.Duration(ops)}, nil
}
