// Package image_test checks the production image: it assembles the image's
// root filesystem (deploy/rootfs.sh), builds the image with the local
// Docker, and runs the engine and the simulator from it as containers with
// host networking, bound to 127.0.0.1, playing a scenario end to end.
//
// The suite needs Docker (DOCKER_HOST, or the default socket). Without it
// the suite skips, unless CALLHOOK_REQUIRE_DOCKER is set (as `make test`
// does), in which case it fails. testcontainers-go also wants
// TESTCONTAINERS_RYUK_DISABLED=true and TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
// here; `make test` exports both.
package image_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/testcontainers/testcontainers-go"
)

func TestImage(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(30 * time.Second)
	RunSpecs(t, "Engine image", Label("docker"))
}

// imageTag is the engine image built for this run.
var imageTag string

var _ = BeforeSuite(func(ctx SpecContext) {
	requireDocker(ctx)

	dir, err := os.MkdirTemp("", "callhook-image-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)

	start := time.Now()
	script, err := filepath.Abs(filepath.Join("..", "..", "deploy", "rootfs.sh"))
	Expect(err).NotTo(HaveOccurred())
	out, err := exec.CommandContext(ctx, "sh", script, dir).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "deploy/rootfs.sh: %s", out)
	GinkgoWriter.Printf("rootfs assembled in %s\n", time.Since(start).Round(time.Millisecond))

	suffix := make([]byte, 4)
	rand.Read(suffix)
	req := &testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
		Context: dir, Repo: "callhook", Tag: "test-" + hex.EncodeToString(suffix),
		KeepImage: true, BuildLogWriter: GinkgoWriter,
	}}
	provider, err := testcontainers.NewDockerProvider()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(provider.Close)
	start = time.Now()
	imageTag, err = provider.BuildImage(ctx, req)
	Expect(err).NotTo(HaveOccurred(), "build the engine image")
	GinkgoWriter.Printf("image %s built in %s\n", imageTag, time.Since(start).Round(time.Millisecond))
	DeferCleanup(func(ctx SpecContext) {
		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		Expect(err).NotTo(HaveOccurred())
		defer cli.Close()
		_, err = cli.ImageRemove(ctx, imageTag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		Expect(err).NotTo(HaveOccurred())
	}, NodeTimeout(30*time.Second))
}, NodeTimeout(5*time.Minute))

// requireDocker skips the suite when no Docker daemon answers, or fails it
// when CALLHOOK_REQUIRE_DOCKER is set.
func requireDocker(ctx context.Context) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err == nil {
		_, err = cli.Ping(ctx, client.PingOptions{})
		cli.Close()
	}
	if err == nil {
		return
	}
	msg := fmt.Sprintf("no Docker daemon (%v); run `make test` (starts a private dockerd), or "+
		"`make docker-up` and then DOCKER_HOST=unix:///tmp/callhook-dockerd/docker.sock "+
		"TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 go test ./conformance/image", err)
	if os.Getenv("CALLHOOK_REQUIRE_DOCKER") != "" {
		Fail(msg)
	}
	Skip(msg)
}
