//! Printing a [`CheckReport`]: a table for people, JSON for scripts, JUnit for CI test
//! reports, SARIF for code scanning.

mod json;
mod junit;
mod sarif;
mod table;

use std::io::Write;

use crate::cli::verdicts::{CheckReport, DeploymentVerdicts, ReadinessSource};
use crate::engine::GateResult;
use crate::manifests::Origin;

pub use json::SCHEMA_VERSION;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Gates grouped by Deployment, with a summary (colour on a terminal).
    Table,
    /// The stable JSON document described in the README.
    Json,
    /// JUnit XML: one testsuite per Deployment, one testcase per gate.
    Junit,
    /// SARIF 2.1.0 for code scanning: one result per failing gate.
    Sarif,
}

#[derive(Clone, Debug, Default)]
pub struct OutputOptions {
    /// Prepended to `helm template` Source paths.
    pub source_prefix: String,
}

pub fn render(format: Format, report: &CheckReport, options: &OutputOptions, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        Format::Table => table::render(report, out),
        Format::Json => json::render(report, out),
        Format::Junit => junit::render(report, options, out),
        Format::Sarif => sarif::render(report, options, out),
    }
}

/// `checklist/gate`, as gates are named in every format.
pub(crate) fn gate_label(gate: &GateResult) -> String {
    format!("{}/{}", gate.checklist, gate.name)
}

/// `namespace/name` of a Deployment.
pub(crate) fn deployment_label(d: &DeploymentVerdicts) -> String {
    format!("{}/{}", d.namespace, d.name)
}

pub(crate) fn source_name(source: ReadinessSource) -> &'static str {
    match source {
        ReadinessSource::Manifest => "manifest",
        ReadinessSource::ChecklistFlag => "checklist",
        ReadinessSource::Baseline => "baseline",
    }
}

/// The file a finding should point at: the `helm template` Source (with the prefix) when
/// there is one, else the input file; and the line, which is only meaningful in the input
/// file (a rendered line says nothing about the template's lines).
pub(crate) fn artifact(origin: &Origin, options: &OutputOptions) -> (String, usize) {
    match &origin.helm_source {
        Some(source) => (format!("{}{}", options.source_prefix, source), 1),
        None => (origin.file.clone(), origin.line.max(1)),
    }
}

/// A gate's message with its findings, one per line when there are several.
pub(crate) fn full_message(gate: &GateResult) -> String {
    if gate.result == crate::api::GateOutcome::Fail && gate.findings.len() > 1 {
        gate.findings.iter().map(|f| f.message.as_str()).collect::<Vec<_>>().join("\n")
    } else {
        gate.message.clone()
    }
}
