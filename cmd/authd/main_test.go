package main_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// binary is the authd built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authd-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "authd")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build authd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestMissingSettingFailsFast: a missing required setting stops authd at
// once with one line naming it, and a non-zero exit.
func TestMissingSettingFailsFast(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--data-dir", t.TempDir()}, "--admin-token"},
		{[]string{"serve", "--dev", "--data-dir", t.TempDir(), "--access-token-ttl", "15x"}, "--access-token-ttl"},
		{[]string{"serve", "--dev", "--data-dir", t.TempDir(), "--store", "etcd"}, "--store"},
	} {
		cmd := exec.Command(binary, tc.args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err == nil {
			t.Errorf("%v: exit 0; want a failure", tc.args)
			continue
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
			t.Errorf("%v: stderr %q; want one line naming %s", tc.args, stderr.String(), tc.want)
		}
	}
}

// TestSIGTERMDrainsAndExitsZero: requests in flight when SIGTERM arrives
// are answered, then authd exits 0.
func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	addr, admin := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	cmd := exec.Command(binary, "serve", "--dev", "--data-dir", dir, "--addr", addr, "--admin-addr", admin,
		"--issuer", "http://"+addr, "--log-level", "warn",
		"--password-hash-per-ip", "16") // all 16 from one address: none refused with 503
	var out lockedBuffer // read by the failure messages while authd still writes
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("authd did not start: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	secret, err := os.ReadFile(filepath.Join(dir, "dev-client-secret"))
	if err != nil {
		t.Fatal(err)
	}
	// Password logins cost an argon2id hash each: 16 of them keep authd
	// busy while SIGTERM arrives.
	const n = 16
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: n, ExpectContinueTimeout: 30 * time.Second}}
	var wg sync.WaitGroup
	statuses := make([]int, n)
	errs := make([]error, n)
	started := make(chan struct{}, n)
	answered := make(chan int, n) // requests that ended, by index
	var inside [n]atomic.Bool     // got "100 Continue"
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { answered <- i }()
			form := url.Values{"grant_type": {"password"}, "username": {"nobody"}, "password": {"wrong-password"}}
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+addr+"/oauth2/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("authd-dev", strings.TrimSpace(string(secret)))
			// "Expect: 100-continue" makes authd answer "100 Continue" when
			// the handler starts reading the body: from then on the request
			// is provably in flight inside authd.
			req.Header.Set("Expect", "100-continue")
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
				Got100Continue: func() { inside[i].Store(true); started <- struct{}{} },
			}))
			resp, err := client.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	// Every wait below is bounded: a request that never gets in flight,
	// or an authd that never exits, fails the test instead of hanging it.
	inFlight := time.NewTimer(20 * time.Second)
	defer inFlight.Stop()
	for got := 0; got < n; {
		select {
		case <-started:
			got++
		case i := <-answered:
			if inside[i].Load() {
				continue // answered early, but it was in flight: counted by started
			}
			t.Fatalf("request %d ended (status %d, error %v) before it was in flight; %d of %d were", i, statuses[i], errs[i], got, n)
		case <-inFlight.C:
			t.Fatalf("only %d of %d requests got \"100 Continue\" within 20s\n%s", got, n, out.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(30 * time.Second):
		t.Fatalf("in-flight requests not answered within 30s of SIGTERM\n%s", out.String())
	}
	waitExit(t, cmd, &out)
	for i := range n {
		if errs[i] != nil {
			t.Errorf("request %d was in flight at SIGTERM and got no answer: %v", i, errs[i])
		} else if statuses[i] != 400 && statuses[i] != 429 {
			t.Errorf("request %d: status %d", i, statuses[i])
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer (exec's copying
// goroutine) and a reader at the same time.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLogFlushInterval: request log lines are buffered for at most
// --log-flush-interval and written out on a clean shutdown (SIGTERM);
// with 0 every line is written at once.
func TestLogFlushInterval(t *testing.T) {
	for _, tc := range []struct {
		interval string
		buffered bool
	}{{"10s", true}, {"0", false}} {
		t.Run(tc.interval, func(t *testing.T) {
			addr, admin := freeAddr(t), freeAddr(t)
			cmd := exec.Command(binary, "serve", "--dev", "--data-dir", t.TempDir(), "--addr", addr, "--admin-addr", admin,
				"--issuer", "http://"+addr, "--log-flush-interval", tc.interval)
			var out lockedBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			const line = "route=jwks status=200"
			deadline := time.Now().Add(20 * time.Second)
			for {
				resp, err := http.Get("http://" + addr + "/oauth2/jwks")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == 200 {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("authd did not serve the JWKS: %v\n%s", err, out.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			// Unbuffered, the line is out at once; buffered for 10 s, it is
			// still held a second later.
			time.Sleep(time.Second)
			if got := strings.Contains(out.String(), line); got == tc.buffered {
				t.Fatalf("--log-flush-interval %s: request line written within 1s: %v; want %v\n%s", tc.interval, got, !tc.buffered, out.String())
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			waitExit(t, cmd, &out)
			if !strings.Contains(out.String(), line) {
				t.Fatalf("the request line is lost after a clean shutdown\n%s", out.String())
			}
		})
	}
}

// waitExit waits (at most 30 s) for authd to exit after SIGTERM, failing
// the test unless it exits with status 0.
func waitExit(t *testing.T, cmd *exec.Cmd, out *lockedBuffer) {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("authd did not exit within 30s of SIGTERM\n%s", out.String())
	}
}
