//! `-o compact`: one line per finding, for CI logs and editors' error lists:
//! `file:line: FAIL checklist/gate (namespace/deployment): message`. Failing and unknown
//! gates and problems only; the last line is the summary.

use std::io::Write;

use super::{OutputOptions, artifact, deployment_label, gate_label};
use crate::api::GateOutcome;
use crate::cli::input::InputError;
use crate::cli::verdicts::{DeploymentVerdicts, Policy, Totals};

pub fn deployment(
    d: &DeploymentVerdicts,
    policy: Policy,
    options: &OutputOptions,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let location = |origin: Option<&crate::manifests::Origin>| match origin {
        Some(o) => {
            let (file, line) = artifact(o, options);
            format!("{file}:{line}")
        }
        None => deployment_label(d),
    };
    let here = location(d.location());
    for e in &d.evaluations {
        for g in &e.report.gates {
            let fails = policy.gate_fails(g);
            let word = match g.result {
                GateOutcome::Fail if fails => "FAIL",
                GateOutcome::Fail => "WARN",
                GateOutcome::Unknown if fails => "FAIL",
                GateOutcome::Unknown => "UNKNOWN",
                _ => continue,
            };
            let findings: Vec<&str> = if g.result == GateOutcome::Fail && !g.findings.is_empty() {
                g.findings.iter().map(|f| f.message.as_str()).collect()
            } else {
                vec![g.message.as_str()]
            };
            for finding in findings {
                writeln!(
                    out,
                    "{here}: {word} {} ({}, {}): {}",
                    gate_label(g),
                    deployment_label(d),
                    g.severity,
                    one_line(finding)
                )?;
            }
        }
        for p in &e.report.problems {
            let word = if policy.problem_fails(p) {
                "FAIL"
            } else {
                "UNKNOWN"
            };
            let at = location(e.origin.as_ref().or(d.location()));
            writeln!(
                out,
                "{at}: {word} readiness/{} ({}): {}",
                p.reason,
                deployment_label(d),
                one_line(&p.message)
            )?;
        }
    }
    Ok(())
}

pub fn finish(
    errors: &[InputError],
    t: &Totals,
    _policy: Policy,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    for e in errors {
        writeln!(
            out,
            "{}: ERROR input: {}",
            location(e),
            one_line(&e.message)
        )?;
    }
    writeln!(
        out,
        "gonogo: {} workload(s), {} gate(s): {} pass, {} fail, {} unknown, {} skipped, {} waived; {} failing{}; exit {}",
        t.deployments,
        t.gates,
        t.passed,
        t.failed,
        t.unknown,
        t.skipped,
        t.waived,
        t.failing,
        if t.input_errors > 0 {
            format!(", {} input error(s)", t.input_errors)
        } else {
            String::new()
        },
        t.exit_code()
    )
}

fn location(e: &InputError) -> String {
    match (e.line, e.column) {
        (Some(l), Some(c)) => format!("{}:{l}:{c}", e.file),
        (Some(l), None) => format!("{}:{l}", e.file),
        _ => e.file.clone(),
    }
}

fn one_line(text: &str) -> String {
    super::printable(text).replace('\n', "; ")
}
