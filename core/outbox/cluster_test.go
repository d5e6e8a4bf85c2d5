package outbox_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
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

// startCluster starts a 3-node NATS JetStream cluster on loopback.
func startCluster(t *testing.T) []*server.Server {
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
	for _, s := range srvs {
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats server not ready")
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		clustered, leader := true, false
		for _, s := range srvs {
			clustered = clustered && s.JetStreamIsClustered() && s.JetStreamIsCurrent()
			// The leader places R3 streams only on peers it has stats
			// from; before that, creating one fails with "peer offline".
			leader = leader || (s.JetStreamIsLeader() && len(s.JetStreamClusterPeers()) == len(srvs))
		}
		if clustered && leader {
			return srvs
		}
		if time.Now().After(deadline) {
			t.Fatal("jetstream cluster has no leader")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterNodeKilled: three engine nodes share one outbox on a real
// 3-node NATS cluster (streams replicated 3 times); one node is killed
// while delivering; its partitions go to the others when its leases
// expire, and every webhook arrives, each call's in order.
func TestClusterNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a 3-node NATS cluster; run without -short (make test does)")
	}
	srvs := startCluster(t)
	const calls, events = 90, 4
	gate := make(chan struct{})
	var mu sync.Mutex
	firsts := map[string][]string{}
	seen := map[string]bool{}
	total := 0
	rc := newReceiver(t)
	rc.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-gate                                                       // nothing is answered before every node enqueued
		time.Sleep(time.Duration(2+rand.IntN(8)) * time.Millisecond) // a receiver that takes its time
		id := r.Header.Get("webhook-id")
		mu.Lock()
		total++
		if !seen[id] {
			seen[id] = true
			c := r.URL.Query().Get("call")
			firsts[c] = append(firsts[c], id)
		}
		mu.Unlock()
	})
	distinct := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }

	pol := map[string]delivery.Policy{"crm": {AllowPrivate: true, Retry: fast}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := make([]*outbox.Outbox, 3)
	for i := range nodes {
		recv := delivery.NewReceivers(delivery.NewSender(delivery.WithSenderGuard()), pol)
		ob, err := outbox.Open(ctx, outbox.Config{Server: srvs[i], Node: "node-" + strconv.Itoa(i), Replicas: 3, Partitions: 12, Concurrency: 16, LeaseTTL: 600 * time.Millisecond}, recv)
		if err != nil {
			t.Fatal(err)
		}
		defer ob.Close()
		if err := ob.Start(ctx); err != nil {
			t.Fatal(err)
		}
		nodes[i] = ob
	}
	// Leases spread over the nodes: 12 partitions, 4 each.
	for (len(nodes[0].Owned()) != 4 || len(nodes[1].Owned()) != 4 || len(nodes[2].Owned()) != 4) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
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
	close(gate)
	for distinct() < calls*events/4 && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
	owned, before := nodes[1].Owned(), distinct()
	start := time.Now()
	nodes[1].Close() // killed: no lease hand-back, in-flight requests cut short
	t.Logf("node-1 killed after %d webhooks, holding partitions %v (close took %s)", before, owned, time.Since(start))
	if len(owned) == 0 {
		t.Fatal("node-1 held no partitions")
	}
	for distinct() < calls*events && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != calls*events {
		t.Fatalf("%d of %d webhooks arrived", len(seen), calls*events)
	}
	for c := range calls {
		got := firsts["c"+strconv.Itoa(c)]
		for k, id := range got {
			if want := fmt.Sprintf("c%d-%d", c, k); id != want {
				t.Fatalf("call c%d arrived as %v", c, got)
			}
		}
	}
	t.Logf("%d requests for %d webhooks (%d duplicates, same id)", total, len(seen), total-len(seen))
}
