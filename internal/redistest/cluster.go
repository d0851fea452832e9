package redistest

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// The test Cluster: three primaries, the smallest Cluster redis-cli
// creates, each with one replica, so that authd's durable writes (WAIT,
// on by default for a Cluster) have a replica to wait for.
const (
	clusterPrimaries = 3
	clusterNodes     = 2 * clusterPrimaries
)

// Cluster starts a fresh Redis Cluster of three primaries with one replica
// each on loopback (free ports, data in t.TempDir(), no persistence),
// waits until it serves every slot and every primary's replica
// acknowledges writes, and returns the node addresses. The nodes are
// killed when the test ends. Needs redis-server ≥ 7.0 (for
// --cluster-port) and redis-cli.
func Cluster(t testing.TB) []string {
	t.Helper()
	server, err := exec.LookPath("redis-server")
	if err != nil {
		Unavailable(t, "redis-server not installed: %v", err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		Unavailable(t, "redis-cli not installed: %v", err)
	}
	dir := t.TempDir()
	ports := freePorts(t, 2*clusterNodes)
	addrs := make([]string, clusterNodes)
	for i := range clusterNodes {
		port, bus := ports[2*i], ports[2*i+1]
		addrs[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		startNode(t, server, dir, port, bus)
	}
	for _, a := range addrs {
		waitFor(t, 10*time.Second, "node "+a+" answers PING", func(ctx context.Context) error {
			c := goredis.NewClient(&goredis.Options{Addr: a, MaxRetries: -1})
			defer c.Close()
			return c.Ping(ctx).Err()
		})
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, a := range addrs {
		waitFor(t, 20*time.Second, "node "+a+" sees cluster_state:ok", func(ctx context.Context) error {
			c := goredis.NewClient(&goredis.Options{Addr: a, MaxRetries: -1})
			defer c.Close()
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", clusterNodes)) {
				return fmt.Errorf("not ready: %q", firstLines(info, 3))
			}
			return nil
		})
	}
	waitFor(t, 30*time.Second, "every primary has a linked replica that acknowledges writes", func(ctx context.Context) error {
		return replicationReady(ctx, addrs)
	})
	return addrs
}

// replicationReady checks, all at once, that the Cluster at addrs has
// clusterPrimaries primaries, each named by exactly one replica whose
// link is up and not syncing (INFO replication: master_link_status:up,
// master_sync_in_progress:0), and that each primary's replica
// acknowledges a write (WAIT 1 answering 1 on the writing connection).
// Checked node by node, a replica still in its first full sync (or one
// redis-cli has only just pointed at its primary) could pass while its
// primary was probed a moment before it: the first durable write of a
// test then waited for a replica that was not there ("0 of 1 replicas").
func replicationReady(ctx context.Context, addrs []string) error {
	var primaries []string
	linked := map[string]int{} // primary address → replicas with a link up
	for _, a := range addrs {
		c := goredis.NewClient(&goredis.Options{Addr: a, MaxRetries: -1})
		role, err := c.Do(ctx, "ROLE").Slice()
		if err != nil {
			c.Close()
			return fmt.Errorf("%s: ROLE: %w", a, err)
		}
		if len(role) > 0 && role[0] == "master" {
			c.Close()
			primaries = append(primaries, a)
			continue
		}
		info, err := c.Info(ctx, "replication").Result()
		c.Close()
		if err != nil {
			return fmt.Errorf("%s: INFO replication: %w", a, err)
		}
		f := infoFields(info)
		if f["role"] != "slave" || f["master_link_status"] != "up" || f["master_sync_in_progress"] != "0" {
			return fmt.Errorf("replica %s: role %s, link %s, syncing %s", a, f["role"], f["master_link_status"], f["master_sync_in_progress"])
		}
		linked[net.JoinHostPort(f["master_host"], f["master_port"])]++
	}
	if len(primaries) != clusterPrimaries {
		return fmt.Errorf("%d primaries (%v), want %d", len(primaries), primaries, clusterPrimaries)
	}
	for _, p := range primaries {
		if linked[p] != 1 {
			return fmt.Errorf("primary %s has %d linked replicas, want 1", p, linked[p])
		}
		c := goredis.NewClient(&goredis.Options{Addr: p, MaxRetries: -1})
		err := clusterWriteAcknowledged(ctx, c)
		c.Close()
		if err != nil {
			return fmt.Errorf("primary %s: %w", p, err)
		}
	}
	return nil
}

// clusterWriteAcknowledged is writeAcknowledged with a key of one of the
// primary's own slots (the others answer MOVED).
func clusterWriteAcknowledged(ctx context.Context, c *goredis.Client) error {
	var err error
	for i := range 64 {
		err = writeAcknowledged(ctx, c, "redistest:replication-probe:"+strconv.Itoa(i))
		if err == nil || !strings.HasPrefix(err.Error(), "MOVED") {
			return err
		}
	}
	return err
}

// infoFields parses the "key:value" lines of an INFO reply.
func infoFields(info string) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			f[k] = v
		}
	}
	return f
}

func startNode(t testing.TB, server, dir string, port, bus int) {
	t.Helper()
	p := strconv.Itoa(port)
	logf, err := os.Create(filepath.Join(dir, "redis-"+p+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(server,
		"--port", p, "--cluster-port", strconv.Itoa(bus), "--bind", "127.0.0.1",
		"--cluster-enabled", "yes", "--cluster-config-file", "nodes-"+p+".conf",
		"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no",
		"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0", // a replica's first sync starts at once
		"--enable-debug-command", "local", // DEBUG SLEEP: a replica that cannot acknowledge
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	setPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start redis-server on %s: %v", p, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("redis-server :%s log:\n%s", p, b)
			}
		}
	})
}

// freePorts returns n distinct loopback ports that were free a moment ago.
// They are drawn below the kernel's ephemeral range (32768 and up on
// Linux), which a port from Listen(":0") and every outgoing connection's
// local port come from: on a machine where other tests open connections,
// a port from that range can be taken between this choice and the
// server's bind ("Address already in use").
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for attempt := 0; len(ports) < n; attempt++ {
		addr := "127.0.0.1:0"
		if attempt < 100*n {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(lowPortMin+mrand.IntN(lowPortMax-lowPortMin)))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if addr == "127.0.0.1:0" {
				t.Fatalf("find a free port: %v", err)
			}
			continue
		}
		defer l.Close() // held until all are chosen, so they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// The range freePorts draws from.
const lowPortMin, lowPortMax = 20000, 32000

// waitFor polls check until it succeeds or limit passes.
func waitFor(t testing.TB, limit time.Duration, what string, check func(context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := check(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting %v for %s: %v", limit, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " ")
}
