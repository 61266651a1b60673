# framegate's developer tasks. `make` (or `make help`) lists the targets.
#
# Every tool is pinned in tools/go.mod (and protoc-gen-go in
# tools/protoc-gen-go/go.mod) and runs from the Go module cache or ./bin:
# nothing is installed globally, and once the module cache is warm nothing is
# fetched from the network.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules --no-builtin-variables

# Every target runs on this Go release, which the go command fetches from the
# module proxy on first use (about 10 s). go.mod asks for Go 1.27, whose
# encoding/json/v2 reads requests strictly (native/requestjson.go); this
# release also carries the standard-library fixes govulncheck asks for.
export GOTOOLCHAIN := go1.27.3
GO ?= go
# BIN holds the protoc plugins and buf that `make tools` builds (gitignored).
BIN := $(CURDIR)/bin
BUF := $(BIN)/buf
TOOLS_MOD := tools/go.mod
# protoc-gen-go has a module of its own: buf requires a newer, unreleased
# google.golang.org/protobuf than the one in ./go.mod, and in tools/go.mod that
# would build protoc-gen-go at buf's version instead of the runtime's.
PROTOC_GEN_GO_MOD := tools/protoc-gen-go/go.mod
# Built into $(BIN) from $(TOOLS_MOD).
BIN_TOOLS := \
	github.com/bufbuild/buf/cmd/buf \
	google.golang.org/grpc/cmd/protoc-gen-go-grpc \
	github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway \
	github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2

# The google/api protos (annotations.proto, http.proto, httpbody.proto) come
# from this Go module's third_party/googleapis, linked at third_party/googleapis
# (see buf.yaml). SUM is its go.sum hash, checked on every use.
GOOGLEAPIS_MODULE := github.com/grpc-ecosystem/grpc-gateway@v1.16.0
GOOGLEAPIS_SUM := h1:gmcG1KaJ57LophUzW0Hy8NmPhnMZb4M0+kPpLofRdBo=
GOOGLEAPIS_LINK := third_party/googleapis

# The generation steps, shared by generate (in the worktree) and check-generate
# (in a copy). go generate runs the //go:generate lines (stringer); buf
# generate rewrites gen/ from api/ (clean: true in buf.gen.yaml).
GENERATE = $(GO) generate ./... && PATH="$(BIN):$$PATH" $(BUF) generate

# govulncheck's database. By default a snapshot built offline from the Go
# module golang.org/x/vulndb (its data/osv, indexed by its own cmd/indexdb),
# pinned here: bump VULNDB_VERSION to take newer reports. VULNDB=https://
# vuln.go.dev (or any mirror) uses a live database instead.
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
VULNDB_DIR := $(BIN)/vulndb-$(VULNDB_VERSION)
VULNDB ?= file://$(VULNDB_DIR)

##@ General

.PHONY: help
help: ## List the targets
	@awk 'BEGIN { FS = ":.*## " } \
		/^##@/ { printf "\n%s\n", substr($$0, 5) } \
		/^[a-zA-Z0-9_.-]+:.*## / { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

##@ Code generation

# The generated code must come from the same versions of protobuf and
# grpc-gateway as the runtimes it links against in ./go.mod: "module modfile"
# pairs that `make tools` compares.
GENERATOR_RUNTIMES := \
	"google.golang.org/protobuf $(PROTOC_GEN_GO_MOD)" \
	"github.com/grpc-ecosystem/grpc-gateway/v2 $(TOOLS_MOD)"

.PHONY: tools
tools: ## Build buf and the protoc plugins into ./bin from tools/
	@for pair in $(GENERATOR_RUNTIMES); do \
		set -- $$pair; \
		runtime=$$($(GO) list -m -f '{{.Version}}' $$1); \
		generator=$$($(GO) list -modfile=$$2 -m -f '{{.Version}}' $$1); \
		if [ "$$runtime" != "$$generator" ]; then \
			echo "tools: $$1 is $$runtime in go.mod but $$generator in $$2; make them equal" >&2; exit 1; \
		fi; \
	done
	$(GO) build -modfile=$(TOOLS_MOD) -o $(BIN)/ $(BIN_TOOLS)
	$(GO) build -modfile=$(PROTOC_GEN_GO_MOD) -o $(BIN)/ google.golang.org/protobuf/cmd/protoc-gen-go

.PHONY: googleapis
googleapis: ## Link third_party/googleapis into the Go module cache (downloads once)
	@json=$$($(GO) mod download -modfile=$(TOOLS_MOD) -json $(GOOGLEAPIS_MODULE)); \
	dir=$$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$$/\1/p' <<<"$$json"); \
	sum=$$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",\{0,1\}$$/\1/p' <<<"$$json"); \
	if [ -z "$$dir" ] || [ ! -d "$$dir/third_party/googleapis" ]; then \
		echo "googleapis: $(GOOGLEAPIS_MODULE) not downloaded:" >&2; echo "$$json" >&2; exit 1; \
	fi; \
	if [ "$$sum" != "$(GOOGLEAPIS_SUM)" ]; then \
		echo "googleapis: $(GOOGLEAPIS_MODULE) has sum $$sum, want $(GOOGLEAPIS_SUM)" >&2; exit 1; \
	fi; \
	mkdir -p $(dir $(GOOGLEAPIS_LINK)); \
	ln -sfn "$$dir/third_party/googleapis" $(GOOGLEAPIS_LINK)

.PHONY: generate
generate: tools googleapis ## Regenerate everything: go generate ./... (stringer), then buf generate into gen/
	$(GENERATE)

# check-generate regenerates in a copy of the worktree (the files git sees:
# tracked and untracked, minus ignored ones), so it checks uncommitted work
# too and never touches the worktree. The copy gets a git index of its own;
# any file that generation changes, adds or deletes there (a status line whose
# second column is not blank) is drift. Stringer outputs are removed from the
# copy first, so stale ones show up as deleted.
.PHONY: check-generate
check-generate: tools googleapis ## Fail if generated code differs from what `make generate` would write
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	git ls-files -z --cached --others --exclude-standard | \
		while IFS= read -r -d '' f; do \
			if [ -e "$$f" ] || [ -L "$$f" ]; then printf '%s\0' "$$f"; fi; \
		done | \
		tar --null -T - -cf - | tar -C "$$tmp" -xf -; \
	mkdir -p "$$tmp/$(dir $(GOOGLEAPIS_LINK))"; \
	cp -P $(GOOGLEAPIS_LINK) "$$tmp/$(GOOGLEAPIS_LINK)"; \
	cd "$$tmp"; \
	git init -q; git add -A; \
	{ git grep -l -z --cached '^// Code generated by "stringer' -- '*.go' || [ $$? -eq 1 ]; } | \
		xargs -0 -r rm -f; \
	$(GENERATE); \
	drift=$$(git status --porcelain --untracked-files=all | grep -v '^. ' || true); \
	if [ -n "$$drift" ]; then \
		echo "check-generate: generated files are out of date; run 'make generate' and commit the result:" >&2; \
		echo "$$drift" >&2; \
		git --no-pager diff >&2; \
		exit 1; \
	fi; \
	echo "check-generate: generated files are up to date."

.PHONY: lint-proto
lint-proto: tools googleapis ## Lint api/ (and the bench's protos) with buf's STANDARD rules and check their formatting
	$(BUF) lint
	$(BUF) format --diff --exit-code api
	cd bench/internal/benchpb && $(BUF) lint && $(BUF) format --diff --exit-code proto

##@ Checks

.PHONY: vuln
vuln: $(if $(filter file://$(VULNDB_DIR),$(VULNDB)),$(VULNDB_DIR)/index/db.json) ## Fail on known vulnerabilities reachable from our code (govulncheck, pinned database)
	$(GO) tool -modfile=$(TOOLS_MOD) govulncheck -db $(VULNDB) ./...

$(VULNDB_DIR)/index/db.json:
	@json=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION)); \
	dir=$$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$$/\1/p' <<<"$$json"); \
	if [ -z "$$dir" ] || [ ! -d "$$dir/data/osv" ]; then \
		echo "vuln: golang.org/x/vulndb@$(VULNDB_VERSION) not downloaded:" >&2; echo "$$json" >&2; exit 1; \
	fi; \
	rm -rf "$(VULNDB_DIR).tmp"; \
	$(GO) run golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION) -vulns "$$dir/data/osv" -out "$(VULNDB_DIR).tmp"; \
	rm -rf "$(VULNDB_DIR)"; mv "$(VULNDB_DIR).tmp" "$(VULNDB_DIR)"

##@ Run and test

# TEST_FLAGS can narrow a run: make test TEST_FLAGS='-run TestX ./native/'
TEST_FLAGS ?= ./...
FUZZTIME ?= 30s

.PHONY: run
run: ## Run the gateway with the embedded demo service (gRPC :9090, HTTP :8080, native :7070)
	$(GO) run ./cmd/gw serve

.PHONY: build
build: ## Build gw and the pinned grpcurl into ./bin (for the README's examples)
	$(GO) build -o $(BIN)/gw ./cmd/gw
	$(GO) build -modfile=$(TOOLS_MOD) -o $(BIN)/ github.com/fullstorydev/grpcurl/cmd/grpcurl

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$("$$($(GO) env GOROOT)/bin/gofmt" -l $$(git ls-files '*.go' | grep -v '^gen/')); \
	if [ -n "$$out" ]; then echo "gofmt would change:" >&2; echo "$$out" >&2; exit 1; fi
	$(GO) vet ./...

.PHONY: test
test: check-generate lint-proto lint vuln test-deploy ## Everything CI checks: generated code, proto lint, gofmt, vet, govulncheck, deploy manifests, tests with -race
	$(GO) test -race -count=1 -timeout 15m $(TEST_FLAGS)

# deploy/ is a Go module of its own (the Kubernetes API types stay out of
# ./go.mod): its tests decode deploy/kubernetes strictly and check the
# manifests and the Dockerfile against each other and against gw's flags.
.PHONY: test-deploy
test-deploy: ## Check the Kubernetes manifests and the Dockerfile offline (deploy/)
	cd deploy && $(GO) test ./...

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 30s)
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

##@ Benchmarks (issue 3)
# ---- bench: begin (owned by the benchmark harness; other targets above are untouched) ----
# `make bench` runs ./bench: every row once per round, rounds interleaved,
# then a table of medians with min-max and per-round ratios, also written to
# bench-results.json. BENCHFLAGS passes flags, e.g.
#   make bench BENCHFLAGS='-only unix -rounds 3'
#   make bench BENCHFLAGS=-quick
# `make bench-go` runs the go test benchmarks of package native, and the
# gateway's transcoder benchmark (message path against the direct one).
BENCHFLAGS ?=
BENCHTIME ?= 2s

.PHONY: bench
bench: ## Measure native vs raw sockets vs gRPC (writes bench-results.json)
	$(GO) run ./bench $(BENCHFLAGS)

.PHONY: bench-go
bench-go: ## Run native's go test benchmarks (MB/s, allocs/MiB) and the gateway transcoder's
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./native
	$(GO) test -run '^$$' -bench Transcode -benchtime $(BENCHTIME) ./gateway

# `make load` runs ./bench/load: for -duration (default 20s) per scenario,
# 64 streams plus unary calls through the gateway, gRPC and REST, to an
# in-process backend, a remote one over TCP, one behind a pipe to a process
# (exec) and one of three replica processes (it reports the calls each took),
# then the replicas again with one killed (SIGKILL) a quarter of the way
# through and restarted at half way (it reports the calls before the kill,
# between the kill and the ejection and after it, and which failed, loudly
# or not). It fails on any error (in replicas-kill: any silent failure, any
# failure of a call begun after the ejection), and if the exec backend
# needed more than one process. LOADFLAGS passes flags, e.g.
# make load LOADFLAGS='-duration 5s -only rest'
LOADFLAGS ?=

.PHONY: load
load: ## Load the gateway: 64 streams + unary, gRPC and REST, in-process, remote, exec, 3 replicas, 3 with one killed (writes load-results.json)
	$(GO) run ./bench/load $(LOADFLAGS)

# `make hostile` runs ./bench/hostile (issue 13): it builds gw and the pinned
# grpcurl into a temporary directory and attacks `gw serve` (default
# configuration, 127.0.0.1 only) as a hostile client and backend would: RSS
# under stalled and dripping native bodies, gw call/grpcurl/curl latency
# while idle and stalled connections and streams are held, startup and
# SIGTERM against deeply nested schemas, /openapi.json cost. A few minutes;
# it kills everything it started. HOSTILEFLAGS passes flags, e.g.
#   make hostile HOSTILEFLAGS='-only siege -n 3'
HOSTILEFLAGS ?=

.PHONY: hostile
hostile: ## Attack gw serve as hostile clients and backends do and measure it (writes hostile-results.json)
	$(GO) run ./bench/hostile $(HOSTILEFLAGS)
# ---- bench: end ----
