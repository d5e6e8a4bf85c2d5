package outbox_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/outbox"
)

// freePorts reserves n loopback ports for the cluster's routes.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// startServers starts three NATS servers routed to each other; if one is
// not listening within 10 s, it stops them and says which.
func startServers(t *testing.T) ([]*server.Server, error) {
	t.Helper()
	ports := freePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(p))
	}
	var srvs []*server.Server
	for i, p := range ports {
		opts := &server.Options{
			ServerName: "nats-" + strconv.Itoa(i), Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
			JetStream: true, StoreDir: t.TempDir(),
			Cluster: server.ClusterOpts{Name: "callhook", Host: "127.0.0.1", Port: p},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(s.Shutdown)
		srvs = append(srvs, s)
	}
	for i, s := range srvs {
		if !s.ReadyForConnections(10 * time.Second) {
			for _, s := range srvs {
				s.Shutdown()
			}
			return nil, fmt.Errorf("%s not listening within 10s (client %v, routes on port %d: %v)", s.Name(), s.Addr(), ports[i], s.ClusterAddr())
		}
	}
	return srvs, nil
}

// startCluster starts a 3-node NATS JetStream cluster on loopback.
func startCluster(t *testing.T) []*server.Server {
	t.Helper()
	var srvs []*server.Server
	for attempt := 1; srvs == nil; attempt++ {
		var err error
		if srvs, err = startServers(t); err != nil {
			// A route port reserved by freePorts can be taken by another
			// process (a parallel test run) before the server binds it.
			if attempt == 3 {
				t.Fatalf("start nats cluster, attempt %d: %v", attempt, err)
			}
			t.Logf("start nats cluster, attempt %d: %v; again on other ports", attempt, err)
		}
	}
	waitFor(t, 30*time.Second, "a jetstream cluster with a leader that sees every peer", func() (bool, string) {
		clustered, leader := true, false
		var state []string
		for _, s := range srvs {
			clustered = clustered && s.JetStreamIsClustered() && s.JetStreamIsCurrent()
			// The leader places R3 streams only on peers it has stats
			// from; before that, creating one fails with "peer offline".
			leader = leader || (s.JetStreamIsLeader() && len(s.JetStreamClusterPeers()) == len(srvs))
			state = append(state, fmt.Sprintf("%s: clustered %t, current %t, leader %t, peers %d",
				s.Name(), s.JetStreamIsClustered(), s.JetStreamIsCurrent(), s.JetStreamIsLeader(), len(s.JetStreamClusterPeers())))
		}
		return clustered && leader, strings.Join(state, "; ")
	})
	return srvs
}

// TestClusterNodeKilled: three engine nodes share one outbox on a real
// 3-node NATS cluster (streams replicated 3 times); the node with the most
// requests in flight is killed while delivering; its partitions go to the
// others when its leases expire, and every webhook arrives, each call's in
// order, a repeat only ever with the id it had.
func TestClusterNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a 3-node NATS cluster; run without -short (make test does)")
	}
	srvs := startCluster(t)
	const calls, events, partitions = 90, 4, 12
	const total = calls * events
	// Nothing is answered before every node enqueued; once a quarter of
	// the webhooks arrived, answers wait for the kill, so that it lands
	// with requests in flight however fast or slow the machine.
	enqueued, killed := make(chan struct{}), make(chan struct{})
	openEnqueued := sync.OnceFunc(func() { close(enqueued) })
	openKilled := sync.OnceFunc(func() { close(killed) })
	defer openEnqueued() // the receiver's Close waits for its handlers
	defer openKilled()
	var mu sync.Mutex
	firsts := map[string][]string{} // per call, the ids in order of first arrival
	seen := map[string]bool{}
	held := map[string]int{} // per call, requests waiting for the kill
	requests, afterKill := 0, false
	var unexpected, dead []string
	rc := newReceiver(t)
	rc.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-enqueued
		time.Sleep(time.Duration(2+rand.IntN(8)) * time.Millisecond) // a receiver that takes its time
		id, c := r.Header.Get("webhook-id"), r.URL.Query().Get("call")
		mu.Lock()
		defer mu.Unlock()
		if len(seen) >= total/4 && !afterKill {
			held[c]++
			mu.Unlock()
			<-killed
			mu.Lock()
			held[c]--
		}
		requests++
		var n, k int
		if _, err := fmt.Sscanf(id, "c%d-%d", &n, &k); err != nil || "c"+strconv.Itoa(n) != c || k >= events {
			unexpected = append(unexpected, id+" for "+c)
		}
		if !seen[id] {
			seen[id] = true
			firsts[c] = append(firsts[c], id)
		}
	})
	distinct := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }

	pol := map[string]delivery.Policy{"crm": {AllowPrivate: true, Retry: fast}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The nodes' warnings, shown if the test fails.
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("warnings of the nodes:\n%s", logs.String())
		}
	})
	onResult := outbox.WithResult(func(r delivery.Result) {
		if !r.OK() {
			mu.Lock()
			dead = append(dead, r.Request.ID+": "+r.Err.Error())
			mu.Unlock()
		}
	})
	nodes := make([]*outbox.Outbox, 3)
	for i := range nodes {
		recv := delivery.NewReceivers(delivery.NewSender(delivery.WithSenderGuard()), pol)
		ob, err := outbox.Open(ctx, outbox.Config{Server: srvs[i], Node: "node-" + strconv.Itoa(i), Replicas: 3, Partitions: partitions,
			Concurrency: 16, LeaseTTL: 600 * time.Millisecond, Logger: logger}, recv, onResult)
		if err != nil {
			t.Fatal(err)
		}
		defer ob.Close()
		if err := ob.Start(ctx); err != nil {
			t.Fatal(err)
		}
		nodes[i] = ob
	}
	owners := func(nodes []*outbox.Outbox) (string, map[int]int) {
		var b strings.Builder
		owner := map[int]int{} // partition → index in nodes
		for i, ob := range nodes {
			ps := ob.Owned()
			fmt.Fprintf(&b, "%v ", ps)
			for _, p := range ps {
				owner[p] = i
			}
		}
		return strings.TrimSpace(b.String()), owner
	}
	waitFor(t, 30*time.Second, "the partitions spread over the nodes, 4 each", func() (bool, string) {
		state, _ := owners(nodes)
		return len(nodes[0].Owned()) == 4 && len(nodes[1].Owned()) == 4 && len(nodes[2].Owned()) == 4, "owned " + state
	})
	// Each node enqueues the calls of its own PBX.
	var wg sync.WaitGroup
	for i, ob := range nodes {
		wg.Go(func() {
			for k := range events {
				for c := i; c < calls; c += 3 {
					r := delivery.Request{ID: fmt.Sprintf("c%d-%d", c, k), Receiver: "crm", CallKey: "c" + strconv.Itoa(c),
						URL: rc.URL + "/hook?call=c" + strconv.Itoa(c)}
					if err := ob.Enqueue(ctx, r); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	openEnqueued()

	// The victim: the node whose partitions have the most requests in flight.
	victim, inFlight := -1, 0
	waitFor(t, 30*time.Second, "a quarter of the webhooks delivered, and a node with requests in flight", func() (bool, string) {
		state, owner := owners(nodes)
		mu.Lock()
		defer mu.Unlock()
		counts := make([]int, len(nodes))
		for c, n := range held {
			if i, ok := owner[nodes[0].Partition("crm", c)]; ok {
				counts[i] += n
			}
		}
		victim, inFlight = 0, counts[0]
		for i, n := range counts {
			if n > inFlight {
				victim, inFlight = i, n
			}
		}
		return len(seen) >= total/4 && inFlight > 0,
			fmt.Sprintf("%d of %d webhooks arrived; requests in flight per node %v; owned %s", len(seen), total, counts, state)
	})
	owned, before := nodes[victim].Owned(), distinct()
	start := time.Now()
	nodes[victim].Close() // killed: no lease hand-back, in-flight requests cut short
	t.Logf("node-%d killed after %d webhooks with %d requests in flight, holding partitions %v (close took %s)",
		victim, before, inFlight, owned, time.Since(start))
	if len(owned) == 0 {
		t.Fatalf("node-%d held no partitions", victim)
	}
	mu.Lock()
	afterKill = true
	mu.Unlock()
	openKilled()
	survivors := slices.Delete(slices.Clone(nodes), victim, victim+1)
	waitFor(t, 30*time.Second, fmt.Sprintf("the survivors to take node-%d's partitions %v", victim, owned), func() (bool, string) {
		state, owner := owners(survivors)
		return len(owner) == partitions, "survivors own " + state
	})
	waitFor(t, time.Minute, "every webhook delivered", func() (bool, string) {
		state, _ := owners(survivors)
		pending, err := survivors[0].Pending(ctx)
		mu.Lock()
		defer mu.Unlock()
		var missing []string
		for c := range calls {
			for k := range events {
				if id := fmt.Sprintf("c%d-%d", c, k); !seen[id] && len(missing) < 20 {
					missing = append(missing, fmt.Sprintf("%s (partition %d)", id, survivors[0].Partition("crm", "c"+strconv.Itoa(c))))
				}
			}
		}
		return len(seen) == total, fmt.Sprintf("%d of %d webhooks arrived in %d requests; missing %v; %d pending (%v); dead %v; survivors own %s",
			len(seen), total, requests, missing, pending, err, dead, state)
	})
	mu.Lock()
	defer mu.Unlock()
	if len(dead) > 0 {
		t.Fatalf("dead letters: %v", dead)
	}
	if len(unexpected) > 0 {
		t.Fatalf("requests with ids never enqueued: %v", unexpected)
	}
	for c := range calls {
		got := firsts["c"+strconv.Itoa(c)]
		for k, id := range got {
			if want := fmt.Sprintf("c%d-%d", c, k); id != want {
				t.Fatalf("call c%d arrived as %v", c, got)
			}
		}
	}
	// The killed node's requests in flight had reached the receiver, which
	// answered after the kill: their new owner sends them again, same id.
	if requests == len(seen) {
		t.Fatalf("%d requests for %d webhooks: the %d requests cut short by the kill were not sent again", requests, len(seen), inFlight)
	}
	t.Logf("%d requests for %d webhooks (%d duplicates, same id)", requests, len(seen), requests-len(seen))
}
