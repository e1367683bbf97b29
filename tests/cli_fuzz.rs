//! A stable-toolchain fuzzer for `gonogo check`: mutations of the examples and fixtures
//! (byte flips, deletions, YAML tokens, spliced documents, re-indented lines, odd scalars)
//! through the whole command (`gonogo::cli::check::fuzz_one`), which must never panic.
//!
//! Runs for `GONOGO_FUZZ_SECONDS` (default 3) from seed `GONOGO_FUZZ_SEED` (default fixed,
//! so a normal `cargo test` is deterministic). A panicking input is written to
//! `$CARGO_TARGET_TMPDIR/fuzz-crash-*.yaml` and named in the failure. `scripts/fuzz.sh` runs
//! the libFuzzer target in `fuzz/` when cargo-fuzz and nightly are available, this otherwise.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TOKENS: &[&str] = &[
    ": ",
    "- ",
    "---\n",
    "...\n",
    "--- {kind: A}\n",
    "{",
    "}",
    "[",
    "]",
    ",",
    "null",
    "~",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!binary ",
    "!!str ",
    "\t",
    "'",
    "\"",
    "\n  ",
    "\n    ",
    "#",
    "# Source: x/templates/y.yaml\n",
    "kind: List\nitems:\n- ",
    "apiVersion: apps/v1\nkind: Deployment\n",
    "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\n",
    "99999999999999999999",
    "-1",
    "1e400",
    "\u{feff}",
    "--- |\n",
    "? ",
    "%YAML 1.2\n",
    "\u{0}",
    "é",
    "😀",
    "\r\n",
    "metadata: {name: ''}\n",
    "targetRef: {name: api}\n",
];

const SCALARS: &[&str] = &[
    "-2147483649",
    "2147483648",
    "0",
    "-1",
    "\"\"",
    "[]",
    "{}",
    "true",
    "null",
    "\"2026-13-45T00:00:00Z\"",
    "\"1.5.0\"",
    "[[[[]]]]",
    "\"*\"",
    "\"Always\"",
    "\"a b/c\"",
    "1e999",
    ".inf",
    "0x10",
    "\"500m\"",
    "\"1Pi\"",
    "\"-5Gi\"",
    "\"ALL\"",
    "\"latest\"",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Whole manifest sets: each example directory with the checklists, each fixture, and each
/// checklist next to the example Deployment (a lone checklist has nothing to judge).
fn seeds() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let read_all = |dir: &str| -> Vec<String> {
        let mut files = Vec::new();
        collect(&root.join(dir), &mut files);
        files.sort();
        files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect()
    };
    let checklists = read_all("examples/checklists");
    let deployment =
        std::fs::read_to_string(root.join("examples/app/deployment.yaml")).unwrap_or_default();
    let mut seeds = Vec::new();
    for example in ["examples/app", "examples/broken"] {
        let mut docs = read_all(example);
        docs.extend(checklists.iter().cloned());
        seeds.push(docs.join("\n---\n"));
    }
    seeds.extend(read_all("tests/fixtures/checks"));
    seeds.extend(checklists.iter().map(|c| format!("{deployment}\n---\n{c}")));
    seeds
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "json") {
            out.push(path);
        }
    }
}

fn mutate(rng: &mut Rng, seeds: &[String]) -> String {
    let mut text = seeds[rng.below(seeds.len())].clone().into_bytes();
    for _ in 0..=rng.below(2) {
        let len = text.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                text[i] = b" -:{}[]\n#&*!|>'\"0a\t"[rng.below(19)];
            }
            1 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                text.drain(start..end);
            }
            2 => {
                let i = rng.below(len + 1);
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                text.splice(i..i, token.iter().copied());
            }
            3 => {
                // Splice another seed's tail onto this one's head.
                let other = seeds[rng.below(seeds.len())].as_bytes();
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                text.truncate(cut);
                text.extend_from_slice(&other[from..]);
            }
            4 => {
                let s = String::from_utf8_lossy(&text).into_owned();
                let mut lines: Vec<&str> = s.lines().collect();
                if !lines.is_empty() {
                    let i = rng.below(lines.len());
                    let n = 1 + rng.below(5);
                    let copy: Vec<&str> = lines[i..(i + n).min(lines.len())].to_vec();
                    let at = rng.below(lines.len() + 1);
                    lines.splice(at..at, copy);
                }
                text = lines.join("\n").into_bytes();
            }
            5 => {
                let s = String::from_utf8_lossy(&text).into_owned();
                let mut lines: Vec<String> = s.lines().map(String::from).collect();
                if !lines.is_empty() {
                    let i = rng.below(lines.len());
                    let line = lines[i].trim_start().to_string();
                    lines[i] = format!("{}{line}", " ".repeat(rng.below(9)));
                }
                text = lines.join("\n").into_bytes();
            }
            6 => {
                // Replace the value after some `key: ` with an odd scalar.
                let s = String::from_utf8_lossy(&text).into_owned();
                let mut lines: Vec<String> = s.lines().map(String::from).collect();
                let candidates: Vec<usize> = lines
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.contains(": "))
                    .map(|(i, _)| i)
                    .collect();
                if !candidates.is_empty() {
                    let i = candidates[rng.below(candidates.len())];
                    let key_end = lines[i].find(": ").unwrap_or(0) + 2;
                    lines[i] = format!(
                        "{}{}",
                        &lines[i][..key_end],
                        SCALARS[rng.below(SCALARS.len())]
                    );
                }
                text = lines.join("\n").into_bytes();
            }
            _ => {
                // Many documents at once, as helm template prints them.
                let other = &seeds[rng.below(seeds.len())];
                text.extend_from_slice(b"\n---\n");
                text.extend_from_slice(other.as_bytes());
            }
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

#[test]
fn mutated_manifests_never_panic() {
    let seconds: u64 = std::env::var("GONOGO_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let seed: u64 = std::env::var("GONOGO_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x005e_ed0f_9090);
    let seeds = seeds();
    assert!(seeds.len() >= 5, "examples and fixtures are the seeds");
    let mut rng = Rng(seed | 1);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runs = 0u64;
    let mut judged = 0u64;
    // The seeds themselves first, then mutations until the deadline.
    let mut inputs: Box<dyn Iterator<Item = String>> = Box::new(seeds.clone().into_iter());
    loop {
        let text = match inputs.next() {
            Some(t) => t,
            None => {
                if Instant::now() >= deadline {
                    break;
                }
                inputs = Box::new(std::iter::once(mutate(&mut rng, &seeds)));
                continue;
            }
        };
        runs += 1;
        let result = catch_unwind(AssertUnwindSafe(|| gonogo::cli::check::fuzz_one(&text)));
        judged += u64::from(matches!(result, Ok(true)));
        if result.is_err() {
            let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("fuzz-crash-{seed}-{runs}.yaml"));
            std::fs::write(&path, &text).unwrap();
            panic!(
                "gonogo check panicked on input #{runs} (seed {seed}), saved to {}",
                path.display()
            );
        }
    }
    println!(
        "{runs} inputs in {seconds}s (seed {seed}), {judged} judged (the rest input errors), no panic"
    );
    assert!(runs > seeds.len() as u64);
    assert!(
        judged * 5 > runs,
        "mutations should mostly stay loadable: {judged} of {runs}"
    );
}
