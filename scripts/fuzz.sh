#!/usr/bin/env bash
# Fuzz what gonogo parses from untrusted input for a bounded time. Never a panic is the contract.
#   check        `gonogo check`: parse_stream + ManifestSet::add + evaluation + every output format
#   certificate  the tls.crt of a kubernetes.io/tls Secret (PEM, DER, X.509 extensions)
#
#   scripts/fuzz.sh [target ...]    default: check certificate, 60 s each (FUZZ_SECONDS=N to change)
#   FUZZ_MODE=libfuzzer|stable      force one engine (default: libFuzzer when possible)
#
# libFuzzer: cargo-fuzz (installed here if missing) with a nightly toolchain runs
# fuzz/fuzz_targets/<target>.rs, seeded from examples/ and tests/fixtures/ (check) or a few
# openssl-made certificates (certificate); crashes land in fuzz/artifacts/<target>/. Without nightly, the stable mutation fuzzer (tests/cli_fuzz.rs) runs
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
    targets=("$@")
    [ ${#targets[@]} -gt 0 ] || targets=(check certificate)
    for target in "${targets[@]}"; do
      corpus=fuzz/corpus/$target
      mkdir -p "$corpus"
      case $target in
        check) find examples tests/fixtures -name '*.yaml' -exec cp {} "$corpus"/ \; ;;
        certificate)
          if command -v openssl >/dev/null 2>&1; then
            for kind in rsa:2048 ec; do
              args=(-newkey "$kind") && [ "$kind" = ec ] && args=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
              openssl req -x509 "${args[@]}" -nodes -keyout /dev/null -days 30 -subj /CN=api.example \
                -addext "subjectAltName=DNS:api.example,DNS:*.api.example,IP:192.0.2.1" \
                -out "$corpus/${kind%%:*}.pem" 2>/dev/null || true
            done
          fi ;;
      esac
      echo "==> libFuzzer: $target for ${seconds}s" >&2
      # The fuzz crate has its own target dir: its sanitizer flags would invalidate the main build.
      env -u CARGO_TARGET_DIR cargo +nightly fuzz run "$target" "$corpus" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048
    done
    exit 0
  elif [ "$mode" = libfuzzer ]; then
    echo "error: libFuzzer needs cargo-fuzz and a nightly toolchain (rustup toolchain install nightly)" >&2
    exit 2
  fi
  echo "no nightly toolchain: running the stable mutation fuzzer instead" >&2
fi
GONOGO_FUZZ_SECONDS=$seconds cargo test --test cli_fuzz -- --nocapture
