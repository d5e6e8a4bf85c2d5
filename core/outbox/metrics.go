package outbox

import (
	"context"
	"strconv"
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
	outcome := "error"
	switch {
	case a.Status != 0:
		outcome = strconv.Itoa(a.Status/100) + "xx"
	case a.Latency == 0:
		outcome = "refused"
	}
	m.attempts.WithLabelValues(a.Receiver, outcome).Inc()
	if a.Latency > 0 {
		m.latency.WithLabelValues(a.Receiver).Observe(a.Latency.Seconds())
	}
}

func (m *Metrics) result(res delivery.Result) {
	if res.OK() {
		m.delivered.WithLabelValues(res.Request.Receiver).Inc()
	} else {
		m.dead.WithLabelValues(res.Request.Receiver).Inc()
	}
}
