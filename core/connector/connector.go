// Package connector is the registry of PBX connectors. A connector is one
// package under core/connector that registers, from its init, the [pbx]
// type it serves, the keys of its [pbx] section and its constructor; the
// configuration parser checks those keys and the service builds the
// connector by type, so no other package knows any PBX.
// core/connector/all imports them all.
//
// A connector translates its PBX's live interface into neutral signals
// (core/signal) and absorbs every PBX-specific detail on the way.
package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callhook/callhook/core/signal"
)

// Connector reports a PBX's signals to h until ctx is done. Run sends
// signal.Connected when it reaches the PBX and signal.Disconnected when it
// loses it, and reconnects on its own; it returns on ctx's end, on a
// permanent error (wrong credentials), or when h fails.
type Connector interface {
	Run(ctx context.Context, h signal.Handler) error
}

// Originator is a connector that can start calls: the autodial API uses
// it.
type Originator interface {
	Originate(ctx context.Context, o Origination) (Started, error)
}

// Origination is a call to start: the PBX rings From first (an extension
// of the PBX, or a number reached through Trunk) and, once From answers,
// dials To as From would.
type Origination struct {
	// ID is the id the PBX should give the call's first leg, when it can;
	// a PBX that honours it makes the call easy to recognise.
	ID string
	// From is an extension, or a number when FromIsNumber.
	From         string
	FromIsNumber bool
	Trunk        string // where a number From is reached
	// To is what the answered first leg dials, outside-line digits
	// included.
	To string
	// Context is where in the PBX's dial plan the answered leg dials To,
	// for PBXs that have such places; "" for the PBX's default.
	Context     string
	CallerID    string        // shown to From
	RingTimeout time.Duration // how long From may ring
}

// Started is what the PBX said when it accepted an origination.
type Started struct {
	Message string
}

// HostPort is a Key.Check for addresses: host:port with a numeric port
// in 1-65535.
func HostPort(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return fmt.Errorf("want host:port, got %q (%s)", v, ae.Err)
		}
		return fmt.Errorf("want host:port, got %q", v)
	}
	if host == "" {
		return fmt.Errorf("want host:port, got %q (missing host)", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q in %q: want a number 1-65535", port, v)
	}
	return nil
}

// Key is one key of a connector's [pbx] section.
type Key struct {
	Doc      string
	Required bool
	Secret   bool // a password or token: redacted wherever it is printed
	// Check says what is wrong with a value; nil accepts any.
	Check func(value string) error
}

// PBX is what a connector is built from: its [pbx] section and what the
// engine knows beside it.
type PBX struct {
	Type string
	// Options are the connector's keys as the section sets them, secrets
	// included, each already passed by its Key.Check.
	Options  map[string]string
	Location *time.Location // the PBX's wall clock
	// RecordingsDir is where the PBX writes recordings it names
	// relatively ([recordings] monitor_dir), "" for its default.
	RecordingsDir string
	Logger        *slog.Logger
}

// Option returns the value of a key, "" when unset.
func (p PBX) Option(key string) string { return p.Options[key] }

// Spec is a connector as it registers itself.
type Spec struct {
	Type string // the [pbx] type it serves, e.g. "ami"
	Doc  string // one line: which PBX interface
	Keys map[string]Key
	New  func(p PBX) (Connector, error)
}

// ErrUnknown: no connector serves that type.
var ErrUnknown = errors.New("unknown connector")

var (
	mu       sync.RWMutex
	registry = map[string]Spec{}
)

// Register adds a connector. It panics on an empty or repeated type or a
// missing constructor: registration happens in init.
func Register(s Spec) {
	if s.Type == "" || s.New == nil {
		panic("connector: Register needs a type and a constructor")
	}
	mu.Lock()
	defer mu.Unlock()
	t := strings.ToLower(s.Type)
	if _, dup := registry[t]; dup {
		panic("connector: " + s.Type + " registered twice")
	}
	registry[t] = s
}

// Lookup finds the connector of a [pbx] type, case-insensitively.
func Lookup(typ string) (Spec, error) {
	mu.RLock()
	defer mu.RUnlock()
	s, ok := registry[strings.ToLower(typ)]
	if !ok {
		return Spec{}, fmt.Errorf("%w %q (want %s)", ErrUnknown, typ, strings.Join(types(), ", "))
	}
	return s, nil
}

// Types lists the registered [pbx] types, sorted.
func Types() []string {
	mu.RLock()
	defer mu.RUnlock()
	return types()
}

func types() []string {
	var out []string
	for _, s := range registry {
		out = append(out, s.Type)
	}
	slices.Sort(out)
	return out
}
