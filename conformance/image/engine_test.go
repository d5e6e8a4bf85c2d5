package image_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/callhook/callhook/conformance/check"
	"github.com/callhook/callhook/core/webhooktest"
	"github.com/callhook/callhook/scenarios"
)

// speed plays the scenario ten times faster; the simulator's clock runs
// ten times faster too, so durations in the webhooks stay the scenario's.
const speed = 10

// hostNetwork runs a container in the host's network namespace: it binds
// 127.0.0.1 like a local process and nothing is published or bridged.
var hostNetwork = testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
	hc.NetworkMode = "host"
})

// logTo copies a container's output to the spec's log, shown on failure.
type logTo string

func (p logTo) Accept(l testcontainers.Log) {
	fmt.Fprintf(GinkgoWriter, "[%s] %s", string(p), l.Content)
}

// run starts a container from the engine image and terminates it when the
// spec ends.
func run(ctx context.Context, name string, opts ...testcontainers.ContainerCustomizer) *testcontainers.DockerContainer {
	opts = append([]testcontainers.ContainerCustomizer{hostNetwork,
		testcontainers.WithLogConsumers(logTo(name))}, opts...)
	ctr, err := testcontainers.Run(ctx, imageTag, opts...)
	DeferCleanup(func() { Expect(testcontainers.TerminateContainer(ctr)).To(Succeed()) })
	Expect(err).NotTo(HaveOccurred(), "start %s container", name)
	return ctr
}

// simAddrs reads the addresses the simulator chose from its ready line.
var simAddrs = regexp.MustCompile(`msg="simulator serving" sip=(\S+) ami=(\S+) control=(\S+)`)

var _ = Describe("The engine image", func() {
	It("runs the simulator and the engine as containers, delivering a scenario's webhooks", func(ctx SpecContext) {
		recv := webhooktest.NewServer()
		DeferCleanup(recv.Close)

		By("starting the simulator from the image, on free ports of 127.0.0.1")
		simCtr := run(ctx, "sim",
			testcontainers.WithCmd("sim", "serve", "--sip", "127.0.0.1:0", "--ami", "127.0.0.1:0",
				"--control", "127.0.0.1:0", "--speed", fmt.Sprint(speed)),
			testcontainers.WithWaitStrategy(wait.ForLog("simulator serving").WithStartupTimeout(30*time.Second)))
		logs, err := simCtr.Logs(ctx)
		Expect(err).NotTo(HaveOccurred())
		out, err := io.ReadAll(logs)
		logs.Close()
		Expect(err).NotTo(HaveOccurred())
		m := simAddrs.FindSubmatch(out)
		Expect(m).NotTo(BeNil(), "simulator's ready line in %q", out)
		amiAddr, control := string(m[2]), string(m[3])
		Expect(amiAddr).To(HavePrefix("127.0.0.1:"))

		By("starting the engine from the image, configured by an .ini to the simulator's AMI")
		// The receiver is this test, on loopback: allow_private lets the
		// engine deliver to it.
		// admin_listen gives the image's HEALTHCHECK (callhook health) its
		// /readyz; a port is taken and freed for it.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		adminAddr := ln.Addr().String()
		Expect(ln.Close()).To(Succeed())
		ini := fmt.Sprintf("[pbx]\ntype = ami\naddress = %s\nusername = admin\nsecret = secret\n\n"+
			"[webhook.crm]\nurl = %s/hook\ndialect = 3cx\nallow_private = true\n\n"+
			"[delivery]\nadmin_listen = %s\nadmin_token = 0123456789abcdef-admin\n", amiAddr, recv.URL(), adminAddr)
		engine := run(ctx, "engine",
			testcontainers.WithFiles(testcontainers.ContainerFile{
				Reader: strings.NewReader(ini), ContainerFilePath: "/etc/callhook/callhook.ini", FileMode: 0o644,
			}),
			testcontainers.WithWaitStrategy(wait.ForLog("ami logged in").WithStartupTimeout(30*time.Second)))
		Expect(engine.IsRunning()).To(BeTrue())

		By("reporting healthy through the image's HEALTHCHECK, callhook health, once the engine is ready")
		Eventually(ctx, func(g Gomega) {
			st, err := engine.State(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(st.Health).NotTo(BeNil(), "the image has no HEALTHCHECK")
			g.Expect(string(st.Health.Status)).To(Equal("healthy"), "health log: %+v", st.Health.Log)
		}).WithTimeout(time.Minute).Should(Succeed()) // the first check runs one --interval (15 s) after start
		code, output, err := engine.Exec(ctx, []string{"/usr/local/bin/callhook", "health", "--config", "/etc/callhook/callhook.ini"})
		Expect(err).NotTo(HaveOccurred())
		msg, _ := io.ReadAll(output)
		Expect(code).To(Equal(0), "callhook health: %s", msg)

		By("playing inbound-answered through the simulator's control API")
		sc, err := scenarios.Load("inbound-answered")
		Expect(err).NotTo(HaveOccurred())
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+control+"/play/"+sc.Name, nil)
		Expect(err).NotTo(HaveOccurred())
		res, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		Expect(res.StatusCode).To(Equal(http.StatusOK), "play: %s", body)
		var played struct{ Scenario, Sync string }
		Expect(json.Unmarshal(body, &played)).To(Succeed())
		Expect(played.Scenario).To(Equal(sc.Name))

		By("receiving the scenario's webhooks from the engine container")
		got, err := recv.Wait(ctx, len(sc.Expect))
		Expect(err).NotTo(HaveOccurred())
		var reqs []check.Request
		for _, c := range got {
			reqs = append(reqs, check.Request{Method: c.Method, Path: c.Path, RawQuery: c.RawQuery, Body: c.Body})
		}
		rules, err := check.NewThreeCX()
		Expect(err).NotTo(HaveOccurred())
		Expect(rules.Expected(sc, reqs, time.Second)).To(Succeed())
		for _, r := range reqs {
			Expect(rules.Fields(r)).To(Succeed())
			Expect(rules.ID(r)).To(Succeed())
		}
		Consistently(recv.Requests).WithTimeout(200 * time.Millisecond).Should(HaveLen(len(sc.Expect)))

		By("encoding a recording to MP3 with the image's own lame")
		Expect(engine.CopyToContainer(ctx, wav(time.Second), "/tmp/rec.wav", 0o644)).To(Succeed())
		code, output, err = engine.Exec(ctx, []string{"/usr/bin/lame", "--quiet", "-b", "32", "/tmp/rec.wav", "/tmp/rec.mp3"})
		Expect(err).NotTo(HaveOccurred())
		msg, _ = io.ReadAll(output)
		Expect(code).To(Equal(0), "lame: %s", msg)
		rc, err := engine.CopyFileFromContainer(ctx, "/tmp/rec.mp3")
		Expect(err).NotTo(HaveOccurred())
		mp3, err := io.ReadAll(rc)
		rc.Close()
		Expect(err).NotTo(HaveOccurred())
		Expect(isMP3(mp3)).To(BeTrue(), "lame's output starts % x", mp3[:min(len(mp3), 8)])
	}, SpecTimeout(2*time.Minute))
})

// wav is d of a 440 Hz tone as an 8 kHz, 16-bit mono WAV file, the format
// of a telephone recording.
func wav(d time.Duration) []byte {
	const rate = 8000
	n := int(d.Seconds() * rate)
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + 2*n))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1)) // PCM
	le(uint16(1)) // mono
	le(uint32(rate))
	le(uint32(rate * 2))
	le(uint16(2))
	le(uint16(16))
	b.WriteString("data")
	le(uint32(2 * n))
	for i := range n {
		le(int16(8000 * math.Sin(2*math.Pi*440*float64(i)/rate)))
	}
	return b.Bytes()
}

// isMP3 says whether b starts with an ID3 tag or an MPEG audio frame sync.
func isMP3(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	return string(b[:3]) == "ID3" || (b[0] == 0xFF && b[1]&0xE0 == 0xE0)
}
