//! Runs every fixture under `tests/fixtures/checks/<kind>/`: each file is a manifest set with a
//! DeploymentReadiness and header comments saying what the engine must conclude:
//!
//! ```yaml
//! # expect: <gate> <Pass|Fail|Unknown|Waived|Skipped> [text the message must contain]
//! # source: manifests        (optional: judge as `gonogo check` would; default: as a live cluster)
//! # now: 2026-06-01T00:00:00Z (optional)
//! ```
//!
//! Every check kind must have at least one `pass-*.yaml` and one `fail-*.yaml`. Runtime gates
//! take live observations from `# probe:` and `# certificate:` lines (see `fixture_observations`).

mod fixture_observations;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use gonogo::engine::{Checklists, Source, evaluate};
use gonogo::manifests::{ManifestSet, parse_stream};

struct Expectation {
    gate: String,
    result: String,
    contains: String,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checks")
}

fn run_fixture(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut expectations = Vec::new();
    let mut source = Source::Cluster;
    let mut now: jiff::Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# expect: ") {
            let mut parts = rest.splitn(3, ' ');
            expectations.push(Expectation {
                gate: parts.next().unwrap_or_default().to_string(),
                result: parts.next().unwrap_or_default().to_string(),
                contains: parts.next().unwrap_or_default().trim().to_string(),
            });
        } else if line.trim() == "# source: manifests" {
            source = Source::Manifests;
        } else if let Some(t) = line.strip_prefix("# now: ") {
            now = t.trim().parse().map_err(|e| format!("bad # now: {e}"))?;
        }
    }
    if expectations.is_empty() {
        return Err("no `# expect:` lines".into());
    }
    let docs = parse_stream(&path.display().to_string(), &text).map_err(|e| e.to_string())?;
    let mut set = ManifestSet::default();
    for doc in &docs {
        set.add(doc, "default").map_err(|e| e.to_string())?;
    }
    let mut gates = Vec::new();
    for (ns_name, ns) in &set.namespaces {
        for (readiness, _) in &ns.readiness {
            let (kind, target) = (
                readiness.spec.target_ref.kind(),
                &readiness.spec.target_ref.name,
            );
            let workload = ns
                .workloads
                .iter()
                .find(|(w, _)| w.is(kind, target))
                .map(|(w, _)| w.clone())
                .ok_or_else(|| format!("fixture has no {kind} {target}"))?;
            let mut snapshot = set.snapshot_for(ns_name, &workload, now, &BTreeSet::new());
            snapshot.source = source;
            let readiness_name = readiness.metadata.name.as_deref().unwrap_or_default();
            fixture_observations::apply(&text, readiness_name, now, &mut snapshot.observations)?;
            let checklists = Checklists {
                namespaced: &ns.checklists,
                cluster: &set.cluster_checklists,
            };
            let report = evaluate(readiness, checklists, &snapshot);
            if !report.problems.is_empty() {
                return Err(format!("problems: {:?}", report.problems));
            }
            gates.extend(report.gates);
        }
    }
    for e in &expectations {
        let gate = gates
            .iter()
            .find(|g| g.name == e.gate)
            .ok_or_else(|| format!("no gate named {}", e.gate))?;
        if gate.result.to_string() != e.result || !gate.message.contains(&e.contains) {
            return Err(format!(
                "gate {}: expected {} containing {:?}, got {} {:?}",
                e.gate, e.result, e.contains, gate.result, gate.message
            ));
        }
    }
    Ok(())
}

#[test]
fn every_fixture_gets_the_expected_verdict() {
    let mut failures = Vec::new();
    let mut count = 0;
    for kind_dir in std::fs::read_dir(fixtures_dir()).unwrap() {
        let kind_dir = kind_dir.unwrap().path();
        for file in std::fs::read_dir(&kind_dir).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "yaml") {
                count += 1;
                if let Err(e) = run_fixture(&file) {
                    failures.push(format!("{}: {e}", file.display()));
                }
            }
        }
    }
    assert!(count > 0, "no fixtures found");
    assert!(
        failures.is_empty(),
        "{} of {count} fixtures failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_check_kind_has_pass_and_fail_fixtures() {
    let mut missing = Vec::new();
    for kind in gonogo::checks::KINDS {
        let dir = fixtures_dir().join(kind);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        for prefix in ["pass-", "fail-"] {
            if !names.iter().any(|n| n.starts_with(prefix)) {
                missing.push(format!("{kind}: no {prefix}*.yaml in {}", dir.display()));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
