//! `-o json`: one document, schema version 1 (described in the README). Fields are only ever
//! added within a schema version; every field is always present (null or empty when unset).

use std::io::Write;

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::json;

use crate::api::{GateOutcome, Phase, Severity};
use crate::cli::verdicts::DeploymentVerdicts;

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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentOut<'a> {
    namespace: &'a str,
    name: &'a str,
    location: Option<LocationOut<'a>>,
    evaluations: Vec<EvaluationOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LocationOut<'a> {
    file: &'a str,
    line: usize,
    helm_source: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EvaluationOut<'a> {
    readiness: &'a str,
    source: &'static str,
    location: Option<LocationOut<'a>>,
    ready: bool,
    failing: usize,
    summary: SummaryOut,
    problems: Vec<ProblemOut<'a>>,
    expired_waivers: Vec<WaiverOut<'a>>,
    gates: Vec<GateOut<'a>>,
}

#[derive(Serialize)]
struct SummaryOut {
    total: u32,
    passed: u32,
    failed: u32,
    unknown: u32,
    waived: u32,
    skipped: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProblemOut<'a> {
    reason: &'a str,
    message: &'a str,
    blocks: bool,
    unknown_offline: bool,
    fails_check: bool,
}

#[derive(Serialize)]
struct WaiverOut<'a> {
    item: &'a str,
    owner: &'a str,
    expired: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GateOut<'a> {
    checklist: &'a str,
    name: &'a str,
    kind: &'a str,
    description: Option<&'a str>,
    severity: Severity,
    phase: Phase,
    result: GateOutcome,
    message: &'a str,
    findings: Vec<FindingOut<'a>>,
    fails_check: bool,
}

#[derive(Serialize)]
struct FindingOut<'a> {
    container: Option<&'a str>,
    message: &'a str,
}

fn location(origin: Option<&Origin>) -> Option<LocationOut<'_>> {
    origin.map(|o| LocationOut { file: &o.file, line: o.line, helm_source: o.helm_source.as_deref() })
}

fn deployment<'a>(report: &CheckReport, d: &'a DeploymentVerdicts) -> DeploymentOut<'a> {
    let policy = report.policy;
    let evaluations = d
        .evaluations
        .iter()
        .map(|e| {
            let r = &e.report;
            let s = r.summary();
            EvaluationOut {
                readiness: &e.readiness,
                source: super::source_name(e.source),
                location: location(e.origin.as_ref()),
                ready: r.ready(),
                failing: r.gates.iter().filter(|g| policy.gate_fails(g)).count()
                    + r.problems.iter().filter(|p| policy.problem_fails(p)).count(),
                summary: SummaryOut { total: s.total, passed: s.passed, failed: s.failed, unknown: s.unknown, waived: s.waived, skipped: s.skipped },
                problems: r
                    .problems
                    .iter()
                    .map(|p| ProblemOut {
                        reason: p.reason,
                        message: &p.message,
                        blocks: p.blocks,
                        unknown_offline: problem_is_unknown(p),
                        fails_check: policy.problem_fails(p),
                    })
                    .collect(),
                expired_waivers: r.expired_waivers.iter().map(|w| WaiverOut { item: &w.item, owner: &w.owner, expired: &w.expired }).collect(),
                gates: r
                    .gates
                    .iter()
                    .map(|g| GateOut {
                        checklist: &g.checklist,
                        name: &g.name,
                        kind: g.kind,
                        description: g.description.as_deref(),
                        severity: g.severity,
                        phase: g.phase,
                        result: g.result,
                        message: &g.message,
                        findings: g.findings.iter().map(|f| FindingOut { container: f.container.as_deref(), message: &f.message }).collect(),
                        fails_check: policy.gate_fails(g),
                    })
                    .collect(),
            }
        })
        .collect();
    DeploymentOut { namespace: &d.namespace, name: &d.name, location: location(d.origin.as_ref()), evaluations }
}
