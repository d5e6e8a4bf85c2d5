package outbox

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/callhook/callhook/core/delivery"
)

// Each attempt counts under its receiver and outcome: the status class,
// "error" when no response came, "refused" when it was never sent.
func TestMetricsAttemptOutcome(t *testing.T) {
	tests := []struct {
		name string
		a    delivery.Attempt
		want string
	}{
		{"delivered", delivery.Attempt{Receiver: "crm", Status: 200, Latency: time.Millisecond}, "2xx"},
		{"no content", delivery.Attempt{Receiver: "crm", Status: 204, Latency: time.Millisecond}, "2xx"},
		{"redirect", delivery.Attempt{Receiver: "crm", Status: 302, Latency: time.Millisecond}, "3xx"},
		{"gone", delivery.Attempt{Receiver: "crm", Status: 410, Latency: time.Millisecond}, "4xx"},
		{"unavailable", delivery.Attempt{Receiver: "crm", Status: 503, Latency: time.Millisecond}, "5xx"},
		{"connection refused", delivery.Attempt{Receiver: "crm", Latency: time.Millisecond}, "error"},
		{"never sent", delivery.Attempt{Receiver: "crm"}, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics(prometheus.NewRegistry(), nil)
			m.attempt(tt.a)
			m.attempt(tt.a)
			if got := testutil.ToFloat64(m.attempts.WithLabelValues(tt.a.Receiver, tt.want)); got != 2 {
				t.Errorf("callhook_delivery_attempts_total{receiver=%q,outcome=%q} = %v after two attempts, want 2", tt.a.Receiver, tt.want, got)
			}
			if n := testutil.CollectAndCount(m.attempts); n != 1 {
				t.Errorf("callhook_delivery_attempts_total has %d series after one receiver's attempts of one outcome, want 1", n)
			}
		})
	}
}

// Two receivers keep separate series.
func TestMetricsPerReceiver(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry(), nil)
	m.of("crm").enqueued.Add(3)
	m.of("erp").enqueued.Inc()
	m.result(delivery.Result{Request: delivery.Request{Receiver: "crm"}, Status: 200})
	for recv, want := range map[string]float64{"crm": 3, "erp": 1} {
		if got := testutil.ToFloat64(m.enqueued.WithLabelValues(recv)); got != want {
			t.Errorf("callhook_webhooks_enqueued_total{receiver=%q} = %v, want %v", recv, got, want)
		}
	}
	if got := testutil.ToFloat64(m.delivered.WithLabelValues("crm")); got != 1 {
		t.Errorf("callhook_webhooks_delivered_total{receiver=\"crm\"} = %v after one 200, want 1", got)
	}
}
