# wa-crm-bridge — two commands for a newcomer: `make run` and `make test`.
# Everything the project needs is installed here, idempotently: Python venvs with pinned
# packages (moto for local AWS; SAM CLI and cargo-lambda for build/lint/deploy) and the
# Rust target for arm64 Lambda builds.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOOLS_VENV := .venv-tools
# checkov pins an older boto3 than the SAM CLI, so it has a venv of its own.
CHECKOV_VENV := .venv-checkov
MOTO_PORT ?= 4566
# Tests use their own moto so they never collide with a `make run` in progress.
TEST_MOTO_PORT ?= 4599
CARGO ?= cargo

.PHONY: run test load cost build sam-build build-check lint deploy bench fuzz clean-local help \
	build-WebhookFunction build-ProcessorFunction build-SenderFunction build-WindowAlertsFunction

help:
	@echo "make run     run the whole system locally (moto + runner + Graph API simulator)"
	@echo "make test    every test, offline, against a moto the target starts and stops"
	@echo "make load    2,000 signed customer messages through a fresh local stack; prints messages/s"
	@echo "make cost    a fixed workload through a fresh local stack; AWS calls and $$ per million messages"
	@echo "make build   cargo lambda build --release --arm64 (the four functions), then target/debug/wa-bridge"
	@echo "make build-check  sam build (the deploy's build step), then each bootstrap: aarch64, <= 8 MB"
	@echo "make lint    rustfmt, clippy -D warnings, sam validate --lint, cfn-lint, checkov"
	@echo "make bench   webhook criterion bench + sender limiter bench (moto) + sizes and cold starts"
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

$(CHECKOV_VENV)/.installed: infra/python/requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet -r $<
	touch $@

# The runner runs each function's compiled binary (infra/local-runner: a Runtime API per
# execution environment), taken from the runner's own profile directory: build them together.
# It gives each function its template role, expanded by SAM's translator from the tools venv
# (pinned there with the SAM CLI that needs it), so `make run` and `make load` install it too.
# `make run` also builds wa-bridge, the command line of the README's round trip.
FUNCTIONS := -p webhook -p processor -p sender -p window-alerts -p media

run: $(VENV)/.installed $(TOOLS_VENV)/.installed
	$(CARGO) build -p local-runner $(FUNCTIONS) -p wa-bridge --bins
	MOTO_PORT=$(MOTO_PORT) infra/scripts/run-local.sh

# The whole suite logs at DEBUG into one capture (JSON, span list included) while the local runner
# writes down every input it hands a function; log-scan then fails on any phone number, text, name
# or secret from those inputs, events/ or the local credentials found in a log line. DEBUG covers
# our crates and every other crate (the SDK clients' per-call lines included) except the smithy
# runtime and the HTTP/TLS stack, kept at INFO: their DEBUG lines are per-request machinery
# (orchestrator steps, signing, connection pool), not our code, and cost time on every call of a
# suite that makes tens of thousands. `make test TEST_LOG_FILTER=debug` scans them too.
TEST_LOG_FILTER ?= debug,aws_smithy_runtime=info,aws_smithy_runtime_api=info,aws_smithy_http_client=info,aws_config=info,aws_sigv4=info,aws_runtime=info,hyper=info,hyper_util=info,h2=info,rustls=info,reqwest=info,tower=info,axum=info
LOG_SCAN := .local/log-scan

# The tools venv holds SAM's translator, which the IAM test (tests/tests/iam_from_code) and the
# runner (each function's role) run.
test: $(VENV)/.installed $(TOOLS_VENV)/.installed
	$(VENV)/bin/python -m unittest discover -s infra/python -t infra/python -p 'test_*.py'
	$(CARGO) build --workspace --tests --bins
	rm -rf $(LOG_SCAN) && mkdir -p $(LOG_SCAN)
	LOG_CAPTURE_FILE=$(CURDIR)/$(LOG_SCAN)/logs.jsonl LOCAL_INPUT_CAPTURE_FILE=$(CURDIR)/$(LOG_SCAN)/inputs.jsonl \
		RUST_LOG='$(TEST_LOG_FILTER)' infra/scripts/with-moto.sh $(TEST_MOTO_PORT) $(CARGO) test --workspace --no-fail-fast
	$(CARGO) run -q -p e2e-tests --bin log-scan -- $(LOG_SCAN)/logs.jsonl $(LOG_SCAN)/inputs.jsonl events

# A fresh local stack (run-local.sh: `make run`'s ports and defaults; runner and load binary in the
# `load` profile, optimised) receives LOAD_MESSAGES (2000) signed customer messages, LOAD_BATCH
# (20) per webhook POST, and the load binary waits for every `message.received` on
# crm-events.fifo: tests/src/bin/load.rs, figures in docs/performance.md.
load: $(VENV)/.installed $(TOOLS_VENV)/.installed
	$(CARGO) build --profile load -p local-runner -p e2e-tests $(FUNCTIONS) --bins
	MOTO_PORT=$(MOTO_PORT) LOCAL_STACK_BIN=$(CURDIR)/target/load/local-stack \
		infra/scripts/with-stack.sh $(CURDIR)/target/load/load

# A fixed workload through a fresh local stack (optimised builds, as `make load`) with moto's
# request recorder on: COST_CUSTOMERS (60) customers write once, the CRM replies to each, the
# simulator posts three statuses per reply; prints AWS calls and dollars per million messages,
# fixed costs per hour apart (infra/python/cost/).
# COST_PROFILE=dev counts the same calls from the (incremental) debug build while iterating; the
# dollar figures for Lambda need the optimised `load` profile (its durations).
COST_PROFILE ?= load
COST_TARGET_DIR := $(if $(filter dev,$(COST_PROFILE)),debug,$(COST_PROFILE))
cost: $(VENV)/.installed $(TOOLS_VENV)/.installed
	$(CARGO) build --profile $(COST_PROFILE) -p local-runner $(FUNCTIONS) --bins
	MOTO_PORT=$(MOTO_PORT) MOTO_ENABLE_RECORDING=True LOCAL_STACK_BIN=$(CURDIR)/target/$(COST_TARGET_DIR)/local-stack \
		infra/scripts/with-stack.sh sh -c 'cd infra/python && exec $(CURDIR)/$(VENV)/bin/python -m cost'


# Sizes are the arm64 bootstraps (`make build`); cold starts run the host release binaries with
# the template's environment against a private moto (tests/src/bin/cold-start.rs).
bench: $(VENV)/.installed build
	$(CARGO) bench -p webhook --bench ingest
	infra/scripts/with-moto.sh $(TEST_MOTO_PORT) $(CARGO) bench -p sender --bench limiter
	$(CARGO) build --release $(addprefix -p ,$(LAMBDA_PACKAGES))
	infra/scripts/with-moto.sh $(TEST_MOTO_PORT) $(CARGO) run -q -p e2e-tests --bin cold-start -- target/release target/lambda

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

# The four Lambda bootstraps as AWS runs them: arm64, release profile, one cargo invocation so
# the four share one feature resolution; into target/lambda/<function>/bootstrap.
# RUSTFLAGS replaces the flags cargo-lambda would give the target (its `-C target-cpu`), so they
# are all here: Graviton's Neoverse N1 (cargo-lambda's own choice for arm64), and
# `-C force-unwind-tables=no`: with panic = "abort" nothing unwinds, so our code's unwind tables
# (.eh_frame) are dead weight. `-C relocation-model=static`: a non-PIE executable, without the
# ~0.8 MB of load-time relocations (.rela.dyn) a PIE carries (RELR packing would keep PIE small
# but needs glibc 2.36; provided.al2023 has 2.34); the cost is a fixed address for the
# executable's own image (stack, heap, mmap and libc stay randomised): docs/performance.md.
# With `--target`, RUSTFLAGS skips build scripts and proc macros.
# Then the operator's command line for this machine, target/debug/wa-bridge (never deployed).
LAMBDA_PACKAGES := webhook processor sender window-alerts media
LAMBDA_RUSTFLAGS := -C target-cpu=neoverse-n1 -C force-unwind-tables=no -C relocation-model=static
build: $(TOOLS_VENV)/.installed
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH" RUSTFLAGS="$(LAMBDA_RUSTFLAGS)" \
		cargo lambda build --release --arm64 $(addprefix -p ,$(LAMBDA_PACKAGES))
	$(CARGO) build -p wa-bridge

# `sam build` (template.yaml: BuildMethod makefile, built in source) runs `make build-<LogicalId>`
# once per function with ARTIFACTS_DIR set: each copies `make build`'s bootstrap, so what deploys
# is what `make build` built and `make build-check` checked. SAM's rust-cargolambda method built
# each function with its own `cargo lambda build --bin`, whose feature resolution covers the whole
# workspace (test crates included) and so produced other binaries than `make build`.
build-WebhookFunction: LAMBDA_BIN := webhook
build-ProcessorFunction: LAMBDA_BIN := processor
build-SenderFunction: LAMBDA_BIN := sender
build-WindowAlertsFunction: LAMBDA_BIN := window-alerts
build-MediaFunction: LAMBDA_BIN := media
build-WebhookFunction build-ProcessorFunction build-SenderFunction build-WindowAlertsFunction build-MediaFunction: build
	@test -n "$(ARTIFACTS_DIR)" || { echo "$@ is run by sam build, which sets ARTIFACTS_DIR" >&2; exit 1; }
	cp target/lambda/$(LAMBDA_BIN)/bootstrap "$(ARTIFACTS_DIR)/bootstrap"

# The deploy's build step, offline: `sam build` into .aws-sam/build (telemetry off).
SAM := PATH="$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 sam
sam-build: $(TOOLS_VENV)/.installed
	$(SAM) build --build-in-source

# CI (.ci/run): the deploy's build, then every function's artifact under .aws-sam/build must be
# an aarch64 ELF of at most 8 MB and identical to target/lambda's (tests/src/bin/build-check.rs).
build-check: sam-build
	$(CARGO) run -q -p e2e-tests --bin build-check -- .aws-sam/build target/lambda

# checkov: every failing check is fixed or skipped in template.yaml with its reason
# (Metadata.checkov.skip); --skip-download keeps it offline; checkov exits 0 on a template it
# cannot parse, so a parsing error fails here.
lint: $(TOOLS_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	AWS_DEFAULT_REGION=us-east-1 $(TOOLS_VENV)/bin/sam validate --lint --template template.yaml
	$(TOOLS_VENV)/bin/cfn-lint template.yaml
	@out=$$($(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation \
		--file template.yaml 2>&1); rc=$$?; echo "$$out"; \
	if grep -q "Parsing errors: [1-9]" <<<"$$out"; then echo "checkov could not parse template.yaml" >&2; exit 1; fi; \
	exit $$rc

# The first deploy from this checkout is guided (stack name, region, parameters, confirmation);
# later ones reuse samconfig.toml. Put Meta's credentials into the secret afterwards (README).
deploy: sam-build
	@mkdir -p .local
	@if [ -f .local/deployed-once ]; then \
		PATH="$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH" sam deploy; \
	else \
		PATH="$(CURDIR)/$(TOOLS_VENV)/bin:$$PATH" sam deploy --guided && touch .local/deployed-once; \
	fi

clean-local:
	rm -rf .local
