# trainyard — the two commands that matter:
#   make run    build, start the server on its embedded defaults, run the example job
#   make test   every test, after installing what the tests need
SHELL := /bin/bash
.DEFAULT_GOAL := build

BIN      := bin/trainyard
VENV     := .venv
PY       := $(VENV)/bin/python
PIP      := $(VENV)/bin/pip
ADDR     ?= 127.0.0.1:8080
export TRAINYARD_URL ?= http://$(ADDR)
export TRAINYARD_HOME ?= $(HOME)/.trainyard
# The Kubernetes control plane the tests of executor/kubernetes and e2e start
# (../shared/kubernetes/local-control-plane.sh), built once into this cache.
export TRAINYARD_K8S_BIN ?= $(HOME)/.cache/trainyard-k8s/v1.37.2
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOFLAGS_BUILD := -trimpath -ldflags "-s -w -X main.version=$(VERSION)"

.PHONY: build build-go web run stop test test-go k8s-control-plane test-python test-mlflow test-s3 test-postgres bench-postgres deps-python deps-example deps-torch deps-s3 deps-system test-web bench bench-s3 bench-ui bench-mlflow bench-slurm bench-hpo bench-sweep bench-load fuzz fuzz-smoke clean

## build: the web UI (when npm is installed) and the static binary
build: web build-go

## build-go: the static binary alone (a Go-only build serves a note at / instead of the UI)
build-go:
	CGO_ENABLED=0 go build $(GOFLAGS_BUILD) -o $(BIN) ./cmd/trainyard

web:
	@if [ -f web/package.json ] && command -v npm >/dev/null; then \
		cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build; \
	else echo "make: skipping the web UI (no npm or no web/); the binary serves a note at /"; fi

SDK_SRC := sdk/python/pyproject.toml $(shell find sdk/python/src -name "*.py")

# What the example needs (examples/requirements.txt pins it) and the SDK.
$(VENV)/.example: examples/requirements.txt $(SDK_SRC)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -r examples/requirements.txt
	$(PIP) install -q --disable-pip-version-check ./sdk/python
	touch $@

# What the tests need besides: requirements.lock pins everything in
# examples/requirements.txt and requirements-test.txt (pytest, the real
# mlflow); regenerate it with pip freeze when those change.
$(VENV)/.test: $(VENV)/.example requirements.lock
	$(PIP) install -q --disable-pip-version-check -r requirements.lock
	touch $@

deps-example: $(VENV)/.example
deps-python: $(VENV)/.test

## deps-system: the Debian packages the tests start (chromium, slurm-wlm, munge, postgresql): installed as root, else named
deps-system:
	tests/deps-system.sh

# PyTorch for the distributed tests (tests/distributed): PyPI's wheel with
# its CUDA libraries, 3.3 GB to download and 5.3 GB installed, so it lives
# outside the checkout, installed once per version of requirements-torch.lock
# (the tests find it by the same hash, or at $$TRAINYARD_TORCH_PYTHON).
TORCH_CACHE ?= $(HOME)/.cache/trainyard
TORCH_VENV  := $(TORCH_CACHE)/torch-$(shell sha256sum requirements-torch.lock | cut -c1-12)

$(TORCH_VENV)/.ok: requirements-torch.lock
	mkdir -p $(TORCH_CACHE)/wheels
	python3 -m pip download -q --disable-pip-version-check -d $(TORCH_CACHE)/wheels -r requirements-torch.lock
	rm -rf $(TORCH_VENV) && python3 -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/pip install -q --disable-pip-version-check --no-index --find-links $(TORCH_CACHE)/wheels -r requirements-torch.lock
	touch $@

## deps-torch: PyTorch for the distributed tests, in ~/.cache/trainyard
deps-torch: $(TORCH_VENV)/.ok

## run: build, start trainyard (or reuse the one at TRAINYARD_URL), run the example, show its metrics
run: build deps-example
	@if ! curl -fsS $(TRAINYARD_URL)/api/v1/health >/dev/null 2>&1; then \
		echo "starting trainyard at $(TRAINYARD_URL) (data: $(TRAINYARD_HOME))"; \
		$(BIN) up --detach --addr $(ADDR) --data $(TRAINYARD_HOME) || exit 1; \
	else echo "using the trainyard already running at $(TRAINYARD_URL)"; fi
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(BIN) run --wait --name digits-mlp --project examples -- python examples/train_digits.py --epochs 30
	@echo; $(BIN) runs ls --project examples --limit 5
	@echo; $(BIN) metrics $$($(BIN) runs ls --project examples --limit 1 --json | $(PY) -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	@echo; echo "trainyard is running at $(TRAINYARD_URL) — open it in a browser, or:"; \
	echo "  export PATH=$(CURDIR)/bin:\$$PATH"; \
	echo "  trainyard ps; trainyard runs ls; trainyard run --gpus 1 -- python train.py"; \
	echo "  make stop   # stops the server (running jobs keep running)"

## stop: stop the server that make run started (trainyard down: SIGTERM, then wait for it to exit)
stop:
	@$(BIN) down --data $(TRAINYARD_HOME)

## test: every test (Go, Python SDK, web UI in Chromium), the end-to-end and MLflow suites again with artifacts in S3, and again on PostgreSQL
test: deps-system build deps-python deps-torch deps-s3
	$(MAKE) test-go fuzz-smoke test-python test-mlflow test-s3 test-web test-postgres

# The Kubernetes tests wait for (or do) the control plane's build: hence the
# long timeout on a cold cache (make k8s-control-plane first to see it apart).
test-go:
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	TRAINYARD_BIN=$(CURDIR)/$(BIN) go test -race -count=1 -timeout 45m ./...

## k8s-control-plane: build the Kubernetes control plane the tests start (once: ~10 minutes on 2 cores; then cached)
k8s-control-plane:
	@mkdir -p $(dir $(TRAINYARD_K8S_BIN))
	flock $(TRAINYARD_K8S_BIN).lock sh -c 'for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok kwok-stages.yaml; do \
		test -e $(TRAINYARD_K8S_BIN)/$$b || exec ../shared/kubernetes/local-control-plane.sh build $(TRAINYARD_K8S_BIN); done; echo "control plane built in $(TRAINYARD_K8S_BIN)"'

test-python: deps-python
	TRAINYARD_BIN=$(CURDIR)/$(BIN) $(PY) -m pytest -q sdk/python/tests

test-mlflow: deps-python
	TRAINYARD_BIN=$(CURDIR)/$(BIN) $(PY) -m pytest -q tests/mlflow

## deps-s3: the S3-compatible server the tests start (SeaweedFS, built once into ~/.cache/trainyard-s3; cold: ~1.5 min of downloads, then a build of ~1,700 packages, 10+ CPU-minutes; .ci/run starts it in the background)
deps-s3:
	go run ./internal/s3test/serve -build

# The tests of a server whose artifacts are in S3 (the s3 package's own
# tests run in test-go): e2e, but for tests of this machine's disk, engines
# and limits that artifacts do not touch (and migrate's, which starts its
# own S3 in test-go), and the MLflow suite.
S3_E2E_SKIP := Kubernetes|ThreeServers|TestMigrateToPostgresAndS3|SweepSurvivesTheLeadersDeath|TestFullDisk|TestSlurmExecutor|TestTorch|TestOversized|TestTheConnectionCap|TestOpenFileLimit|TestGPUsArePinned|TestQueueWaits
test-s3: deps-s3 deps-python
	TRAINYARD_TEST_ARTIFACTS=s3 TRAINYARD_BIN=$(CURDIR)/$(BIN) go test -race -count=1 -skip '$(S3_E2E_SKIP)' ./e2e
	TRAINYARD_TEST_ARTIFACTS=s3 TRAINYARD_BIN=$(CURDIR)/$(BIN) $(PY) -m pytest -q tests/mlflow

test-web:
	@if [ -f web/package.json ]; then cd web && npm test && TRAINYARD_BIN=$(CURDIR)/$(BIN) npm run e2e; fi

# A real PostgreSQL for the Python suites (Debian's postgresql; the Go
# tests start theirs with internal/pgtest themselves).
PGSERVER := bin/pgserver
$(PGSERVER): $(wildcard internal/pgtest/*.go internal/pgtest/pgserver/*.go)
	CGO_ENABLED=0 go build -o $@ ./internal/pgtest/pgserver

# The end-to-end tests that do not touch the store more on PostgreSQL than
# on SQLite (executors elsewhere, GPUs, HTTP limits, SQLite's disk
# reserve, the three-server test and the two-server sweep test, which are on PostgreSQL in test-go
# already, and migrate's, which starts its own PostgreSQL and S3) run once, in test-go.
PG_E2E_SKIP := Kubernetes|BadS3|TestMigrateToPostgresAndS3|Slurm|Torch|GPU|FullDisk|SlowBodies|ConnectionCap|StreamsOutlive|OpenFileLimit|OversizedMetric|ThreeServers|SweepSurvivesTheLeadersDeath

## test-postgres: the end-to-end, SDK and MLflow suites on PostgreSQL (TRAINYARD_TEST_DB=postgres); test-go covers the rest
test-postgres: deps-python $(PGSERVER)
	TRAINYARD_TEST_DB=postgres TRAINYARD_BIN=$(CURDIR)/$(BIN) go test -race -count=1 -skip '$(PG_E2E_SKIP)' ./e2e
	TRAINYARD_TEST_DB=postgres TRAINYARD_PGSERVER=$(CURDIR)/$(PGSERVER) TRAINYARD_BIN=$(CURDIR)/$(BIN) $(PY) -m pytest -q sdk/python/tests
	TRAINYARD_TEST_DB=postgres TRAINYARD_PGSERVER=$(CURDIR)/$(PGSERVER) TRAINYARD_BIN=$(CURDIR)/$(BIN) $(PY) -m pytest -q tests/mlflow

## fuzz-smoke: every go test -fuzz target for 2 s (part of make test; about a minute and a half)
fuzz-smoke:
	tests/fuzz/run.sh

## fuzz: every fuzz target for FUZZTIME (default 60 s); figures in docs/benchmarks.md
fuzz:
	FUZZTIME=$${FUZZTIME:-60s} tests/fuzz/run.sh

## bench: benchmarks; results and how to read them are in docs/benchmarks.md
bench: build-go
	go test -run '^$$' -bench . -benchtime 2s ./chunk ./sqlite ./sched
	go run ./bench/ingest -bin $(BIN)

## bench-s3: a 1 GiB artifact up and down S3 through trainyard against minio-go alone (a few minutes)
bench-s3: build-go
	go run ./bench/s3artifacts -bin $(BIN)

## bench-postgres: ingest on PostgreSQL against SQLite, search over 100,000 runs, leader failover
bench-postgres: build-go
	go run ./bench/postgres -bin $(BIN)

## bench-ui: time to first chart and the runs table in headless Chromium
bench-ui: build
	cd web && TRAINYARD_BIN=$(CURDIR)/$(BIN) BENCH_OUT=../bench/ui/last-result.md npm run bench

## bench-slurm: submit → running through trainyard vs plain sbatch on a local Slurm cluster (root, slurm-wlm, munge)
bench-slurm: build-go
	go run ./bench/slurm -bin $(BIN) -n 40

## bench-mlflow: the real MLflow server against trainyard (about 20 minutes)
bench-mlflow: build-go deps-python
	go run ./bench/mlflow -bin $(BIN) -mlflow $(VENV)/bin/mlflow

## bench-load: the largest requests, many at once (peak RSS), and 1,000 SDK clients (latency, memory when idle)
bench-load: build-go
	go run ./bench/bigreq -bin $(BIN)
	go run ./bench/sdkload -bin $(BIN)

# bench/hpo's Python: Optuna (the peer) and YAHPO Gym's surrogate, pinned.
HPO_VENV := .venv-hpo
$(HPO_VENV)/.bench: bench/hpo/requirements.lock
	test -x $(HPO_VENV)/bin/python || python3 -m venv $(HPO_VENV)
	$(HPO_VENV)/bin/pip install -q --disable-pip-version-check -r bench/hpo/requirements.lock
	touch $@

## bench-hpo: trainyard's searchers against Optuna on Branin, Hartmann6, LCBench and MFHartmann6 (about an hour)
bench-hpo: $(HPO_VENV)/.bench
	bash bench/hpo/run.sh $(CURDIR)/$(HPO_VENV)/bin/python

## bench-sweep: a sweep of 200 one-second Python trials through the real server, against Optuna driving subprocesses (about 5 minutes)
bench-sweep: build-go deps-python
	go run ./bench/sweep -bin $(BIN) -python $(CURDIR)/$(PY)

clean:
	rm -rf bin $(VENV) $(HPO_VENV) web/node_modules http/ui/dist
