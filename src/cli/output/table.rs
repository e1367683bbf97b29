//! The human table: gates grouped by Deployment, then a summary line.

use std::io::Write;

use anstyle::{AnsiColor, Style};

use super::{deployment_label, gate_label};
use crate::api::{GateOutcome, Severity};
use crate::cli::verdicts::{DeploymentVerdicts, FailOn, Policy, ReadinessSource, Totals};
use crate::engine::GateResult;

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const RED: Style = AnsiColor::Red.on_default().bold();
const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const CYAN: Style = AnsiColor::Cyan.on_default();

/// Gate names wider than this do not widen the column further.
const MAX_GATE_WIDTH: usize = 48;

/// One Deployment's block.
pub fn deployment(
    d: &DeploymentVerdicts,
    policy: Policy,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    {
        match &d.origin {
            Some(o) => writeln!(
                out,
                "{BOLD}Deployment {}{BOLD:#}  {DIM}{}:{}{DIM:#}",
                deployment_label(d),
                o.file,
                o.line
            )?,
            None => writeln!(
                out,
                "{BOLD}Deployment {}{BOLD:#}  {DIM}(not in the input){DIM:#}",
                deployment_label(d)
            )?,
        }
        for e in &d.evaluations {
            let from = match (e.source, &e.origin) {
                (ReadinessSource::Manifest, Some(o)) => format!(
                    "DeploymentReadiness {} ({}:{})",
                    e.readiness, o.file, o.line
                ),
                (ReadinessSource::Manifest, None) => format!("DeploymentReadiness {}", e.readiness),
                (ReadinessSource::ChecklistFlag, _) => "checklists from --checklist".to_string(),
                (ReadinessSource::Baseline, _) => {
                    "built-in baseline checklist (no DeploymentReadiness in the input)".to_string()
                }
            };
            writeln!(out, "  {from}")?;
            let width = e
                .report
                .gates
                .iter()
                .map(|g| gate_label(g).len())
                .max()
                .unwrap_or(0)
                .min(MAX_GATE_WIDTH);
            for g in &e.report.gates {
                let (word, style) = result_style(g, policy.gate_fails(g));
                let severity = match g.severity {
                    Severity::Required => "required",
                    Severity::Advisory => "advisory",
                };
                let label = gate_label(g);
                let indent = " ".repeat(4 + 7 + 2 + 8 + 2 + width.max(label.len()) + 2);
                let message = super::full_message(g);
                let mut lines = message.lines();
                let first = lines.next().unwrap_or_default();
                writeln!(
                    out,
                    "    {style}{word:<7}{style:#}  {severity:<8}  {label:<width$}  {first}"
                )?;
                for line in lines {
                    writeln!(out, "{indent}{line}")?;
                }
            }
            for p in &e.report.problems {
                let style = if policy.problem_fails(p) { RED } else { YELLOW };
                writeln!(
                    out,
                    "    {style}{:<7}{style:#}  {}: {}",
                    "PROBLEM", p.reason, p.message
                )?;
            }
            for w in &e.report.expired_waivers {
                writeln!(
                    out,
                    "    {DIM}waiver for {} by {} expired {}{DIM:#}",
                    w.item, w.owner, w.expired
                )?;
            }
            let s = e.report.summary();
            let failing = e
                .report
                .gates
                .iter()
                .filter(|g| policy.gate_fails(g))
                .count()
                + e.report
                    .problems
                    .iter()
                    .filter(|p| policy.problem_fails(p))
                    .count();
            let verdict = if failing > 0 {
                format!("{RED}no-go{RED:#}: {failing} failing")
            } else if e.report.ready() {
                format!("{GREEN}go{GREEN:#}")
            } else {
                format!(
                    "{YELLOW}undecided offline{YELLOW:#}: nothing fails, but not every required gate is known to pass"
                )
            };
            writeln!(
                out,
                "  {verdict} ({} pass, {} fail, {} unknown, {} skipped, {} waived of {} gates)",
                s.passed, s.failed, s.unknown, s.skipped, s.waived, s.total
            )?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The summary lines.
pub fn finish(t: &Totals, policy: Policy, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{BOLD}{} Deployment(s), {} gate(s):{BOLD:#} {} pass, {} fail, {} unknown, {} skipped, {} waived{}",
        t.deployments,
        t.gates,
        t.passed,
        t.failed,
        t.unknown,
        t.skipped,
        t.waived,
        if t.problems > 0 {
            format!(", {} problem(s)", t.problems)
        } else {
            String::new()
        }
    )?;
    let level = match policy.fail_on {
        FailOn::Required => "--fail-on required",
        FailOn::Advisory => "--fail-on advisory",
        FailOn::None => "--fail-on none",
    };
    if t.failing > 0 {
        writeln!(
            out,
            "{RED}FAIL{RED:#}: {} failing under {level} (exit 1)",
            t.failing
        )?;
    } else {
        let note = if t.unknown > 0 && !policy.fail_on_unknown {
            format!(
                " {DIM}({} unknown gate(s) not judged offline; --fail-on-unknown makes them fail){DIM:#}",
                t.unknown
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "{GREEN}PASS{GREEN:#}: nothing fails under {level}{note}"
        )?;
    }
    Ok(())
}

/// The result word and its colour; failures that do not fail the run are yellow.
fn result_style(gate: &GateResult, fails: bool) -> (&'static str, Style) {
    match gate.result {
        GateOutcome::Pass => ("PASS", GREEN),
        GateOutcome::Fail if fails => ("FAIL", RED),
        GateOutcome::Fail => ("FAIL", YELLOW),
        GateOutcome::Unknown if fails => ("UNKNOWN", RED),
        GateOutcome::Unknown => ("UNKNOWN", YELLOW),
        GateOutcome::Waived => ("WAIVED", CYAN),
        GateOutcome::Skipped => ("SKIPPED", DIM),
    }
}
