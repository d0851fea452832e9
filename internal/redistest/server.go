package redistest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Server is a private redis-server on a free loopback port, with AOF
// persistence in a temp dir, that a test can stop and start again (an
// outage and its end) without losing data.
type Server struct {
	t    testing.TB
	Addr string
	port int
	dir  string
	bin  string
	cmd  *exec.Cmd
}

// NewServer starts a private Redis; it is killed when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Unavailable(t, "redis-server not installed: %v", err)
	}
	port := freePorts(t, 1)[0]
	s := &Server{t: t, port: port, dir: t.TempDir(), bin: bin, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	s.Start()
	t.Cleanup(func() {
		if s.cmd != nil {
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
		}
	})
	return s
}

// URL is the go-redis URL of the server.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Start runs the server (again) and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	logf, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no")
	cmd.Stdout, cmd.Stderr = logf, logf
	setPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.cmd = cmd
	waitFor(s.t, 10*time.Second, "private redis answers PING", func(ctx context.Context) error {
		c := goredis.NewClient(&goredis.Options{Addr: s.Addr, MaxRetries: -1})
		defer c.Close()
		return c.Ping(ctx).Err()
	})
}

// Stop shuts the server down (SIGTERM: the AOF is flushed) and waits.
func (s *Server) Stop() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	s.cmd = nil
}
