// Package realpbx plays the built-in scenarios against a real Asterisk 22
// configured from fixtures/asterisk: scripted phones register on its SIP
// port, the engine connects to its AMI port, and the webhooks are compared
// with the scenario's expectations, exactly as on the simulator.
//
// The Asterisk is one that is already running, named by
// CALLHOOK_ASTERISK_SIP and CALLHOOK_ASTERISK_AMI (host:port each); or one
// started here with testcontainers-go from the image named by
// CALLHOOK_ASTERISK_IMAGE (needs Docker; host networking, binds 127.0.0.1
// only); or one installed on this machine under the prefix named by
// CALLHOOK_ASTERISK_PREFIX, started here as a child process with a scratch
// asterisk.conf (see LocalAsterisk). They are tried in that order.
package realpbx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Environment variables that select the Asterisk to run against.
const (
	EnvImage     = "CALLHOOK_ASTERISK_IMAGE"      // image to start with testcontainers
	EnvSIP       = "CALLHOOK_ASTERISK_SIP"        // host:port of a running Asterisk's SIP
	EnvAMI       = "CALLHOOK_ASTERISK_AMI"        // host:port of its AMI
	EnvAMIUser   = "CALLHOOK_ASTERISK_AMI_USER"   // default "admin"
	EnvAMISecret = "CALLHOOK_ASTERISK_AMI_SECRET" // default "secret"
	EnvPrefix    = "CALLHOOK_ASTERISK_PREFIX"     // an installed Asterisk to start here (PREFIX/sbin/asterisk)
	EnvKeep      = "CALLHOOK_ASTERISK_KEEP"       // set: keep a started Asterisk's scratch folder (logs)
	EnvRecord    = "CALLHOOK_ASTERISK_RECORD"     // a folder: record each scenario's AMI stream there
)

// How says what makes the suite run; it is the skip message when there is
// no target.
const How = "no Asterisk to run against: set " + EnvPrefix + "=<the prefix of an installed Asterisk 22> (started " +
	"here with the fixtures/asterisk configuration), or " + EnvImage + "=<an Asterisk 22 image> (Docker must be " +
	"reachable; the configuration is copied in), or " + EnvSIP + "=host:port and " + EnvAMI +
	"=host:port of a running Asterisk 22 configured from fixtures/asterisk; or run `make realpbx`, which starts " +
	"the Asterisk under ASTERISK_PREFIX (default /opt/ast22) when there is one (see docs/realpbx.md)"

// Errors of this package.
var (
	// ErrNoTarget means neither an image nor addresses were given.
	ErrNoTarget = errors.New("realpbx: " + How)
	// ErrNoDocker means an image was named but no Docker daemon answers.
	ErrNoDocker = errors.New("realpbx: " + EnvImage + " is set but no Docker daemon answers (set DOCKER_HOST, " +
		"or run `make docker-up` and use `make realpbx`, which points DOCKER_HOST at it)")
	// ErrIncompleteTarget means only one of the SIP and AMI addresses was given.
	ErrIncompleteTarget = errors.New("realpbx: " + EnvSIP + " and " + EnvAMI + " must be set together")
)

// Target is an Asterisk to play scenarios on.
type Target struct {
	SIP, AMI           string // host:port each
	AMIUser, AMISecret string
	// Transport of the phones: "udp" (default) or "tcp".
	Transport string
	// Container is set when the Asterisk was started here in a container.
	Container *AsteriskContainer
	// Local is set when the Asterisk was started here from an install.
	Local *LocalAsterisk
}

// Kind says how the target was found: "running", "container" or "local".
func (t *Target) Kind() string {
	switch {
	case t.Container != nil:
		return "container"
	case t.Local != nil:
		return "local"
	}
	return "running"
}

// Close stops the container or the local Asterisk, if one was started.
func (t *Target) Close(ctx context.Context) error {
	switch {
	case t.Container != nil:
		return t.Container.Terminate(ctx)
	case t.Local != nil:
		return t.Local.Close(ctx)
	}
	return nil
}

// Available says whether the environment names an Asterisk the suite can
// use, without starting anything: nil, ErrNoTarget, ErrNoDocker or
// ErrIncompleteTarget.
func Available(ctx context.Context) error {
	sip, ami := os.Getenv(EnvSIP), os.Getenv(EnvAMI)
	switch {
	case sip != "" && ami != "":
		return nil
	case sip != "" || ami != "":
		return ErrIncompleteTarget
	case os.Getenv(EnvImage) == "" && os.Getenv(EnvPrefix) != "":
		return nil
	case os.Getenv(EnvImage) == "":
		return ErrNoTarget
	}
	if err := dockerReachable(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrNoDocker, err)
	}
	return nil
}

// FromEnv picks the Asterisk the environment names: a running one when
// CALLHOOK_ASTERISK_SIP and CALLHOOK_ASTERISK_AMI are set, otherwise a
// container from CALLHOOK_ASTERISK_IMAGE, otherwise the install under
// CALLHOOK_ASTERISK_PREFIX, started here. It returns ErrNoTarget when
// none is set.
func FromEnv(ctx context.Context) (*Target, error) {
	t := &Target{
		SIP: os.Getenv(EnvSIP), AMI: os.Getenv(EnvAMI),
		AMIUser: os.Getenv(EnvAMIUser), AMISecret: os.Getenv(EnvAMISecret),
		Transport: "udp",
	}
	if t.AMIUser == "" {
		t.AMIUser, t.AMISecret = "admin", "secret"
	}
	switch {
	case t.SIP != "" && t.AMI != "":
		return t, nil
	case t.SIP != "" || t.AMI != "":
		return nil, ErrIncompleteTarget
	}
	img := os.Getenv(EnvImage)
	if img == "" {
		prefix := os.Getenv(EnvPrefix)
		if prefix == "" {
			return nil, ErrNoTarget
		}
		a, err := StartLocal(ctx, prefix, ConfigDir())
		if err != nil {
			return nil, err
		}
		t.Local = a
		t.SIP, t.AMI = a.SIPAddr(), a.AMIAddr()
		return t, nil
	}
	if err := dockerReachable(ctx); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDocker, err)
	}
	ctr, err := RunAsterisk(ctx, img, ConfigDir())
	if err != nil {
		return nil, err
	}
	t.Container = ctr
	t.SIP, t.AMI = ctr.SIPAddr(), ctr.AMIAddr()
	return t, nil
}

// ConfigDir is the repository's fixtures/asterisk directory.
func ConfigDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return filepath.Join("fixtures", "asterisk")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "fixtures", "asterisk")
}

// Extensions are the phones of fixtures/asterisk/pjsip.conf.
var Extensions = []struct{ Number, Name, Password string }{
	{"101", "Alice 101", "secret101"},
	{"102", "Bob 102", "secret102"},
	{"103", "Carol 103", "secret103"},
	{"104", "Dave 104", "secret104"},
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
