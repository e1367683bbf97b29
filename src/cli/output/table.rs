//! The human table: per Deployment, what needs attention first (failing, then unknown gates,
//! then problems), passing and skipped gates folded into a count unless `--show-passed`;
//! messages wrapped to the terminal with a hanging indent; a summary at the end.

use std::borrow::Cow;
use std::io::Write;

use anstyle::{AnsiColor, Style};

use super::{OutputOptions, deployment_label, gate_label};
use crate::api::{GateOutcome, Severity};
use crate::cli::verdicts::{
    DeploymentVerdicts, Evaluation, FailOn, Policy, ReadinessSource, Totals,
};
use crate::engine::GateResult;

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const RED: Style = AnsiColor::Red.on_default().bold();
const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const CYAN: Style = AnsiColor::Cyan.on_default();

/// Where a gate's result word starts, and where its message lines start.
const GATE_INDENT: usize = 4;
const MESSAGE_INDENT: usize = GATE_INDENT + 9;
/// Items of a list of names shown before "and N more".
const LIST_KEEP: usize = 5;

/// One workload's block.
pub fn deployment(
    d: &DeploymentVerdicts,
    policy: Policy,
    options: &OutputOptions,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let head = match &d.origin {
        Some(o) => format!(
            "{BOLD}{} {}{BOLD:#}  {DIM}{}:{}{DIM:#}",
            d.kind,
            deployment_label(d),
            super::printable(&o.file),
            o.line
        ),
        None => format!(
            "{BOLD}{} {}{BOLD:#}  {DIM}(not in the input){DIM:#}",
            d.kind,
            deployment_label(d)
        ),
    };
    write_wrapped(out, &head, options.width, 0, 2)?;
    for e in &d.evaluations {
        evaluation(e, policy, options, out)?;
    }
    writeln!(out)
}

fn evaluation(
    e: &Evaluation,
    policy: Policy,
    options: &OutputOptions,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let width = options.width;
    let from = match (e.source, &e.origin) {
        (ReadinessSource::Manifest, Some(o)) => format!(
            "DeploymentReadiness {}  {DIM}{}:{}{DIM:#}",
            super::printable(&e.readiness),
            super::printable(&o.file),
            o.line
        ),
        (ReadinessSource::Manifest, None) => {
            format!("DeploymentReadiness {}", super::printable(&e.readiness))
        }
        (ReadinessSource::ChecklistFlag, _) => "checklists from --checklist".to_string(),
        (ReadinessSource::Baseline, _) => {
            "built-in baseline checklist (no DeploymentReadiness in the input)".to_string()
        }
    };
    write_wrapped(out, &from, width, 2, 4)?;

    // What needs attention first; input order within each group.
    let mut gates: Vec<&GateResult> = e.report.gates.iter().collect();
    gates.sort_by_key(|g| rank(g, policy.gate_fails(g)));
    let mut hidden_passed = 0;
    let mut hidden_skipped = 0;
    let mut hinted: Vec<&str> = Vec::new();
    for g in gates {
        if !options.show_passed {
            match g.result {
                GateOutcome::Pass => {
                    hidden_passed += 1;
                    continue;
                }
                GateOutcome::Skipped => {
                    hidden_skipped += 1;
                    continue;
                }
                _ => {}
            }
        }
        let fails = policy.gate_fails(g);
        let (word, style) = result_style(g, fails);
        let severity = match g.severity {
            Severity::Required => "required",
            Severity::Advisory => "advisory",
        };
        writeln!(
            out,
            "{:GATE_INDENT$}{style}{word:<7}{style:#}  {}  {DIM}{severity}{DIM:#}",
            "",
            gate_label(g)
        )?;
        let findings: Vec<&str> = if g.result == GateOutcome::Fail && g.findings.len() > 1 {
            g.findings.iter().map(|f| f.message.as_str()).collect()
        } else {
            g.message.lines().collect()
        };
        for finding in findings {
            let finding = super::printable(finding);
            for line in wrap(&shorten_lists(&finding, LIST_KEEP), width, MESSAGE_INDENT) {
                writeln!(out, "{:MESSAGE_INDENT$}{line}", "")?;
            }
        }
        if g.result == GateOutcome::Fail
            && !hinted.contains(&g.kind)
            && let Some(hint) = super::hints::not_obvious(g.kind)
        {
            hinted.push(g.kind);
            let hint = format!("fix: {hint}");
            for line in wrap(&hint, width, MESSAGE_INDENT) {
                writeln!(out, "{:MESSAGE_INDENT$}{DIM}{line}{DIM:#}", "")?;
            }
        }
    }
    for p in &e.report.problems {
        let style = if policy.problem_fails(p) { RED } else { YELLOW };
        writeln!(
            out,
            "{:GATE_INDENT$}{style}{:<7}{style:#}  {}",
            "", "PROBLEM", p.reason
        )?;
        for line in wrap(&super::printable(&p.message), width, MESSAGE_INDENT) {
            writeln!(out, "{:MESSAGE_INDENT$}{line}", "")?;
        }
    }
    for w in &e.report.expired_waivers {
        let text = format!("waiver for {} by {} expired {}", w.item, w.owner, w.expired);
        for line in wrap(&text, width, GATE_INDENT) {
            writeln!(out, "{:GATE_INDENT$}{DIM}{line}{DIM:#}", "")?;
        }
    }
    if hidden_passed + hidden_skipped > 0 {
        let mut parts = Vec::new();
        if hidden_passed > 0 {
            parts.push(format!("{hidden_passed} passed"));
        }
        if hidden_skipped > 0 {
            parts.push(format!("{hidden_skipped} skipped"));
        }
        writeln!(
            out,
            "{:GATE_INDENT$}{DIM}+ {} (--show-passed lists them){DIM:#}",
            "",
            parts.join(", ")
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
    let text = format!(
        "{verdict} ({} pass, {} fail, {} unknown, {} skipped, {} waived of {} gates)",
        s.passed, s.failed, s.unknown, s.skipped, s.waived, s.total
    );
    write_wrapped(out, &text, width, 2, 4)
}

/// The order gates are listed in: those failing the run, other failures, unknown, waived,
/// passed, skipped.
fn rank(gate: &GateResult, fails: bool) -> u8 {
    match gate.result {
        GateOutcome::Fail | GateOutcome::Unknown if fails => 0,
        GateOutcome::Fail => 1,
        GateOutcome::Unknown => 2,
        GateOutcome::Waived => 3,
        GateOutcome::Pass => 4,
        GateOutcome::Skipped => 5,
    }
}

/// The summary lines.
pub fn finish(
    t: &Totals,
    policy: Policy,
    options: &OutputOptions,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let counts = format!(
        "{} pass, {} fail, {} unknown, {} skipped, {} waived{}",
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
    );
    let head = format!("{} workload(s), {} gate(s):", t.deployments, t.gates);
    let mut lines = wrap(&format!("{head} {counts}"), options.width, 0).into_iter();
    if let Some(first) = lines.next() {
        // The head in bold, the rest as is.
        match first.strip_prefix(&head) {
            Some(rest) => writeln!(out, "{BOLD}{head}{BOLD:#}{rest}")?,
            None => writeln!(out, "{first}")?,
        }
    }
    for line in lines {
        writeln!(out, "{line}")?;
    }
    let level = match policy.fail_on {
        FailOn::Required => "--fail-on required",
        FailOn::Advisory => "--fail-on advisory",
        FailOn::None => "--fail-on none",
    };
    let width = options.width;
    if t.input_errors > 0 {
        let text = format!(
            "{RED}ERROR{RED:#}: {} document(s) could not be read and were not judged (listed on standard error; exit 2)",
            t.input_errors
        );
        write_wrapped(out, &text, width, 0, 2)?;
    }
    if t.failing > 0 {
        let text = format!(
            "{RED}FAIL{RED:#}: {} failing under {level}{}",
            t.failing,
            if t.input_errors > 0 { "" } else { " (exit 1)" }
        );
        write_wrapped(out, &text, width, 0, 2)?;
    } else {
        let note = if t.unknown > 0 && !policy.fail_on_unknown {
            format!(
                " {DIM}({} unknown gate(s) not judged offline; --fail-on-unknown makes them fail){DIM:#}",
                t.unknown
            )
        } else {
            String::new()
        };
        let text = format!("{GREEN}PASS{GREEN:#}: nothing fails under {level}{note}");
        write_wrapped(out, &text, width, 0, 2)?;
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

/// `text` wrapped to `width`: the first line at `first` columns, the rest at `rest`.
fn write_wrapped(
    out: &mut dyn Write,
    text: &str,
    width: usize,
    first: usize,
    rest: usize,
) -> std::io::Result<()> {
    if first + visible_len(text) <= width {
        return writeln!(out, "{:first$}{text}", "");
    }
    let mut lines = wrap(text, width.saturating_sub(first), 0).into_iter();
    if let Some(line) = lines.next() {
        writeln!(out, "{:first$}{line}", "")?;
    }
    let remaining: Vec<String> = lines.collect();
    if !remaining.is_empty() {
        for line in wrap(&remaining.join(" "), width, rest) {
            writeln!(out, "{:rest$}{line}", "")?;
        }
    }
    Ok(())
}

/// `text` in lines that fit `width` columns after an indent of `indent` (the caller writes
/// the indent). Words are never split: one longer than a line gets a line of its own.
pub(crate) fn wrap(text: &str, width: usize, indent: usize) -> Vec<String> {
    let room = width.saturating_sub(indent).max(20);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let w = visible_len(word);
        if len > 0 && len + 1 + w > room {
            lines.push(std::mem::take(&mut line));
            len = 0;
        }
        if len > 0 {
            line.push(' ');
            len += 1;
        }
        line.push_str(word);
        len += w;
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Columns `text` takes on a terminal: colour escapes (`ESC [ ... m`) take none.
fn visible_len(text: &str) -> usize {
    let mut len = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            len += 1;
        }
    }
    len
}

/// Long comma-separated lists of names (`a, b, c, ... z select the pods`) cut to their first
/// `keep` names and "and N more".
pub(crate) fn shorten_lists(text: &str, keep: usize) -> Cow<'_, str> {
    let parts: Vec<&str> = text.split(", ").collect();
    let single = |p: &str| !p.is_empty() && !p.contains(' ');
    // Runs of middle parts that are single names; the parts around a run end and start with
    // a name of the same list.
    let mut out = String::new();
    let mut changed = false;
    let mut i = 0;
    while i < parts.len() {
        let start = i + 1;
        let mut end = start;
        while end + 1 < parts.len() && single(parts[end]) {
            end += 1;
        }
        let names = end - start + 2; // the run, and the names before and after it
        if end > start && names > keep + 1 && end < parts.len() {
            // parts[i] ends with the first name; keep - 1 more; then "and N more" and what
            // follows the last name of the list.
            push_part(&mut out, parts[i]);
            for p in &parts[start..start + keep - 1] {
                out.push_str(", ");
                out.push_str(p);
            }
            let last = parts[end];
            let tail = last.split_once(' ').map_or("", |(_, t)| t);
            out.push_str(&format!(" and {} more", names - keep));
            if !tail.is_empty() {
                out.push(' ');
                out.push_str(tail);
            }
            changed = true;
            i = end + 1;
            continue;
        }
        push_part(&mut out, parts[i]);
        i += 1;
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

fn push_part(out: &mut String, part: &str) {
    if !out.is_empty() && !out.ends_with(", ") {
        out.push_str(", ");
    }
    out.push_str(part);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_words_whole_within_the_width() {
        let lines = wrap(
            "container knowledgebeast: no readinessProbe and a very long word supercalifragilistic",
            40,
            13,
        );
        assert!(
            lines
                .iter()
                .all(|l| l.chars().count() <= 27 || !l.contains(' '))
        );
        assert_eq!(
            lines.join(" "),
            "container knowledgebeast: no readinessProbe and a very long word supercalifragilistic"
        );
        assert_eq!(wrap("", 80, 4), [""]);
        assert_eq!(visible_len("\u{1b}[1m\u{1b}[31mFAIL\u{1b}[0m: x"), 7);
    }

    #[test]
    fn long_lists_of_names_are_shortened() {
        let many: Vec<String> = (1..=40).map(|i| format!("pdb-{i}")).collect();
        let text = format!(
            "PodDisruptionBudgets {} all select the pods",
            many.join(", ")
        );
        assert_eq!(
            shorten_lists(&text, 5),
            "PodDisruptionBudgets pdb-1, pdb-2, pdb-3, pdb-4, pdb-5 and 35 more all select the pods"
        );
        let short = "Secrets a, b, c are present";
        assert!(matches!(shorten_lists(short, 5), Cow::Borrowed(_)));
        let prose = "container a: no probe, container b: no probe";
        assert_eq!(shorten_lists(prose, 1), prose);
        let end = format!("present: {}", many.join(", "));
        assert_eq!(
            shorten_lists(&end, 3),
            "present: pdb-1, pdb-2, pdb-3 and 37 more"
        );
    }
}
