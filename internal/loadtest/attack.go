package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// scenario is one phase of the load run: what to send and what counts as
// success.
type scenario struct {
	Name     string
	Targeter vegeta.Targeter
	// Want is the status of a successful answer (200 unless set).
	Want int
	// OnResult, if set, sees every result (e.g. to recycle refresh tokens).
	OnResult func(*vegeta.Result)
	// Bare names the bare signing rate that this scenario's throughput is
	// compared with ("" for none).
	Bare string
}

// outcome is the measured result of one scenario.
type outcome struct {
	Name       string
	Requests   uint64
	Rate       float64 // requests sent per second
	Throughput float64 // successful answers per second
	Success    float64 // fraction of answers with the wanted status
	P50, P99   time.Duration
	// CPU is the process CPU time (server and load generator) per
	// successful answer.
	CPU        time.Duration
	FirstError string
	Bare       string
}

// attackOptions are the knobs of every phase.
type attackOptions struct {
	Workers  uint64
	Duration time.Duration
}

// attack runs s at the maximum rate a fixed pool of workers sustains
// (each worker waits for its answer before sending again) for o.Duration.
func attack(ctx context.Context, s scenario, o attackOptions) outcome {
	want := s.Want
	if want == 0 {
		want = http.StatusOK
	}
	atk := vegeta.NewAttacker(
		vegeta.Workers(o.Workers),
		vegeta.MaxWorkers(o.Workers),
		vegeta.Connections(int(o.Workers)),
		vegeta.KeepAlive(true),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.Timeout(10*time.Second),
	)
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	var (
		m     vegeta.Metrics
		ok    uint64
		first string
	)
	cpu0 := processCPU()
	// A zero ConstantPacer is an unbounded rate: the fixed workers set it.
	for res := range atk.Attack(s.Targeter, vegeta.ConstantPacer{}, o.Duration, s.Name) {
		m.Add(res)
		if int(res.Code) == want && res.Error == "" {
			ok++
		} else if first == "" {
			first = describe(res)
		}
		if s.OnResult != nil {
			s.OnResult(res)
		}
	}
	cpu := processCPU() - cpu0
	m.Close()
	out := outcome{Name: s.Name, Requests: m.Requests, Rate: m.Rate, P50: m.Latencies.P50, P99: m.Latencies.P99, FirstError: first, Bare: s.Bare}
	if m.Requests > 0 {
		out.Success = float64(ok) / float64(m.Requests)
		if secs := (m.Duration + m.Wait).Seconds(); secs > 0 {
			out.Throughput = float64(ok) / secs
		}
		if ok > 0 {
			out.CPU = cpu / time.Duration(ok)
		}
	}
	return out
}

// describe is one line about a failed result: status and the start of the
// body, or the transport error.
func describe(r *vegeta.Result) string {
	if r.Code == 0 {
		return r.Error // transport error, or the Targeter's
	}
	body := string(r.Body)
	if len(body) > 160 {
		body = body[:160] + "…"
	}
	return fmt.Sprintf("HTTP %d: %s", r.Code, body)
}

// staticTarget is a Targeter that always sends the same request.
func staticTarget(method, u string, body []byte, header http.Header) vegeta.Targeter {
	return func(t *vegeta.Target) error {
		t.Method, t.URL, t.Body, t.Header = method, u, body, header
		return nil
	}
}

// clientCredentials is the token request of RFC 6749 §4.4.2.
func clientCredentials(in *instance, c client) vegeta.Targeter {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
	return staticTarget(http.MethodPost, in.tokenURL, []byte(form.Encode()), formHeader(c))
}

// introspection posts one token to the introspection endpoint (RFC 7662
// §2.1) as client c.
func introspection(in *instance, c client, token string) vegeta.Targeter {
	form := url.Values{"token": {token}}
	return staticTarget(http.MethodPost, in.introspectURL, []byte(form.Encode()), formHeader(c))
}

func formHeader(c client) http.Header {
	return http.Header{
		"Content-Type":  {"application/x-www-form-urlencoded"},
		"Authorization": {c.basicAuth()},
	}
}

// errPoolDry stops a rotation attack whose chains have all died.
var errPoolDry = errors.New("no live refresh token left to rotate")

// rotation is a refresh-token rotation scenario (RFC 6749 §6): its
// Targeter pops a live refresh token from a pool, and its result hook
// pushes the successor back, so every login's chain keeps rotating.
func rotation(name string, in *instance, c client, tokens []string) scenario {
	pool := make(chan string, len(tokens))
	for _, t := range tokens {
		pool <- t
	}
	header := formHeader(c)
	return scenario{
		Name: name,
		Bare: "ES256",
		Targeter: func(t *vegeta.Target) error {
			var rt string
			select {
			case rt = <-pool:
			case <-time.After(2 * time.Second):
				return errPoolDry
			}
			t.Method, t.URL, t.Header = http.MethodPost, in.tokenURL, header
			t.Body = []byte(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode())
			return nil
		},
		OnResult: func(r *vegeta.Result) {
			if r.Code != http.StatusOK {
				return // the chain is lost (the answer is counted as a failure)
			}
			var ans tokenAnswer
			if json.Unmarshal(r.Body, &ans) == nil && ans.RefreshToken != "" {
				pool <- ans.RefreshToken
			}
		},
	}
}
