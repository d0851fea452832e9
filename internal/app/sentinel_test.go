package app_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/app"
	"github.com/authd-dev/authd/internal/redistest"
)

// Sentinel failover under load. Two authd replicas share a Redis Sentinel
// deployment (a primary, one replica, three sentinels); 16 logins rotate
// their refresh tokens continuously, each request to either replica; the
// primary is SIGKILLed mid-load (optionally after its replication link was
// cut for 1.5 s, a partition: the replica is promoted without the last
// writes); the crashed node comes back as a replica. Every token's outcome
// is tracked: no login may be lost (with the default reuse leeway of 0),
// no refresh token may ever be accepted twice, and 503s are the only
// failures allowed during the switch.
//
// The third case turns the durable writes off (--redis-wait-replicas off)
// and shows what they prevent: after the partition the promoted replica
// holds each family as it was 1.5 s earlier and logins are lost. It
// asserts that some are, which also proves the partition is real (else
// the first two cases would prove nothing).
func TestSentinelFailover(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("starts five Redis processes and fails one over; not in -short (always with CI=true)")
	}
	for _, tc := range []failoverCase{
		{name: "kill", durable: true},
		{name: "partition-then-kill", durable: true, partition: true},
		{name: "partition-then-kill-without-wait", durable: false, partition: true},
	} {
		t.Run(tc.name, func(t *testing.T) { runFailover(t, tc) })
	}
}

type failoverCase struct {
	name      string
	durable   bool // --redis-wait-replicas auto (on for Sentinel) or off
	partition bool // cut replication for 1.5 s before the kill
}

const (
	failoverLogins   = 16
	partitionFor     = 1500 * time.Millisecond
	rotationsAfter   = 3                // successes each login needs after the promotion
	failoverDeadline = 25 * time.Second // from the kill until every login is done
)

// ledger records every refresh token's outcome, shared by the loaders.
type ledger struct {
	mu       sync.Mutex
	accepted map[string]int // refresh token → 200 answers to it
	dups     int
}

func (l *ledger) accept(token string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accepted[token]++
	if l.accepted[token] > 1 {
		l.dups++
	}
}

// loginState is one login's loader.
type loginState struct {
	token      string // the refresh token it presents next
	lastUsed   string // the token of its last 200 before the kill
	ok         int
	okAfter    int // 200s after the promotion
	lost       bool
	lostReason string
}

func runFailover(t *testing.T, tc failoverCase) {
	began := time.Now()
	sen := redistest.NewSentinel(t)
	kek := make([]byte, 32)
	rand.Read(kek)
	args := []string{"--store", "redis", "--redis-addrs", strings.Join(sen.Sentinels, ","),
		"--redis-master-name", redistest.SentinelMaster, "--redis-prefix", "failover:",
		"--kek", base64.StdEncoding.EncodeToString(kek), "--admin-token", "failover-admin-token-0123456789",
		"--issuer", "http://127.0.0.1:8080"}
	if !tc.durable {
		args = append(args, "--redis-wait-replicas", "off")
	}
	apps := []*instance{start(t, "", args...), start(t, "", args...)}
	if d := apps[0].App.Config.StoreOptions().(*app.RedisSettings).DurableReplicas(); (d > 0) != tc.durable {
		t.Fatalf("DurableReplicas = %d with Sentinel; durable = %v", d, tc.durable)
	}
	c := loginClient(apps[0])
	apps[0].createUser("fran", "password-of-fran")

	logins := make([]*loginState, failoverLogins)
	for i := range logins {
		r := password(apps[i%2], c, "fran", "password-of-fran")
		if r.Status != 200 || r.RefreshToken == "" {
			t.Fatalf("login %d: %d %s", i, r.Status, r.Error)
		}
		logins[i] = &loginState{token: r.RefreshToken}
	}

	hc := &http.Client{Timeout: 5 * time.Second}
	led := &ledger{accepted: map[string]int{}}
	var (
		mu                        sync.Mutex // guards logins[*] and the phase
		killed, promoted          bool
		requests, unavailable     atomic.Int64
		transportErrs, unexpected atomic.Int64
		stop                      = make(chan struct{})
		wg                        sync.WaitGroup
	)
	for i := range logins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := logins[i]
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				tok := l.token
				mu.Unlock()
				st, tr, err := refreshRaw(hc, apps[(i+n)%2], c, tok)
				requests.Add(1)
				switch {
				case err != nil:
					transportErrs.Add(1)
					time.Sleep(20 * time.Millisecond)
				case st == http.StatusOK && tr.RefreshToken != "":
					led.accept(tok)
					mu.Lock()
					l.token = tr.RefreshToken
					l.ok++
					if !killed {
						l.lastUsed = tok
					}
					if promoted {
						l.okAfter++
					}
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				case st == http.StatusServiceUnavailable:
					unavailable.Add(1) // retry the same token
					time.Sleep(20 * time.Millisecond)
				case st == http.StatusBadRequest && tr.Error == "invalid_grant":
					mu.Lock()
					l.lost, l.lostReason = true, tr.Description
					mu.Unlock()
					return
				default:
					unexpected.Add(1)
					t.Errorf("login %d: unexpected answer %d %s %s", i, st, tr.Error, tr.Description)
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	stopLoad := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	defer stopLoad()

	// Warm up: every login has rotated a few times.
	if !eventually(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range logins {
			if l.ok < 3 {
				return false
			}
		}
		return true
	}) {
		t.Fatal("the logins did not rotate before the failover")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	old, err := sen.Primary(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	replica := sen.Replica(old)
	if tc.partition {
		sen.CutReplication(old)
		time.Sleep(partitionFor)
	}
	before := requests.Load()
	mu.Lock()
	killed = true
	mu.Unlock()
	killedAt := time.Now()
	sen.Kill(old)
	if tc.partition {
		sen.Pause(replica, false)
	}
	primary := sen.WaitPromotion(old, 20*time.Second)
	promotedAfter := time.Since(killedAt)
	mu.Lock()
	promoted = true
	mu.Unlock()
	sen.Rejoin(old, primary) // the crashed node returns, empty, as a replica

	done := eventually(t, failoverDeadline-time.Since(killedAt), func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range logins {
			if !l.lost && l.okAfter < rotationsAfter {
				return false
			}
		}
		return true
	})
	recovered := time.Since(killedAt)
	stopLoad()

	lost := 0
	for i, l := range logins {
		if l.lost {
			lost++
			t.Logf("login %d lost: %s", i, l.lostReason)
		}
	}
	t.Logf("%s: %d requests (%d after the kill), %d answered 503, %d transport errors, %d unexpected; "+
		"logins kept %d of %d; duplicate accepts %d; promotion %v after the kill, every login rotating again %v after it; test %v",
		tc.name, requests.Load(), requests.Load()-before, unavailable.Load(), transportErrs.Load(), unexpected.Load(),
		failoverLogins-lost, failoverLogins, led.dups, promotedAfter.Round(time.Millisecond), recovered.Round(time.Millisecond),
		time.Since(began).Round(time.Millisecond))
	if led.dups != 0 {
		t.Errorf("%d refresh tokens were accepted twice", led.dups)
	}
	if !tc.durable {
		// What the durable writes prevent (the contrast the issue asks
		// for): a partition loses acknowledged rotations, and with them
		// logins.
		if lost == 0 {
			t.Errorf("without WAIT no login was lost after a %v partition: the partition did not cut replication", partitionFor)
		}
		return
	}
	if lost != 0 {
		t.Errorf("%d of %d logins lost across the failover", lost, failoverLogins)
	}
	if !done {
		t.Errorf("not every login rotated %d times within %v of the kill", rotationsAfter, failoverDeadline)
	}
	// A thief holding the token a login used last before the crash must
	// not redeem it: the promoted replica knows that rotation (it was
	// acknowledged only once a replica held it). The replay is reuse: it
	// revokes the login and writes the login's sid denial, a durable
	// write, which answers 503 temporarily_unavailable (retry later)
	// whenever no replica acknowledges it in --redis-wait-timeout — a
	// legitimate answer while the deployment is not whole (the rejoined
	// node still syncing, or a replica stalled on this loaded machine).
	// So wait for the state in which the answer is determined (the new
	// primary's replica acknowledges writes), then replay as a client
	// does, retrying a 503: the end must be 400 invalid_grant (the retry
	// finds the login revoked and finishes its denial), never a 200.
	sen.WaitReplicated(primary, 15*time.Second)
	replay503 := 0
	for i, l := range logins {
		var st int
		var tr tokenResponse
		for deadline := time.Now().Add(15 * time.Second); ; {
			st, tr, err = refreshRaw(hc, apps[i%2], c, l.lastUsed)
			if err != nil {
				t.Fatalf("login %d: replay: %v", i, err)
			}
			if st != http.StatusServiceUnavailable || tr.Error != "temporarily_unavailable" || time.Now().After(deadline) {
				break
			}
			replay503++
			time.Sleep(100 * time.Millisecond)
		}
		if st != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Errorf("login %d: replaying its last token used before the crash: %d %s %s; want 400 invalid_grant", i, st, tr.Error, tr.Description)
		}
	}
	t.Logf("replays of the last tokens used before the crash: %d answered 503 before their 400", replay503)
}

// refreshRaw is one refresh request that reports instead of failing the
// test, for loader goroutines.
func refreshRaw(hc *http.Client, in *instance, c registeredClient, rt string) (int, tokenResponse, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	req, err := http.NewRequest(http.MethodPost, in.Public.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, tokenResponse{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	resp, err := hc.Do(req)
	if err != nil {
		return 0, tokenResponse{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return 0, tokenResponse{}, err
	}
	var tr tokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil {
		return resp.StatusCode, tokenResponse{}, err
	}
	return resp.StatusCode, tr, nil
}
