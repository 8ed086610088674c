# agent-rtc: `make demo` and `make test` are all a new machine needs (both run `make setup`).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
HOST ?= 127.0.0.1
PORT ?= 7860
export HOST PORT
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/node_modules/.bin:$(PATH)
# No update checks or downloads from wasm-pack: everything it needs is installed by setup.
WASM_PACK := wasm-pack --log-level warn
AGENT_BIN := target/debug/agent-rtc-agent

.PHONY: setup build pkg agent demo test lint test-native test-browser test-browser-firefox test-e2e test-interop size bench clean

setup:
	@scripts/setup.sh

## The npm package in pkg/ (wasm-pack --target web, size-tuned release build).
## -Zlocation-detail=none: no file/line/column strings behind the panics that a release wasm can
## only trap on (panic = "abort"; nothing would print them): -1.6 KB gzip, measured. A stable
## rustc takes -Z flags with RUSTC_BOOTSTRAP=1, which also switches it to v0 symbol names (+2.2 KB
## of raw glue: wasm-bindgen names closure shims after them), hence legacy mangling stated.
## Only this release wasm build gets any of it; if a toolchain ever refuses a flag, drop PKG_ENV.
## -zstack-size=65536: a 64 KiB stack, not Rust's 1 MiB, so a page holds 128-192 KiB of wasm memory,
## not 1.1 MiB. Nothing on the wasm path recurses without a bound (JSON: 100 levels); the deepest
## measured is 14 KB (tests/e2e/stack.test.mjs keeps it under half the stack).
PKG_ENV := RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zlocation-detail=none -Zunstable-options -Csymbol-mangling-version=legacy -Clink-arg=-zstack-size=65536"
pkg: setup
	$(PKG_ENV) $(WASM_PACK) build --target web --release --mode no-install --out-dir pkg
	@scripts/package.sh

build: pkg agent

agent: setup
	cargo build -p agent-rtc-agent

demo: pkg agent
	@scripts/demo.sh "$(AGENT_BIN)" "$(HOST)" "$(PORT)"

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p agent-rtc --all-targets --target wasm32-unknown-unknown -- -D warnings

test-native: setup
	cargo test --workspace

## Browser tests of the SDK (wasm-bindgen-test in headless Chromium) against a local agent.
test-browser: agent
	WASM_BINDGEN_TEST_TIMEOUT=300 scripts/with-agent.sh "$(AGENT_BIN)" -- \
	  $(WASM_PACK) test --headless --chrome --chromedriver /usr/bin/chromedriver --mode no-install

## The same browser suites in Firefox ESR through geckodriver (prefs: webdriver-firefox.json).
test-browser-firefox: agent
	mkdir -p test-output/tmp
	WASM_BINDGEN_TEST_TIMEOUT=300 WASM_BINDGEN_TEST_WEBDRIVER_JSON="$(CURDIR)/webdriver-firefox.json" \
	GECKODRIVER_ARGS="--profile-root $(CURDIR)/test-output/tmp" scripts/with-agent.sh "$(AGENT_BIN)" -- \
	  $(WASM_PACK) test --headless --firefox --geckodriver "$(HOME)/.cargo/bin/geckodriver" --mode no-install

## End-to-end tests in headless Chromium driven by playwright-core (official client, widget).
test-e2e: pkg agent
	AGENT_BIN="$(AGENT_BIN)" node --test tests/e2e/

## Against the real Pipecat runner (pinned pipecat-ai in .venv-pipecat, made by setup): real
## network cuts of 3/12/20 s during a call in Chromium (lo down) and Firefox (nftables); the call
## must come back on the same bot; a runner restarted during a cut ends the call, typed.
test-interop: pkg agent
	AGENT_BIN="$(AGENT_BIN)" PIPECAT_PYTHON=.venv-pipecat/bin/python node --test tests/interop/

## The size budget (size-budget.json): wasm gzip + minified glue gzip.
size: pkg
	node scripts/size-budget.mjs

test: lint test-native test-browser test-browser-firefox test-e2e test-interop size
	@echo "make test: all suites passed"

## Benchmark against an optimised local agent (prints numbers; not a test): cold start, connect
## steps beside the official client and a hand-written floor, sizes; all of it in test-output/bench.json.
## Then where the wasm's bytes are, by feature (scripts/size-parts.mjs, test-output/size-parts.json),
## and what the WebSocket transport costs a page (scripts/size-websocket.mjs: a build without it).
## Knobs: RUNS (connect rounds, 40), COLD_RUNS (cold-start rounds, 15), WARMUP (3).
## Then network cuts of 3/8/12/20 s during a call, agent-rtc and the official client side by side
## (blackout.mjs: a private network namespace whose lo goes down; under `blackout` in bench.json).
## The warm connect steps and the cuts are also run against the real Pipecat runner (the pinned
## pipecat-ai of .venv-pipecat; connectStepsRunner and blackoutRunner in bench.json): its 12 and
## 20 s cuts three times each, agent-rtc alone (the official client does not restart a call).
## The WebSocket transport against the runner (websocket.mjs: connect over a WebSocket, the floor
## and WebRTC side by side; mouth-to-ear through the echo bot; test-output/bench-websocket.json),
## and transport "auto" with UDP blocked and open (udp-blocked.mjs: ms from the call to the resolved
## call, fallback included; test-output/bench-auto-{1,0}.json), and what a UI agent snapshot
## costs on pages of 1,000 and 3,000 elements (ui-snapshot.mjs: build time, bytes on the wire).
bench: pkg
	cargo build --profile agent -p agent-rtc-agent
	AGENT_BIN=target/agent/agent-rtc-agent BENCH_RUNNER=.venv-pipecat/bin/python node tests/bench/connect.mjs
	BENCH_RUNNER=.venv-pipecat/bin/python node tests/bench/websocket.mjs
	for block in 1 0; do AGENT_BIN=target/agent/agent-rtc-agent AUTO_RUNNER=.venv-pipecat/bin/python AUTO_BLOCK=$$block \
	  AUTO_OFFICIAL=1 AUTO_ROUNDS=10 AUTO_OUT=bench-auto-$$block.json node tests/bench/udp-blocked.mjs; done
	node tests/bench/ui-snapshot.mjs
	mkdir -p test-output && node scripts/size-parts.mjs --json test-output/size-parts.json
	CARGO_TARGET_DIR=target/no-websocket $(PKG_ENV) $(WASM_PACK) build --target web --release --mode no-install \
	  --out-dir test-output/pkg-no-websocket -- --no-default-features
	node scripts/size-websocket.mjs --json test-output/size-websocket.json
	AGENT_BIN=target/agent/agent-rtc-agent node tests/bench/blackout.mjs
	AGENT_BIN=target/agent/agent-rtc-agent BLACKOUT_RUNNER=.venv-pipecat/bin/python BLACKOUT_SERIAL=1 \
	  BLACKOUT_CUTS=12,20,12,20,12,20 BLACKOUT_OUT=blackout-runner.json node tests/bench/blackout.mjs

clean:
	rm -rf pkg test-output
	cargo clean
