//! Printing a [`CheckReport`]: a table for people, JSON for scripts, JUnit for CI test
//! reports, SARIF for code scanning.

mod compact;
mod hints;
mod json;
mod junit;
mod sarif;
mod table;

use std::io::Write;

use jiff::Timestamp;
use serde::Serialize;

use crate::cli::input::InputError;
use crate::cli::verdicts::{CheckReport, DeploymentVerdicts, Policy, ReadinessSource, Totals};
use crate::engine::GateResult;
use crate::manifests::Origin;

pub use json::SCHEMA_VERSION;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Failing and unknown gates by Deployment, wrapped to the terminal, with a summary.
    Table,
    /// One line per finding, for CI logs: `file:line: FAIL checklist/gate: message`.
    Compact,
    /// The stable JSON document described in the README.
    Json,
    /// JUnit XML: one testsuite per Deployment, one testcase per gate.
    Junit,
    /// SARIF 2.1.0 for code scanning: one result per failing gate.
    Sarif,
}

#[derive(Clone, Debug)]
pub struct OutputOptions {
    /// Prepended to `helm template` Source paths.
    pub source_prefix: String,
    /// Columns the table wraps to.
    pub width: usize,
    /// The table lists passing and skipped gates too.
    pub show_passed: bool,
    /// Where locations of `helm template` output point.
    pub source_map: SourceMap,
}

impl Default for OutputOptions {
    fn default() -> Self {
        OutputOptions {
            source_prefix: String::new(),
            width: DEFAULT_WIDTH,
            show_passed: false,
            source_map: SourceMap::Auto,
        }
    }
}

/// The table's width when standard output is not a terminal and `COLUMNS` is unset.
pub const DEFAULT_WIDTH: usize = 100;

/// Columns to wrap the table to: `COLUMNS`, else the terminal's width, else 100.
pub fn terminal_width() -> usize {
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
    {
        return columns.max(40);
    }
    rustix::termios::tcgetwinsize(std::io::stdout())
        .ok()
        .map(|size| usize::from(size.ws_col))
        .filter(|&c| c > 0)
        .map_or(DEFAULT_WIDTH, |c| c.max(40))
}

/// Writes a report one Deployment at a time, as the verdicts come.
pub struct Writer<'w> {
    format: Format,
    options: OutputOptions,
    policy: Policy,
    out: &'w mut dyn Write,
    totals: Totals,
    /// JUnit puts totals in its first line: its suites wait here until the end.
    junit: junit::Suites,
    /// Whether a SARIF result has been written (the next one needs a comma).
    sarif_written: bool,
}

impl<'w> Writer<'w> {
    pub fn new(
        format: Format,
        options: OutputOptions,
        policy: Policy,
        out: &'w mut dyn Write,
    ) -> Self {
        Writer {
            format,
            options,
            policy,
            out,
            totals: Totals::default(),
            junit: junit::Suites::default(),
            sarif_written: false,
        }
    }

    pub fn begin(&mut self, now: Timestamp) -> std::io::Result<()> {
        match self.format {
            Format::Table | Format::Compact | Format::Junit => Ok(()),
            Format::Json => json::begin(now, self.policy, self.out),
            Format::Sarif => sarif::begin(self.out),
        }
    }

    pub fn deployment(&mut self, d: &DeploymentVerdicts) -> std::io::Result<()> {
        let first = self.totals.deployments == 0;
        self.totals.add(d, self.policy);
        match self.format {
            Format::Table => table::deployment(d, self.policy, &self.options, self.out),
            Format::Compact => compact::deployment(d, self.policy, &self.options, self.out),
            Format::Json => json::deployment(d, self.policy, first, self.out),
            Format::Junit => {
                self.junit.add(d, self.policy, &self.options);
                Ok(())
            }
            Format::Sarif => sarif::deployment(
                d,
                self.policy,
                &self.options,
                &mut self.sarif_written,
                self.out,
            ),
        }
    }

    /// Close the document with the input errors (documents that could not be read); the
    /// totals decide the exit code.
    pub fn finish(mut self, errors: &[InputError]) -> std::io::Result<Totals> {
        self.totals.input_errors = errors.len();
        match self.format {
            Format::Table => table::finish(&self.totals, self.policy, &self.options, self.out)?,
            Format::Compact => compact::finish(errors, &self.totals, self.policy, self.out)?,
            Format::Json => json::finish(&self.totals, errors, self.out)?,
            Format::Junit => {
                self.junit.add_input_errors(errors, &self.options);
                self.junit.write(self.out)?
            }
            Format::Sarif => {
                sarif::input_errors(errors, &mut self.sarif_written, self.out)?;
                sarif::finish(self.out)?
            }
        }
        Ok(self.totals)
    }
}

/// Print a whole report.
pub fn render(
    format: Format,
    report: &CheckReport,
    options: &OutputOptions,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut writer = Writer::new(format, options.clone(), report.policy, out);
    writer.begin(report.now)?;
    for d in &report.deployments {
        writer.deployment(d)?;
    }
    writer.finish(&report.input_errors).map(|_| ())
}

/// Pretty JSON continuing at the current position, its further lines indented by `indent`
/// (JSON strings hold no raw newline, so every newline is layout).
pub(crate) fn write_pretty(
    out: &mut dyn Write,
    value: &impl Serialize,
    indent: &str,
) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.write_all(b"\n")?;
            out.write_all(indent.as_bytes())?;
        }
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// `checklist/gate`, as gates are named in every format.
pub(crate) fn gate_label(gate: &GateResult) -> String {
    printable(&format!("{}/{}", gate.checklist, gate.name)).into_owned()
}

/// `namespace/name` of a workload.
pub(crate) fn deployment_label(d: &DeploymentVerdicts) -> String {
    printable(&format!("{}/{}", d.namespace, d.name)).into_owned()
}

/// Text from the input as a terminal or CI log may show it: control characters other than
/// line breaks (an escape sequence in a manifest's string, a carriage return that would
/// overwrite a line) written as `\u{1b}`, never passed through.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() && c != '\n' {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

pub(crate) fn source_name(source: ReadinessSource) -> &'static str {
    match source {
        ReadinessSource::Manifest => "manifest",
        ReadinessSource::ChecklistFlag => "checklist",
        ReadinessSource::Baseline => "baseline",
    }
}

/// Where SARIF, JUnit and compact locations point for `helm template` output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceMap {
    /// The template file when it exists (relative to the working directory, with
    /// `--source-prefix`) or the input is standard input; else the rendered file.
    #[default]
    Auto,
    /// The rendered file and line, always.
    Rendered,
    /// The `# Source:` template file (line 1), always.
    Template,
}

/// The file a finding should point at, and the line, which is only meaningful in the input
/// file (a rendered line says nothing about the template's lines): the `helm template`
/// Source (with the prefix) or the input file, as `--source-map` says.
pub(crate) fn artifact(origin: &Origin, options: &OutputOptions) -> (String, usize) {
    let rendered = || (origin.file.clone(), origin.line.max(1));
    let Some(source) = &origin.helm_source else {
        return rendered();
    };
    let template = format!("{}{}", options.source_prefix, source);
    let use_template = match options.source_map {
        SourceMap::Rendered => false,
        SourceMap::Template => true,
        SourceMap::Auto => origin.file == crate::cli::input::STDIN || template_exists(&template),
    };
    if use_template {
        (template, 1)
    } else {
        rendered()
    }
}

/// Whether a template file exists, asked once per path.
fn template_exists(path: &str) -> bool {
    static SEEN: std::sync::Mutex<Option<std::collections::HashMap<String, bool>>> =
        std::sync::Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    *seen
        .get_or_insert_with(Default::default)
        .entry(path.to_string())
        .or_insert_with(|| std::path::Path::new(path).is_file())
}

/// A gate's message with its findings, one per line when there are several.
pub(crate) fn full_message(gate: &GateResult) -> String {
    if gate.result == crate::api::GateOutcome::Fail && gate.findings.len() > 1 {
        gate.findings
            .iter()
            .map(|f| f.message.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        gate.message.clone()
    }
}
