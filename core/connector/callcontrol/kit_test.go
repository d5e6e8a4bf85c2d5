package callcontrol_test

import (
	"context"
	"testing"
	"time"

	"github.com/callhook/callhook/core/connector/callcontrol"
	"github.com/callhook/callhook/core/connector/connectortest"
	"github.com/callhook/callhook/pbxsim/sim"
	"github.com/callhook/callhook/scenarios"
)

// startSim starts a simulator serving 3CX's APIs for the test's life.
func startSim(t *testing.T, speed float64) *sim.Sim {
	t.Helper()
	s, err := sim.Start(t.Context(), sim.Config{Speed: speed, ThreeCXAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newConnector is a connector for s's 3CX front-end with short waits.
func newConnector(t *testing.T, s *sim.Sim) *callcontrol.Connector {
	t.Helper()
	cc := s.ThreeCX()
	c, err := callcontrol.New(callcontrol.Config{URL: cc.URL(), ClientID: cc.ClientID(), ClientSecret: callcontrol.Secret(cc.ClientSecret()),
		Location: time.UTC, StatusInterval: 100 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The 3CX connector passes the connector suite against pbxsim's 3CX
// Call Control front-end.
func TestConnectorSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("plays call flows on the simulator; run without -short")
	}
	connectortest.Run(t, func(t *testing.T) connectortest.Target {
		s := startSim(t, 10)
		return connectortest.Target{
			Connector: newConnector(t, s),
			Play: func(ctx context.Context, name string) error {
				sc, err := scenarios.Load(name)
				if err != nil {
					return err
				}
				return s.Play(ctx, sc)
			},
			Sync: s.Sync,
			Drop: s.DropThreeCX,
		}
	})
}
