package esl_test

import (
	"context"
	"testing"
	"time"

	"github.com/callhook/callhook/core/connector/connectortest"
	"github.com/callhook/callhook/core/connector/esl"
	"github.com/callhook/callhook/pbxsim/sim"
	"github.com/callhook/callhook/scenarios"
)

// The event socket connector passes the connector suite against pbxsim's
// event socket, which translates the simulator's calls into the events a
// FreeSWITCH raises for them.
func TestConnectorSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("plays call flows on the simulator; run without -short")
	}
	connectortest.Run(t, func(t *testing.T) connectortest.Target {
		s, err := sim.Start(t.Context(), sim.Config{Speed: 10, ESLAddr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		c, err := esl.New(esl.Config{Addr: s.ESLAddr(), Password: esl.Secret(s.ESLPassword()),
			Location: time.UTC, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return connectortest.Target{
			Connector: c,
			Play: func(ctx context.Context, name string) error {
				sc, err := scenarios.Load(name)
				if err != nil {
					return err
				}
				return s.Play(ctx, sc)
			},
			Sync: s.Sync,
			Drop: s.DropESL,
		}
	})
}
