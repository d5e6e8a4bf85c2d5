package service

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/engine"
	"github.com/callhook/callhook/core/signal"
)

// pbxStage watches the PBX side of the pipeline as an engine stage: the
// connection (for /readyz and a gauge), the signals by kind, the call
// events, reconnects and the calls in progress. It runs in the engine's
// goroutine, so it may ask the model; readers take its atomics.
type pbxStage struct {
	model *callmodel.Model

	connected atomic.Bool
	seen      atomic.Bool // a first Connected came
	mu        sync.Mutex
	lastErr   error     // why the connection was lost; guarded by mu
	since     time.Time // of the connection state; guarded by mu

	connGauge  prometheus.Gauge
	reconnects prometheus.Counter
	calls      prometheus.Gauge
	signals    *prometheus.CounterVec
	events     *prometheus.CounterVec
	// Counters by kind, resolved once: WithLabelValues per signal would
	// take a lock and a map lookup each time.
	bySignal [256]prometheus.Counter
	byEvent  map[callmodel.Kind]prometheus.Counter

	// callsDirty: a leg came or went since the calls gauge was counted.
	callsDirty bool
}

func newPBXStage(model *callmodel.Model, reg prometheus.Registerer) *pbxStage {
	st := &pbxStage{
		model: model,
		connGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "callhook_pbx_connected", Help: "1 while the connector has a session with the PBX, else 0.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callhook_pbx_reconnects_total", Help: "Sessions re-established after the first (each follows a lost connection).",
		}),
		calls: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "callhook_calls_in_progress", Help: "Call chains the call model follows.",
		}),
		signals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callhook_pbx_signals_total", Help: "Signals from the PBX connector by kind (rate() gives events per second).",
		}, []string{"kind"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callhook_call_events_total", Help: "Call events the call model made of the signals, by kind.",
		}, []string{"kind"}),
		byEvent: map[callmodel.Kind]prometheus.Counter{},
		since:   time.Now(),
	}
	reg.MustRegister(st.connGauge, st.reconnects, st.calls, st.signals, st.events)
	return st
}

var (
	_ engine.Stage     = (*pbxStage)(nil)
	_ engine.Committer = (*pbxStage)(nil)
)

// Process implements engine.Stage.
func (st *pbxStage) Process(s signal.Signal, evs []callmodel.Event, _ engine.Calls) {
	c := st.bySignal[s.Kind]
	if c == nil {
		c = st.signals.WithLabelValues(s.Kind.String())
		st.bySignal[s.Kind] = c
	}
	c.Inc()
	for _, ev := range evs {
		c, ok := st.byEvent[ev.Kind]
		if !ok {
			c = st.events.WithLabelValues(ev.Kind.String())
			st.byEvent[ev.Kind] = c
		}
		c.Inc()
	}
	switch s.Kind {
	case signal.Connected:
		if st.seen.Swap(true) {
			st.reconnects.Inc()
		}
		st.setConnected(true, nil)
	case signal.Disconnected:
		st.setConnected(false, s.Err)
	case signal.LegAppeared, signal.LegGone:
		st.callsDirty = true
	}
}

// Committed recounts the calls in progress once per signal or batch of
// signals the engine handled (engine.Committer): the count walks the
// model's legs, so a busy PBX, whose signals come in batches, pays for it
// once a batch rather than once a signal.
func (st *pbxStage) Committed(context.Context) {
	if st.callsDirty {
		st.calls.Set(float64(st.model.Calls()))
		st.callsDirty = false
	}
}

func (st *pbxStage) setConnected(up bool, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.connected.Store(up)
	st.lastErr, st.since = err, time.Now()
	if up {
		st.connGauge.Set(1)
	} else {
		st.connGauge.Set(0)
	}
}

// state is the connection as /readyz tells it.
func (st *pbxStage) state() (up bool, since time.Time, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.connected.Load(), st.since, st.lastErr
}
