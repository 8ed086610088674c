#!/usr/bin/env bash
# Installs what the build and tests need, skipping whatever is already there (a second run on a
# ready machine takes seconds). Only registries this project may use: crates.io, npm, Debian.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf 'setup: %s\n' "$*"; }

pinned_bindgen=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
[ -n "$pinned_bindgen" ] || { echo "setup: cannot read the pinned wasm-bindgen version from Cargo.toml" >&2; exit 1; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! command -v wasm-pack >/dev/null 2>&1; then
  say "installing wasm-pack (a few minutes)"
  cargo install --locked wasm-pack
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$pinned_bindgen" ]; then
  say "installing wasm-bindgen-cli $pinned_bindgen (a few minutes)"
  # No --locked: its lockfile pins a crate version this registry lacks.
  cargo install wasm-bindgen-cli --version "$pinned_bindgen" --force
fi

# Browsers from Debian: Chromium + its driver, and Firefox ESR (its driver comes from crates.io).
apt_pkgs=()
{ [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } || apt_pkgs+=(chromium chromium-driver)
[ -x /usr/bin/firefox-esr ] || apt_pkgs+=(firefox-esr)
# nftables: the interop tests cut UDP and one TCP port in a private network namespace.
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || apt_pkgs+=(nftables)
# WebKit, the third engine: WebKitGTK's WebDriver and MiniBrowser, on a virtual display.
[ -x /usr/bin/WebKitWebDriver ] || apt_pkgs+=(webkit2gtk-driver)
command -v xvfb-run >/dev/null 2>&1 || apt_pkgs+=(xvfb)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  say "installing ${apt_pkgs[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
fi

# geckodriver drives Firefox for the browser tests; pinned, rebuilt only when missing or another version.
geckodriver_version=0.37.1
if [ "$(geckodriver --version 2>/dev/null | awk 'NR==1 {print $2}')" != "$geckodriver_version" ]; then
  say "installing geckodriver $geckodriver_version (a few minutes)"
  cargo install geckodriver --version "$geckodriver_version" --locked --force
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dev dependencies"
  # `npm install`, not `npm ci`: the lock is exact, but this registry lacks rollup's optional
  # binaries for other platforms, and `npm ci` refuses a lock without them. With a lock that
  # satisfies package.json, `npm install` installs exactly the locked versions.
  npm install --no-audit --no-fund --loglevel=error
fi
# The Next.js example's own dependencies (next, react, typescript; its lock file pins them), installed
# in examples/next: that fills npm's cache, from which tests/e2e/next.test.mjs installs them into its
# copy of the example (--prefer-offline).
if [ ! -f examples/next/node_modules/.package-lock.json ] || [ examples/next/package-lock.json -nt examples/next/node_modules/.package-lock.json ]; then
  say "installing the Next.js example's dependencies"
  (cd examples/next && npm install --no-audit --no-fund --loglevel=error)
fi
# The real Pipecat development runner, for the interop tests (tests/interop/): pinned, in a
# virtualenv of the project's own; reinstalled only when missing or another version.
pipecat_version=1.14.0
venv=.venv-pipecat
if [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("pipecat-ai"))' 2>/dev/null)" != "$pipecat_version" ]; then
  say "installing pipecat-ai $pipecat_version into $venv (a few minutes)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "pipecat-ai[webrtc,websocket,runner]==$pipecat_version"
fi

# iproute2 (ip) for the network namespaces of the interop tests and the blackout benchmark.
if ! command -v ip >/dev/null 2>&1; then
  say "installing iproute2 from Debian"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq iproute2 >/dev/null
fi
say "ready"
