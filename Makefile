# callhook — build, demo and test targets.
GO        ?= go
PKGS      ?= ./...
BIN       := bin/callhook
# Race detector on by default in tests; `make test RACE=` turns it off.
RACE      ?= -race

.PHONY: all build demo inspect test unit conformance deps vet bench fuzz clean help soak bench-delivery \
	gotest image image-deps docker-deps docker-up docker-down realpbx parity bench-sim

all: build

help:
	@echo "make demo         run the simulator + engine + receiver on the built-in scenarios"
	@echo "make inspect      the same, shown live in the web inspector (http://127.0.0.1:8089/)"
	@echo "make test         install test tools, vet, and run every unit and conformance test"
	@echo "make conformance  the conformance suites only"
	@echo "make bench        benchmarks"
	@echo "make bench-sim    pbxsim under SIPp load: calls/s and concurrent calls, SIPp uas as baseline"
	@echo "make soak         crash test at full size: 2,000 calls, engine SIGKILLed 5 times"
	@echo "make bench-delivery  durable delivery throughput and latency against a no-durability baseline"
	@echo "make fuzz         short fuzzing runs of the wire parsers"
	@echo "make build        build $(BIN)"
	@echo "make image        build the engine image ($(IMAGE)) with a local Docker"
	@echo "make docker-up    install docker.io if missing, start a private dockerd ($(DOCKER_SOCK))"
	@echo "make docker-down  stop that dockerd"
	@echo "make realpbx      the scenarios against a real Asterisk (see docs/realpbx.md)"
	@echo "make parity       webhooks from the simulator and from a real Asterisk, side by side"

build:
	$(GO) build -o $(BIN) ./cmd/callhook

demo:
	$(GO) run ./cmd/callhook demo

inspect:
	$(GO) run ./cmd/callhook inspect

# System tools the tests drive: SIPp (Debian sip-tester), baresip (baresip-core),
# lame (WAV to MP3) and Chromium (the inspector's browser test, headless).
deps:
	@command -v sipp >/dev/null 2>&1 || { \
		echo "installing sip-tester (SIPp) for the interoperability tests"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq sip-tester >/dev/null; }
	@command -v sipp >/dev/null 2>&1 || { echo "sipp still missing after install" >&2; exit 1; }
	@command -v lame >/dev/null 2>&1 || { \
		echo "installing lame for the recording (WAV to MP3) tests"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq lame >/dev/null; }
	@command -v lame >/dev/null 2>&1 || { echo "lame still missing after install" >&2; exit 1; }
	@command -v baresip >/dev/null 2>&1 || { \
		echo "installing baresip-core for the interoperability tests"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq baresip-core >/dev/null; }
	@command -v baresip >/dev/null 2>&1 || { echo "baresip still missing after install" >&2; exit 1; }
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium for the inspector's browser test"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { echo "chromium still missing after install" >&2; exit 1; }

image-deps:
	@command -v lame >/dev/null 2>&1 || { \
		echo "installing lame (MP3 encoder copied into the engine image)"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq lame >/dev/null; }
	@command -v lame >/dev/null 2>&1 || { echo "lame still missing after install" >&2; exit 1; }

# --- Docker -----------------------------------------------------------------
# A private dockerd on its own socket, data root and pid file, so it never
# touches another Docker on the machine. No iptables, forwarding or
# masquerading: every container runs with host networking and binds
# 127.0.0.1 only. dockerd keeps its default (unused) bridge network, which
# testcontainers-go expects to exist.
DOCKER_STATE ?= /tmp/callhook-dockerd
DOCKER_SOCK  ?= $(DOCKER_STATE)/docker.sock
DOCKER_ENV   := DOCKER_HOST=unix://$(DOCKER_SOCK) TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
IMAGE        ?= callhook:dev

docker-deps:
	@command -v dockerd >/dev/null 2>&1 || { \
		echo "installing docker.io (dockerd) for the image suite"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq docker.io >/dev/null; }
	@command -v dockerd >/dev/null 2>&1 || { echo "dockerd still missing after install" >&2; exit 1; }

docker-up: docker-deps
	@mkdir -p $(DOCKER_STATE)
	@if docker -H unix://$(DOCKER_SOCK) version >/dev/null 2>&1; then \
		echo "dockerd already up on $(DOCKER_SOCK)"; exit 0; fi; \
	SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	$$SUDO dockerd --iptables=false --ip-forward=false --ip-masq=false \
		-H unix://$(DOCKER_SOCK) --data-root $(DOCKER_STATE)/data --exec-root $(DOCKER_STATE)/exec \
		--pidfile $(DOCKER_STATE)/dockerd.pid >$(DOCKER_STATE)/dockerd.log 2>&1 & \
	for i in $$(seq 1 300); do \
		docker -H unix://$(DOCKER_SOCK) version >/dev/null 2>&1 && { echo "dockerd up on $(DOCKER_SOCK)"; exit 0; }; \
		sleep 0.1; done; \
	echo "dockerd did not come up; see $(DOCKER_STATE)/dockerd.log" >&2; tail -20 $(DOCKER_STATE)/dockerd.log >&2; exit 1

docker-down:
	@pid=$$(cat $(DOCKER_STATE)/dockerd.pid 2>/dev/null) || { echo "no dockerd of ours running"; exit 0; }; \
	SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	$$SUDO kill $$pid 2>/dev/null || true; \
	for i in $$(seq 1 300); do kill -0 $$pid 2>/dev/null || { echo "dockerd stopped"; exit 0; }; sleep 0.1; done; \
	echo "dockerd $$pid still running after 30 s" >&2; exit 1

# The engine image, built from the root filesystem deploy/rootfs.sh assembles.
image: image-deps
	sh deploy/rootfs.sh bin/image
	docker build -t $(IMAGE) bin/image

# --- Real PBX ---------------------------------------------------------------
# Either CALLHOOK_ASTERISK_IMAGE (started with testcontainers, needs Docker)
# or CALLHOOK_ASTERISK_SIP and CALLHOOK_ASTERISK_AMI of a running Asterisk;
# see docs/realpbx.md.
realpbx:
	$(DOCKER_ENV) $(GO) test -count=1 -v -timeout 30m ./conformance/realpbx

parity:
	$(DOCKER_ENV) $(GO) run ./conformance/parity

vet:
	$(GO) vet $(PKGS)

# The tests run with a private dockerd (for the image suite, label "docker")
# that is started before and stopped after, even when a test fails.
# CALLHOOK_REQUIRE_DOCKER makes the image suite fail instead of skip when
# Docker is unreachable, CALLHOOK_REQUIRE_BROWSER the inspector's browser
# test when Chromium is missing.
test: deps vet docker-up
	@status=0; $(MAKE) --no-print-directory gotest || status=$$?; \
		$(MAKE) --no-print-directory docker-down; exit $$status

gotest:
	$(DOCKER_ENV) CALLHOOK_REQUIRE_DOCKER=1 CALLHOOK_REQUIRE_BROWSER=1 $(GO) test $(RACE) -count=1 -timeout 15m $(PKGS)

unit:
	$(GO) test $(RACE) -count=1 $$($(GO) list ./... | grep -v /conformance/)

conformance:
	$(GO) test $(RACE) -count=1 ./conformance/...
	$(GO) run ./cmd/callhook conformance

bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

# The crash test of `make test` at full size.
soak:
	$(GO) test -count=1 -timeout 30m -v -run 'TestCrashKeepsEveryWebhook' ./core/outbox/crashtest -args -calls=2000 -kills=5

# Durable delivery against a no-durability baseline in one run, on
# BENCH_PROCS cores (the targets are for 2): webhooks/s, latency, and
# process CPU time per webhook (less sensitive than throughput to other
# load on the machine).
BENCH_PROCS ?= 2
bench-delivery:
	GOMAXPROCS=$(BENCH_PROCS) $(GO) test -count=1 -timeout 10m -v -run 'TestBenchDelivery' ./core/outbox -args -bench-delivery

# pbxsim under load from SIPp's uac scenario, next to SIPp against SIPp's
# uas as the baseline. Target on 2 cores: 1,000 calls/s, 10,000 concurrent;
# SIPp offers a little more than that so the measured rate can show it.
SIM_RATE  ?= 1100
SIM_HOLD  ?= 10s
SIM_CALLS ?= 22000
bench-sim: deps
	$(GO) run ./pbxsim/benchsim -rate $(SIM_RATE) -hold $(SIM_HOLD) -calls $(SIM_CALLS)

FUZZTIME ?= 20s
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzReadPacket -fuzztime=$(FUZZTIME) ./core/connector/ami
	$(GO) test -run='^$$' -fuzz=FuzzReadMessage -fuzztime=$(FUZZTIME) ./pbxsim/ami
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./pbxsim/scenario
	$(GO) test -run='^$$' -fuzz=FuzzParseSDP -fuzztime=$(FUZZTIME) ./pbxsim/rtp

clean:
	rm -rf bin
