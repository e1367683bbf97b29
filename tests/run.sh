#!/usr/bin/env bash
# The one command that runs gonogo's whole test suite:
#
#   tests/run.sh [extra cargo test args...]
#
# 1. checks the prerequisites (cargo, go, root and iproute2 for the http gate's
#    network-namespace test host),
# 2. checks formatting (cargo fmt) and lints (cargo clippy, warnings denied),
# 3. builds the test control plane from Go modules (tests/cluster/build.sh;
#    cached after the first run),
# 4. builds the Prometheus server the `prometheus` gate's end-to-end test
#    queries (tests/prometheus/build.sh; cached likewise),
# 5. runs every Rust test target against them.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

step() { echo "==> $*" >&2; }

missing=0
if ! command -v cargo >/dev/null 2>&1; then
  echo "tests/run.sh: cargo is not on PATH: install Rust (https://rustup.rs)." >&2
  missing=1
fi
if ! command -v go >/dev/null 2>&1; then
  echo "tests/run.sh: go is not on PATH: install Go >= 1.26 (https://go.dev/dl/)." >&2
  echo "  The integration tests build a real Kubernetes control plane from Go modules." >&2
  missing=1
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "tests/run.sh: run it as root (sudo bash tests/run.sh): the http gate's end-to-end test" >&2
  echo "  serves its endpoints from a network namespace (ip netns, a veth pair), which needs root." >&2
  missing=1
elif ! command -v ip >/dev/null 2>&1; then
  # Debian's iproute2: `ip netns` and veth pairs for the test host.
  step "installing iproute2 (ip netns, for the http gate's test host)"
  apt-get install -y -qq iproute2 >/dev/null 2>&1 || { echo "tests/run.sh: cannot install iproute2 (apt-get install iproute2)" >&2; missing=1; }
fi
if ((missing)); then
  exit 1
fi

# Style first: cheap, and a red CI for a missing `cargo fmt` says so at once.
step "cargo fmt --check"
cargo fmt --check
step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

step "building the test control plane (tests/cluster/build.sh)"
start=$SECONDS
GONOGO_CLUSTER_BIN=$(tests/cluster/build.sh)
export GONOGO_CLUSTER_BIN
step "control plane binaries in $GONOGO_CLUSTER_BIN ($((SECONDS - start))s)"

step "building Prometheus (tests/prometheus/build.sh)"
start=$SECONDS
GONOGO_PROMETHEUS_BIN=$(tests/prometheus/build.sh)
export GONOGO_PROMETHEUS_BIN
step "Prometheus binary in $GONOGO_PROMETHEUS_BIN ($((SECONDS - start))s)"

step "cargo test --all-targets"
cargo test --all-targets "$@"
