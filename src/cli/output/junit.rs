//! `-o junit`: one testsuite per Deployment, one testcase per gate.
//!
//! The report agrees with the exit code: `<failure>` marks exactly the gates (and problems)
//! that fail the run under `--fail-on` / `--fail-on-unknown`. Gates that fail without failing
//! the run (Advisory under `--fail-on required`), Unknown and Skipped gates are `<skipped>`
//! with the reason; Pass and Waived gates pass, with the message as `<system-out>`.

use std::fmt::Write as _;
use std::io::Write;

use super::{OutputOptions, artifact, deployment_label, full_message, gate_label};
use crate::api::GateOutcome;
use crate::cli::input::InputError;
use crate::cli::verdicts::{DeploymentVerdicts, Policy};

enum Case {
    Pass(String),
    Failure { kind: String, message: String },
    Skipped(String),
}

/// The testcases of one Deployment: one per gate, one per problem.
fn cases(d: &DeploymentVerdicts, policy: Policy) -> Vec<(String, Case)> {
    let mut cases = Vec::new();
    let several = d.evaluations.len() > 1;
    for e in &d.evaluations {
        let prefix = if several {
            format!("{}: ", e.readiness)
        } else {
            String::new()
        };
        for g in &e.report.gates {
            let fails = policy.gate_fails(g);
            let message = full_message(g);
            let case = match g.result {
                GateOutcome::Pass => Case::Pass(message),
                GateOutcome::Waived => Case::Pass(format!("Waived: {message}")),
                GateOutcome::Fail | GateOutcome::Unknown if fails => {
                    let kind = if g.result == GateOutcome::Unknown {
                        "Unknown".to_string()
                    } else {
                        g.severity.to_string()
                    };
                    Case::Failure { kind, message }
                }
                GateOutcome::Fail => Case::Skipped(format!(
                    "{} gate fails (does not fail the run under --fail-on): {message}",
                    g.severity
                )),
                GateOutcome::Unknown => Case::Skipped(format!("Unknown: {message}")),
                GateOutcome::Skipped => Case::Skipped(format!("Skipped: {message}")),
            };
            cases.push((format!("{prefix}{}", gate_label(g)), case));
        }
        for p in &e.report.problems {
            let message = format!("{}: {}", p.reason, p.message);
            let case = if policy.problem_fails(p) {
                Case::Failure {
                    kind: "Problem".into(),
                    message,
                }
            } else {
                Case::Skipped(format!("Unknown: {message}"))
            };
            cases.push((format!("{prefix}problem/{}", p.reason), case));
        }
    }
    cases
}

/// (tests, failures, skipped) of a set of cases.
fn count(cases: &[(String, Case)]) -> (usize, usize, usize) {
    let failures = cases
        .iter()
        .filter(|(_, c)| matches!(c, Case::Failure { .. }))
        .count();
    let skipped = cases
        .iter()
        .filter(|(_, c)| matches!(c, Case::Skipped(_)))
        .count();
    (cases.len(), failures, skipped)
}

/// The testsuites written so far, and their totals (which head the document).
#[derive(Default)]
pub struct Suites {
    xml: Vec<String>,
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

impl Suites {
    pub fn add(&mut self, d: &DeploymentVerdicts, policy: Policy, options: &OutputOptions) {
        let cases = cases(d, policy);
        let (tests, failures, skipped) = count(&cases);
        self.tests += tests;
        self.failures += failures;
        self.skipped += skipped;
        self.xml.push(suite(d, cases, options));
    }

    /// Documents that could not be read: one `<error>` testcase each, in a suite `input`.
    pub fn add_input_errors(&mut self, errors: &[InputError], _options: &OutputOptions) {
        if errors.is_empty() {
            return;
        }
        self.tests += errors.len();
        self.errors += errors.len();
        let mut xml = format!(
            "  <testsuite name=\"input\" tests=\"{n}\" failures=\"0\" errors=\"{n}\" skipped=\"0\" time=\"0\">\n",
            n = errors.len()
        );
        for e in errors {
            let _ = write!(
                xml,
                "    <testcase name=\"{}\" classname=\"input\" time=\"0\" file=\"{}\"",
                esc(&e.to_string()),
                esc(&e.file)
            );
            if let Some(line) = e.line {
                let _ = write!(xml, " line=\"{line}\"");
            }
            let _ = writeln!(
                xml,
                "><error type=\"InputError\" message=\"{}\">{}: not read, not judged</error></testcase>",
                esc(&e.message),
                esc(&e.to_string())
            );
        }
        xml.push_str("  </testsuite>\n");
        self.xml.push(xml);
    }

    pub fn write(self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
        writeln!(
            out,
            "<testsuites name=\"gonogo check\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"0\">",
            self.tests, self.failures, self.errors, self.skipped
        )?;
        for suite in &self.xml {
            out.write_all(suite.as_bytes())?;
        }
        writeln!(out, "</testsuites>")
    }
}

fn suite(d: &DeploymentVerdicts, cases: Vec<(String, Case)>, options: &OutputOptions) -> String {
    let mut suites = String::new();
    let location = d.location().map(|o| artifact(o, options));
    let (tests, failures, skipped) = count(&cases);
    let suite_name = deployment_label(d);
    let _ = write!(
        suites,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"0\"",
        esc(&suite_name),
    );
    if let Some((file, _)) = &location {
        let _ = write!(suites, " file=\"{}\"", esc(file));
    }
    suites.push_str(">\n");
    if let Some(o) = d.location() {
        suites.push_str("    <properties>\n");
        let _ = writeln!(
            suites,
            "      <property name=\"file\" value=\"{}\"/>",
            esc(&o.file)
        );
        let _ = writeln!(
            suites,
            "      <property name=\"line\" value=\"{}\"/>",
            o.line
        );
        if let Some(source) = &o.helm_source {
            let _ = writeln!(
                suites,
                "      <property name=\"helmSource\" value=\"{}\"/>",
                esc(source)
            );
        }
        suites.push_str("    </properties>\n");
    }
    for (name, case) in cases {
        let _ = write!(
            suites,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"0\"",
            esc(&name),
            esc(&suite_name)
        );
        if let Some((file, line)) = &location {
            let _ = write!(suites, " file=\"{}\" line=\"{line}\"", esc(file));
        }
        suites.push('>');
        match case {
            Case::Pass(message) => {
                let _ = write!(suites, "<system-out>{}</system-out>", esc(&message));
            }
            Case::Failure { kind, message } => {
                let first = message.lines().next().unwrap_or_default();
                let _ = write!(
                    suites,
                    "<failure type=\"{}\" message=\"{}\">{}</failure>",
                    esc(&kind),
                    esc(first),
                    esc(&message)
                );
            }
            Case::Skipped(message) => {
                let _ = write!(suites, "<skipped message=\"{}\"/>", esc(&message));
            }
        }
        suites.push_str("</testcase>\n");
    }
    suites.push_str("  </testsuite>\n");
    suites
}

/// XML-escape text for attributes and content; characters XML 1.0 cannot carry are dropped.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escaping_keeps_the_xml_well_formed() {
        assert_eq!(
            super::esc("a<b & \"c\"\u{1}\nd"),
            "a&lt;b &amp; &quot;c&quot;&#10;d"
        );
    }
}
