package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/authd-dev/authd/internal/app"
)

// serveEnv, set to "1", makes this binary (or the test binary, through
// TestMain) an authd server for a parent load test instead of a load
// test: the load generator and the server are then separate processes
// with their own Go runtimes, GC and schedulers, which the parent can pin
// to different cores (affinity_linux.go), so a stall of the generator is
// no longer charged to the server.
const serveEnv = "AUTHD_LOADTEST_SERVE"

// hello is the child's first line on stdout, once it serves.
type hello struct {
	Issuer     string `json:"issuer"`
	AdminURL   string `json:"admin_url"`
	AdminToken string `json:"admin_token"`
	Control    string `json:"control"`
}

// serveChild is the main of a server child: args are -data-dir, -log-file
// and -log-level, then the flags of `authd serve` for the store. It runs
// authd on loopback (startInstance), a control listener (the window of
// runtime statistics, the CPU profile, GOMAXPROCS: serveControl), prints
// a hello line on stdout, and stops when stdin ends (its parent is gone)
// or ctx is done.
func serveChild(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadtest serve", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "authd's data directory")
	logFile := fs.String("log-file", "", "file authd logs to (appended)")
	logLevel := fs.String("log-level", "info", "authd's log level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lf, err := os.OpenFile(*logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close()
	lw := app.NewLogWriter(lf, app.DefaultLogBufferSize, app.DefaultLogFlushInterval) // as `authd serve` logs
	defer lw.Close()
	in, err := startInstance(ctx, *dataDir, app.NewLogger(lw, *logLevel, "text"), fs.Args()...)
	if err != nil {
		return err
	}
	defer in.close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctl := &http.Server{Handler: serveControl(in.local), ReadHeaderTimeout: 10 * time.Second}
	go ctl.Serve(ln)
	defer ctl.Close()
	if err := json.NewEncoder(stdout).Encode(hello{Issuer: in.issuer, AdminURL: in.adminURL, AdminToken: in.adminToken, Control: "http://" + ln.Addr().String()}); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, stdin); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// serveControl is the child's control API, on its own loopback listener.
func serveControl(c *localControl) http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any, err error) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /cpu", func(w http.ResponseWriter, r *http.Request) {
		reply(w, int64(processCPU()), nil)
	})
	mux.HandleFunc("POST /window", func(w http.ResponseWriter, r *http.Request) {
		reply(w, true, c.startWindow())
	})
	mux.HandleFunc("GET /window", func(w http.ResponseWriter, r *http.Request) {
		st, err := c.window()
		st.HandlerTimes = nil
		reply(w, st, err)
	})
	mux.HandleFunc("POST /profile", func(w http.ResponseWriter, r *http.Request) {
		reply(w, true, c.startProfile(r.URL.Query().Get("file")))
	})
	mux.HandleFunc("DELETE /profile", func(w http.ResponseWriter, r *http.Request) {
		reply(w, true, c.stopProfile())
	})
	mux.HandleFunc("POST /gomaxprocs", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err == nil {
			err = c.setProcs(n)
		}
		reply(w, true, err)
	})
	return mux
}

// control is what the load test drives of a server's runtime, in this
// process (localControl) or in a child (childControl).
type control interface {
	// cpu is the CPU the server has used in a process of its own, 0 when
	// it runs in this one (processCPU counts it already).
	cpu() time.Duration
	startWindow() error
	window() (windowStats, error)
	startProfile(path string) error
	stopProfile() error
	setProcs(n int) error
}

var (
	_ control = (*childControl)(nil)
	_ control = inProcess{}
)

// inProcess is the control of a server in this process: its CPU is the
// process's.
type inProcess struct{ *localControl }

func (inProcess) cpu() time.Duration { return 0 }

// childControl drives a server child through its control listener.
type childControl struct {
	base   string
	client *http.Client
	cmd    *exec.Cmd
	stdin  io.WriteCloser
}

func (c *childControl) do(method, path string, q url.Values, out any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		return err
	}
	if err := doJSON(c.client, req, out); err != nil {
		return fmt.Errorf("server child: %w", err)
	}
	return nil
}

func (c *childControl) cpu() time.Duration {
	var ns int64
	if err := c.do(http.MethodGet, "/cpu", nil, &ns); err != nil {
		return 0
	}
	return time.Duration(ns)
}

func (c *childControl) startWindow() error {
	var ok bool
	return c.do(http.MethodPost, "/window", nil, &ok)
}

func (c *childControl) window() (windowStats, error) {
	var w windowStats
	err := c.do(http.MethodGet, "/window", nil, &w)
	return w, err
}

func (c *childControl) startProfile(path string) error {
	var ok bool
	return c.do(http.MethodPost, "/profile", url.Values{"file": {path}}, &ok)
}

func (c *childControl) stopProfile() error {
	var ok bool
	return c.do(http.MethodDelete, "/profile", nil, &ok)
}

func (c *childControl) setProcs(n int) error {
	var ok bool
	return c.do(http.MethodPost, "/gomaxprocs", url.Values{"n": {strconv.Itoa(n)}}, &ok)
}

// pid is the child's process id.
func (c *childControl) pid() int { return c.cmd.Process.Pid }

// stop closes the child's stdin, which ends it, and waits for it.
func (c *childControl) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// startChild starts authd as a child process of this binary (serveEnv)
// with the store flags storeArgs, logging to logFile, and returns the
// instance once it serves; its stderr is the child's.
func startChild(ctx context.Context, dataDir, logFile, logLevel string, stderr io.Writer, storeArgs ...string) (*instance, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := append([]string{"-data-dir", dataDir, "-log-file", logFile, "-log-level", logLevel, "--"}, storeArgs...)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), serveEnv+"=1")
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	cc := &childControl{client: &http.Client{Timeout: 30 * time.Second}, cmd: cmd, stdin: stdin}
	type line struct {
		h   hello
		err error
	}
	got := make(chan line, 1)
	go func() {
		var l line
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			l.err = json.Unmarshal(sc.Bytes(), &l.h)
		} else {
			l.err = errors.Join(errors.New("the server child ended before serving"), sc.Err())
		}
		got <- l
		io.Copy(io.Discard, stdout)
	}()
	var l line
	select {
	case l = <-got:
	case <-time.After(60 * time.Second):
		l.err = errors.New("the server child did not start within 60s")
	case <-ctx.Done():
		l.err = ctx.Err()
	}
	if l.err != nil {
		cc.stop()
		return nil, l.err
	}
	cc.base = l.h.Control
	in := &instance{
		adminURL:   l.h.AdminURL,
		adminToken: l.h.AdminToken,
		client:     &http.Client{Timeout: 30 * time.Second},
		ctl:        cc,
		child:      cc,
	}
	in.stop = cc.stop
	if err := in.discover(ctx, l.h.Issuer); err != nil {
		cc.stop()
		return nil, err
	}
	return in, nil
}

// serverFor starts the server of one store: a child process unless
// o.InProcess; o.ServeArgs follow the store's flags.
func serverFor(ctx context.Context, o options, dataDir string, logger *slog.Logger, stderr io.Writer, storeArgs ...string) (*instance, error) {
	storeArgs = append(storeArgs, strings.Fields(o.ServeArgs)...)
	if o.InProcess {
		return startInstance(ctx, dataDir, logger, storeArgs...)
	}
	return startChild(ctx, dataDir, o.logFile, o.LogLevel, stderr, storeArgs...)
}
