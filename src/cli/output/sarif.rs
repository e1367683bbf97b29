//! `-o sarif`: SARIF 2.1.0 for code scanning. One rule per check kind (plus `readiness` for
//! problems of a DeploymentReadiness itself), one result per failing gate, located at the
//! Deployment's document (its `helm template` Source file when there is one).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::OnceLock;

use serde_json::{Value, json};

use super::{OutputOptions, artifact, deployment_label, gate_label};
use crate::api::{GateOutcome, Severity, WorkloadKind};
use crate::cli::input::InputError;
use crate::cli::verdicts::{DeploymentVerdicts, Policy};
use crate::manifests::Origin;

const INFORMATION_URI: &str = "https://github.com/gonogo-dev/gonogo";
/// The rule for problems of a DeploymentReadiness (missing checklist, duplicate item, ...).
const READINESS_RULE: &str = "readiness";
/// The rule for documents that could not be read.
const INPUT_RULE: &str = "input";

/// The log up to the first result: the tool and its rules.
pub fn begin(out: &mut dyn Write) -> std::io::Result<()> {
    let driver = json!({
        "name": "gonogo",
        "semanticVersion": env!("CARGO_PKG_VERSION"),
        "informationUri": INFORMATION_URI,
        "rules": rules(),
    });
    write!(
        out,
        "{{\n  \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n  \"version\": \"2.1.0\",\n  \"runs\": [\n    {{\n      \"tool\": "
    )?;
    super::write_pretty(out, &json!({"driver": driver}), "      ")?;
    write!(out, ",\n      \"results\": [")
}

/// The results of one Deployment; `written` says whether any result came before (a comma is owed).
pub fn deployment(
    d: &DeploymentVerdicts,
    policy: Policy,
    options: &OutputOptions,
    written: &mut bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    for result in deployment_results(d, policy, options) {
        out.write_all(if *written {
            b",\n        "
        } else {
            b"\n        "
        })?;
        *written = true;
        super::write_pretty(out, &result, "        ")?;
    }
    Ok(())
}

pub fn finish(out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "\n      ]\n    }}\n  ]\n}}")
}

/// Each check kind's description, from the API schema (the registry's doc comments).
fn kind_descriptions() -> &'static BTreeMap<String, String> {
    static DESCRIPTIONS: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    DESCRIPTIONS.get_or_init(|| {
        let schema = schemars::schema_for!(crate::checks::Item);
        let properties = schema
            .as_value()
            .get("properties")
            .cloned()
            .unwrap_or_default();
        crate::checks::KINDS
            .iter()
            .filter_map(|k| {
                Some((
                    k.to_string(),
                    properties
                        .get(*k)?
                        .get("description")?
                        .as_str()?
                        .to_string(),
                ))
            })
            .collect()
    })
}

fn rules() -> Vec<Value> {
    let descriptions = kind_descriptions();
    let mut rules: Vec<Value> = crate::checks::KINDS
        .iter()
        .map(|kind| {
            let text = descriptions
                .get(*kind)
                .cloned()
                .unwrap_or_else(|| format!("The `{kind}` check."));
            json!({
                "id": kind,
                "name": pascal(kind),
                "shortDescription": {"text": text},
                "help": {"text": super::hints::help(kind)},
                "helpUri": format!("{INFORMATION_URI}#{}", super::hints::anchor(kind)),
                "defaultConfiguration": {"level": "error"},
                "properties": {"tags": ["kubernetes", "production-readiness"]},
            })
        })
        .collect();
    rules.push(json!({
        "id": INPUT_RULE,
        "name": "Input",
        "shortDescription": {"text": "A document gonogo could not read (YAML syntax, a field of the wrong type, an unknown checklist parameter); it was not judged."},
        "help": {"text": "Fix the document at the reported position; kubectl and the API server would refuse it too."},
        "helpUri": format!("{INFORMATION_URI}#input"),
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["kubernetes"]},
    }));
    rules.push(json!({
        "id": READINESS_RULE,
        "name": "Readiness",
        "shortDescription": {"text": "The DeploymentReadiness itself is wrong: a checklist it references is missing, an item is duplicated, a reference crosses namespaces."},
        "help": {"text": "Pass a missing checklist with --checklist or -f (or declare it in the cluster); rename duplicated items; reference checklists of the DeploymentReadiness's own namespace."},
        "helpUri": format!("{INFORMATION_URI}#checklists"),
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["kubernetes", "production-readiness"]},
    }));
    rules
}

fn pascal(kind: &str) -> String {
    let mut chars = kind.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn location(
    origin: Option<&Origin>,
    options: &OutputOptions,
    namespace: &str,
    kind: WorkloadKind,
    name: &str,
) -> Value {
    let logical = json!([{"name": name, "fullyQualifiedName": format!("{namespace}/{kind}/{name}"), "kind": "resource"}]);
    match origin {
        Some(o) => {
            let (file, line) = artifact(o, options);
            json!({
                "physicalLocation": {"artifactLocation": {"uri": uri(&file)}, "region": {"startLine": line}},
                "logicalLocations": logical,
            })
        }
        None => json!({"logicalLocations": logical}),
    }
}

/// A relative URI reference for a path: forward slashes, reserved characters percent-encoded.
fn uri(path: &str) -> String {
    if path == crate::cli::input::STDIN {
        return "stdin".to_string();
    }
    let path = path.replace('\\', "/");
    let mut out = String::new();
    for b in path.trim_start_matches("./").bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn rule_index(rule: &str) -> usize {
    let kinds = crate::checks::KINDS.len();
    match rule {
        INPUT_RULE => kinds,
        READINESS_RULE => kinds + 1,
        _ => crate::checks::KINDS
            .iter()
            .position(|k| *k == rule)
            .unwrap_or(kinds + 1),
    }
}

/// One result per document that could not be read, at its position.
pub fn input_errors(
    errors: &[InputError],
    written: &mut bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    for e in errors {
        let mut region = serde_json::Map::new();
        region.insert("startLine".into(), json!(e.line.unwrap_or(1)));
        if let Some(column) = e.column {
            region.insert("startColumn".into(), json!(column));
        }
        let result = json!({
            "ruleId": INPUT_RULE,
            "ruleIndex": rule_index(INPUT_RULE),
            "level": "error",
            "message": {"text": format!("{}: not read, not judged", e)},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri(&e.file)}, "region": region}}],
            "partialFingerprints": {"gonogoInput/v1": format!("{}/{}", e.file, e.message)},
        });
        out.write_all(if *written {
            b",\n        "
        } else {
            b"\n        "
        })?;
        *written = true;
        super::write_pretty(out, &result, "        ")?;
    }
    Ok(())
}

/// The results of one Deployment: its failing gates and failing problems.
fn deployment_results(
    d: &DeploymentVerdicts,
    policy: Policy,
    options: &OutputOptions,
) -> Vec<Value> {
    let mut results = Vec::new();
    let loc = location(d.location(), options, &d.namespace, d.kind, &d.name);
    let rendered = d
        .location()
        .filter(|o| o.helm_source.is_some())
        .map(|o| format!("{}:{}", o.file, o.line));
    for e in &d.evaluations {
        for g in &e.report.gates {
            let fails = policy.gate_fails(g);
            if !(g.result == GateOutcome::Fail || (g.result == GateOutcome::Unknown && fails)) {
                continue;
            }
            let rule = if g.kind.is_empty() {
                READINESS_RULE
            } else {
                g.kind
            };
            let level =
                if fails || (g.result == GateOutcome::Fail && g.severity == Severity::Required) {
                    "error"
                } else {
                    "warning"
                };
            let result_word = if g.result == GateOutcome::Unknown {
                "is unknown"
            } else {
                "fails"
            };
            results.push(json!({
                "ruleId": rule,
                "ruleIndex": rule_index(rule),
                "level": level,
                "message": {"text": format!(
                    "{} {}: {} gate {} {result_word}: {}",
                    d.kind, deployment_label(d), g.severity, gate_label(g), g.message
                )},
                "locations": [loc.clone()],
                "partialFingerprints": {
                    "gonogoGate/v1": format!("{}/{}/{}/{}", d.namespace, d.name, e.readiness, gate_label(g)),
                },
                "properties": {
                    "namespace": d.namespace,
                    "kind": d.kind,
                    "deployment": d.name,
                    "readiness": e.readiness,
                    "checklist": g.checklist,
                    "gate": g.name,
                    "severity": g.severity,
                    "phase": g.phase,
                    "result": g.result,
                    "renderedAt": rendered,
                },
            }));
        }
        for p in e.report.problems.iter().filter(|p| policy.problem_fails(p)) {
            results.push(json!({
                "ruleId": READINESS_RULE,
                "ruleIndex": rule_index(READINESS_RULE),
                "level": "error",
                "message": {"text": format!("Deployment {}: DeploymentReadiness {}: {}: {}", deployment_label(d), e.readiness, p.reason, p.message)},
                "locations": [location(e.origin.as_ref().or(d.location()), options, &d.namespace, d.kind, &d.name)],
                "partialFingerprints": {
                    "gonogoGate/v1": format!("{}/{}/{}/problem/{}", d.namespace, d.name, e.readiness, p.reason),
                },
            }));
        }
    }
    results
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_check_kind_has_a_described_rule() {
        let descriptions = super::kind_descriptions();
        for kind in crate::checks::KINDS {
            assert!(
                descriptions.get(*kind).is_some_and(|d| !d.is_empty()),
                "no description for {kind}"
            );
        }
        assert_eq!(
            super::uri("./charts/my chart/<x>.yaml"),
            "charts/my%20chart/%3Cx%3E.yaml"
        );
    }
}
