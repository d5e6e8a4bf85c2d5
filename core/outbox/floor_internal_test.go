package outbox

import (
	"context"
	"slices"
	"testing"

	"github.com/callhook/callhook/core/delivery"
)

// TestQuietFloorsKept: the floor of every partition this node delivers is
// kept while its consumer runs, even with nothing delivered yet, so Close
// stops every one (an idle floor once dropped at the next claim kept its
// purge timer running after Close, and Shutdown did not flush it).
func TestQuietFloorsKept(t *testing.T) {
	ctx := context.Background()
	ob, err := Open(ctx, Config{Node: "n1", Partitions: 4}, delivery.NewReceivers(delivery.NewSender(), nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ob.mu.Lock()
	floors := map[int]*partFloor{}
	for p, op := range ob.owned {
		if !slices.Contains(ob.floors, op.floor) {
			t.Errorf("partition %d: its floor is not tracked", p)
		}
		floors[p] = op.floor
	}
	ob.mu.Unlock()
	if len(floors) != 4 {
		t.Fatalf("%d partitions owned, want 4", len(floors))
	}
	ob.Close()
	for p, f := range floors {
		f.mu.Lock()
		stopped := f.stopped
		f.mu.Unlock()
		if !stopped {
			t.Errorf("partition %d: floor still running after Close", p)
		}
	}
}
