package check

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/callhook/callhook/pbxsim/scenario"
)

// Variant is one webhook a dialect's checks play every scenario to: the
// dialect keys it is configured with, and the check of what it received.
type Variant struct {
	Name    string            // e.g. "json-current"; "" for a dialect's only variant
	Options map[string]string // the webhook's dialect keys
	// Check returns every way reqs, one scenario's requests in arrival
	// order, break the vendor's documented rules (nil entries are fine).
	Check func(sc *scenario.Scenario, reqs []Request, tolerance time.Duration) []error
}

// Dialect is a dialect's conformance entry as it registers itself: the
// checks `callhook conformance` and the suites run for it.
type Dialect struct {
	Name     string // as in core/dialect
	Variants []Variant
	// Request, when set, checks one request by itself against the
	// vendor rules of the webhook opts configures (its dialect keys):
	// the rules that need no scenario, which an inspector runs on every
	// webhook as it goes out. Broken rules are *Failure where the rule
	// is known (RuleFailures); nil entries are fine.
	Request func(opts map[string]string, r Request) []error
}

var (
	mu       sync.Mutex
	dialects = map[string]Dialect{}
)

// Register adds a dialect's conformance entry (from init; a repeat
// panics).
func Register(d Dialect) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := dialects[d.Name]; dup || d.Name == "" || len(d.Variants) == 0 {
		panic("check: bad or repeated conformance entry " + d.Name)
	}
	dialects[d.Name] = d
}

// Dialects lists the registered entries by name.
func Dialects() []Dialect {
	mu.Lock()
	defer mu.Unlock()
	var out []Dialect
	for _, d := range dialects {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Dialect) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Lookup finds the entry of one dialect.
func Lookup(name string) (Dialect, error) {
	mu.Lock()
	defer mu.Unlock()
	d, ok := dialects[name]
	if !ok {
		return Dialect{}, fmt.Errorf("no conformance checks for dialect %q", name)
	}
	return d, nil
}

// Now is the time the registered checks take payload timestamps to be
// near (Bulutfon's timestamp is microseconds since the epoch "near now"). A
// replay of a recorded stream sets it to the recording's time.
var Now = time.Now

// Failures drops the nil entries of errs.
func Failures(errs []error) error {
	var out []error
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return errors.Join(out...)
}
