//go:build benchnostore

package service

import (
	"context"

	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/engine"
)

// A callhook built with -tags benchnostore hands each rendered request
// straight to a dispatcher: no outbox, no durability, no delivery log.
// It exists only so the pipeline benchmark can show what the PBX side,
// the call model, the dialect and the HTTP exchange cost without any
// store between them (benchpipeline -no-store); never ship it.
func noStore(policies map[string]delivery.Policy) engine.Deliverer {
	recv := delivery.NewReceivers(delivery.NewSender(delivery.WithSenderGuard()), policies)
	return directDeliverer{delivery.NewDispatcher(recv.Send)}
}

type directDeliverer struct{ d *delivery.Dispatcher }

func (x directDeliverer) Enqueue(_ context.Context, r delivery.Request) error { return x.d.Enqueue(r) }

func (x directDeliverer) EnqueueBatch(_ context.Context, rs []delivery.Request) error {
	for _, r := range rs {
		if err := x.d.Enqueue(r); err != nil {
			return err
		}
	}
	return nil
}

func (x directDeliverer) Flush(ctx context.Context) error { return x.d.Wait(ctx) }
