package ami_test

import (
	"context"
	"testing"
	"time"

	"github.com/callhook/callhook/core/connector/ami"
	"github.com/callhook/callhook/core/connector/connectortest"
	"github.com/callhook/callhook/pbxsim/sim"
	"github.com/callhook/callhook/scenarios"
)

// The AMI connector passes the connector suite against pbxsim's manager
// interface, which speaks AMI as Asterisk 22 does (conformance/realpbx
// holds pbxsim to a real Asterisk).
func TestConnectorSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("plays call flows on the simulator; run without -short")
	}
	connectortest.Run(t, func(t *testing.T) connectortest.Target {
		s, err := sim.Start(t.Context(), sim.Config{Speed: 10})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		c, err := ami.New(ami.Config{Addr: s.AMIAddr(), Username: s.AMIUser(), Secret: ami.Secret(s.AMISecret()),
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
			Drop: s.DropAMI,
		}
	})
}
