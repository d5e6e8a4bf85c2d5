package callmodel_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/callhook/callhook/core/callmodel"
)

// The 3CX document's example id, 210701165649_698-2: the start as
// yyMMddHHmmss on the PBX's clock, the call number, the link.
func TestCallIDFormat(t *testing.T) {
	loc := time.FixedZone("PBX", 3*3600)
	start := time.Date(2021, 7, 1, 16, 56, 49, 0, loc)
	tests := []struct {
		id   callmodel.CallID
		loc  *time.Location
		want string
	}{
		{callmodel.CallID{Start: start, Number: 698, Link: 2}, loc, "210701165649_698-2"},
		{callmodel.CallID{Start: start, Number: 698, Link: 2}, time.UTC, "210701135649_698-2"},
		{callmodel.CallID{Start: start, Number: 0, Link: 0}, loc, "210701165649_0-0"},
	}
	for _, tt := range tests {
		if got := tt.id.Format(tt.loc); got != tt.want {
			t.Errorf("%+v.Format(%s) = %q, want %q", tt.id, tt.loc, got, tt.want)
		}
	}
}

// A chain is the start's Unix seconds and the call number; an event's key
// adds its kind, link and N, so replays give the same webhook ids.
func TestCallIDChainAndKey(t *testing.T) {
	start := time.Unix(1625147809, 0)
	id := callmodel.CallID{Start: start, Number: 698, Link: 2}
	if got, want := id.Chain(), "1625147809_698"; got != want {
		t.Errorf("Chain() = %q, want %q", got, want)
	}
	ev := callmodel.Event{Kind: callmodel.Answered, ID: id, N: 3}
	if got, want := ev.Key(), fmt.Sprintf("1625147809_698-%s-2-3", callmodel.Answered); got != want {
		t.Errorf("Key() = %q, want %q", got, want)
	}
}

// SameChain agrees with comparing Chains.
func TestCallIDSameChain(t *testing.T) {
	a := callmodel.CallID{Start: time.Unix(1625147809, 0), Number: 698, Link: 2}
	for _, b := range []callmodel.CallID{
		a, {Start: a.Start, Number: 698, Link: 0}, {Start: a.Start.Add(500 * time.Millisecond), Number: 698},
		{Start: a.Start, Number: 69}, {Start: time.Unix(162514780, 0), Number: 9698}, {Start: a.Start.Add(time.Second), Number: 698},
	} {
		if got, want := a.SameChain(b), a.Chain() == b.Chain(); got != want {
			t.Errorf("%v.SameChain(%v) = %v; chains %q and %q", a, b, got, a.Chain(), b.Chain())
		}
	}
}
