package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authd-dev/authd/internal/app"
)

// options are the command-line settings.
type options struct {
	Workers      uint64
	Duration     time.Duration
	SignDuration time.Duration
	Logins       int
	RedisURL     string
	CPUProfile   string
	// LogLevel is authd's log level during the run (its default, info,
	// unless set): at info every request writes its log line, to LogFile.
	LogLevel string
	// OpenLoad is the fraction of each closed-loop maximum at which the
	// open-loop phase drives the latency scenarios (0: no such phase).
	OpenLoad float64
	// Sentinel runs the durable-rotation scenarios on a private Redis
	// Sentinel deployment (sentinel.go).
	Sentinel bool
	// InProcess runs authd in the load generator's process, as the load
	// test did before issue 13 (one Go runtime, GC and scheduler for
	// both), instead of in a child process of its own (child.go).
	InProcess bool
	// OpenLayout is where the open-loop phase runs: "shared" (server and
	// generator each free on every core), "pinned" (each on a core of its
	// own, GOMAXPROCS=1 each, the maximum re-measured so), or "both".
	OpenLayout string
	// ServeArgs are more flags of `authd serve` for every server (split
	// on spaces), to measure one setting's effect on the figures.
	ServeArgs string
	// Scenarios, when set, is a regular expression: only the scenarios
	// whose name it matches are measured (the set-up still runs).
	Scenarios string

	logFile string // authd's log file, in the run's temp dir
}

// The layouts of the open-loop phase (-open-layout).
const (
	layoutShared = "shared"
	layoutPinned = "pinned"
	layoutBoth   = "both"
)

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Uint64Var(&o.Workers, "workers", 16, "concurrent clients (vegeta workers, each with its own connection)")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "length of each scenario")
	fs.DurationVar(&o.SignDuration, "sign-duration", 2*time.Second, "length of each bare-signing measurement")
	fs.IntVar(&o.Logins, "logins", 0, "logins (refresh-token chains) per rotation scenario (default 4 × workers)")
	fs.StringVar(&o.RedisURL, "redis-url", "redis://127.0.0.1:6379/0", "Redis for the Redis scenarios, skipped if it does not answer (\"\" to skip)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write the CPU profile of the ES256 client_credentials scenario to this file (it is always taken, for the server CPU figure)")
	fs.StringVar(&o.LogLevel, "log-level", "info", "authd's log level (info, its default, writes one line per request, to a file in the run's temp dir)")
	fs.Float64Var(&o.OpenLoad, "open-load", 0.7, "open-loop phase: drive the latency scenarios at this fraction of their closed-loop maximum rate (0 to skip)")
	fs.BoolVar(&o.Sentinel, "sentinel", false, "also start a private Redis Sentinel deployment (redis-server, redis-sentinel) and compare refresh rotation with --redis-wait-replicas 1 and off")
	fs.BoolVar(&o.InProcess, "in-process", false, "run authd in the load generator's process (one Go runtime for both, the layout before issue 13) instead of a child process")
	fs.StringVar(&o.OpenLayout, "open-layout", layoutBoth, "open-loop phase layout: shared (server and generator processes free on every core), pinned (each on its own core, GOMAXPROCS=1 each, the maximum re-measured so; not with -in-process) or both")
	fs.StringVar(&o.ServeArgs, "serve-args", "", "more flags of `authd serve` for every server, space-separated (e.g. \"--deny-mirror-staleness 0\")")
	fs.StringVar(&o.Scenarios, "scenarios", "", "measure only the scenarios whose name matches this regular expression (e.g. \"introspection.*redis\")")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if _, err := regexp.Compile(o.Scenarios); err != nil {
		return o, fmt.Errorf("-scenarios: %w", err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.Workers == 0 || o.Duration <= 0 || o.SignDuration <= 0 {
		return o, errors.New("-workers, -duration and -sign-duration must be positive")
	}
	if o.OpenLoad < 0 || o.OpenLoad > 1 {
		return o, errors.New("-open-load must be between 0 and 1")
	}
	switch o.OpenLayout {
	case layoutShared, layoutPinned, layoutBoth:
	default:
		return o, fmt.Errorf("-open-layout %q: want shared, pinned or both", o.OpenLayout)
	}
	if o.InProcess && o.OpenLayout == layoutPinned {
		return o, errors.New("-open-layout pinned needs the server in its own process (not -in-process)")
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return o, fmt.Errorf("-log-level: %w", err)
	}
	if o.Logins <= 0 {
		o.Logins = 4 * int(o.Workers)
	}
	return o, nil
}

// report collects what the run measured.
type report struct {
	bare     map[string]bareSign // by alg, on every core
	outcomes []outcome
	open     []openOutcome
	features []featureRow
	profile  *cpuProfile
	profiled outcome
	// tempProfile: the profile went to the temp dir (no -cpuprofile).
	tempProfile bool
	// serverOnlyProfile: the profile is of the server child alone.
	serverOnlyProfile bool
	notes             []string
	// gen is the load generator's own runtime (open-loop windows).
	gen *localControl
	// layouts are the open-loop layouts to run; cpus the CPUs usable for
	// pinning (generator on the first, server on the second).
	layouts []string
	cpus    []int
}

// add adds o to the main table unless it was skipped (-scenarios).
func (r *report) add(o outcome) {
	if !o.Skipped {
		r.outcomes = append(r.outcomes, o)
	}
}

// measure runs s closed loop (its maximum rate) and adds the outcome;
// for a latency scenario (s.Open) it then runs the open-loop phase at
// o.OpenLoad of that maximum.
func (r *report) measure(ctx context.Context, s scenario, atk attackOptions) {
	oc := attack(ctx, s, atk)
	r.add(oc)
	r.openPhase(ctx, s, oc, atk)
}

// openPhase runs the open-loop phase of s after its closed-loop outcome,
// in each layout of r.layouts: shared at atk.OpenLoad of closed, pinned
// at atk.OpenLoad of a closed-loop maximum measured pinned first.
func (r *report) openPhase(ctx context.Context, s scenario, closed outcome, atk attackOptions) {
	if !s.Open || atk.OpenLoad <= 0 || closed.Skipped {
		return
	}
	for _, layout := range r.layouts {
		if ctx.Err() != nil {
			return
		}
		switch layout {
		case layoutShared:
			r.open = append(r.open, r.openRun(ctx, s, s.Name, layoutShared, closed, atk))
		case layoutPinned:
			err := r.pinned(atk.server, func() {
				max := attack(ctx, s, atk)
				r.open = append(r.open, r.openRun(ctx, s, pinnedName(s.Name), layoutPinned, max, atk))
			})
			if err != nil {
				r.notes = append(r.notes, fmt.Sprintf("%s: no pinned open loop: %v", s.Name, err))
			}
		}
	}
}

// pinnedName is a scenario's row name in the pinned layout.
func pinnedName(name string) string {
	if base, ok := strings.CutSuffix(name, ")"); ok {
		return base + ", pinned)"
	}
	return name + " (pinned)"
}

// openRun runs the open-loop phase of s at atk.OpenLoad of closed's
// throughput and collects both processes' runtime windows.
func (r *report) openRun(ctx context.Context, s scenario, name, layout string, closed outcome, atk attackOptions) openOutcome {
	in := atk.server
	in.ctl.startWindow()
	r.gen.startWindow()
	s.Name = name
	oc := openAttack(ctx, s, atk.OpenLoad*closed.Throughput, atk)
	oc.Layout, oc.Closed = layout, closed.Throughput
	oc.Server, _ = in.ctl.window()
	if in.child != nil {
		oc.Generator, _ = r.gen.window()
	}
	return oc
}

// pinned runs f with the load generator (this process) on r.cpus[0] and
// the server child on r.cpus[1], GOMAXPROCS=1 each, then sets both free
// on every usable CPU again.
func (r *report) pinned(in *instance, f func()) (err error) {
	if in.child == nil {
		return errors.New("the server runs in this process (-in-process)")
	}
	if len(r.cpus) < 2 {
		return fmt.Errorf("pinning needs two usable CPUs, have %v", r.cpus)
	}
	self, child := os.Getpid(), in.child.pid()
	procs := runtime.GOMAXPROCS(1)
	defer func() {
		err = errors.Join(err, pinProcess(self, r.cpus), pinProcess(child, r.cpus), in.ctl.setProcs(0))
		runtime.GOMAXPROCS(procs)
	}()
	if err := errors.Join(pinProcess(self, r.cpus[:1]), pinProcess(child, r.cpus[1:2]), in.ctl.setProcs(1)); err != nil {
		return err
	}
	f()
	return nil
}

// failed names the scenarios that sent nothing or got any answer that was
// not a success (wrong status, or a body its check refused). The open-loop
// phases do not count: at a fixed rate on shared cores the server may be
// driven past what it has at that moment and shed load (503), which the
// open-loop target line reports as a miss.
func (r *report) failed() []string {
	var out []string
	for _, oc := range r.outcomes {
		if oc.Requests == 0 || oc.Success < 1 {
			out = append(out, oc.Name)
		}
	}
	return out
}

// loadTest runs every scenario and prints the report.
func loadTest(ctx context.Context, o options, stdout, stderr io.Writer) error {
	procs := runtime.GOMAXPROCS(0)
	if o.InProcess {
		fmt.Fprintf(stdout, "authd load test: %d workers, %s per scenario, GOMAXPROCS=%d (load generator and server in one process, sharing the cores)\n", o.Workers, o.Duration, procs)
	} else {
		fmt.Fprintf(stdout, "authd load test: %d workers, %s per scenario, GOMAXPROCS=%d (server in a process of its own; both processes share the cores)\n", o.Workers, o.Duration, procs)
	}
	rep := &report{bare: map[string]bareSign{}, gen: &localControl{}, serverOnlyProfile: !o.InProcess}
	switch {
	case o.InProcess:
		rep.layouts = []string{layoutShared}
	case o.OpenLayout == layoutBoth:
		rep.layouts = []string{layoutShared, layoutPinned}
	default:
		rep.layouts = []string{o.OpenLayout}
	}
	if o.Scenarios != "" {
		rep.notes = append(rep.notes, fmt.Sprintf("only the scenarios matching -scenarios %q were measured", o.Scenarios))
	}
	if slices.Contains(rep.layouts, layoutPinned) {
		var err error
		if rep.cpus, err = usableCPUs(); err != nil || len(rep.cpus) < 2 {
			rep.notes = append(rep.notes, fmt.Sprintf("no pinned open loop: usable CPUs %v (%v)", rep.cpus, err))
			rep.layouts = slices.DeleteFunc(rep.layouts, func(l string) bool { return l == layoutPinned })
		}
	}

	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.RS256} {
		bs, err := bareSignRate(ctx, alg, procs, o.SignDuration)
		if err != nil {
			return err
		}
		rep.bare[string(alg)] = bs
	}

	dir, err := os.MkdirTemp("", "authd-loadtest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// authd logs as it would in production, at its default level unless
	// -log-level says otherwise: to a file, so the request lines cost
	// their formatting and their share of the buffered writes (the
	// LogWriter `authd serve` logs through), and stay out of the report.
	logFile, err := os.Create(filepath.Join(dir, "authd.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	o.logFile = logFile.Name()
	logOut := app.NewLogWriter(logFile, app.DefaultLogBufferSize, app.DefaultLogFlushInterval)
	defer logOut.Close()
	logger := app.NewLogger(logOut, o.LogLevel, "text")
	if o.CPUProfile == "" {
		o.CPUProfile, rep.tempProfile = filepath.Join(dir, "cpu.pprof"), true
	}

	if err := boltScenarios(ctx, o, rep, filepath.Join(dir, "bolt"), logger, stderr); err != nil {
		return err
	}
	if ctx.Err() == nil {
		if err := redisScenarios(ctx, o, rep, filepath.Join(dir, "redis"), logger, stderr); err != nil {
			return err
		}
	}
	if o.Sentinel && ctx.Err() == nil {
		if err := sentinelScenarios(ctx, o, rep, filepath.Join(dir, "sentinel"), logger, stderr); err != nil {
			return err
		}
	}
	logOut.Flush()
	if fi, err := logFile.Stat(); err == nil {
		rep.notes = append(rep.notes, fmt.Sprintf("authd logged at %s: %d bytes in %s (gone with the temp dir)", o.LogLevel, fi.Size(), logFile.Name()))
	}
	rep.print(stdout, o)
	if err := ctx.Err(); err != nil {
		return err
	}
	if failed := rep.failed(); len(failed) > 0 {
		return fmt.Errorf("failed requests in: %s", strings.Join(failed, ", "))
	}
	return nil
}

// boltScenarios runs the scenarios on the embedded store.
func boltScenarios(ctx context.Context, o options, rep *report, dataDir string, logger *slog.Logger, stderr io.Writer) error {
	in, err := serverFor(ctx, o, dataDir, logger, stderr, "--store", "bolt")
	if err != nil {
		return fmt.Errorf("start authd (bolt): %w", err)
	}
	defer in.close()
	atk := newAttackOptions(o, in)

	es, err := ccClient(ctx, in, "ES256")
	if err != nil {
		return err
	}
	rs, err := ccClient(ctx, in, "RS256")
	if err != nil {
		return err
	}
	// The profile is the server child's alone (or, -in-process, of the
	// one process).
	if err := in.ctl.startProfile(o.CPUProfile); err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	esBolt := clientCredentials("client_credentials ES256 (bolt)", in, es, "ES256")
	rep.profiled = attack(ctx, esBolt, atk)
	rep.add(rep.profiled)
	if err := in.ctl.stopProfile(); err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	data, err := os.ReadFile(o.CPUProfile)
	if err != nil {
		return err
	}
	if rep.profile, err = parseCPUProfile(data); err != nil {
		return err
	}
	rep.openPhase(ctx, esBolt, rep.profiled, atk)
	rep.add(attack(ctx, clientCredentials("client_credentials RS256 (bolt)", in, rs, "RS256"), atk))
	if err := featureScenarios(ctx, rep, in, es, rep.profiled, "bolt", atk); err != nil {
		return err
	}

	jwks, etag, err := fetchJWKS(ctx, in)
	if err != nil {
		return err
	}
	rep.add(attack(ctx, scenario{
		Name:     "JWKS 200",
		Targeter: staticTarget(http.MethodGet, in.jwksURL, nil, nil),
		Check:    sameBodyCheck(jwks),
	}, atk))
	rep.add(attack(ctx, scenario{
		Name:     "JWKS 304 (If-None-Match)",
		Targeter: staticTarget(http.MethodGet, in.jwksURL, nil, http.Header{"If-None-Match": {etag}}),
		Want:     http.StatusNotModified,
		Check:    emptyBodyCheck,
	}, atk))

	rt, tokens, err := refreshSetup(ctx, in, o.Logins)
	if err != nil {
		return err
	}
	rep.measure(ctx, rotation("refresh rotation ES256 (bolt)", in, rt, tokens), atk)
	return introspectScenario(ctx, rep, in, es, "introspection ES256 (bolt)", atk)
}

// introspectScenario introspects one active ES256 access token of es with
// a second (resource server) client, after checking it is reported active.
func introspectScenario(ctx context.Context, rep *report, in *instance, es client, name string, atk attackOptions) error {
	rs, err := in.createClient(ctx, map[string]any{"client_name": "loadtest resource server"})
	if err != nil {
		return err
	}
	tok, err := in.token(ctx, es, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.introspectURL, strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
	if err != nil {
		return err
	}
	req.Header = formHeader(rs)
	var answer struct {
		Active bool `json:"active"`
	}
	if err := in.do(req, &answer); err != nil || !answer.Active {
		return fmt.Errorf("%s: the token is not reported active (%v)", name, err)
	}
	rep.measure(ctx, introspection(name, in, rs, tok.AccessToken, es.ID), atk)
	return nil
}

// redisScenarios runs the store-bound scenarios on Redis under a unique
// key prefix, removed afterwards; skipped if Redis does not answer.
func redisScenarios(ctx context.Context, o options, rep *report, dataDir string, logger *slog.Logger, stderr io.Writer) (err error) {
	if o.RedisURL == "" {
		rep.notes = append(rep.notes, "Redis scenarios skipped (-redis-url \"\")")
		return nil
	}
	prefix, cleanup, ok := redisPrefix(ctx, o.RedisURL)
	if !ok {
		rep.notes = append(rep.notes, "Redis scenarios skipped: nothing answers at "+o.RedisURL+" (make redis)")
		return nil
	}
	defer func() {
		if cerr := cleanup(); cerr != nil && err == nil {
			err = fmt.Errorf("remove the Redis keys under %q: %w", prefix, cerr)
		}
	}()
	in, err := serverFor(ctx, o, dataDir, logger, stderr, "--store", "redis", "--redis-url", o.RedisURL, "--redis-prefix", prefix)
	if err != nil {
		return fmt.Errorf("start authd (redis): %w", err)
	}
	defer in.close()
	atk := newAttackOptions(o, in)

	es, err := ccClient(ctx, in, "ES256")
	if err != nil {
		return err
	}
	ccRedis := attack(ctx, clientCredentials("client_credentials ES256 (redis)", in, es, "ES256"), atk)
	rep.add(ccRedis)
	rep.openPhase(ctx, clientCredentials("client_credentials ES256 (redis)", in, es, "ES256"), ccRedis, atk)
	if err := featureScenarios(ctx, rep, in, es, ccRedis, "redis", atk); err != nil {
		return err
	}
	rt, tokens, err := refreshSetup(ctx, in, o.Logins)
	if err != nil {
		return err
	}
	rep.measure(ctx, rotation("refresh rotation ES256 (redis)", in, rt, tokens), atk)
	return introspectScenario(ctx, rep, in, es, "introspection ES256 (redis)", atk)
}

// ccClient registers a client_credentials client whose access tokens are
// signed with alg.
func ccClient(ctx context.Context, in *instance, alg string) (client, error) {
	c, err := in.createClient(ctx, map[string]any{
		"client_name":              "loadtest " + alg,
		"grant_types":              []string{"client_credentials"},
		"scope":                    "read write",
		"access_token_signing_alg": alg,
	})
	if err != nil {
		return c, fmt.Errorf("register %s client: %w", alg, err)
	}
	// One token first: a broken setup fails here, not as a 0% scenario.
	if _, err := in.token(ctx, c, map[string][]string{"grant_type": {"client_credentials"}, "scope": {"read"}}); err != nil {
		return c, fmt.Errorf("first %s token: %w", alg, err)
	}
	return c, nil
}

// refreshSetup registers a first-party client (password and refresh
// grants, ES256 access tokens) and logs n users in.
func refreshSetup(ctx context.Context, in *instance, n int) (client, []string, error) {
	c, err := in.createClient(ctx, map[string]any{
		"client_name":              "loadtest refresh",
		"grant_types":              []string{"password", "refresh_token"},
		"scope":                    "read write",
		"access_token_signing_alg": "ES256",
	})
	if err != nil {
		return c, nil, fmt.Errorf("register refresh client: %w", err)
	}
	tokens, err := in.logins(ctx, c, n)
	if err != nil {
		return c, nil, err
	}
	return c, tokens, nil
}

// fetchJWKS fetches the JWKS once, checks it is a set of public signing
// keys, and returns it with its ETag: every answer of the JWKS scenario
// must then be exactly this body.
func fetchJWKS(ctx context.Context, in *instance) (body []byte, etag string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.jwksURL, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if body, err = io.ReadAll(resp.Body); err != nil {
		return nil, "", err
	}
	etag = resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" {
		return nil, "", fmt.Errorf("JWKS: %s, ETag %q", resp.Status, etag)
	}
	if err := jwksCheck(body); err != nil {
		return nil, "", err
	}
	return body, etag, nil
}
