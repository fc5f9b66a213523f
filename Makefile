# Courier: one Makefile for set-up, tests, lint and the demo service.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION ?= 2.13.0
EXTRAS ?= serve,cpu,train,export,dev,ray
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)-$(subst $(comma),_,$(EXTRAS))
comma := ,
DEMO_REPO ?= models
DEMO_NAME ?= courier-demo
PYTEST_ARGS ?=

.PHONY: install system-deps test lint serve demo-model clean

install: $(STAMP)

# pip's own output shows the progress; each phase announces itself with the time it took on a fresh clone
# (README, "Development").
$(STAMP): pyproject.toml
	@test -x $(PY) || { echo "== install 1/3: virtualenv $(VENV)"; python3 -m venv $(VENV); }
	@$(PY) -c "import torch" 2>/dev/null || { echo "== install 2/3: torch==$(TORCH_VERSION), CPU wheel (72 s on a fresh clone here)"; \
	  $(PIP) install --progress-bar on "torch==$(TORCH_VERSION)"; }
	@echo "== install 3/3: the project with $(EXTRAS) (4 min on a fresh clone here; pip says nothing for the last 2 min while it unpacks ~90 packages)"
	$(PIP) install --progress-bar on -e ".[$(EXTRAS)]"
	@rm -f $(VENV)/.installed-*
	@touch $@
	@echo "== installed into $(VENV)"

# redis-server (tests, benchmarks) and prometheus (the deploy test scrapes the service with
# deploy/prometheus/prometheus.yml) from Debian's packages when missing.
SYSTEM_PACKAGES := $(if $(shell command -v redis-server),,redis-server) $(if $(shell command -v prometheus),,prometheus)
system-deps:
	@test -z "$(strip $(SYSTEM_PACKAGES))" || { echo "installing $(strip $(SYSTEM_PACKAGES))"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    $(SYSTEM_PACKAGES) >/dev/null) \
	  || { echo "could not install $(strip $(SYSTEM_PACKAGES)) (need root and Debian's packages)"; exit 1; }; }

test: install system-deps lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

demo-model: install
	@$(PY) -m model_export.demo --repo $(DEMO_REPO) --name $(DEMO_NAME)

# With COURIER_MODEL_REPOSITORY given (environment or `make serve COURIER_MODEL_REPOSITORY=...`) the demo
# model is neither built nor checked; otherwise it is built once into $(DEMO_REPO)/$(DEMO_NAME).
serve: $(if $(COURIER_MODEL_REPOSITORY),install,demo-model)
ifeq ($(COURIER_MODEL_REPOSITORY),)
	COURIER_MODEL_REPOSITORY=$(DEMO_REPO) COURIER_MODEL_NAME=$${COURIER_MODEL_NAME:-$(DEMO_NAME)} $(PY) -m service
else
	$(PY) -m service
endif

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
