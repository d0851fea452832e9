package redistest

import (
	"context"
	"fmt"
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

// SentinelMaster is the name the test Sentinels monitor.
const SentinelMaster = "authdtest"

// Sentinel timings: short, so that a failover takes a second or two.
const (
	sentinelDownAfter       = 500 * time.Millisecond
	sentinelFailoverTimeout = 3 * time.Second
	sentinelCount           = 3
	sentinelQuorum          = 2
)

// Sentinel is a private Redis Sentinel deployment on loopback: a primary,
// one replica and three redis-sentinel processes (quorum 2), with no
// persistence, data in t.TempDir(). A test can SIGKILL the primary, cut
// its replication link and bring a killed node back as a replica. Every
// process is killed when the test ends.
type Sentinel struct {
	t testing.TB
	// Sentinels are the addresses of the redis-sentinel processes.
	Sentinels []string
	// Nodes are the addresses of the two redis-server nodes; Nodes[0]
	// starts as the primary.
	Nodes  []string
	dir    string
	server string
	procs  map[string]*exec.Cmd
}

// NewSentinel starts the deployment and waits until every Sentinel knows
// the primary and its replica. Needs redis-server and redis-sentinel
// (scripts/ensure-redis.sh installs Debian's packages).
func NewSentinel(t testing.TB) *Sentinel {
	t.Helper()
	sentinel, err := exec.LookPath("redis-sentinel")
	if err != nil {
		Unavailable(t, "redis-sentinel not installed (apt-get install redis-sentinel): %v", err)
	}
	s := NewReplicated(t)
	for i, p := range freePorts(t, sentinelCount) {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		s.Sentinels = append(s.Sentinels, addr)
		conf := filepath.Join(s.dir, fmt.Sprintf("sentinel-%d.conf", i))
		host, mport, _ := net.SplitHostPort(s.Nodes[0])
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\n"+
			"sentinel monitor %s %s %s %d\n"+
			"sentinel down-after-milliseconds %s %d\n"+
			"sentinel failover-timeout %s %d\n"+
			"sentinel parallel-syncs %s 1\n",
			p, s.dir, SentinelMaster, host, mport, sentinelQuorum,
			SentinelMaster, sentinelDownAfter.Milliseconds(),
			SentinelMaster, sentinelFailoverTimeout.Milliseconds(), SentinelMaster)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		s.spawn(addr, sentinel, conf)
	}
	for _, a := range s.Sentinels {
		waitFor(t, 15*time.Second, "sentinel "+a+" sees the primary and its replica", func(ctx context.Context) error {
			c := goredis.NewSentinelClient(&goredis.Options{Addr: a, MaxRetries: -1})
			defer c.Close()
			replicas, err := c.Replicas(ctx, SentinelMaster).Result()
			if err != nil {
				return err
			}
			if len(replicas) != 1 {
				return fmt.Errorf("%d replicas known", len(replicas))
			}
			sentinels, err := c.Sentinels(ctx, SentinelMaster).Result()
			if err != nil {
				return err
			}
			if len(sentinels) != sentinelCount-1 {
				return fmt.Errorf("%d other sentinels known", len(sentinels))
			}
			return nil
		})
	}
	return s
}

// NewReplicated starts only the two redis-server nodes, Nodes[0] the
// primary and Nodes[1] its replica, with no Sentinel: for tests of
// replication itself (WAIT). Every process is killed when the test ends.
func NewReplicated(t testing.TB) *Sentinel {
	t.Helper()
	server, err := exec.LookPath("redis-server")
	if err != nil {
		Unavailable(t, "redis-server not installed: %v", err)
	}
	s := &Sentinel{t: t, dir: t.TempDir(), server: server, procs: map[string]*exec.Cmd{}}
	for _, p := range freePorts(t, 2) {
		s.Nodes = append(s.Nodes, net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	}
	t.Cleanup(func() {
		for addr, cmd := range s.procs {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			delete(s.procs, addr)
		}
	})
	s.startNode(s.Nodes[0], "")
	s.startNode(s.Nodes[1], s.Nodes[0])
	s.waitReplicaLinked(s.Nodes[0], 10*time.Second)
	return s
}

// startNode runs redis-server on addr, as a replica of primary unless it
// is "".
func (s *Sentinel) startNode(addr, primary string) {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--dir", s.dir,
		"--dbfilename", "dump-" + port + ".rdb", "--save", "", "--appendonly", "no", "--daemonize", "no",
		"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"}
	if primary != "" {
		h, p, _ := net.SplitHostPort(primary)
		args = append(args, "--replicaof", h, p)
	}
	s.spawn(addr, s.server, args...)
	waitFor(s.t, 10*time.Second, "redis "+addr+" answers PING", func(ctx context.Context) error {
		c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
		defer c.Close()
		return c.Ping(ctx).Err()
	})
}

func (s *Sentinel) spawn(addr, bin string, args ...string) {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	logf, err := os.OpenFile(filepath.Join(s.dir, "proc-"+port+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	setPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.t.Fatalf("start %s on %s: %v", bin, addr, err)
	}
	s.procs[addr] = cmd
	s.t.Cleanup(func() {
		logf.Close()
		if s.t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				s.t.Logf("%s :%s log:\n%s", filepath.Base(bin), port, lastBytes(b, 4000))
			}
		}
	})
}

// Primary asks the Sentinels which node is the primary now.
func (s *Sentinel) Primary(ctx context.Context) (string, error) {
	var lastErr error
	for _, a := range s.Sentinels {
		c := goredis.NewSentinelClient(&goredis.Options{Addr: a, MaxRetries: -1})
		hp, err := c.GetMasterAddrByName(ctx, SentinelMaster).Result()
		c.Close()
		if err == nil && len(hp) == 2 {
			return net.JoinHostPort(hp[0], hp[1]), nil
		}
		lastErr = err
	}
	return "", fmt.Errorf("no sentinel names the primary: %v", lastErr)
}

// Replica returns the node that is not primary.
func (s *Sentinel) Replica(primary string) string {
	if s.Nodes[0] == primary {
		return s.Nodes[1]
	}
	return s.Nodes[0]
}

// Kill sends SIGKILL to the node at addr (its unreplicated writes are
// lost, as in a crash) and waits for it to exit.
func (s *Sentinel) Kill(addr string) {
	s.t.Helper()
	cmd, ok := s.procs[addr]
	if !ok {
		s.t.Fatalf("redistest: no process on %s", addr)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	delete(s.procs, addr)
}

// Pause stops (SIGSTOP) or continues (SIGCONT) the node at addr.
func (s *Sentinel) Pause(addr string, stop bool) {
	s.t.Helper()
	cmd, ok := s.procs[addr]
	if !ok {
		s.t.Fatalf("redistest: no process on %s", addr)
	}
	sig := syscall.SIGCONT
	if stop {
		sig = syscall.SIGSTOP
	}
	if err := cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: signal %v to %s: %v", sig, addr, err)
	}
}

// CutReplication partitions the replica from primary: the replica is
// stopped (SIGSTOP), so it can neither read nor reconnect, and the
// primary drops its replication connection (CLIENT KILL TYPE replica), so
// writes from now on reach the primary only. Undo it with
// Pause(replica, false); a primary still alive then resynchronises it.
func (s *Sentinel) CutReplication(primary string) {
	s.t.Helper()
	s.Pause(s.Replica(primary), true)
	c := goredis.NewClient(&goredis.Options{Addr: primary, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Do(ctx, "CLIENT", "KILL", "TYPE", "replica").Err(); err != nil {
		s.t.Fatalf("redistest: CLIENT KILL TYPE replica on %s: %v", primary, err)
	}
}

// WaitPromotion waits until the Sentinels name a primary other than old
// and that node answers as a primary; it returns the new primary.
func (s *Sentinel) WaitPromotion(old string, limit time.Duration) string {
	s.t.Helper()
	var primary string
	waitFor(s.t, limit, "a replica is promoted in place of "+old, func(ctx context.Context) error {
		p, err := s.Primary(ctx)
		if err != nil {
			return err
		}
		if p == old {
			return fmt.Errorf("sentinels still name %s", old)
		}
		c := goredis.NewClient(&goredis.Options{Addr: p, MaxRetries: -1})
		defer c.Close()
		role, err := c.Do(ctx, "ROLE").Slice()
		if err != nil {
			return err
		}
		if len(role) == 0 || role[0] != "master" {
			return fmt.Errorf("%s has role %v", p, role)
		}
		primary = p
		return nil
	})
	return primary
}

// Rejoin starts the killed node at addr again, empty, as a replica of
// primary (what an orchestrator does with a crashed node), and waits
// until primary counts it as a connected replica.
func (s *Sentinel) Rejoin(addr, primary string) {
	s.t.Helper()
	s.startNode(addr, primary)
	s.waitReplicaLinked(primary, 15*time.Second)
}

// WaitReplicated waits until primary has a replica that acknowledges a
// write (WAIT 1 answering 1 on the connection that wrote): from then on
// a durable write to primary is acknowledged unless the replica stalls.
func (s *Sentinel) WaitReplicated(primary string, limit time.Duration) {
	s.t.Helper()
	s.waitReplicaLinked(primary, limit)
}

func (s *Sentinel) waitReplicaLinked(primary string, limit time.Duration) {
	s.t.Helper()
	waitFor(s.t, limit, "primary "+primary+" has a replica online", func(ctx context.Context) error {
		// A write and WAIT on one connection: a replica that has not
		// acknowledged anything yet (just after a full sync) counts for a
		// WAIT of nothing, not for one of a write.
		c := goredis.NewClient(&goredis.Options{Addr: primary, MaxRetries: -1})
		defer c.Close()
		return writeAcknowledged(ctx, c, "redistest:replication-probe")
	})
}

// writeAcknowledged writes key on c and WAITs for one replica on the same
// connection: nil once a replica acknowledged the write.
func writeAcknowledged(ctx context.Context, c *goredis.Client, key string) error {
	var wait *goredis.Cmd
	_, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, key, time.Now().UnixNano(), time.Minute)
		wait = p.Do(ctx, "WAIT", 1, 200)
		return nil
	})
	if err != nil {
		return err
	}
	if n, _ := wait.Int(); n < 1 {
		return fmt.Errorf("no replica acknowledges a write")
	}
	return nil
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
