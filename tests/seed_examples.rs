//! The seed checklists on the seeds' own systems, offline: `examples/<system>/healthy/` passes
//! every gate a manifest set can decide, and `examples/<system>/broken/` gets exactly the
//! verdicts its README's table lists (every gate listed as Fail fails, no other gate does).
//!
//! Judged as CI would, with the built binary: `gonogo check -f examples/<system>/<variant>
//! -f examples/checklists -o json`. The examples' own README (examples/README.md) holds a table
//! of the checklists' counts; `the_examples_table_is_recounted_from_the_checklists` recounts it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const NOW: &str = "2026-06-01T00:00:00Z";
const SYSTEMS: [&str; 5] = ["kato", "ai-etl", "knowledgebeast", "kailash", "st-risk"];

/// Check kinds that a manifest set cannot decide and reports Unknown: sign-offs live in the
/// cluster, a claim's phase, a certificate's dates and a Job's or CronJob's runs are observed
/// there.
const UNKNOWN_OFFLINE: [&str; 4] = ["approval", "pvcsBound", "tlsCertificate", "job"];
/// A `resource` gate is Unknown offline only for what a manifest set cannot show: a condition
/// (status is not in manifests), or objects of the cluster (Nodes, StorageClasses) that no
/// application's manifests hold. Its CEL expressions over a manifest's spec are decided.
const RESOURCE_UNKNOWN_OFFLINE: [&str; 2] =
    ["is not observed offline", "it may live in the cluster"];
/// Runtime gates, Skipped offline (`service` with `readyEndpoints`).
const SKIPPED_OFFLINE: [&str; 5] = ["rollout", "readyReplicas", "http", "prometheus", "service"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Verdicts {
    code: i32,
    /// `DEPLOYMENT/CHECKLIST/GATE` → the gate's JSON.
    gates: BTreeMap<String, Value>,
    problems: Vec<Value>,
}

fn judge(dir: &str) -> Verdicts {
    let out = Command::new(env!("CARGO_BIN_EXE_gonogo"))
        .current_dir(root())
        .args([
            "check",
            "--now",
            NOW,
            "-f",
            dir,
            "-f",
            "examples/checklists",
            "-o",
            "json",
        ])
        .output()
        .expect("gonogo runs");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{dir}: not JSON ({e}):\n{stdout}\n{stderr}"));
    assert!(
        !stderr.contains("warning"),
        "{dir}: warnings on standard error:\n{stderr}"
    );
    let mut gates = BTreeMap::new();
    let mut problems = Vec::new();
    for d in report["deployments"].as_array().unwrap() {
        let deployment = d["name"].as_str().unwrap();
        for e in d["evaluations"].as_array().unwrap() {
            assert_eq!(
                e["source"], "manifest",
                "{dir}: Deployment {deployment} is judged by something else than its own DeploymentReadiness"
            );
            problems.extend(e["problems"].as_array().unwrap().iter().cloned());
            for g in e["gates"].as_array().unwrap() {
                let key = format!(
                    "{deployment}/{}/{}",
                    g["checklist"].as_str().unwrap(),
                    g["name"].as_str().unwrap()
                );
                assert!(
                    gates.insert(key.clone(), g.clone()).is_none(),
                    "{dir}: {key} twice"
                );
            }
        }
    }
    Verdicts {
        code: out.status.code().expect("exited"),
        gates,
        problems,
    }
}

fn result(gate: &Value) -> &str {
    gate["result"].as_str().unwrap()
}

#[test]
fn each_healthy_set_passes_every_gate_decidable_offline() {
    let mut wrong = Vec::new();
    for system in SYSTEMS {
        let dir = format!("examples/{system}/healthy");
        let v = judge(&dir);
        assert_eq!(v.code, 0, "{dir}: exit code");
        assert!(v.problems.is_empty(), "{dir}: {:?}", v.problems);
        // The seed's checklist (and its cluster one) is bound, whole, to a Deployment of the set.
        let checklist = load_checklist(system);
        for item in &checklist.items {
            assert!(
                v.gates
                    .keys()
                    .any(|k| k.ends_with(&format!("/{}/{}", item.checklist, item.name))),
                "{dir}: checklist item {}/{} is not judged",
                item.checklist,
                item.name
            );
        }
        for (key, gate) in &v.gates {
            let kind = gate["kind"].as_str().unwrap();
            let ok = match result(gate) {
                "Pass" => true,
                "Unknown" if kind == "resource" => gate["message"]
                    .as_str()
                    .is_some_and(|m| RESOURCE_UNKNOWN_OFFLINE.iter().any(|u| m.contains(u))),
                "Unknown" => UNKNOWN_OFFLINE.contains(&kind),
                "Skipped" => SKIPPED_OFFLINE.contains(&kind),
                _ => false,
            };
            if !ok {
                wrong.push(format!(
                    "{dir}: {key} ({kind}) is {}: {}",
                    result(gate),
                    gate["message"]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The rows of a broken set's table: `| `DEPLOYMENT/CHECKLIST/GATE` | Verdict | ... |`.
fn listed_verdicts(system: &str) -> BTreeMap<String, String> {
    let path = root().join(format!("examples/{system}/README.md"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut listed = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let gate = cells[1].trim_matches('`').to_string();
        assert_eq!(gate.matches('/').count(), 2, "{}: {line}", path.display());
        listed.insert(gate, cells[2].to_string());
    }
    assert!(!listed.is_empty(), "{}: no table of gates", path.display());
    listed
}

#[test]
fn each_broken_set_fails_the_gates_its_readme_lists() {
    let mut wrong = Vec::new();
    for system in SYSTEMS {
        let dir = format!("examples/{system}/broken");
        let v = judge(&dir);
        assert_eq!(v.code, 1, "{dir}: exit code");
        let listed = listed_verdicts(system);
        for (gate, verdict) in &listed {
            match v.gates.get(gate) {
                None => wrong.push(format!("{dir}: README lists {gate}, which is not judged")),
                Some(g) if result(g) != verdict => wrong.push(format!(
                    "{dir}: {gate} is {}, README says {verdict}: {}",
                    result(g),
                    g["message"]
                )),
                Some(_) => {}
            }
        }
        for (gate, g) in &v.gates {
            if result(g) == "Fail" && !listed.contains_key(gate) {
                wrong.push(format!(
                    "{dir}: {gate} fails but the README does not list it: {}",
                    g["message"]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ------------------------------------------------------------------ the table of examples/README.md

struct Item {
    /// As verdicts name it: `kato`, or `cluster/ai-etl-cluster`.
    checklist: String,
    name: String,
    approval: bool,
}

struct Checklist {
    items: Vec<Item>,
    /// `# Seed items: N` in the checklist's header: the seed's `- [ ]` lines.
    seed_items: usize,
    /// Entries of `# Not observable ...: a; b; c` comments (see `not_observable_entries`).
    not_observable: usize,
}

/// The seed's checklist, with the items of its ClusterReadinessChecklist
/// (`examples/checklists/<name>-cluster.yaml`: cluster-scoped kinds) when it has one.
fn load_checklist(name: &str) -> Checklist {
    let path = root().join(format!("examples/checklists/{name}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let items_of = |text: &str, checklist: String| -> Vec<Item> {
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).unwrap();
        doc["spec"]["items"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|i| Item {
                checklist: checklist.clone(),
                name: i["name"].as_str().unwrap().to_string(),
                approval: i.get("approval").is_some(),
            })
            .collect()
    };
    let mut items = items_of(&text, name.to_string());
    let mut not_observable = not_observable_entries(&text);
    let cluster = root().join(format!("examples/checklists/{name}-cluster.yaml"));
    if let Ok(text) = std::fs::read_to_string(&cluster) {
        items.extend(items_of(&text, format!("cluster/{name}-cluster")));
        not_observable += not_observable_entries(&text);
    }
    let seed_items = text
        .lines()
        .find_map(|l| l.strip_prefix("# Seed items: "))
        .and_then(|n| n.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}: no `# Seed items: N` line", path.display()));
    Checklist {
        items,
        seed_items,
        not_observable,
    }
}

/// The rule examples/README.md states: a comment containing `Not observable` starts a block
/// (continued by comment lines indented two more spaces); after its first `:`, entries are
/// separated by `;`; parentheses and ` — ` asides explain an entry and are not entries.
fn not_observable_entries(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let comment = |l: &str| l.trim_start().strip_prefix('#').map(str::to_string);
    let mut count = 0;
    let mut i = 0;
    while i < lines.len() {
        let Some(first) = comment(lines[i]).filter(|c| c.contains("Not observable")) else {
            i += 1;
            continue;
        };
        let mut block = first.trim().to_string();
        i += 1;
        while let Some(next) = lines.get(i).and_then(|l| comment(l)) {
            if !next.starts_with("   ") || next.trim().is_empty() {
                break;
            }
            block.push(' ');
            block.push_str(next.trim());
            i += 1;
        }
        let after = block.split_once("Not observable").unwrap().1;
        let Some((_, entries)) = after.split_once(':') else {
            continue;
        };
        count += without_asides(entries)
            .split(';')
            .filter(|e| !e.trim().is_empty())
            .count();
    }
    count
}

/// `a (why) — because; b` → `a ; b`.
fn without_asides(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split(';')
        .map(|e| e.split(" — ").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(";")
}

#[test]
fn the_examples_table_is_recounted_from_the_checklists() {
    let path = root().join("examples/README.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut rows: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(name) = cells
            .get(1)
            .and_then(|c| c.strip_prefix("[`"))
            .and_then(|c| c.split_once("`]"))
            .map(|(n, _)| n.to_string())
        else {
            continue;
        };
        let numbers: Vec<usize> = cells[2..6]
            .iter()
            .map(|c| {
                c.parse()
                    .unwrap_or_else(|_| panic!("{}: not a number {c:?} in {line}", path.display()))
            })
            .collect();
        rows.insert(name, numbers);
    }
    let expected: BTreeSet<String> = SYSTEMS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        rows.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "one row per seed checklist"
    );
    let mut wrong = Vec::new();
    for system in SYSTEMS {
        let c = load_checklist(system);
        let approvals = c.items.iter().filter(|i| i.approval).count();
        let counted = vec![
            c.seed_items,
            c.items.len() - approvals,
            approvals,
            c.not_observable,
        ];
        if rows[system] != counted {
            wrong.push(format!(
                "{system}: table says {:?}, the checklist counts {counted:?} (seed items, gates, sign-offs, not observable)",
                rows[system]
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_system_has_both_sets_and_a_readme() {
    for system in SYSTEMS {
        for part in ["healthy", "broken", "README.md"] {
            assert!(
                Path::new(&root().join(format!("examples/{system}/{part}"))).exists(),
                "examples/{system}/{part}"
            );
        }
    }
}
