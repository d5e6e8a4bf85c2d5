package esl_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/connector"
	"github.com/callhook/callhook/core/connector/esl"
	"github.com/callhook/callhook/core/waitfor"
)

// Originate places a call through bgapi originate; the switch names the
// call's first leg after the origination's id (origination_uuid), so the
// model reports the call under that id.
func TestOriginate(t *testing.T) {
	if testing.Short() {
		t.Skip("places a call on the simulator; run without -short")
	}
	w := watch(t, 10)
	c, err := esl.New(esl.Config{Addr: w.sim.ESLAddr(), Password: esl.Secret(w.sim.ESLPassword())})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Originate(t.Context(), connector.Origination{ID: uuid.NewString(), From: "101", To: "912125550199"}); err == nil {
		t.Error("Originate succeeded without a session")
	}
	// The watched connector is the one running; originate through it.
	id := uuid.NewString()
	started, err := w.conn.Originate(t.Context(), connector.Origination{ID: id, From: "101", To: "912125550199",
		CallerID: "101", RingTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if started.Message == "" {
		t.Error("Started says nothing of the job")
	}
	waitfor.True(t, within, "the originated call dialling out under its id", func() bool {
		return w.has(func(ev callmodel.Event) bool {
			return ev.Kind == callmodel.Dialing && ev.PBXCallID == id && ev.User == "101" && ev.External == "12125550199"
		})
	})
	ph, _ := w.sim.Phone("101")
	for _, call := range ph.Calls() {
		ctx, cancel := context.WithTimeout(t.Context(), within)
		_ = call.Hangup(ctx)
		cancel()
	}
	waitfor.True(t, within, "the originated call's end", func() bool {
		return w.has(func(ev callmodel.Event) bool { return ev.Kind == callmodel.Ended && ev.PBXCallID == id })
	})
	if _, err := w.conn.Originate(t.Context(), connector.Origination{From: "101 bad", To: "1"}); err == nil {
		t.Error("Originate took a caller that breaks the command")
	}
}
