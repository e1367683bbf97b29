//! `-o json`: one document, schema version 1 (described in the README). Fields are only ever
//! added within a schema version; every field is always present (null or empty when unset).
//! Written as the verdicts come, one Deployment at a time; `totals`, `result` and `exitCode`
//! follow the Deployments.

use std::io::Write;

use serde::Serialize;

use serde_json::json;

use crate::api::{GateOutcome, Phase, Severity, WorkloadKind};
use crate::cli::verdicts::DeploymentVerdicts;

use crate::cli::input::InputError;
use crate::cli::verdicts::{Policy, Totals, problem_is_unknown};
use crate::manifests::Origin;

pub const SCHEMA_VERSION: u32 = 1;

/// Everything before the Deployments.
pub fn begin(now: jiff::Timestamp, policy: Policy, out: &mut dyn Write) -> std::io::Result<()> {
    write!(
        out,
        "{{\n  \"schemaVersion\": {SCHEMA_VERSION},\n  \"tool\": "
    )?;
    super::write_pretty(
        out,
        &json!({"name": "gonogo", "version": env!("CARGO_PKG_VERSION")}),
        "  ",
    )?;
    write!(out, ",\n  \"now\": ")?;
    super::write_pretty(out, &now.to_string(), "  ")?;
    write!(out, ",\n  \"policy\": ")?;
    super::write_pretty(
        out,
        &json!({"failOn": policy.fail_on, "failOnUnknown": policy.fail_on_unknown}),
        "  ",
    )?;
    write!(out, ",\n  \"deployments\": [")
}

/// One element of `deployments`.
pub fn deployment(
    d: &DeploymentVerdicts,
    policy: Policy,
    first: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    out.write_all(if first { b"\n    " } else { b",\n    " })?;
    super::write_pretty(out, &deployment_out(d, policy), "    ")
}

/// The input errors, the totals (known only at the end) and the verdict.
pub fn finish(totals: &Totals, errors: &[InputError], out: &mut dyn Write) -> std::io::Result<()> {
    let code = totals.exit_code();
    write!(out, "\n  ],\n  \"inputErrors\": ")?;
    super::write_pretty(out, &errors, "  ")?;
    write!(out, ",\n  \"totals\": ")?;
    super::write_pretty(out, totals, "  ")?;
    writeln!(
        out,
        ",\n  \"result\": \"{}\",\n  \"exitCode\": {code}\n}}",
        match code {
            0 => "pass",
            1 => "fail",
            _ => "error",
        },
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentOut<'a> {
    namespace: &'a str,
    kind: WorkloadKind,
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
    origin.map(|o| LocationOut {
        file: &o.file,
        line: o.line,
        helm_source: o.helm_source.as_deref(),
    })
}

fn deployment_out(d: &DeploymentVerdicts, policy: Policy) -> DeploymentOut<'_> {
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
                    + r.problems
                        .iter()
                        .filter(|p| policy.problem_fails(p))
                        .count(),
                summary: SummaryOut {
                    total: s.total,
                    passed: s.passed,
                    failed: s.failed,
                    unknown: s.unknown,
                    waived: s.waived,
                    skipped: s.skipped,
                },
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
                expired_waivers: r
                    .expired_waivers
                    .iter()
                    .map(|w| WaiverOut {
                        item: &w.item,
                        owner: &w.owner,
                        expired: &w.expired,
                    })
                    .collect(),
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
                        findings: g
                            .findings
                            .iter()
                            .map(|f| FindingOut {
                                container: f.container.as_deref(),
                                message: &f.message,
                            })
                            .collect(),
                        fails_check: policy.gate_fails(g),
                    })
                    .collect(),
            }
        })
        .collect();
    DeploymentOut {
        namespace: &d.namespace,
        kind: d.kind,
        name: &d.name,
        location: location(d.origin.as_ref()),
        evaluations,
    }
}
