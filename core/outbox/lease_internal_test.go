package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/callhook/callhook/core/delivery"
)

// TestLeasesRenewedDuringSlowClaim: while a claim takes longer than a
// lease lives (here held up on the outbox's lock; on a loaded cluster,
// creating the partition's consumer), this node's leases, including the
// one being claimed, are still renewed. They used to be renewed by the
// same loop after its claims, and lapsed: the node lost its partitions
// and they bounced between nodes.
func TestLeasesRenewedDuringSlowClaim(t *testing.T) {
	const ttl = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var logs syncBuffer
	ob, err := Open(ctx, Config{Node: "n1", Partitions: 2, LeaseTTL: ttl, Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		delivery.NewReceivers(delivery.NewSender(), nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	kv, err := ob.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: LeaseKV, TTL: ttl, Storage: ob.storage()})
	if err != nil {
		t.Fatal(err)
	}
	// Another node, alive until told to die, holds partition 1.
	die, dead := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(dead)
		for {
			_, _ = kv.PutString(ctx, "n.other", "1")
			_, _ = kv.PutString(ctx, "p.1", "other")
			select {
			case <-die:
				return
			case <-time.After(ttl / 4):
			}
		}
	}()
	waitFor(t, 5*time.Second, "the other node's lease", func() (bool, string) {
		e, err := kv.Get(ctx, "p.1")
		return err == nil && string(e.Value()) == "other", fmt.Sprint(err)
	})
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ob.Owned(); !slices.Equal(got, []int{0}) {
		t.Fatalf("owned %v with another node alive, want [0]", got)
	}

	// The other node dies; partition 1 is taken, and its claim held up.
	ob.mu.Lock()
	unlock := sync.OnceFunc(ob.mu.Unlock)
	defer unlock()
	close(die)
	<-dead
	for _, k := range []string{"p.1", "n.other"} {
		if err := kv.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	var taken time.Time
	waitFor(t, 10*time.Second, "both leases renewed for two lease TTLs while partition 1's claim is held up", func() (bool, string) {
		if !ob.lmu.TryLock() {
			return false, "lease loop holds its lock (releasing a lost lease?)"
		}
		defer ob.lmu.Unlock()
		l0, l1 := ob.held[0], ob.held[1]
		if l0 == nil || l1 == nil {
			return false, fmt.Sprintf("holding %v", ob.held)
		}
		if taken.IsZero() {
			taken = time.Now()
		}
		age0, age1 := time.Since(l0.sent), time.Since(l1.sent)
		return time.Since(taken) > 2*ttl && age0 < ttl && age1 < ttl,
			fmt.Sprintf("partition 1 taken %s ago; last renewals %s and %s ago", time.Since(taken), age0, age1)
	})
	unlock()
	waitFor(t, 10*time.Second, "partitions 0 and 1 delivered", func() (bool, string) {
		got := ob.Owned()
		return slices.Equal(got, []int{0, 1}), fmt.Sprintf("owned %v", got)
	})
	if s := logs.String(); strings.Contains(s, "lease lost") {
		t.Fatalf("a lease lapsed:\n%s", s)
	}
}

// TestRetry: a request that keeps failing in a way worth retrying is sent
// again until ctx ends, and the error says what, where and for how long;
// one that fails for good is not retried.
func TestRetry(t *testing.T) {
	o := &Outbox{cfg: Config{Node: "n1"}, log: slog.New(slog.DiscardHandler), stop: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	n := 0
	err := o.retry(ctx, "claim partition 3", func(context.Context) error { n++; return nats.ErrNoResponders })
	if !errors.Is(err, nats.ErrNoResponders) || n < 2 || !strings.HasPrefix(err.Error(), "claim partition 3 on n1, after ") {
		t.Fatalf("after %d attempts: %v", n, err)
	}
	n = 0
	err = o.retry(context.Background(), "claim partition 3", func(context.Context) error { n++; return jetstream.ErrConsumerNotFound })
	if !errors.Is(err, jetstream.ErrConsumerNotFound) || n != 1 {
		t.Fatalf("after %d attempts: %v", n, err)
	}
	for err, want := range map[error]bool{
		context.DeadlineExceeded:                           true,
		fmt.Errorf("create consumer: %w", nats.ErrTimeout): true,
		jetstream.ErrJetStreamNotEnabled:                   true, // no responders, as the jetstream API reports it
		jetstream.ErrKeyRevisionMismatch:                   false,
		errors.New("stream name already in use"):           false,
	} {
		if transient(err) != want {
			t.Errorf("transient(%v) = %t, want %t", err, !want, want)
		}
	}
}

// TestConsumerDeletedUnderOwner: a partition whose consumer is deleted
// under the node holding its lease (by a node that claimed it as its own
// lease lapsed) is claimed again, instead of staying undelivered while
// the lease is renewed; a node that does not hold a partition's lease
// never touches its consumer.
func TestConsumerDeletedUnderOwner(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var logs syncBuffer
	pol := map[string]delivery.Policy{"crm": {AllowPrivate: true}}
	ob, err := Open(ctx, Config{Node: "n1", Partitions: 2, LeaseTTL: 300 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		delivery.NewReceivers(delivery.NewSender(), pol))
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ob.claimOnce(ctx, 7); !errors.Is(err, errLeaseLost) {
		t.Fatalf("claim of a partition whose lease is not held: %v, want %v", err, errLeaseLost)
	}
	p := ob.Partition("crm", "c1")
	name := "part-" + strconv.Itoa(p)
	for _, replace := range []bool{false, true} {
		ob.mu.Lock()
		before := ob.owned[p].cc
		ob.mu.Unlock()
		if err := ob.stream.DeleteConsumer(ctx, name); err != nil {
			t.Fatal(err)
		}
		if replace { // by another node's claim
			if _, err := ob.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: name, Description: "other", AckPolicy: jetstream.AckExplicitPolicy,
				FilterSubjects: []string{subjectPrefix + strconv.Itoa(p) + ".*"}}); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 10*time.Second, fmt.Sprintf("partition %d consumed again (consumer replaced: %t)", p, replace), func() (bool, string) {
			ob.mu.Lock()
			op, ok := ob.owned[p]
			ob.mu.Unlock()
			return ok && op.cc != before, fmt.Sprintf("owned %v; log:\n%s", ob.Owned(), logs.String())
		})
	}
	if info, err := ob.stream.Consumer(ctx, name); err != nil || info.CachedInfo().Config.Description == "other" {
		t.Fatalf("consumer %s after the claim: %v", name, err)
	}
	if err := ob.Enqueue(ctx, delivery.Request{ID: "w1", Receiver: "crm", CallKey: "c1", URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	if err := ob.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got["w1"] != 1 {
		t.Fatalf("w1 delivered %d times, want 1", got["w1"])
	}
}
