// Package engine wires callhook's pipeline: a connector's signals go through
// the call model, the stages add what they know to the resulting call
// events, every receiver's dialect renders each event, and the requests go
// to delivery. Events raised later by a stage (a recording that is ready)
// take the same way through Publish.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/signal"
)

// Connector reports a PBX's signals to h until ctx is done.
type Connector interface {
	Run(ctx context.Context, h signal.Handler) error
}

// Renderer turns a call event into a receiver's request; false means the
// receiver's dialect sends nothing for it. It must be safe for concurrent
// use: Publish renders from other goroutines.
type Renderer interface {
	Render(ev callmodel.Event) (delivery.Request, bool)
}

// Stage sees every signal once the model has handled it, with the events
// the model made of it, before they are rendered, in the engine's
// goroutine and in the PBX's order. It may fill fields of the events
// (what an autodial request attached to a call) and follow calls through
// calls; events of its own it raises later through Engine.Publish.
type Stage interface {
	Process(s signal.Signal, evs []callmodel.Event, calls Calls)
}

// Calls is what a stage may ask the call model: the call a leg belongs to
// now (its current link), while the model follows it.
type Calls interface {
	CallOf(legID string) (callmodel.CallID, bool)
}

// Committer is a Stage told each time the requests of every signal it
// has processed are accepted by delivery, in the engine's goroutine: work
// that must come after them (converting a finished call's recordings,
// whose POST follows the call's webhooks) starts there.
type Committer interface {
	Committed(ctx context.Context)
}

// Deliverer takes rendered requests. Enqueue must not return before the
// request is accepted; Flush waits until every request enqueued before it
// was delivered or given up.
type Deliverer interface {
	Enqueue(ctx context.Context, r delivery.Request) error
	Flush(ctx context.Context) error
}

// BatchDeliverer is a Deliverer that takes all the requests of one signal
// at once. EnqueueBatch must not return before every request is accepted
// (for a durable outbox: persisted); it lets the store take them in one
// round trip instead of one per request. The engine uses it when the
// Deliverer has it.
type BatchDeliverer interface {
	EnqueueBatch(ctx context.Context, rs []delivery.Request) error
}

// Receiver is one configured webhook.
type Receiver struct {
	Name     string
	Renderer Renderer
}

// Engine runs the pipeline. Create it with New.
type Engine struct {
	conn      Connector
	model     *callmodel.Model
	receivers []Receiver
	out       Deliverer
	log       *slog.Logger
	onEvent   func(callmodel.Event)
	stages    []Stage
	batch     []delivery.Request // reused by HandleSignals

	mu        sync.Mutex
	syncs     map[string]chan struct{}
	lastSync  string
	connected chan struct{}
}

// Option configures an Engine.
type Option func(*Engine)

// WithLogger sets the engine's logger.
func WithLogger(l *slog.Logger) Option { return func(e *Engine) { e.log = l } }

// WithModel sets the call model (to pass model options).
func WithModel(m *callmodel.Model) Option { return func(e *Engine) { e.model = m } }

// WithEventHook calls f for every call event, before rendering; for
// events a stage publishes, in the publisher's goroutine.
func WithEventHook(f func(callmodel.Event)) Option { return func(e *Engine) { e.onEvent = f } }

// WithStage adds a stage; stages run in the order they were added.
func WithStage(st Stage) Option { return func(e *Engine) { e.stages = append(e.stages, st) } }

// New returns an engine reading conn and delivering to receivers through out.
func New(conn Connector, receivers []Receiver, out Deliverer, opts ...Option) *Engine {
	e := &Engine{
		conn:      conn,
		receivers: receivers,
		out:       out,
		log:       slog.New(slog.DiscardHandler),
		syncs:     map[string]chan struct{}{},
		connected: make(chan struct{}),
	}
	for _, o := range opts {
		o(e)
	}
	if e.model == nil {
		e.model = callmodel.New(callmodel.WithLogger(e.log))
	}
	return e
}

// Run follows the PBX until ctx is done or the connector gives up.
func (e *Engine) Run(ctx context.Context) error {
	err := e.conn.Run(ctx, e)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// HandleSignal implements signal.Handler: the model's events are rendered
// and enqueued before the signal counts as handled.
func (e *Engine) HandleSignal(ctx context.Context, s signal.Signal) error {
	sync := e.note(s)
	_, reqs := e.render(s, nil)
	if err := e.enqueue(ctx, s, reqs); err != nil {
		return err
	}
	e.committed(ctx)
	if sync != "" {
		e.synced(sync)
	}
	return nil
}

// committed tells the stages that want it that what they processed is
// accepted by delivery.
func (e *Engine) committed(ctx context.Context) {
	for _, st := range e.stages {
		if c, ok := st.(Committer); ok {
			c.Committed(ctx)
		}
	}
}

// Publish renders ev, an event a stage raises outside the signal flow (a
// recording that is ready), for every receiver and returns once delivery
// accepted the requests. It is safe to call from any goroutine while the
// engine runs: renderers keep no state.
func (e *Engine) Publish(ctx context.Context, ev callmodel.Event) error {
	if e.onEvent != nil {
		e.onEvent(ev)
	}
	var reqs []delivery.Request
	for _, r := range e.receivers {
		if req, ok := r.Renderer.Render(ev); ok {
			reqs = append(reqs, req)
		}
	}
	if b, ok := e.out.(BatchDeliverer); ok && len(reqs) > 1 {
		if err := b.EnqueueBatch(ctx, reqs); err != nil {
			return fmt.Errorf("enqueue %d requests of %s: %w", len(reqs), ev.Kind, err)
		}
		return nil
	}
	for _, req := range reqs {
		if err := e.out.Enqueue(ctx, req); err != nil {
			return fmt.Errorf("enqueue %s for %s: %w", req.ID, req.Receiver, err)
		}
	}
	return nil
}

// HandleSignals implements signal.BatchHandler (group commit): the
// requests of all the signals, which the connector had already received,
// are enqueued in one batch before any of them counts as handled.
func (e *Engine) HandleSignals(ctx context.Context, ss []signal.Signal) error {
	if len(ss) == 1 {
		for _, s := range ss {
			if err := e.HandleSignal(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
	var syncs []string
	reqs := e.batch[:0]
	for _, s := range ss {
		if tok := e.note(s); tok != "" {
			syncs = append(syncs, tok)
		}
		_, reqs = e.render(s, reqs)
	}
	e.batch = reqs[:0]
	if err := e.enqueue(ctx, ss[0], reqs); err != nil {
		return fmt.Errorf("%d signals: %w", len(ss), err)
	}
	clear(reqs)
	e.committed(ctx)
	for _, tok := range syncs {
		e.synced(tok)
	}
	return nil
}

// note acts on what a signal says about the connection, and returns the
// token of a sync event (released once what came before is enqueued).
func (e *Engine) note(s signal.Signal) (syncToken string) {
	switch s.Kind {
	case signal.Connected:
		e.log.Info("connected to PBX")
		e.mu.Lock()
		select {
		case <-e.connected:
		default:
			close(e.connected)
		}
		e.mu.Unlock()
	case signal.Disconnected:
		e.log.Warn("lost PBX connection", "error", s.Err)
	case signal.Sync:
		return s.Token
	}
	return ""
}

// render runs s through the model and appends the requests its events
// make for every receiver to reqs.
func (e *Engine) render(s signal.Signal, reqs []delivery.Request) ([]callmodel.Event, []delivery.Request) {
	events := e.model.Handle(s)
	for _, st := range e.stages {
		st.Process(s, events, e.model)
	}
	for _, ev := range events {
		if e.onEvent != nil {
			e.onEvent(ev)
		}
		for _, r := range e.receivers {
			if req, ok := r.Renderer.Render(ev); ok {
				reqs = append(reqs, req)
			}
		}
	}
	return events, reqs
}

// enqueue hands the requests of signal s to the Deliverer, all at once
// when it takes batches, and returns once every one was accepted.
func (e *Engine) enqueue(ctx context.Context, s signal.Signal, reqs []delivery.Request) error {
	if b, ok := e.out.(BatchDeliverer); ok && len(reqs) > 1 {
		if err := b.EnqueueBatch(ctx, reqs); err != nil {
			return fmt.Errorf("enqueue %d requests of %s: %w", len(reqs), s.Kind, err)
		}
		return nil
	}
	for _, req := range reqs {
		if err := e.out.Enqueue(ctx, req); err != nil {
			return fmt.Errorf("enqueue %s for %s: %w", req.ID, req.Receiver, err)
		}
	}
	return nil
}

func (e *Engine) syncChan(token string) chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, ok := e.syncs[token]
	if !ok {
		ch = make(chan struct{})
		e.syncs[token] = ch
	}
	return ch
}

func (e *Engine) synced(token string) {
	ch := e.syncChan(token)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastSync = token
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// LastSync is the token of the last sync signal whose requests, and those
// of every signal before it, are all accepted by delivery ("" before any):
// an outside driver (a test, a load generator, the admin API's client)
// knows from it that everything it played is safe.
func (e *Engine) LastSync() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastSync
}

// Connected is closed once the connector first reaches the PBX.
func (e *Engine) Connected() <-chan struct{} { return e.connected }

// WaitSync waits until the sync user event with token has been handled and
// every request rendered before it was delivered or given up.
func (e *Engine) WaitSync(ctx context.Context, token string) error {
	select {
	case <-e.syncChan(token):
	case <-ctx.Done():
		return fmt.Errorf("wait for PBX sync %s: %w", token, ctx.Err())
	}
	e.mu.Lock()
	delete(e.syncs, token)
	e.mu.Unlock()
	return e.out.Flush(ctx)
}
