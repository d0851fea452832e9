package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
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
	// Check judges the body of every answer with the wanted status; an
	// answer counts as a success only if it passes. A scenario without
	// one has no successes (errNoCheck).
	Check check
	// Redirect, when set, judges the Location header of every answer
	// with the wanted status instead of Check (a redirect's body says
	// nothing).
	Redirect func(location string) error
	// Bare names the bare signing rate that this scenario's throughput is
	// compared with ("" for none).
	Bare string
	// Open marks a latency scenario: after its maximum rate is measured,
	// an open-loop phase drives it at a fixed share of that rate (open.go).
	Open bool
}

// outcome is the measured result of one scenario.
type outcome struct {
	Name       string
	Requests   uint64
	Rate       float64 // requests sent per second
	Throughput float64 // successful answers per second
	Success    float64 // fraction of answers with the wanted status
	P50, P99   time.Duration
	// CPU is the CPU time of the server and the load generator (both
	// processes) per successful answer.
	CPU        time.Duration
	FirstError string
	Bare       string
	// Skipped: the scenario's name does not match -scenarios.
	Skipped bool
}

// attackOptions are the knobs of every phase.
type attackOptions struct {
	Workers  uint64
	Duration time.Duration
	// OpenLoad is the share of the closed-loop maximum that the
	// open-loop phase of a latency scenario drives (0: none).
	OpenLoad float64
	// CPU is the CPU used so far by the server and the load generator
	// together (both processes when the server is a child).
	CPU func() time.Duration
	// server is the authd the scenarios drive.
	server *instance
	// only, when set, names the scenarios to measure (-scenarios).
	only *regexp.Regexp
}

// cpu is o.CPU(), or this process's CPU when o has no CPU.
func (o attackOptions) cpu() time.Duration {
	if o.CPU == nil {
		return processCPU()
	}
	return o.CPU()
}

// newAttackOptions are the options of o for the scenarios of in.
func newAttackOptions(o options, in *instance) attackOptions {
	atk := attackOptions{
		Workers: o.Workers, Duration: o.Duration, OpenLoad: o.OpenLoad, server: in,
		CPU: func() time.Duration { return processCPU() + in.ctl.cpu() },
	}
	if o.Scenarios != "" {
		atk.only = regexp.MustCompile(o.Scenarios) // parseFlags checked it
	}
	return atk
}

// attack runs s at the maximum rate a fixed pool of workers sustains
// (each worker waits for its answer before sending again) for o.Duration.
func attack(ctx context.Context, s scenario, o attackOptions) outcome {
	if o.only != nil && !o.only.MatchString(s.Name) {
		return outcome{Name: s.Name, Skipped: true}
	}
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
	cpu0 := o.cpu()
	// A zero ConstantPacer is an unbounded rate: the fixed workers set it.
	for res := range atk.Attack(s.Targeter, vegeta.ConstantPacer{}, o.Duration, s.Name) {
		m.Add(res)
		if err := s.judge(res, want); err == nil {
			ok++
		} else if first == "" {
			first = describe(res, want, err)
		}
	}
	cpu := o.cpu() - cpu0
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

// errStatus marks an answer without the wanted status (or none at all).
var errStatus = errors.New("unwanted status")

// judge is nil for a successful answer: the wanted status, no transport
// error, and a body that passes the scenario's check.
func (s scenario) judge(r *vegeta.Result, want int) error {
	if r.Code == 0 || int(r.Code) != want {
		return errStatus
	}
	// vegeta reports a 4xx or 5xx status as an error too; a wanted one
	// (a device poll's 400) is no error.
	if r.Error != "" && want < http.StatusBadRequest {
		return errStatus
	}
	if s.Redirect != nil {
		return s.Redirect(r.Headers.Get("Location"))
	}
	if s.Check == nil {
		return errNoCheck
	}
	return s.Check(r.Body)
}

// describe is one line about a failed result: the transport error, the
// status and the start of an unwanted answer's body, or, for an answer
// with the wanted status, what its check found (never its body, which
// may hold tokens).
func describe(r *vegeta.Result, want int, err error) string {
	if r.Code == 0 {
		return r.Error // transport error, or the Targeter's
	}
	if int(r.Code) == want && (r.Error == "" || want >= http.StatusBadRequest) {
		return fmt.Sprintf("HTTP %d but %v", r.Code, err)
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

// clientCredentials is the token request of RFC 6749 §4.4.2; a success
// is a token response (§4.4.3).
func clientCredentials(name string, in *instance, c client, bare string) scenario {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
	return scenario{
		Name:     name,
		Targeter: staticTarget(http.MethodPost, in.tokenURL, []byte(form.Encode()), formHeader(c)),
		Check:    tokenCheck,
		Bare:     bare,
		Open:     bare == "ES256",
	}
}

// introspection posts one token of tokenClient to the introspection
// endpoint (RFC 7662 §2.1) as client c; a success reports it active.
func introspection(name string, in *instance, c client, token, tokenClient string) scenario {
	form := url.Values{"token": {token}}
	return scenario{
		Name:     name,
		Targeter: staticTarget(http.MethodPost, in.introspectURL, []byte(form.Encode()), formHeader(c)),
		Check:    introspectionCheck(tokenClient),
		Open:     true,
	}
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
// Targeter pops a live refresh token from a pool, and its check pushes
// the successor of every successful answer back, so every login's chain
// keeps rotating. A failed answer loses its chain.
func rotation(name string, in *instance, c client, tokens []string) scenario {
	pool := make(chan string, len(tokens))
	seen := make(map[string]struct{}, len(tokens))
	for _, t := range tokens {
		pool <- t
		seen[t] = struct{}{}
	}
	header := formHeader(c)
	return scenario{
		Name: name,
		Bare: "ES256",
		Open: true,
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
		// Each answer follows one pop, so the pool never holds more than
		// len(tokens) and this send never blocks.
		Check: rotationCheck(seen, func(rt string) { pool <- rt }),
	}
}
