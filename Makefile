# Modelship — run `make help` for the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export MODELSHIP_DEV_DIR ?= $(CURDIR)/.modelship/dev

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Everything .venv holds comes from uv.lock (versions and hashes), installed by uv, which is itself
# pinned by hash in hack/uv-requirements.txt. `--locked` refuses a lock that no longer matches
# pyproject.toml (run `make lock`); `--inexact` keeps the venv's own pip and uv. The project is
# built without build isolation, by the locked setuptools of the `build` group, so no unlocked
# package enters the build either.
UV := $(BIN)/uv
UV_SYNC := $(UV) sync --locked --inexact --extra dev --extra onnx --group build
export UV_PYTHON_DOWNLOADS := never

$(UV): hack/uv-requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes --no-deps -r hack/uv-requirements.txt
	@touch $@

$(BIN)/modelship: pyproject.toml uv.lock $(UV)
	$(UV_SYNC) --quiet --no-install-project
	$(UV_SYNC) --quiet
	@touch $@

.PHONY: install
install: $(BIN)/modelship ## Create .venv with exactly the versions of uv.lock: runtime, dev and onnx extras (and kubectl).

.PHONY: lock
lock: $(UV) ## Move uv.lock forward: the newest versions pyproject.toml's ranges allow (then `make install`).
	$(UV) lock --upgrade
	@git diff --stat -- uv.lock 2>/dev/null || true

.PHONY: test-unlocked
test-unlocked: $(UV) ## The unit tier in a separate venv holding the newest versions pyproject.toml allows (no lock).
	rm -rf .venv-unlocked
	$(UV) venv --quiet --seed .venv-unlocked
	$(UV) pip install --quiet --python .venv-unlocked/bin/python --no-config --refresh \
		--resolution highest -e '.[dev,onnx]'
	.venv-unlocked/bin/python -m pip list --format=freeze > .venv-unlocked/versions.txt
	.venv-unlocked/bin/pytest -p no:cacheprovider tests/unit

.PHONY: system-deps
system-deps: ## Install the Debian packages the local cluster needs, if any is missing (root; Debian 12).
	@PYTHON=$(PYTHON) bash hack/install-system-deps.sh

.PHONY: test
test: system-deps install ## Run every test: unit, integration (real API server) and end-to-end.
	@# Two workers, a test module each at a time, each worker with its own local cluster; the
	@# modules in collection order, longest first (tests/support/schedule.py), not xdist's order
	@# by number of tests, which leaves the long one-test live modules for the end.
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder

# The oldest Kubernetes release still supported upstream (see devcluster/binaries.py).
COMPAT_KUBERNETES ?= $(shell sed -n 's/^OLDEST_SUPPORTED = "\(.*\)"/\1/p' \
  src/modelship/devcluster/binaries.py)

.PHONY: test-compat
test-compat: system-deps install ## The integration and e2e tiers on the oldest supported Kubernetes (built on first use).
	MODELSHIP_KUBERNETES_VERSION=$(COMPAT_KUBERNETES) $(BIN)/modelship dev build
	MODELSHIP_KUBERNETES_VERSION=$(COMPAT_KUBERNETES) $(BIN)/pytest -n 2 --dist loadfile \
	  --no-loadscope-reorder tests/integration tests/e2e

.PHONY: test-unit
test-unit: install ## Run the fast unit tests only.
	$(BIN)/pytest tests/unit

.PHONY: lint
lint: install ## ruff, mypy and the import-layering contract (lint-imports).
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

.PHONY: fmt
fmt: install ## Format the code with ruff.
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

.PHONY: manifests
manifests: install ## Regenerate crds/ from the pydantic models.
	$(BIN)/modelship crds --output crds

.PHONY: proto
proto: install ## Regenerate the gRPC modules of src/modelship/serving/protocol/ with the locked grpcio-tools.
	cd src && ../$(BIN)/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. \
		modelship/serving/protocol/inference.proto

.PHONY: control-plane
control-plane: system-deps install ## Obtain (build on first use) the control-plane binaries.
	$(BIN)/modelship dev build

.PHONY: cluster-up
cluster-up: system-deps install ## Start the local cluster (etcd, kube-apiserver, kube-controller-manager, local node).
	$(BIN)/modelship dev up

.PHONY: cluster-down
cluster-down: install ## Stop the local cluster; no process is left behind.
	$(BIN)/modelship dev down

.PHONY: cluster-status
cluster-status: install ## Show the local cluster's processes and kubeconfig.
	$(BIN)/modelship dev status

.PHONY: run
run: install ## Run the operator as a local process against the local cluster.
	KUBECONFIG=$(MODELSHIP_DEV_DIR)/kubeconfig \
	MODELSHIP_OPERATOR_HEALTH_ENDPOINT=http://127.0.0.1:8089/healthz \
	MODELSHIP_OPERATOR_ADMISSION_HOST=127.0.0.1 \
	MODELSHIP_OPERATOR_METRICS_ENDPOINT=http://127.0.0.1:8088/metrics \
	MODELSHIP_OPERATOR_CATALOG_URI="$$(cat $(MODELSHIP_DEV_DIR)/catalog-uri 2>/dev/null)" \
	$(BIN)/python -m modelship.operator

.PHONY: demo
demo: system-deps install ## The whole loop on a local cluster, narrated (DEMO_FLAGS=--keep leaves it running).
	$(BIN)/modelship demo run $(DEMO_FLAGS)

.PHONY: demo-down
demo-down: install ## Stop a demo started with --keep.
	$(BIN)/modelship demo down

# --- Cluster packaging: image, manifests, kind --------------------------------------------------
IMAGE ?= modelship:0.1.0
KUBECTL ?= kubectl

.PHONY: image
image: ## Build the container image $(IMAGE) (needs Docker).
	docker build -t $(IMAGE) .

OVERLAY = manifests/default

.PHONY: deploy
deploy: ## Install CRDs, RBAC and the operator into the current kubectl context (manifests/default).
	$(KUBECTL) apply -k $(OVERLAY)
	@# The approval webhook needs nothing more: the operator issues its certificate and sets
	@# the configurations' caBundle. On the local cluster, its registry is every namespace's
	@# catalog (see devcluster/registry.py).
	@uri="$$(cat $(MODELSHIP_DEV_DIR)/catalog-uri 2>/dev/null)"; \
	here="$$($(KUBECTL) config view --minify -o jsonpath='{.clusters[0].cluster.server}')"; \
	local="$$($(KUBECTL) --kubeconfig $(MODELSHIP_DEV_DIR)/kubeconfig config view --minify \
	  -o jsonpath='{.clusters[0].cluster.server}' 2>/dev/null)"; \
	if [ -n "$$uri" ] && [ "$$here" = "$$local" ]; then \
	  $(KUBECTL) -n modelship-system set env deployment/modelship-operator \
	    MODELSHIP_OPERATOR_CATALOG_URI="$$uri"; fi

.PHONY: undeploy
undeploy: ## Remove what deploy installed, CRDs included (and with them every Model).
	$(KUBECTL) delete -k $(OVERLAY) --ignore-not-found

.PHONY: kind-up
kind-up: ## kind: create a cluster, build and load the image, deploy (needs Docker and kind).
	IMAGE=$(IMAGE) KUBECTL=$(KUBECTL) hack/kind.sh up

.PHONY: kind-demo
kind-demo: ## kind: kind-up, then train and test-stage the iris sample in namespace ml.
	IMAGE=$(IMAGE) KUBECTL=$(KUBECTL) hack/kind.sh demo

.PHONY: kind-e2e
kind-e2e: install ## kind: kind-up, then run the end-to-end tests against that cluster.
	IMAGE=$(IMAGE) KUBECTL=$(KUBECTL) hack/kind.sh e2e
