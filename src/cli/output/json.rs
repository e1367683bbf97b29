//! `-o json`: one document, schema version 1 (described in the README). Fields are only ever
//! added within a schema version; every field is always present (null or empty when unset).

use std::io::Write;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Value, json};

use crate::cli::verdicts::{CheckReport, problem_is_unknown};
use crate::manifests::Origin;

pub const SCHEMA_VERSION: u32 = 1;

pub fn render(report: &CheckReport, out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &Document(report))?;
    writeln!(out)
}

/// The document, streamed: one Deployment's JSON exists at a time, so 10 000 Deployments do
/// not hold 10 000 JSON trees in memory.
struct Document<'a>(&'a CheckReport);

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let report = self.0;
        let totals = report.totals();
        let failing = totals.failing > 0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("schemaVersion", &SCHEMA_VERSION)?;
        map.serialize_entry("tool", &json!({"name": "gonogo", "version": env!("CARGO_PKG_VERSION")}))?;
        map.serialize_entry("now", &report.now.to_string())?;
        map.serialize_entry("policy", &json!({"failOn": report.policy.fail_on, "failOnUnknown": report.policy.fail_on_unknown}))?;
        map.serialize_entry("result", if failing { "fail" } else { "pass" })?;
        map.serialize_entry("exitCode", &u8::from(failing))?;
        map.serialize_entry("totals", &totals)?;
        map.serialize_entry("deployments", &Deployments(report))?;
        map.end()
    }
}

struct Deployments<'a>(&'a CheckReport);

impl Serialize for Deployments<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.deployments.len()))?;
        for d in &self.0.deployments {
            seq.serialize_element(&deployment(self.0, d))?;
        }
        seq.end()
    }
}

fn location(origin: Option<&Origin>) -> Value {
    match origin {
        Some(o) => json!({"file": o.file, "line": o.line, "helmSource": o.helm_source}),
        None => Value::Null,
    }
}

fn deployment(report: &CheckReport, d: &crate::cli::verdicts::DeploymentVerdicts) -> Value {
    let policy = report.policy;
    let evaluations: Vec<Value> = d
        .evaluations
        .iter()
        .map(|e| {
            let r = &e.report;
            let s = r.summary();
            let failing = r.gates.iter().filter(|g| policy.gate_fails(g)).count()
                + r.problems.iter().filter(|p| policy.problem_fails(p)).count();
            json!({
                "readiness": e.readiness,
                "source": super::source_name(e.source),
                "location": location(e.origin.as_ref()),
                "ready": r.ready(),
                "failing": failing,
                "summary": {
                    "total": s.total, "passed": s.passed, "failed": s.failed,
                    "unknown": s.unknown, "waived": s.waived, "skipped": s.skipped,
                },
                "problems": r.problems.iter().map(|p| json!({
                    "reason": p.reason,
                    "message": p.message,
                    "blocks": p.blocks,
                    "unknownOffline": problem_is_unknown(p),
                    "failsCheck": policy.problem_fails(p),
                })).collect::<Vec<_>>(),
                "expiredWaivers": r.expired_waivers.iter().map(|w| json!({
                    "item": w.item, "owner": w.owner, "expired": w.expired,
                })).collect::<Vec<_>>(),
                "gates": r.gates.iter().map(|g| json!({
                    "checklist": g.checklist,
                    "name": g.name,
                    "kind": g.kind,
                    "description": g.description,
                    "severity": g.severity,
                    "phase": g.phase,
                    "result": g.result,
                    "message": g.message,
                    "findings": g.findings.iter().map(|f| json!({
                        "container": f.container, "message": f.message,
                    })).collect::<Vec<_>>(),
                    "failsCheck": policy.gate_fails(g),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "namespace": d.namespace,
        "name": d.name,
        "location": location(d.origin.as_ref()),
        "evaluations": evaluations,
    })
}
