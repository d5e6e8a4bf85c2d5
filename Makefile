# callhook — build, demo and test targets.
GO        ?= go
PKGS      ?= ./...
BIN       := bin/callhook
# Race detector on by default in tests; `make test RACE=` turns it off.
RACE      ?= -race

.PHONY: all build demo test unit conformance deps vet bench fuzz clean help

all: build

help:
	@echo "make demo         run the simulator + engine + receiver on the built-in scenarios"
	@echo "make test         install test tools, vet, and run every unit and conformance test"
	@echo "make conformance  the conformance suites only"
	@echo "make bench        benchmarks"
	@echo "make fuzz         short fuzzing runs of the wire parsers"
	@echo "make build        build $(BIN)"

build:
	$(GO) build -o $(BIN) ./cmd/callhook

demo:
	$(GO) run ./cmd/callhook demo

# System tools the tests drive: SIPp (Debian sip-tester) and lame (WAV to MP3).
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

vet:
	$(GO) vet $(PKGS)

test: deps vet
	$(GO) test $(RACE) -count=1 -timeout 15m $(PKGS)

unit:
	$(GO) test $(RACE) -count=1 $$($(GO) list ./... | grep -v /conformance/)

conformance:
	$(GO) test $(RACE) -count=1 ./conformance/...
	$(GO) run ./cmd/callhook conformance

bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

FUZZTIME ?= 20s
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzReadPacket -fuzztime=$(FUZZTIME) ./core/connector/ami
	$(GO) test -run='^$$' -fuzz=FuzzReadMessage -fuzztime=$(FUZZTIME) ./pbxsim/ami
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./pbxsim/scenario

clean:
	rm -rf bin
