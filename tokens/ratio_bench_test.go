package tokens_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"github.com/authd-dev/authd/internal/app"
	"github.com/authd-dev/authd/internal/config"
	"github.com/authd-dev/authd/internal/redistest"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/storetest"
)

// pathApp is one assembled authd whose public handler the benchmark calls
// directly (no sockets), with a client, a pool of live refresh tokens and
// an access token to introspect.
type pathApp struct {
	name    string
	app     *app.App
	public  http.Handler
	dataDir string
	rdb     *goredis.Client
	prefix  string
	id, sec string
	pool    chan string
	access  string
}

func newPathApp(b *testing.B, storeName, label string, extra ...string) *pathApp {
	b.Helper()
	p := &pathApp{name: label, dataDir: b.TempDir()}
	args := []string{"--dev", "--data-dir", p.dataDir, "--issuer", "http://127.0.0.1:8080", "--log-level", "warn",
		"--argon2-time", "1", "--argon2-memory", "64"}
	if storeName == "redis" {
		p.rdb = redistest.Client(b)
		p.prefix = redistest.Prefix(b, p.rdb)
		args = append(args, "--store", "redis", "--redis-url", redistest.URL(b), "--redis-prefix", p.prefix)
	}
	args = append(args, extra...)
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Register(fs)
	if err := fs.Parse(args); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(fs, func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Logger: logger})
	if err != nil {
		cancel()
		b.Fatalf("app.New: %v", err)
	}
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done; a.Close() })
	p.app, p.public = a, a.Server.Public()
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	p.adminJSON(b, "/admin/clients", map[string]any{"client_name": "bench", "grant_types": []string{"password", "refresh_token", "client_credentials"},
		"scope": "read write", "access_token_signing_alg": "ES256"}, &c)
	p.id, p.sec = c.ID, c.Secret
	const logins = 64
	p.pool = make(chan string, logins)
	for i := range logins {
		name := fmt.Sprintf("user%d", i)
		p.adminJSON(b, "/admin/users", map[string]any{"username": name, "password": "bench password " + name, "roles": []string{"reader"}}, nil)
		code, ans := p.token(url.Values{"grant_type": {"password"}, "username": {name}, "password": {"bench password " + name}})
		if code != http.StatusOK || ans.RefreshToken == "" {
			b.Fatalf("login: %d %+v", code, ans)
		}
		p.pool <- ans.RefreshToken
	}
	code, ans := p.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})
	if code != http.StatusOK {
		b.Fatalf("client_credentials: %d", code)
	}
	p.access = ans.AccessToken
	return p
}

func (p *pathApp) adminJSON(b *testing.B, path string, body, out any) {
	b.Helper()
	raw, _ := json.Marshal(body)
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.app.Config.AdminToken)
	rec := httptest.NewRecorder()
	p.app.Server.Admin().ServeHTTP(rec, req)
	if rec.Code/100 != 2 {
		b.Fatalf("POST %s: %d %s", path, rec.Code, rec.Body)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			b.Fatal(err)
		}
	}
}

type answer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Active       bool   `json:"active"`
	Error        string `json:"error"`
}

func (p *pathApp) post(path string, form url.Values) (int, answer) {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(p.id), url.QueryEscape(p.sec))
	rec := httptest.NewRecorder()
	p.public.ServeHTTP(rec, req)
	var ans answer
	_ = json.Unmarshal(rec.Body.Bytes(), &ans)
	return rec.Code, ans
}

func (p *pathApp) token(form url.Values) (int, answer) { return p.post("/oauth2/token", form) }

// ops are the three paths compared.
var ops = []string{"client_credentials", "refresh", "introspect"}

func (p *pathApp) do(op string) error {
	switch op {
	case "client_credentials":
		if code, _ := p.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}); code != http.StatusOK {
			return fmt.Errorf("client_credentials: %d", code)
		}
	case "refresh":
		rt := <-p.pool
		code, ans := p.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		if code != http.StatusOK || ans.RefreshToken == "" {
			p.pool <- rt
			return fmt.Errorf("refresh: %d %s", code, ans.Error)
		}
		p.pool <- ans.RefreshToken
	case "introspect":
		if code, ans := p.post("/oauth2/introspect", url.Values{"token": {p.access}}); code != http.StatusOK || !ans.Active {
			return fmt.Errorf("introspect: %d active %v", code, ans.Active)
		}
	}
	return nil
}

// phase runs n requests of op on 16 goroutines (eight per core of the
// target machine) and returns the wall time they took.
func (p *pathApp) phase(op string, n int) (time.Duration, error) {
	var wg sync.WaitGroup
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	var mu sync.Mutex
	var first error
	start := time.Now()
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				if err := p.do(op); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), first
}

// prefill loads n live refresh families and n denylist entries into the
// app's store in bulk (store Prefill) and reports the growth of the bolt
// file or of Redis used_memory per record.
func (p *pathApp) prefill(b *testing.B, n int) {
	b.Helper()
	pf, ok := p.app.Store.(storetest.Prefiller)
	if !ok {
		b.Fatalf("%T has no Prefill", p.app.Store)
	}
	ctx := context.Background()
	var before int64
	if p.rdb != nil {
		before = usedMemory(b, p.rdb)
		// Ahead of redistest's own cleanup (t.Cleanup runs last-in first
		// out), which is not made for a million keys.
		b.Cleanup(func() { unlinkPrefix(b, p.prefix) })
	}
	now := time.Now()
	const chunk = 100_000
	start := time.Now()
	for done := 0; done < n; done += chunk {
		m := min(chunk, n-done)
		fams := make([]store.Family, m)
		dens := make([]store.Denial, m)
		for i := range m {
			fams[i] = store.Family{ID: randID(), ClientID: p.id, Subject: "prefilled user", Scope: "read write",
				AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(720 * time.Hour), IdleExpiresAt: now.Add(72 * time.Hour),
				Current: randBytes(16), Previous: randBytes(16), RotatedAt: now, Generation: 3}
			dens[i] = store.Denial{Kind: store.DenyJTI, Value: randID(), At: now, ExpiresAt: now.Add(15 * time.Minute)}
		}
		if err := pf.Prefill(ctx, fams, dens); err != nil {
			b.Fatalf("prefill: %v", err)
		}
	}
	b.Logf("%s: prefilled %d families and %d denials in %s", p.name, n, n, time.Since(start).Round(time.Millisecond))
	if p.rdb != nil {
		b.Logf("%s: used_memory +%d bytes, %.0f bytes per record", p.name, usedMemory(b, p.rdb)-before, float64(usedMemory(b, p.rdb)-before)/float64(2*n))
		return
	}
	if fi, err := os.Stat(filepath.Join(p.dataDir, "authd.db")); err == nil {
		b.Logf("%s: bolt file %d bytes, %.0f bytes per record", p.name, fi.Size(), float64(fi.Size())/float64(2*n))
	}
}

func usedMemory(b *testing.B, rdb *goredis.Client) int64 {
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no used_memory in INFO")
	return 0
}

// unlinkPrefix deletes every key under prefix in pipelines of UNLINK, on
// a client of its own with timeouts long enough for a million keys.
func unlinkPrefix(b *testing.B, prefix string) {
	opts, err := goredis.ParseURL(redistest.URL(b))
	if err != nil {
		b.Error(err)
		return
	}
	opts.ReadTimeout, opts.WriteTimeout = 30*time.Second, 30*time.Second
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+"*", 10_000).Iterator()
	pipe := rdb.Pipeline()
	for iter.Next(ctx) {
		pipe.Unlink(ctx, iter.Val())
		if pipe.Len() >= 1000 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Errorf("unlink %s*: %v", prefix, err)
				return
			}
		}
	}
	if pipe.Len() > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			b.Errorf("unlink %s*: %v", prefix, err)
		}
	}
	if err := iter.Err(); err != nil {
		b.Errorf("scan %s*: %v", prefix, err)
	}
}

func randBytes(n int) []byte {
	p := make([]byte, n)
	rand.Read(p)
	return p
}

func randID() string { return base64.RawURLEncoding.EncodeToString(randBytes(16)) }

// BenchmarkTokenPaths compares client_credentials, refresh rotation and
// introspection on bolt and on Redis in one run (issue 13). Each round
// runs 200 requests of every path on every store in turn, so the noise
// of the shared machine falls on all of them alike; the metrics are
// microseconds of wall time per request at 16 concurrent callers, and the
// ratios the targets are stated in: refresh/cc is client_credentials
// time over refresh time (a throughput ratio), introspect-redis/bolt is
// bolt's introspection time over Redis's (with the denylist mirror, and
// without it: redis-nomirror).
//
// AUTHD_BENCH_PREFILL=N adds a bolt and a Redis store holding N live
// refresh families and N denylist entries (loaded in bulk), measured in
// the same rounds, and reports full/empty time ratios per path and the
// store growth per record (needs ~1 KB of memory per record for Redis).
func BenchmarkTokenPaths(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("AUTHD_BENCH_PREFILL"))
	apps := []*pathApp{newPathApp(b, "bolt", "bolt"), newPathApp(b, "redis", "redis"),
		newPathApp(b, "redis", "redis-nomirror", "--deny-mirror-staleness", "0")}
	if n > 0 {
		full := []*pathApp{newPathApp(b, "bolt", "bolt-full"), newPathApp(b, "redis", "redis-full")}
		for _, p := range full {
			p.prefill(b, n)
		}
		apps = append(apps, full...)
	}
	const perPhase = 200
	// Set up once above; the rounds run in a sub-benchmark, which the
	// framework may start more than once.
	b.Run("rounds", func(b *testing.B) {
		took := map[string]time.Duration{}
		for range b.N {
			for _, op := range ops {
				for _, p := range apps {
					d, err := p.phase(op, perPhase)
					if err != nil {
						b.Fatalf("%s %s: %v", p.name, op, err)
					}
					took[p.name+"/"+op] += d
				}
			}
		}
		us := func(k string) float64 { return float64(took[k].Microseconds()) / float64(b.N*perPhase) }
		for k := range took {
			b.ReportMetric(us(k), "µs/"+k)
		}
		for _, s := range []string{"bolt", "redis"} {
			b.ReportMetric(us(s+"/client_credentials")/us(s+"/refresh"), "refresh/cc-"+s)
			if n > 0 {
				for _, op := range ops {
					b.ReportMetric(us(s+"-full/"+op)/us(s+"/"+op), "full/empty-"+s+"-"+op)
				}
			}
		}
		b.ReportMetric(us("bolt/introspect")/us("redis/introspect"), "introspect-redis/bolt")
		b.ReportMetric(us("bolt/introspect")/us("redis-nomirror/introspect"), "introspect-redis-nomirror/bolt")
	})
}
