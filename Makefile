# wa-crm-bridge — two commands for a newcomer: `make run` and `make test`.
# Everything the project needs is installed here, idempotently: Python venvs with pinned
# packages (moto for local AWS; SAM CLI and cargo-lambda for build/lint/deploy) and the
# Rust target for arm64 Lambda builds.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOOLS_VENV := .venv-tools
MOTO_PORT ?= 4566
# Tests use their own moto so they never collide with a `make run` in progress.
TEST_MOTO_PORT ?= 4599
CARGO ?= cargo

.PHONY: run test build lint deploy bench fuzz clean-local help

help:
	@echo "make run     run the whole system locally (moto + runner + Graph API simulator)"
	@echo "make test    every test, offline, against a moto the target starts and stops"
	@echo "make build   cargo lambda build --release --arm64 (the four functions)"
	@echo "make lint    rustfmt, clippy -D warnings, sam validate --lint, cfn-lint"
	@echo "make bench   webhook criterion bench + sender limiter bench (moto)"
	@echo "make fuzz    every fuzz target for FUZZ_SECONDS each (default 60; nightly + cargo-fuzz)"
	@echo "make deploy  sam build && sam deploy (guided the first time)"

$(VENV)/.installed: infra/python/requirements-moto.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r $<
	touch $@

$(TOOLS_VENV)/.installed: infra/python/requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet -r $<
	touch $@

run: $(VENV)/.installed
	$(CARGO) build --bin local-stack
	MOTO_PORT=$(MOTO_PORT) infra/scripts/run-local.sh

test: $(VENV)/.installed
	$(CARGO) build --workspace --tests
	RUST_LOG=$${RUST_LOG:-warn} infra/scripts/with-moto.sh $(TEST_MOTO_PORT) $(CARGO) test --workspace --no-fail-fast

bench: $(VENV)/.installed
	$(CARGO) bench -p webhook --bench ingest
	infra/scripts/with-moto.sh $(TEST_MOTO_PORT) $(CARGO) bench -p sender --bench limiter

# cargo-fuzz, pinned, installed once into .local/ (the targets need the nightly toolchain).
CARGO_FUZZ_VERSION := 0.13.1
CARGO_TOOLS := .local/cargo-tools
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := webhook_verify_split processor_update sender_command sender_recipient graph_answer

$(CARGO_TOOLS)/.cargo-fuzz-$(CARGO_FUZZ_VERSION):
	$(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root $(CARGO_TOOLS)
	touch $@

fuzz: $(CARGO_TOOLS)/.cargo-fuzz-$(CARGO_FUZZ_VERSION)
	rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	FUZZ_SECONDS=$(FUZZ_SECONDS) CARGO_FUZZ=$(CURDIR)/$(CARGO_TOOLS)/bin/cargo-fuzz fuzz/run.sh $(FUZZ_TARGETS)

build: $(TOOLS_VENV)/.installed
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH" cargo lambda build --release --arm64 -p webhook -p processor -p sender -p window-alerts

lint: $(TOOLS_VENV)/.installed
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	AWS_DEFAULT_REGION=us-east-1 $(TOOLS_VENV)/bin/sam validate --lint --template template.yaml
	$(TOOLS_VENV)/bin/cfn-lint template.yaml

# The first deploy from this checkout is guided (stack name, region, parameters, confirmation);
# later ones reuse samconfig.toml. Put Meta's credentials into the secret afterwards (README).
deploy: $(TOOLS_VENV)/.installed
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH" sam build
	@mkdir -p .local
	@if [ -f .local/deployed-once ]; then \
		PATH="$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH" sam deploy; \
	else \
		PATH="$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH" sam deploy --guided && touch .local/deployed-once; \
	fi

clean-local:
	rm -rf .local
