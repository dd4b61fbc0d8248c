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
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOFLAGS_BUILD := -trimpath -ldflags "-s -w -X main.version=$(VERSION)"

.PHONY: build build-go web run stop test test-go test-python test-mlflow deps-python deps-example test-web bench bench-ui bench-mlflow clean

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

## run: build, start trainyard (or reuse the one at TRAINYARD_URL), run the example, show its metrics
run: build deps-example
	@if ! curl -fsS $(TRAINYARD_URL)/api/v1/health >/dev/null 2>&1; then \
		mkdir -p $(TRAINYARD_HOME); \
		echo "starting trainyard at $(TRAINYARD_URL) (data: $(TRAINYARD_HOME), log: $(TRAINYARD_HOME)/server.log)"; \
		nohup $(BIN) up --addr $(ADDR) --data $(TRAINYARD_HOME) >>$(TRAINYARD_HOME)/server.log 2>&1 & echo $$! > $(TRAINYARD_HOME)/server.pid; \
		for i in $$(seq 100); do curl -fsS $(TRAINYARD_URL)/api/v1/health >/dev/null 2>&1 && break; sleep 0.1; done; \
		curl -fsS $(TRAINYARD_URL)/api/v1/health >/dev/null || { echo "trainyard did not start; see $(TRAINYARD_HOME)/server.log"; tail -20 $(TRAINYARD_HOME)/server.log; exit 1; }; \
	else echo "using the trainyard already running at $(TRAINYARD_URL)"; fi
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(BIN) run --wait --name digits-mlp --project examples -- python examples/train_digits.py --epochs 30
	@echo; $(BIN) runs ls --project examples --limit 5
	@echo; $(BIN) metrics $$($(BIN) runs ls --project examples --limit 1 --json | $(PY) -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
	@echo; echo "trainyard is running at $(TRAINYARD_URL) — open it in a browser, or:"; \
	echo "  export PATH=$(CURDIR)/bin:\$$PATH"; \
	echo "  trainyard ps; trainyard runs ls; trainyard run --gpus 1 -- python train.py"; \
	echo "  make stop   # stops the server (running jobs keep running)"

## stop: stop the server that make run started
stop:
	@if [ -f $(TRAINYARD_HOME)/server.pid ]; then kill $$(cat $(TRAINYARD_HOME)/server.pid) 2>/dev/null || true; rm -f $(TRAINYARD_HOME)/server.pid; echo stopped; else echo "no server started by make run"; fi

## test: every test (Go, Python SDK, web UI in Chromium)
test: build deps-python
	$(MAKE) test-go test-python test-mlflow test-web

test-go:
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	TRAINYARD_BIN=$(CURDIR)/$(BIN) go test -race -count=1 ./...

test-python: deps-python
	TRAINYARD_BIN=$(CURDIR)/$(BIN) $(PY) -m pytest -q sdk/python/tests

test-mlflow: deps-python
	TRAINYARD_BIN=$(CURDIR)/$(BIN) $(PY) -m pytest -q tests/mlflow

test-web:
	@if [ -f web/package.json ]; then cd web && npm test && TRAINYARD_BIN=$(CURDIR)/$(BIN) npm run e2e; fi

## bench: benchmarks; results and how to read them are in docs/benchmarks.md
bench: build-go
	go test -run '^$$' -bench . -benchtime 2s ./chunk ./sqlite ./sched
	go run ./bench/ingest -bin $(BIN)

## bench-ui: time to first chart and the runs table in headless Chromium
bench-ui: build
	cd web && TRAINYARD_BIN=$(CURDIR)/$(BIN) BENCH_OUT=../bench/ui/last-result.md npm run bench

## bench-mlflow: the real MLflow server against trainyard (about 20 minutes)
bench-mlflow: build-go deps-python
	go run ./bench/mlflow -bin $(BIN) -mlflow $(VENV)/bin/mlflow

clean:
	rm -rf bin $(VENV) web/node_modules http/ui/dist
