# callhook — build, demo and test targets.
GO        ?= go
PKGS      ?= ./...
BIN       := bin/callhook
# Race detector on by default in tests; `make test RACE=` turns it off.
RACE      ?= -race

.PHONY: all build demo inspect test test-loaded unit conformance deps vet bench fuzz clean help soak bench-delivery \
	gotest image image-deps docker-deps docker-up docker-down realpbx parity bench-sim bench-pipeline \
	asterisk-install realpbx-record

all: build

help:
	@echo "make demo         run the simulator + engine + receiver on the built-in scenarios"
	@echo "make inspect      the same, shown live in the web inspector (http://127.0.0.1:8089/)"
	@echo "make test         install test tools, vet, and run every unit and conformance test (TEST_P=4 test binaries at once)"
	@echo "make test-loaded  make test twice in a row with a CPU hog on one core"
	@echo "make conformance  the conformance suites only"
	@echo "make bench        benchmarks"
	@echo "make bench-sim    pbxsim under SIPp load: calls/s and concurrent calls, SIPp uas as baseline"
	@echo "make soak         crash test at full size: 2,000 calls, engine SIGKILLed 5 times"
	@echo "make bench-delivery  durable delivery throughput and latency against a no-durability baseline"
	@echo "make bench-pipeline  AMI in → callhook serve → webhooks out, against a net/http fan-out; latency; memory"
	@echo "make fuzz         short fuzzing runs of the wire parsers"
	@echo "make build        build $(BIN)"
	@echo "make image        build the engine image ($(IMAGE)) with a local Docker"
	@echo "make docker-up    install docker.io if missing, start a private dockerd ($(DOCKER_SOCK))"
	@echo "make docker-down  stop that dockerd"
	@echo "make realpbx      the scenarios against a real Asterisk (see docs/realpbx.md)"
	@echo "make parity       webhooks from the simulator and from a real Asterisk, side by side"
	@echo "make realpbx-record  the real-PBX suite, recording each scenario's AMI stream into fixtures/ami/asterisk22"

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
# The Asterisk to play on: CALLHOOK_ASTERISK_SIP and CALLHOOK_ASTERISK_AMI of
# a running one, or CALLHOOK_ASTERISK_IMAGE (started with testcontainers,
# needs Docker), or else the Asterisk installed under ASTERISK_PREFIX, which
# the suite starts itself (through PREFIX/wrap when there is one) with a
# scratch asterisk.conf reading fixtures/asterisk, and stops afterwards.
# ASTERISK_TARBALL, when given, is a binary build (.tar.zst of PREFIX,
# paths from /) unpacked first if ASTERISK_PREFIX has no Asterisk yet.
# See docs/realpbx.md.
ASTERISK_PREFIX  ?= /opt/ast22
ASTERISK_TARBALL ?=
# Runtime libraries of an Asterisk 22 build on Debian 12.
ASTERISK_LIBS    ?= libjansson4 libxml2 libsqlite3-0 libedit2 libuuid1 libssl3
# Which Asterisk the suite uses: nothing to add when the environment names
# one, otherwise the install under ASTERISK_PREFIX if there is one.
REALPBX_ENV = $$(if [ -z "$$CALLHOOK_ASTERISK_IMAGE$$CALLHOOK_ASTERISK_SIP$$CALLHOOK_ASTERISK_AMI" ] && \
	[ -x "$(ASTERISK_PREFIX)/sbin/asterisk" ]; then echo CALLHOOK_ASTERISK_PREFIX=$(ASTERISK_PREFIX); fi)

asterisk-install:
	@if [ -n "$(ASTERISK_TARBALL)" ] && [ ! -x "$(ASTERISK_PREFIX)/sbin/asterisk" ]; then \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		command -v zstd >/dev/null 2>&1 || { echo "installing zstd to unpack $(ASTERISK_TARBALL)"; \
			$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq zstd >/dev/null; }; \
		echo "unpacking $(ASTERISK_TARBALL) into /"; \
		$$SUDO tar -C / --zstd -xf "$(ASTERISK_TARBALL)" || exit 1; \
		[ -x "$(ASTERISK_PREFIX)/sbin/asterisk" ] || { echo "$(ASTERISK_TARBALL) has no $(ASTERISK_PREFIX)/sbin/asterisk" \
			"(it holds $$(tar --zstd -tf "$(ASTERISK_TARBALL)" | head -1); set ASTERISK_PREFIX)" >&2; exit 1; }; \
	fi
	@if [ -x "$(ASTERISK_PREFIX)/sbin/asterisk" ] && ldd "$(ASTERISK_PREFIX)/sbin/asterisk" | grep -q 'not found'; then \
		echo "installing the libraries $(ASTERISK_PREFIX)/sbin/asterisk needs"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(ASTERISK_LIBS) >/dev/null; \
		! ldd "$(ASTERISK_PREFIX)/sbin/asterisk" | grep 'not found' >&2 || exit 1; \
	fi

realpbx: asterisk-install
	env $(REALPBX_ENV) $(DOCKER_ENV) $(GO) test -count=1 -v -timeout 40m ./conformance/realpbx

parity: asterisk-install
	env $(REALPBX_ENV) $(DOCKER_ENV) $(GO) run ./conformance/parity

# Records every scenario's AMI session from the real Asterisk into
# fixtures/ami/asterisk22 (scenario-NAME.log) while the suite runs, and
# the transfer captures of conformance/realpbx's capture specs.
realpbx-record: asterisk-install
	env $(REALPBX_ENV) $(DOCKER_ENV) CALLHOOK_ASTERISK_RECORD=$(CURDIR)/fixtures/ami/asterisk22 \
		$(GO) test -count=1 -v -timeout 40m ./conformance/realpbx

# Vetted with the tests' build flags, so the tests reuse what vet compiled.
vet:
	$(GO) vet $(RACE) $(PKGS)
	$(GO) vet -tags benchnostore ./core/service/

# The tests run with a private dockerd (for the image suite, label "docker")
# that is started before and stopped after, even when a test fails.
# CALLHOOK_REQUIRE_DOCKER makes the image suite fail instead of skip when
# Docker is unreachable, CALLHOOK_REQUIRE_BROWSER the inspector's browser
# test when Chromium is missing.
test: deps vet docker-up
	@status=0; $(MAKE) --no-print-directory gotest || status=$$?; \
		$(MAKE) --no-print-directory docker-down; exit $$status

# `make test` twice in a row beside a busy loop pinned to one core: the
# suites must not depend on an idle machine.
test-loaded:
	@if command -v taskset >/dev/null 2>&1; then taskset -c 0 sh -c 'while :; do :; done' & \
	else sh -c 'while :; do :; done' & fi; hog=$$!; trap 'kill $$hog' EXIT; \
	for i in 1 2; do echo "== make test, run $$i of 2, with a CPU hog on one core"; \
		$(MAKE) --no-print-directory test || exit 1; done

# The suites spend most of their time waiting on real SIP, AMI and HTTP
# exchanges, not computing: four test binaries at once keep two cores
# busy where the default (one per core) leaves them mostly idle.
TEST_P ?= 4

gotest:
	$(DOCKER_ENV) CALLHOOK_REQUIRE_DOCKER=1 CALLHOOK_REQUIRE_BROWSER=1 $(GO) test $(RACE) -p $(TEST_P) -count=1 -timeout 15m $(PKGS)

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

# The whole pipeline: a real `callhook serve` fed AMI over TCP (calls shaped
# like the real Asterisk 22 capture), durable outbox, 3cx webhooks to a
# loopback receiver, beside a net/http fan-out of the same requests;
# latency at 1,000 events/s and memory with 10,000 calls in flight.
PIPE_CALLS ?= 20000
bench-pipeline:
	GOMAXPROCS=$(BENCH_PROCS) $(GO) run ./core/engine/benchpipeline -calls $(PIPE_CALLS)

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
