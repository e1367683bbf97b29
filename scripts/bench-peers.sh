#!/usr/bin/env bash
# Side-by-side benchmark of `gonogo check` and its peers (kube-score, checkov) on one generated
# corpus: wall time, CPU time and peak RSS per tool and N, agreement of their verdicts on the
# shared checks, a plot, and the generated section of BENCHMARKS.md. A benchmark, not a test:
# not run by tests/run.sh or CI. Everything it needs it installs itself:
#   - gonogo: the release build of this checkout (GONOGO=path to use another binary)
#   - kube-score, checkov, matplotlib: tests/peers/build.sh (pinned; cached under
#     ~/.cache/gonogo/peers)
#   - GNU time (/usr/bin/time, Debian package `time`) for peak RSS
#
# Usage: scripts/bench-peers.sh [options]      (options go to scripts/bench_peers.py)
#   --sizes 1000,2000,5000,10000  corpus sizes (Deployments) for gonogo and kube-score
#   --runs 3                    runs per tool and N; the table reports the best (and median)
#   --checkov-sizes 250,500,1000,2000  checkov's sizes (superlinear in N: see BENCHMARKS.md)
#   --checkov-runs 1
#   --keep DIR                  keep corpora and tool reports in DIR (default: a temp dir, deleted)
#   --results-dir docs/bench    where peers-results.{json,csv} and peers-time.png go
#   --markdown BENCHMARKS.md    file whose <!-- peers:begin/end --> section is rewritten
#   --report-only FILE.json     measure nothing: redo CSV, plot and section from a results JSON
# A full default run takes 30-60 minutes on 2 cores (load-dependent), most of it checkov at
# N = 2 000 and kube-score at N = 10 000 (both quadratic: 5+ CPU minutes each).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${GONOGO:-}" ]; then
  cargo build --release --quiet --bin gonogo
  GONOGO="$(pwd)/${CARGO_TARGET_DIR:-target}/release/gonogo"
fi

if [ ! -x /usr/bin/time ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq time >/dev/null
  fi
  [ -x /usr/bin/time ] || { echo "bench-peers.sh: GNU time (/usr/bin/time) is needed: apt-get install time" >&2; exit 1; }
fi

peers_bin=$(tests/peers/build.sh)
exec "$peers_bin/python" scripts/bench_peers.py --gonogo "$GONOGO" --peers-bin "$peers_bin" "$@"
