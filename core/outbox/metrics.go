package outbox

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callhook/callhook/core/delivery"
)

// Metrics are the outbox's Prometheus metrics, per receiver.
type Metrics struct {
	enqueued  *prometheus.CounterVec
	depth     *prometheus.GaugeVec
	attempts  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	delivered *prometheus.CounterVec
	dead      *prometheus.CounterVec
	// byReceiver holds each receiver's series (*receiverMetrics): they are
	// touched about six times a webhook, and a vector's label lookup
	// (hash, lock, map) each time showed in the pipeline's profile.
	byReceiver sync.Map
}

// outcomes are the attempts counter's outcome labels, by attempt kind
// (see outcome).
var outcomes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx", "error", "refused"}

const (
	outcomeError   = 5
	outcomeRefused = 6
)

// receiverMetrics are one receiver's series.
type receiverMetrics struct {
	enqueued, delivered, dead prometheus.Counter
	depth                     prometheus.Gauge
	latency                   prometheus.Observer
	// attempts by outcome, each made at its first attempt, so /metrics
	// shows the outcomes a receiver had.
	attempts [len(outcomes)]atomic.Pointer[prometheus.Counter]
}

// of returns receiver's series, made at its first use.
func (m *Metrics) of(receiver string) *receiverMetrics {
	if rm, ok := m.byReceiver.Load(receiver); ok {
		return rm.(*receiverMetrics)
	}
	rm := &receiverMetrics{
		enqueued:  m.enqueued.WithLabelValues(receiver),
		delivered: m.delivered.WithLabelValues(receiver),
		dead:      m.dead.WithLabelValues(receiver),
		depth:     m.depth.WithLabelValues(receiver),
		latency:   m.latency.WithLabelValues(receiver),
	}
	got, _ := m.byReceiver.LoadOrStore(receiver, rm)
	return got.(*receiverMetrics)
}

// NewMetrics registers the metrics with reg. pending, if not nil, reports
// the outbox's total queue depth (all nodes).
func NewMetrics(reg prometheus.Registerer, pending func() float64) *Metrics {
	m := &Metrics{
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callhook_webhooks_enqueued_total", Help: "Webhooks written to the outbox by this node.",
		}, []string{"receiver"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "callhook_delivery_queue_depth", Help: "Webhooks this node took from the outbox and has not finished.",
		}, []string{"receiver"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callhook_delivery_attempts_total", Help: "Delivery attempts by outcome (2xx, 4xx, 5xx, error, refused).",
		}, []string{"receiver", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "callhook_delivery_attempt_seconds", Help: "Attempt latency, request start to response read.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"receiver"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callhook_webhooks_delivered_total", Help: "Webhooks delivered with a 2xx.",
		}, []string{"receiver"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callhook_webhooks_dead_total", Help: "Webhooks dead-lettered after their retry schedule or refused for good.",
		}, []string{"receiver"}),
	}
	reg.MustRegister(m.enqueued, m.depth, m.attempts, m.latency, m.delivered, m.dead)
	if pending != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "callhook_outbox_pending", Help: "Webhooks waiting in the outbox, all nodes.",
		}, pending))
	}
	return m
}

// PendingFunc adapts Pending for NewMetrics.
func (o *Outbox) PendingFunc() func() float64 {
	return func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := o.Pending(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}
}

func (m *Metrics) attempt(a delivery.Attempt) {
	rm, i := m.of(a.Receiver), outcome(a)
	c := rm.attempts[i].Load()
	if c == nil {
		made := prometheus.Counter(m.attempts.WithLabelValues(a.Receiver, outcomes[i]))
		c = &made
		rm.attempts[i].Store(c)
	}
	(*c).Inc()
	if a.Latency > 0 {
		rm.latency.Observe(a.Latency.Seconds())
	}
}

// outcome is an attempt's index in outcomes: its status class, or an
// error (no response), or refused (never sent: Latency 0).
func outcome(a delivery.Attempt) int {
	switch {
	case a.Status >= 100 && a.Status < 600:
		return a.Status/100 - 1
	case a.Status != 0:
		return outcomeError
	case a.Latency == 0:
		return outcomeRefused
	}
	return outcomeError
}

func (m *Metrics) result(res delivery.Result) {
	if res.OK() {
		m.of(res.Request.Receiver).delivered.Inc()
	} else {
		m.of(res.Request.Receiver).dead.Inc()
	}
}
