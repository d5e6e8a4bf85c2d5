// Package core holds the engine: connectors that watch a live PBX
// (core/connector/...), the call model that turns their signals into call
// events (core/callmodel), the dialects that render those events as each
// vendor's webhooks (core/dialect/...), and delivery (core/delivery).
package core
