// Package dialect is the registry of payload dialects. A dialect is one
// package under core/dialect that registers, from its init, its name, the
// .ini keys of its [webhook.NAME] sections and its constructor; the
// configuration parser checks those keys (with file:line, in the same pass
// as every other key) and the service builds renderers by name, so no
// other package knows any dialect. core/dialect/all imports them all.
//
// A renderer is a pure filter and renderer: it decides from one call
// event alone whether its receiver gets a request and what it looks like.
// It keeps nothing between events (what a dialect needs of a call's past
// comes with the event, e.g. Event.History), so a receiver's requests are
// the same whatever other receivers are configured beside it.
package dialect

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/callhook/callhook/core/callmodel"
	"github.com/callhook/callhook/core/webhook"
)

// Renderer turns a call event into a receiver's request; false means the
// receiver gets nothing for it. Render must be safe for concurrent use
// and keep no state between events.
type Renderer interface {
	Render(ev callmodel.Event) (webhook.Request, bool)
}

// RendererFunc adapts a function to a Renderer.
type RendererFunc func(ev callmodel.Event) (webhook.Request, bool)

// Render calls f(ev).
func (f RendererFunc) Render(ev callmodel.Event) (webhook.Request, bool) { return f(ev) }

// Key is one key a dialect takes in its [webhook.NAME] sections.
type Key struct {
	Doc string // what the key does, for errors and documentation
	// Check says what is wrong with a value, nil when it is fine; empty
	// values are never passed. Nil accepts any value.
	Check func(value string) error
}

// User is what the extension directory ([extension.NUM]) says of the
// person at an extension.
type User struct {
	Login, Email, Name string
}

// Webhook is what a renderer is built from: one [webhook.NAME] section
// and what the engine knows beside it.
type Webhook struct {
	Name string   // NAME of [webhook.NAME]
	URL  *url.URL // where requests go
	// Options are the dialect's own keys as the section sets them, each
	// already passed by its Key.Check.
	Options map[string]string
	// Location is the PBX's wall clock, for local times in payloads.
	Location *time.Location
	// Users is the extension directory, by extension number.
	Users map[string]User
	// Recordings, when set, asks a dialect that has them (Spec.Recordings)
	// for the POSTs announcing a call's stored recordings and their
	// speech analytics (RecordingReady, TranscriptReady events).
	Recordings *Recordings
}

// Recordings says how a receiver wants the recording POSTs.
type Recordings struct {
	// IDInBody puts the call id (or the call-end fields) in the body
	// rather than the query string.
	IDInBody bool
	// FullFields sends every field of the link's call-end event, not
	// only its id.
	FullFields bool
}

// Option returns the value of a dialect key, "" when unset.
func (w Webhook) Option(key string) string { return w.Options[key] }

// Spec is a dialect as it registers itself.
type Spec struct {
	Name string // the value of the dialect key, e.g. "3cx"
	Doc  string // one line: whose webhooks these are
	// Keys are the dialect's own [webhook.NAME] keys, beside the keys
	// every webhook has (url, dialect, credentials, signing, timeout,
	// headers, retries).
	Keys map[string]Key
	// New builds the renderer of one webhook. A problem of one key
	// should come back as a *KeyError, so it is reported on its line.
	New func(w Webhook) (Renderer, error)
	// Recordings: the dialect renders RecordingReady and TranscriptReady
	// events for receivers that ask (Webhook.Recordings).
	Recordings bool
	// Callback, when set, builds the renderer for the callback_url of
	// calls the autodial API started: every event of such a call goes to
	// the URL the API was given, nothing else. The [api] section names
	// the dialect whose callback format it uses.
	Callback func(w Webhook) (Renderer, error)
}

// KeyError is a problem with one dialect key, found when the renderer was
// built (a combination of keys, say).
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// ErrUnknown: no dialect of that name is registered.
var ErrUnknown = errors.New("unknown dialect")

var (
	mu       sync.RWMutex
	registry = map[string]Spec{}
)

// Register adds a dialect. It panics on an empty or repeated name or a
// missing constructor: registration happens in init, where such a mistake
// is the program's.
func Register(s Spec) {
	if s.Name == "" || s.New == nil {
		panic("dialect: Register needs a name and a constructor")
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[strings.ToLower(s.Name)]; dup {
		panic("dialect: " + s.Name + " registered twice")
	}
	registry[strings.ToLower(s.Name)] = s
}

// Lookup finds a dialect by name, case-insensitively.
func Lookup(name string) (Spec, error) {
	mu.RLock()
	defer mu.RUnlock()
	s, ok := registry[strings.ToLower(name)]
	if !ok {
		return Spec{}, fmt.Errorf("%w %q (want %s)", ErrUnknown, name, strings.Join(names(), ", "))
	}
	return s, nil
}

// Names lists the registered dialects, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	return names()
}

func names() []string {
	var out []string
	for _, s := range registry {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

// OneOf is a Key.Check accepting the listed values, case-insensitively.
func OneOf(values ...string) func(string) error {
	return func(v string) error {
		for _, a := range values {
			if strings.EqualFold(a, v) {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(values, ", "))
	}
}

// List splits a comma-separated key value, dropping blanks.
func List(v string) []string {
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// Bool reads true/false, yes/no, on/off, 1/0.
func Bool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0", "":
		return false, nil
	}
	return false, fmt.Errorf("want true or false, got %q", v)
}

// CheckBool is a Key.Check for boolean keys.
func CheckBool(v string) error {
	_, err := Bool(v)
	return err
}
