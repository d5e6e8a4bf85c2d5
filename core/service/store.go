//go:build !benchnostore

package service

import (
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/engine"
)

// noStore is nil in every real build: the engine delivers through the
// durable outbox. See nostore.go.
func noStore(map[string]delivery.Policy) engine.Deliverer { return nil }
