package realpbx

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// The addresses fixtures/asterisk binds (host networking: the host's
// loopback).
const (
	SIPAddr = "127.0.0.1:5060"
	AMIAddr = "127.0.0.1:5038"
)

// AsteriskContainer is an Asterisk started with testcontainers-go.
type AsteriskContainer struct {
	testcontainers.Container
}

// SIPAddr is the SIP address (UDP and TCP).
func (c *AsteriskContainer) SIPAddr() string { return SIPAddr }

// AMIAddr is the AMI address.
func (c *AsteriskContainer) AMIAddr() string { return AMIAddr }

// RunAsterisk starts img with host networking, with every *.conf of
// configDir copied into /etc/asterisk, and returns once AMI accepts a
// login and Asterisk reports FullyBooted. The image must start Asterisk
// in the foreground by default (e.g. `asterisk -f`). Like
// testcontainers.Run, it returns the container even with an error, so the
// caller can clean it up.
func RunAsterisk(ctx context.Context, img, configDir string, opts ...testcontainers.ContainerCustomizer) (*AsteriskContainer, error) {
	confs, err := filepath.Glob(filepath.Join(configDir, "*.conf"))
	if err != nil || len(confs) == 0 {
		return nil, fmt.Errorf("run asterisk: no *.conf in %s", configDir)
	}
	var files []testcontainers.ContainerFile
	for _, f := range confs {
		files = append(files, testcontainers.ContainerFile{
			HostFilePath: f, ContainerFilePath: "/etc/asterisk/" + filepath.Base(f), FileMode: 0o644,
		})
	}
	all := []testcontainers.ContainerCustomizer{
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.NetworkMode = "host" }),
		testcontainers.WithFiles(files...),
		testcontainers.WithWaitStrategyAndDeadline(90*time.Second, amiReady{addr: AMIAddr, user: "admin", secret: "secret"}),
	}
	all = append(all, opts...)
	ctr, err := testcontainers.Run(ctx, img, all...)
	var c *AsteriskContainer
	if ctr != nil {
		c = &AsteriskContainer{Container: ctr}
	}
	if err != nil {
		return c, fmt.Errorf("run asterisk %s: %w", img, err)
	}
	return c, nil
}

// dockerReachable pings the Docker daemon testcontainers-go would use.
func dockerReachable(ctx context.Context) error {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	_, err = cli.Ping(ctx, client.PingOptions{})
	return err
}

// amiReady waits until Asterisk's AMI takes a login and Asterisk is fully
// booted (the FullyBooted event every new session gets once it is).
type amiReady struct{ addr, user, secret string }

func (s amiReady) WaitUntilReady(ctx context.Context, _ wait.StrategyTarget) error {
	var last error
	for {
		c, err := dialAMI(ctx, s.addr, s.user, s.secret, true)
		if err == nil {
			err = c.waitEvent(ctx, "FullyBooted", 5*time.Second)
			c.Close()
			if err == nil {
				return nil
			}
		}
		last = err
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("asterisk AMI at %s not ready: %w (last: %v)", s.addr, ctx.Err(), last)
		case <-t.C:
		}
	}
}

func (s amiReady) String() string { return "AMI login and FullyBooted on " + s.addr }
