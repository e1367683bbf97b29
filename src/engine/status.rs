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
    let StatusInput {
        report,
        previous,
        generation,
        now,
        progress_deadline_seconds,
        blocking,
    } = input;
    let ready = report.ready();
    let same_generation = previous.is_some_and(|p| p.observed_generation == generation);

    let waiting_since = if ready {
        None
    } else {
        previous
            .filter(|_| same_generation)
            .and_then(|p| p.waiting_since.clone())
            .or(Some(Time(now)))
    };
    let stalled = match (&waiting_since, progress_deadline_seconds) {
        (Some(since), Some(deadline)) => {
            now.duration_since(since.0) >= SignedDuration::from_secs(deadline)
        }
        _ => false,
    };

    let summary = report.summary();
    let (ready_reason, ready_message) = if ready {
        (
            "AllGatesPassed",
            format!("{} gates pass or are waived", summary.passing),
        )
    } else {
        not_ready(report)
    };

    let previous_conditions = previous
        .map(|p| p.conditions.as_slice())
        .unwrap_or_default();
    let mut conditions = vec![condition(
        previous_conditions,
        READY,
        ready,
        ready_reason,
        &ready_message,
        generation,
        now,
    )];
    if stalled {
        let message = format!(
            "required gates still failing {}s after this generation was first evaluated: {ready_message}",
            progress_deadline_seconds.unwrap_or_default()
        );
        conditions.push(condition(
            previous_conditions,
            STALLED,
            true,
            "ProgressDeadlineExceeded",
            &message,
            generation,
            now,
        ));
    } else if !ready {
        conditions.push(condition(
            previous_conditions,
            RECONCILING,
            true,
            ready_reason,
            &ready_message,
            generation,
            now,
        ));
    }

    let previous_gates = previous.map(|p| p.gates.as_slice()).unwrap_or_default();
    let gates = report
        .gates
        .iter()
        .map(|g| gate_status(g, previous_gates, now))
        .collect();

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
    let reason = if failing
        .iter()
        .any(|g| g.result == crate::api::GateOutcome::Fail)
    {
        "GatesFailing"
    } else {
        "GatesUnknown"
    };
    let parts: Vec<String> = failing
        .iter()
        .map(|g| format!("{}: {}", g.name, g.message))
        .collect();
    (
        reason,
        truncate(format!(
            "{} required gate(s) not passing: {}",
            failing.len(),
            parts.join("; ")
        )),
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{GateOutcome, Phase, Severity};
    use crate::engine::{GateResult, Problem};

    fn gate(name: &str, result: GateOutcome) -> GateResult {
        GateResult {
            checklist: "inline".into(),
            name: name.into(),
            kind: "probes",
            description: None,
            severity: Severity::Required,
            phase: Phase::PreRollout,
            result,
            message: format!("{name} says {result}"),
            findings: vec![],
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_780_000_000 + secs).unwrap()
    }

    fn input<'a>(
        report: &'a Report,
        previous: Option<&'a DeploymentReadinessStatus>,
        now: Timestamp,
    ) -> StatusInput<'a> {
        StatusInput {
            report,
            previous,
            generation: Some(3),
            now,
            progress_deadline_seconds: Some(600),
            blocking: false,
        }
    }

    fn cond<'a>(s: &'a DeploymentReadinessStatus, t: &str) -> Option<&'a Condition> {
        s.conditions.iter().find(|c| c.type_ == t)
    }

    #[test]
    fn failing_required_gate_is_not_ready_and_reconciling() {
        let report = Report {
            gates: vec![gate("a", GateOutcome::Pass), gate("b", GateOutcome::Fail)],
            ..Default::default()
        };
        let s = status_from_report(input(&report, None, at(0)));
        assert_eq!(cond(&s, READY).unwrap().status, "False");
        assert_eq!(cond(&s, READY).unwrap().reason, "GatesFailing");
        assert!(cond(&s, READY).unwrap().message.contains("b: b says Fail"));
        assert_eq!(cond(&s, RECONCILING).unwrap().status, "True");
        assert!(cond(&s, STALLED).is_none());
        assert_eq!(s.summary.as_ref().unwrap().passing, "1/2");
        assert_eq!(s.observed_generation, Some(3));
    }

    #[test]
    fn unchanged_report_gives_identical_status() {
        let report = Report {
            gates: vec![gate("a", GateOutcome::Fail)],
            ..Default::default()
        };
        let first = status_from_report(input(&report, None, at(0)));
        let second = status_from_report(input(&report, Some(&first), at(30)));
        assert_eq!(first, second, "no timestamp may move without a transition");
    }

    #[test]
    fn transitions_move_only_the_changed_timestamps() {
        let failing = Report {
            gates: vec![gate("a", GateOutcome::Pass), gate("b", GateOutcome::Fail)],
            ..Default::default()
        };
        let first = status_from_report(input(&failing, None, at(0)));
        let passing = Report {
            gates: vec![gate("a", GateOutcome::Pass), gate("b", GateOutcome::Pass)],
            ..Default::default()
        };
        let second = status_from_report(input(&passing, Some(&first), at(30)));
        assert_eq!(cond(&second, READY).unwrap().status, "True");
        assert_eq!(cond(&second, READY).unwrap().last_transition_time.0, at(30));
        assert!(cond(&second, RECONCILING).is_none());
        assert_eq!(
            second.gates[0].last_transition_time,
            first.gates[0].last_transition_time
        );
        assert_eq!(
            second.gates[1].last_transition_time.as_ref().unwrap().0,
            at(30)
        );
        assert!(second.waiting_since.is_none());
    }

    #[test]
    fn stalled_after_the_progress_deadline() {
        let report = Report {
            gates: vec![gate("b", GateOutcome::Fail)],
            ..Default::default()
        };
        let first = status_from_report(input(&report, None, at(0)));
        let before = status_from_report(input(&report, Some(&first), at(599)));
        assert!(cond(&before, STALLED).is_none());
        let after = status_from_report(input(&report, Some(&before), at(600)));
        assert_eq!(cond(&after, STALLED).unwrap().status, "True");
        assert_eq!(
            cond(&after, STALLED).unwrap().reason,
            "ProgressDeadlineExceeded"
        );
        assert!(
            cond(&after, RECONCILING).is_none(),
            "kstatus: Stalled and Reconciling are exclusive"
        );
        // A new generation restarts the clock.
        let newer = status_from_report(StatusInput {
            generation: Some(4),
            ..input(&report, Some(&after), at(700))
        });
        assert!(cond(&newer, STALLED).is_none());
        assert_eq!(newer.waiting_since.unwrap().0, at(700));
    }

    #[test]
    fn unknown_and_problems_keep_ready_false_advisory_does_not() {
        let mut advisory = gate("adv", GateOutcome::Fail);
        advisory.severity = Severity::Advisory;
        let report = Report {
            gates: vec![advisory.clone(), gate("u", GateOutcome::Unknown)],
            ..Default::default()
        };
        let s = status_from_report(input(&report, None, at(0)));
        assert_eq!(cond(&s, READY).unwrap().reason, "GatesUnknown");
        let only_advisory = Report {
            gates: vec![advisory],
            ..Default::default()
        };
        assert_eq!(
            cond(
                &status_from_report(input(&only_advisory, None, at(0))),
                READY
            )
            .unwrap()
            .status,
            "True"
        );
        let problem = Report {
            problems: vec![Problem {
                reason: "ChecklistNotFound",
                message: "ReadinessChecklist x not found".into(),
                blocks: true,
            }],
            ..Default::default()
        };
        let s = status_from_report(input(&problem, None, at(0)));
        assert_eq!(cond(&s, READY).unwrap().reason, "ChecklistNotFound");
    }
}
