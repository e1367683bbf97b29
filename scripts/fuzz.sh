#!/usr/bin/env bash
# Fuzz `gonogo check` (parse_stream + ManifestSet::add + evaluation + every output format) for a
# bounded time. Never a panic is the contract.
#
#   scripts/fuzz.sh                 60 s (FUZZ_SECONDS=N to change)
#   FUZZ_MODE=libfuzzer|stable      force one engine (default: libFuzzer when possible)
#
# libFuzzer: cargo-fuzz (installed here if missing) with a nightly toolchain runs
# fuzz/fuzz_targets/check.rs, seeded from examples/ and tests/fixtures/; crashes land in
# fuzz/artifacts/check/. Without nightly, the stable mutation fuzzer (tests/cli_fuzz.rs) runs
# instead; it saves a crashing input under the cargo target dir and names it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
mode=${FUZZ_MODE:-auto}

have_libfuzzer() {
  cargo fuzz --version >/dev/null 2>&1 && rustup run nightly rustc --version >/dev/null 2>&1
}

if [ "$mode" != stable ]; then
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz..." >&2
    cargo install cargo-fuzz --locked >&2 || echo "cargo-fuzz could not be installed" >&2
  fi
  if have_libfuzzer; then
    corpus=fuzz/corpus/check
    mkdir -p "$corpus"
    find examples tests/fixtures -name '*.yaml' -exec cp {} "$corpus"/ \;
    # The fuzz crate has its own target dir: its sanitizer flags would invalidate the main build.
    exec env -u CARGO_TARGET_DIR cargo +nightly fuzz run check "$corpus" -- \
      -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048
  elif [ "$mode" = libfuzzer ]; then
    echo "error: libFuzzer needs cargo-fuzz and a nightly toolchain (rustup toolchain install nightly)" >&2
    exit 2
  fi
  echo "no nightly toolchain: running the stable mutation fuzzer instead" >&2
fi
GONOGO_FUZZ_SECONDS=$seconds cargo test --test cli_fuzz -- --nocapture
