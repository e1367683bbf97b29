//! `gonogo check`'s output on fixed corpora, byte for byte, against committed golden files:
//! the guard of the offline speed work (issue 18), so a faster reader never changes a verdict,
//! a warning or an error position.
//!
//! - the peer benchmark's corpus (`scripts/bench_corpus.py 300`, seed `gonogo`: sidecars,
//!   init containers and 22 of its 23 defects) judged by the shared-check checklist, as
//!   `scripts/bench-check.sh` and `scripts/bench-peers.sh` run it;
//! - `tests/golden/readiness-corpus.yaml`, three Deployments of `scripts/bench-check.sh`'s
//!   default corpus with every related kind and a DeploymentReadiness;
//! - every rendered chart of `tests/fixtures/rendered` and `examples/`, with the baseline.
//!
//! The golden files are regenerated only on purpose: `GONOGO_BLESS=1 cargo test --test
//! check_golden`, then read the diff.

use std::path::Path;
use std::process::{Command, Stdio};

const NOW: &str = "2026-06-01T00:00:00Z";

/// Runs `gonogo check` and compares standard output and error (and the exit code, written
/// at the end of the error file) with `tests/golden/NAME.{json,stderr}`.
fn golden(name: &str, args: &[&str], stdin: Option<&Path>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_gonogo"));
    command
        .current_dir(root)
        .arg("check")
        .args(["--now", NOW, "-o", "json"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match stdin {
        Some(path) => command.stdin(std::fs::File::open(path).expect("corpus")),
        None => command.stdin(Stdio::null()),
    };
    let out = command.output().expect("gonogo runs");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let stderr = format!(
        "{}exit: {}\n",
        String::from_utf8(out.stderr).expect("UTF-8 errors"),
        out.status.code().expect("exited")
    );
    let dir = root.join("tests/golden");
    for (ext, got) in [("json", &stdout), ("stderr", &stderr)] {
        let path = dir.join(format!("{name}.{ext}"));
        if std::env::var_os("GONOGO_BLESS").is_some() {
            std::fs::write(&path, got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (GONOGO_BLESS=1 writes it)", path.display()));
        if *got != want {
            let line = got
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(got.lines().count().min(want.lines().count()));
            panic!(
                "{name}.{ext} differs from the golden file at line {}:\n  got:  {}\n  want: {}\n\
                 (regenerate with GONOGO_BLESS=1 only if the change is meant)",
                line + 1,
                got.lines().nth(line).unwrap_or("<end>"),
                want.lines().nth(line).unwrap_or("<end>"),
            );
        }
    }
}

#[test]
fn the_peer_corpus_is_judged_as_before() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.yaml");
    let status = Command::new("python3")
        .current_dir(root)
        .args(["scripts/bench_corpus.py", "300", "-o"])
        .arg(&corpus)
        .status()
        .expect("python3 runs scripts/bench_corpus.py");
    assert!(status.success());
    golden(
        "peer-corpus-300",
        &[
            "-f",
            "-",
            "--checklist",
            "tests/peers/gonogo-checklist.yaml",
            "--no-baseline",
        ],
        Some(&corpus),
    );
}

#[test]
fn the_readiness_corpus_is_judged_as_before() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    golden(
        "readiness-corpus",
        &["-f", "-"],
        Some(&root.join("tests/golden/readiness-corpus.yaml")),
    );
}

#[test]
fn rendered_charts_and_examples_are_judged_as_before() {
    golden(
        "rendered",
        &["-f", "tests/fixtures/rendered", "-f", "examples"],
        None,
    );
}
