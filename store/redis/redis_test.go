package redis

import (
	"context"
	"testing"

	"github.com/authd-dev/authd/internal/redistest"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/storetest"
)

// openTest opens a Store on the test Redis under a fresh prefix whose keys
// are deleted when the test ends.
func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	url := redistest.URL(t)
	rdb := redistest.Client(t)
	opts.URL = url
	opts.Prefix = redistest.Prefix(t, rdb)
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, Options{}) })
}

func TestClusterConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node Redis Cluster; not in -short")
	}
	addrs := redistest.Cluster(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), Options{Addrs: addrs})
		if err != nil {
			t.Fatalf("Open cluster: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		s.prefix = redistest.Prefix(t, s.rdb) // its cleanup runs before Close (LIFO)
		return s
	})
	// The revocation feed where the entry and the stream live on
	// different nodes.
	t.Run("FeedAcrossReplicas", func(t *testing.T) { testFeedAcrossReplicas(t, clusterReplicas(t, addrs)) })
	t.Run("FeedTrim", func(t *testing.T) { testFeedTrim(t, clusterReplicas(t, addrs)) })
	t.Run("FeedSkipsExpired", func(t *testing.T) { testFeedSkipsExpired(t, clusterReplicas(t, addrs)) })
	t.Run("DenyAfterScriptFlush", func(t *testing.T) { testDenyAfterScriptFlush(t, clusterReplicas(t, addrs)) })
	// Durable writes (WAIT, the default for a Cluster): durable_test.go.
	t.Run("Durable", func(t *testing.T) { testDurableCluster(t, addrs) })
}

func TestPrefill(t *testing.T) {
	s := openTest(t, Options{})
	storetest.RunPrefill(t, s, s)
}
