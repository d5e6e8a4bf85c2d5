// Package outbox makes delivery durable: every rendered request is written
// to a NATS JetStream stream before Enqueue returns, and is removed only
// once it was delivered or dead-lettered. A crashed engine resumes where it
// stopped, in per-call order.
//
// One code path serves one node and many: by default the outbox runs a NATS
// server inside the process with a file store (nothing to install or run);
// given the URL of a NATS cluster, several engine nodes share the same
// streams. The stream is split into partitions by receiver and call, and
// each partition is delivered by one node at a time, in stream order; the
// Dispatcher keeps order per call inside a partition while calls go in
// parallel.
//
// Streams (names fixed, so every node agrees):
//
//	CALLHOOK_OUTBOX  callhook.outbox.<partition>.<n>  work queue: pending requests, n per message
//	CALLHOOK_LOG     callhook.log.<receiver>       attempts and outcomes, kept LogMaxAge
//	KV CALLHOOK_RECV                               receivers disabled by a 410
//	KV CALLHOOK_HEALTH                             each node's last write check (Check)
package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/callhook/callhook/core/delivery"
)

// Stream and subject names.
const (
	StreamName    = "CALLHOOK_OUTBOX"
	LogStream     = "CALLHOOK_LOG"
	ReceiverKV    = "CALLHOOK_RECV"
	subjectPrefix = "callhook.outbox."
	logPrefix     = "callhook.log."
)

// Defaults.
const (
	DefaultPartitions = 16
	DefaultLogMaxAge  = 7 * 24 * time.Hour
	// DefaultMaxAckPending bounds the requests one partition has taken from
	// the stream and not yet finished: the memory bound of delivery.
	DefaultMaxAckPending = 4096
)

// Sentinel errors.
var (
	// ErrClosed: the outbox was shut down.
	ErrClosed = errors.New("outbox closed")
	// ErrNotFound: no webhook with that id in the log.
	ErrNotFound = errors.New("webhook not found")
)

// Config says where the outbox keeps its data.
type Config struct {
	// Dir is the embedded server's store directory. With URL empty and Dir
	// empty the embedded server keeps everything in memory: no durability,
	// for simulations and tests that do not need it.
	Dir string
	// URL names an existing NATS (JetStream) deployment, e.g. a cluster
	// "nats://a:4222,nats://b:4222"; empty runs the embedded server.
	URL string
	// Node names this engine node (default: the host name).
	Node string
	// Replicas of each stream on a cluster (default 1; 3 on a 3-node
	// cluster survives losing one).
	Replicas int
	// Partitions splits the outbox; every node must use the same number.
	Partitions int
	// SyncAlways makes the embedded server fsync every write, so even a
	// power loss keeps acknowledged requests (a crash of the process keeps
	// them either way: writes reach the kernel before Enqueue returns).
	SyncAlways bool
	// LogMaxAge is how long attempts are kept (default DefaultLogMaxAge).
	LogMaxAge time.Duration
	// MaxAckPending per partition (default DefaultMaxAckPending).
	MaxAckPending int
	// LeaseTTL is how long a node's partitions stay its own without
	// renewal (default DefaultLeaseTTL); every node must agree.
	LeaseTTL time.Duration
	// Concurrency per receiver (default delivery.DefaultConcurrency).
	Concurrency int
	Logger      *slog.Logger
	// Server, when set, is an embedded server the caller started (tests of
	// clusters); the outbox connects to it in-process and does not stop it.
	Server *server.Server
}

// Outbox is a running durable outbox. Create it with Open, then Start.
type Outbox struct {
	cfg    Config
	log    *slog.Logger
	srv    *server.Server // embedded, owned; nil with URL or cfg.Server
	tmpDir string         // the memory-only server's directory, removed on close
	nc     *nats.Conn     // consuming, acknowledgements, log, leases
	pub    *nats.Conn     // Enqueue's publishes, so they never queue behind deliveries' traffic
	pubjs  jetstream.JetStream
	js     jetstream.JetStream
	stream jetstream.Stream
	logs   jetstream.Stream
	kv     jetstream.KeyValue
	recv   *delivery.Receivers
	disp   *delivery.Dispatcher
	met    *Metrics

	onResult func(delivery.Result)
	logb     logBatcher
	// delivered: webhook ids the log showed delivered at Open, skipped once
	delivered deliveredSet

	hmu    sync.Mutex
	health jetstream.KeyValue // created by the first Check; guarded by hmu

	leases jetstream.KeyValue
	lmu    sync.Mutex
	held   map[int]*lease     // partition → this node's lease; guarded by lmu
	ended  map[int]bool       // held partitions whose consumer ended, to claim again; guarded by lmu
	cancel context.CancelFunc // ends the lease loops' requests; set by Start under mu

	lastSeq  atomic.Uint64 // highest stream sequence this node enqueued
	mu       sync.Mutex
	owned    map[int]ownedPart
	floors   []*partFloor // every consumer's, including released partitions still finishing
	closed   bool
	finished chan struct{} // signalled (non-blocking) after every ack
	stop     chan struct{}
	wg       sync.WaitGroup
}

// Option configures an Outbox.
type Option func(*Outbox)

// WithResult calls f with every final Result (delivered or dead).
func WithResult(f func(delivery.Result)) Option { return func(o *Outbox) { o.onResult = f } }

// WithMetrics records queue depth, attempts, latency and dead letters.
func WithMetrics(m *Metrics) Option { return func(o *Outbox) { o.met = m } }

// Open starts or connects to the NATS server, makes sure the streams exist,
// and returns an outbox delivering through recv. Nothing is sent before
// Start.
func Open(ctx context.Context, cfg Config, recv *delivery.Receivers, opts ...Option) (*Outbox, error) {
	if cfg.Partitions <= 0 {
		cfg.Partitions = DefaultPartitions
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.LogMaxAge <= 0 {
		cfg.LogMaxAge = DefaultLogMaxAge
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.MaxAckPending <= 0 {
		cfg.MaxAckPending = DefaultMaxAckPending
	}
	if cfg.Node == "" {
		cfg.Node, _ = os.Hostname()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	o := &Outbox{
		cfg: cfg, log: cfg.Logger.With("component", "outbox"), recv: recv,
		owned: map[int]ownedPart{}, finished: make(chan struct{}, 1),
		stop: make(chan struct{}), onResult: func(delivery.Result) {},
	}
	for _, opt := range opts {
		opt(o)
	}
	if err := o.connect(); err != nil {
		return nil, err
	}
	if err := o.ensureStreams(ctx); err != nil {
		o.closeConn()
		return nil, err
	}
	if err := o.loadDisabled(ctx); err != nil {
		o.closeConn()
		return nil, err
	}
	if err := o.loadDelivered(ctx); err != nil {
		o.closeConn()
		return nil, err
	}
	dopts := []delivery.DispatcherOption{delivery.WithDispatcherLogger(o.log)}
	if cfg.Concurrency > 0 {
		dopts = append(dopts, delivery.WithDispatcherConcurrency(cfg.Concurrency))
	}
	o.disp = delivery.NewDispatcher(recv.Send, dopts...)
	return o, nil
}

func (o *Outbox) connect() error {
	var err error
	switch {
	case o.cfg.URL != "":
		dial := func() (*nats.Conn, error) {
			return nats.Connect(o.cfg.URL, nats.Name("callhook "+o.cfg.Node), nats.MaxReconnects(-1),
				nats.ReconnectWait(100*time.Millisecond))
		}
		if o.nc, err = dial(); err == nil {
			o.pub, err = dial()
		}
	default:
		srv := o.cfg.Server
		if srv == nil {
			opts := &server.Options{
				ServerName: "callhook-" + o.cfg.Node, DontListen: true, NoSigs: true, NoLog: true,
				JetStream: true, StoreDir: o.cfg.Dir, SyncAlways: o.cfg.SyncAlways,
				JetStreamMaxMemory: 256 << 20,
			}
			if o.cfg.Dir == "" {
				// Memory streams only; the server still wants a directory
				// of its own, which must not be shared with other processes.
				tmp, terr := os.MkdirTemp("", "callhook-nats-")
				if terr != nil {
					return fmt.Errorf("start embedded nats: %w", terr)
				}
				opts.StoreDir, o.tmpDir = tmp, tmp
			}
			if srv, err = server.NewServer(opts); err != nil {
				return fmt.Errorf("start embedded nats in %s: %w", o.cfg.Dir, err)
			}
			srv.Start()
			if !srv.ReadyForConnections(30 * time.Second) {
				srv.Shutdown()
				return fmt.Errorf("start embedded nats in %s: not ready within 30s", o.cfg.Dir)
			}
			o.srv = srv
		}
		o.nc, err = nats.Connect("", nats.InProcessServer(srv), nats.Name("callhook "+o.cfg.Node))
		if err == nil {
			o.pub, err = nats.Connect("", nats.InProcessServer(srv), nats.Name("callhook "+o.cfg.Node+" enqueue"))
		}
	}
	if err != nil {
		if o.srv != nil {
			o.srv.Shutdown()
		}
		return fmt.Errorf("connect outbox nats %s: %w", o.cfg.URL, err)
	}
	o.js, err = jetstream.New(o.nc)
	if err == nil {
		// Acknowledgements are awaited per batch; without a timeout a lost
		// server would keep an Enqueue without a deadline waiting forever.
		o.pubjs, err = jetstream.New(o.pub, jetstream.WithPublishAsyncTimeout(5*time.Second))
	}
	if err != nil {
		o.closeConn()
		return fmt.Errorf("open jetstream: %w", err)
	}
	return nil
}

func (o *Outbox) storage() jetstream.StorageType {
	if o.cfg.URL == "" && o.cfg.Server == nil && o.cfg.Dir == "" {
		return jetstream.MemoryStorage
	}
	return jetstream.FileStorage
}

func (o *Outbox) ensureStreams(ctx context.Context) error {
	err := o.retry(ctx, "create stream "+StreamName, func(ctx context.Context) error {
		var err error
		o.stream, err = o.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: StreamName, Subjects: []string{subjectPrefix + ">"}, Retention: jetstream.WorkQueuePolicy,
			Storage: o.storage(), Replicas: o.cfg.Replicas, Duplicates: 2 * time.Minute,
			Description: "callhook: webhooks waiting for delivery",
		})
		return err
	})
	if err != nil {
		return err
	}
	err = o.retry(ctx, "create stream "+LogStream, func(ctx context.Context) error {
		var err error
		o.logs, err = o.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: LogStream, Subjects: []string{logPrefix + ">"}, Retention: jetstream.LimitsPolicy,
			Storage: o.storage(), Replicas: o.cfg.Replicas, MaxAge: o.cfg.LogMaxAge,
			Description: "callhook: delivery attempts and outcomes",
		})
		return err
	})
	if err != nil {
		return err
	}
	return o.retry(ctx, "create bucket "+ReceiverKV, func(ctx context.Context) error {
		var err error
		o.kv, err = o.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: ReceiverKV, Storage: o.storage(), Replicas: o.cfg.Replicas,
			Description: "callhook: receivers disabled by 410 Gone",
		})
		return err
	})
}

// Partition is the outbox partition of a receiver's call: every request
// of one call to one receiver lands in the same one, in order.
func (o *Outbox) Partition(receiver, callKey string) int {
	if callKey == "" {
		return 0
	}
	h := fnv32(fnvOffset32).str(receiver).byte(0).str(callKey)
	return int(uint32(h) % uint32(o.cfg.Partitions))
}

// Enqueue writes r to the outbox and returns once the stream acknowledged
// it: from then on it survives a crash of the engine. The same webhook
// enqueued again within two minutes (an engine restarted and fed the same
// PBX events renders the same id, URL and body) is stored once; a request
// that shares an id but differs in content is kept.
func (o *Outbox) Enqueue(ctx context.Context, r delivery.Request) error {
	return o.EnqueueBatch(ctx, []delivery.Request{r})
}

// EnqueueBatch writes every request in rs to the outbox and returns once
// the stream acknowledged all of them: it is Enqueue for the requests one
// PBX signal produced. The requests that go to one partition (one call's
// events to one receiver, say) are stored as one message, the others are
// written together and their acknowledgements awaited together, so a batch
// costs about one round trip through the store instead of one per request,
// and the guarantee is Enqueue's: when it returns nil, every request
// survives a crash. On an error some requests may be stored and others
// not; enqueueing the batch again stores each message once (see Enqueue).
//
// Requests of one call keep their order in the batch.
func (o *Outbox) EnqueueBatch(ctx context.Context, rs []delivery.Request) error {
	if len(rs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store webhook %s: %w", rs[0].ID, err)
	}
	// Group by partition, in order of first appearance; a group keeps the
	// batch's order.
	groups := make([][]*delivery.Request, 0, len(rs))
	gpart := make([]int, 0, len(rs))
	for i := range rs {
		p := o.Partition(rs[i].Receiver, rs[i].CallKey)
		g := slices.Index(gpart, p)
		if g < 0 {
			gpart = append(gpart, p)
			groups = append(groups, nil)
			g = len(groups) - 1
		}
		groups[g] = append(groups[g], &rs[i])
	}
	futs := make([]jetstream.PubAckFuture, 0, len(groups))
	for g, grp := range groups {
		var msg *nats.Msg
		var id string
		if len(grp) == 1 {
			msg = &nats.Msg{Subject: partSubject(gpart[g], 1), Data: encodeRequest(make([]byte, 0, encodedSize(grp[0])), grp[0])}
			id = dedupID(grp[0])
		} else {
			size := 1 + binary.MaxVarintLen32
			for _, r := range grp {
				size += encodedSize(r) + binary.MaxVarintLen32
			}
			msg = &nats.Msg{Subject: partSubject(gpart[g], len(grp)), Data: encodeBundle(make([]byte, 0, size), grp)}
			id = bundleID(grp)
		}
		f, err := o.pubjs.PublishMsgAsync(msg, jetstream.WithMsgID(id))
		if err != nil {
			return fmt.Errorf("store webhook %s: %w", grp[0].ID, err)
		}
		futs = append(futs, f)
	}
	var top uint64
	for g, f := range futs {
		select {
		case ack := <-f.Ok():
			top = max(top, ack.Sequence)
		case err := <-f.Err():
			return fmt.Errorf("store webhook %s: %w", groups[g][0].ID, err)
		case <-ctx.Done():
			return fmt.Errorf("store webhook %s: %w", groups[g][0].ID, ctx.Err())
		}
	}
	o.noteSeq(top)
	if o.met != nil {
		// Runs of one receiver's requests (usually the whole batch) count
		// at once.
		for i := 0; i < len(rs); {
			j := i + 1
			for j < len(rs) && rs[j].Receiver == rs[i].Receiver {
				j++
			}
			o.met.of(rs[i].Receiver).enqueued.Add(float64(j - i))
			i = j
		}
	}
	return nil
}

// dedupID is the stream's message id for r: the webhook id plus a hash of
// what is sent, so only a true repeat is dropped.
func dedupID(r *delivery.Request) string {
	return r.ID + "/" + strconv.FormatUint(uint64(hashRequest(fnvOffset64, r)), 36)
}

// bundleID is dedupID for a bundle: the first webhook id, the count, and a
// hash of every request in it.
func bundleID(rs []*delivery.Request) string {
	h := fnv64(fnvOffset64)
	for _, r := range rs {
		h = hashRequest(h.str(r.ID).byte(0), r).byte(0)
	}
	return rs[0].ID + "/" + strconv.Itoa(len(rs)) + "/" + strconv.FormatUint(uint64(h), 36)
}

// hashRequest adds what r sends to h: method, URL and body.
func hashRequest(h fnv64, r *delivery.Request) fnv64 {
	return h.str(r.Method).byte(0).str(r.URL).byte(0).bytes(r.Body)
}

// partSubject is the subject of a message of n requests (1, or a bundle)
// in partition p: the count is in the subject so that Pending can count
// requests from the stream's subject state alone.
func partSubject(p, n int) string {
	return subjectPrefix + strconv.Itoa(p) + "." + strconv.Itoa(n)
}

// noteSeq remembers the highest stream sequence this node enqueued, for Flush.
func (o *Outbox) noteSeq(seq uint64) {
	for {
		cur := o.lastSeq.Load()
		if seq <= cur || o.lastSeq.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// publish stores r under msgID and waits for the acknowledgement (replay).
func (o *Outbox) publish(ctx context.Context, r delivery.Request, msgID string) error {
	data := encodeRequest(nil, &r)
	ack, err := o.pubjs.Publish(ctx, partSubject(o.Partition(r.Receiver, r.CallKey), 1), data, jetstream.WithMsgID(msgID))
	if err != nil {
		return fmt.Errorf("store webhook %s: %w", r.ID, err)
	}
	o.noteSeq(ack.Sequence)
	if o.met != nil {
		o.met.of(r.Receiver).enqueued.Inc()
	}
	return nil
}

// Flush waits until every request in the outbox when it was called (this
// node's and any other's) was delivered or dead-lettered, by whichever node
// owns its partition.
func (o *Outbox) Flush(ctx context.Context) error {
	info, err := o.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("flush outbox: %w", err)
	}
	target := max(o.lastSeq.Load(), info.State.LastSeq)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := o.stream.Info(ctx)
		if err != nil {
			return fmt.Errorf("flush outbox: %w", err)
		}
		if info.State.Msgs == 0 || info.State.FirstSeq > target {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("flush outbox: %d webhooks still pending: %w", info.State.Msgs, ctx.Err())
		case <-o.finished:
		case <-tick.C:
		}
	}
}

// Pending is the number of requests waiting in the outbox (all nodes).
func (o *Outbox) Pending(ctx context.Context) (uint64, error) {
	info, err := o.stream.Info(ctx, jetstream.WithSubjectFilter(subjectPrefix+"*.*"))
	if err != nil {
		return 0, fmt.Errorf("read outbox state: %w", err)
	}
	n := info.State.Msgs
	for subj, msgs := range info.State.Subjects {
		if i := strings.LastIndexByte(subj, '.'); i >= 0 {
			if size, err := strconv.ParseUint(subj[i+1:], 10, 32); err == nil && size > 1 {
				n += msgs * (size - 1)
			}
		}
	}
	return n, nil
}

// Receivers is the policy layer the outbox delivers through.
func (o *Outbox) Receivers() *delivery.Receivers { return o.recv }

// Shutdown stops taking requests from the stream and waits for those in
// flight to finish; what is left stays in the stream for the next start.
// If ctx ends first, in-flight requests are cut short (and kept).
func (o *Outbox) Shutdown(ctx context.Context) error {
	o.stopConsuming()
	err := o.disp.Shutdown(ctx)
	o.stopFloors(err == nil)
	o.releaseLeases()
	o.closeConn()
	return err
}

// Close stops at once; requests not yet delivered stay in the stream.
func (o *Outbox) Close() {
	o.stopConsuming()
	o.disp.Close()
	o.stopFloors(false)
	o.closeConn()
}

// stopFloors ends the removal of finished messages; with flush, what is
// finished is removed first.
func (o *Outbox) stopFloors(flush bool) {
	o.mu.Lock()
	floors := o.floors
	o.floors = nil
	o.mu.Unlock()
	for _, f := range floors {
		f.stop(flush)
	}
}

func (o *Outbox) stopConsuming() {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	close(o.stop)
	if o.cancel != nil {
		o.cancel()
	}
	for p, op := range o.owned {
		op.cc.Stop()
		delete(o.owned, p)
	}
	o.mu.Unlock()
	o.wg.Wait()
}

func (o *Outbox) closeConn() {
	if o.nc != nil {
		o.flushLog()
		_ = o.nc.FlushTimeout(2 * time.Second) // acknowledgements on their way
		o.nc.Close()
	}
	if o.pub != nil {
		o.pub.Close()
	}
	if o.srv != nil {
		o.srv.Shutdown()
		o.srv.WaitForShutdown()
		o.srv = nil
	}
	if o.tmpDir != "" {
		_ = os.RemoveAll(o.tmpDir)
		o.tmpDir = ""
	}
}
