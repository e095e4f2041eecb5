# natkit — see README.md. `make run` and `make test` work on a fresh machine
# with only Go installed.
GO        ?= go
BIN       ?= bin/natkit
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GOLANGCI_LINT_VERSION ?= v2.15.0
TEST_TIMEOUT ?= 20m

.PHONY: build run test race bench bench-relay bench-signal bench-load lint fmt vet ci clean

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/natkit

# The main job on embedded defaults: the NAT matrix (5 presets × 5 × TURN
# no/yes, 50 simulated calls), checked against theory.
run: build
	@mkdir -p out
	$(BIN) matrix --report out/matrix.html --report out/matrix.json --report out/matrix.xml
	@echo "reports: out/matrix.html out/matrix.json out/matrix.xml"

test:
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# The race detector on the packages with goroutines and atomics (CI runs
# it). A directory that does not exist (yet) is left out, not an error.
# RACE_SKIP: TestSlowConsumer pushes 100 MB through the signaling server,
# 45 s alone under -race and past its 1-minute budget beside the other
# packages on 2 cores; TestMatrixMatchesTheory judges 50 calls against
# theory, and the race detector's 5-10x slowdown on 2 cores can let a relay
# pair win the nomination before a direct one (seen once in 4 CI runs).
# make test runs both; the rest of their packages run under -race.
RACE_DIRS ?= relay signalserver probe/load probe/call scenarios vnet lab internal
RACE_SKIP ?= ^(TestSlowConsumer|TestMatrixMatchesTheory)$$
race:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -skip '$(RACE_SKIP)' $$(for d in $(RACE_DIRS); do [ -d $$d ] && echo ./$$d/...; done)

# Go benchmarks, then the side-by-side scripts under bench/.
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2x ./...

# bench-relay and bench-load compare with coturn 4.17.1 from
# ../shared/peers/coturn-latest when it is there, else Debian's coturn, and
# print which (bench/coturn.sh; COTURN_BIN=/usr/bin forces Debian's).
bench-relay: build
	bash bench/relay.sh

bench-signal: build
	bash bench/signal.sh
	bash bench/redis.sh

bench-load: build
	bash bench/load.sh

vet:
	$(GO) vet ./...

lint:
	@command -v golangci-lint >/dev/null || $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" golangci-lint run ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

ci: vet lint race test

clean:
	rm -rf bin out
