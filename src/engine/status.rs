//! Report → status, pure. Timestamps move only on transitions, so an unchanged report yields
//! an identical status and the controller writes nothing.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::{GateResult, Report};
use crate::api::{DeploymentReadinessStatus, GateStatus};

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";

/// Condition messages are kept short enough for `kubectl get -o wide` and events.
const MAX_MESSAGE: usize = 1024;

/// What the status is computed from.
pub struct StatusInput<'a> {
    pub report: &'a Report,
    pub previous: Option<&'a DeploymentReadinessStatus>,
    /// `metadata.generation` of the DeploymentReadiness.
    pub generation: Option<i64>,
    pub now: Timestamp,
    pub progress_deadline_seconds: Option<i64>,
    /// Whether gonogo holds the target's rollout because of this object.
    pub blocking: bool,
}

pub fn status_from_report(input: StatusInput<'_>) -> DeploymentReadinessStatus {
    let StatusInput { report, previous, generation, now, progress_deadline_seconds, blocking } = input;
    let ready = report.ready();
    let same_generation = previous.is_some_and(|p| p.observed_generation == generation);

    let waiting_since = if ready {
        None
    } else {
        previous
            .filter(|_| same_generation)
            .and_then(|p| p.waiting_since.clone())
            .or_else(|| Some(Time(now)))
    };
    let stalled = match (&waiting_since, progress_deadline_seconds) {
        (Some(since), Some(deadline)) => now.duration_since(since.0) >= SignedDuration::from_secs(deadline),
        _ => false,
    };

    let summary = report.summary();
    let (ready_reason, ready_message) = if ready {
        ("AllGatesPassed", format!("{} gates pass or are waived", summary.passing))
    } else {
        not_ready(report)
    };

    let previous_conditions = previous.map(|p| p.conditions.as_slice()).unwrap_or_default();
    let mut conditions = vec![condition(previous_conditions, READY, ready, ready_reason, &ready_message, generation, now)];
    if stalled {
        let message = format!(
            "required gates still failing {}s after this generation was first evaluated: {ready_message}",
            progress_deadline_seconds.unwrap_or_default()
        );
        conditions.push(condition(previous_conditions, STALLED, true, "ProgressDeadlineExceeded", &message, generation, now));
    } else if !ready {
        conditions.push(condition(previous_conditions, RECONCILING, true, ready_reason, &ready_message, generation, now));
    }

    let previous_gates = previous.map(|p| p.gates.as_slice()).unwrap_or_default();
    let gates = report.gates.iter().map(|g| gate_status(g, previous_gates, now)).collect();

    DeploymentReadinessStatus {
        observed_generation: generation,
        conditions,
        summary: Some(summary),
        gates,
        blocking,
        waiting_since,
    }
}

/// The reason and message of a Ready=False condition: problems first, then failing gates.
fn not_ready(report: &Report) -> (&'static str, String) {
    if let Some(problem) = report.problems.first() {
        let all: Vec<&str> = report.problems.iter().map(|p| p.message.as_str()).collect();
        return (problem.reason, truncate(all.join("; ")));
    }
    let failing: Vec<&GateResult> = report.failing().collect();
    let reason = if failing.iter().any(|g| g.result == crate::api::GateOutcome::Fail) { "GatesFailing" } else { "GatesUnknown" };
    let parts: Vec<String> = failing.iter().map(|g| format!("{}: {}", g.name, g.message)).collect();
    (reason, truncate(format!("{} required gate(s) not passing: {}", failing.len(), parts.join("; "))))
}

fn truncate(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE - 3;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str("...");
    }
    message
}

fn condition(
    previous: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let status = if status { "True" } else { "False" }.to_string();
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: type_.to_string(),
        status,
        reason: reason.to_string(),
        message: message.to_string(),
        observed_generation: generation,
        last_transition_time,
    }
}

fn gate_status(gate: &GateResult, previous: &[GateStatus], now: Timestamp) -> GateStatus {
    let last_transition_time = previous
        .iter()
        .find(|p| p.name == gate.name && p.checklist == gate.checklist && p.result == gate.result)
        .and_then(|p| p.last_transition_time.clone())
        .or(Some(Time(now)));
    GateStatus {
        name: gate.name.clone(),
        checklist: gate.checklist.clone(),
        severity: gate.severity,
        phase: gate.phase,
        result: gate.result,
        message: truncate(gate.message.clone()),
        last_transition_time,
    }
}
