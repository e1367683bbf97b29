//! Events on transitions only, each on the object it is about: gate verdicts on the
//! DeploymentReadiness, holding and releasing the rollout on the Deployment (naming the failing
//! gates, so `kubectl describe deployment X` says why it is blocked and by which gate). One
//! event per fact keeps the API server's load per evaluation low with thousands of objects.
//!
//! Events are sent after the writes that decide anything (status, the Deployment), from a queue
//! of their own, as client-go's recorder does: a burst of evaluations (a cold start with
//! thousands of objects) is not slowed by them. A few sequential lanes keep each object's
//! events in order.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use futures::future::join_all;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType};
use tokio::sync::mpsc;

use super::enforce::DeploymentVerdict;
use super::metrics::Metrics;
use super::recorder::Recorder;
use crate::api::{DeploymentReadinessStatus, GateOutcome};
use crate::engine::Report;

const LANES: usize = 4;
/// Per lane; a full lane makes reconciles wait rather than grow without bound.
const LANE_CAPACITY: usize = 1024;

/// The events one evaluation deserves, by the object they go on.
#[derive(Default)]
pub struct Transitions {
    /// Gate verdicts that changed, expired waivers.
    pub readiness: Vec<Event>,
    /// The rollout held or released.
    pub deployment: Vec<Event>,
}

impl Transitions {
    pub fn is_empty(&self) -> bool {
        self.readiness.is_empty() && self.deployment.is_empty()
    }
}

/// The events a status change deserves. Pure, so it is tested without a cluster.
pub fn transitions(
    old: Option<&DeploymentReadinessStatus>,
    new: &DeploymentReadinessStatus,
    report: &Report,
    readiness: &str,
) -> Transitions {
    let mut events = Vec::new();
    let old_gates = old.map(|s| s.gates.as_slice()).unwrap_or_default();
    for gate in &new.gates {
        let before = old_gates
            .iter()
            .find(|g| g.name == gate.name && g.checklist == gate.checklist);
        let before_result = before.map(|g| g.result);
        if before_result == Some(gate.result) {
            continue;
        }
        let note = format!(
            "{readiness}: gate {} ({}, {}): {}",
            gate.name, gate.checklist, gate.severity, gate.message
        );
        match gate.result {
            GateOutcome::Fail => events.push(event(EventType::Warning, "GateFailed", note)),
            GateOutcome::Pass if before_result.is_some() => {
                events.push(event(EventType::Normal, "GatePassed", note))
            }
            _ => {}
        }
    }
    for expired in &report.expired_waivers {
        let (checklist, item) = expired.item.split_once('/').unwrap_or(("", &expired.item));
        let already_reported = old_gates
            .iter()
            .any(|g| g.checklist == checklist && g.name == item && g.message.contains("expired"));
        if !already_reported {
            events.push(event(
                EventType::Warning,
                "WaiverExpired",
                format!(
                    "{readiness}: waiver for {} by {} expired {}; the gate counts again",
                    expired.item, expired.owner, expired.expired
                ),
            ));
        }
    }
    let mut deployment = Vec::new();
    let was_blocking = old.is_some_and(|s| s.blocking);
    if new.blocking && !was_blocking {
        let failing: Vec<String> = report
            .gates
            .iter()
            .filter(|g| g.holds_rollout())
            .map(|g| format!("{}: {}", g.name, g.message))
            .collect();
        let note = format!(
            "{readiness}: rollout held by gonogo; failing PreRollout gates: {}",
            failing.join("; ")
        );
        deployment.push(event(EventType::Warning, "RolloutBlocked", note));
    } else if was_blocking && !new.blocking {
        deployment.push(event(
            EventType::Normal,
            "RolloutUnblocked",
            format!("{readiness}: every required PreRollout gate passes"),
        ));
    }
    Transitions {
        readiness: events,
        deployment,
    }
}

/// A person resumed gonogo's hold by hand while gates fail: the event on the Deployment.
pub fn break_glass(verdict: Option<&DeploymentVerdict>) -> Transitions {
    let failing = verdict
        .map(|v| {
            v.failing
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    Transitions {
        readiness: Vec::new(),
        deployment: vec![event(
            EventType::Warning,
            "RolloutResumedByHand",
            format!(
                "rollout resumed by hand while required PreRollout gates fail ({failing}); gonogo no longer holds this pod template (recorded in gonogo.dev/break-glass) and holds the next one"
            ),
        )],
    }
}

fn event(type_: EventType, reason: &str, mut note: String) -> Event {
    if note.len() > 1000 {
        let mut cut = 997;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
        note.push_str("...");
    }
    Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: "Evaluate".to_string(),
        secondary: None,
    }
}

/// The events of one evaluation and the objects they go on (the Deployment's are dropped
/// when it does not exist).
pub struct Publication {
    pub transitions: Transitions,
    pub readiness: ObjectReference,
    pub deployment: Option<ObjectReference>,
}

/// Sends events in the background, in order per DeploymentReadiness.
#[derive(Clone)]
pub struct EventQueue {
    lanes: Vec<mpsc::Sender<Publication>>,
    metrics: Arc<Metrics>,
}

impl EventQueue {
    pub fn start(recorder: Recorder, metrics: Arc<Metrics>) -> EventQueue {
        let recorder = Arc::new(recorder);
        let lanes = (0..LANES)
            .map(|_| {
                let (tx, mut rx) = mpsc::channel::<Publication>(LANE_CAPACITY);
                let recorder = recorder.clone();
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    while let Some(p) = rx.recv().await {
                        publish(&recorder, &p).await;
                        metrics.events_pending.dec();
                    }
                });
                tx
            })
            .collect();
        EventQueue { lanes, metrics }
    }

    pub async fn send(&self, publication: Publication) {
        if publication.transitions.is_empty() {
            return;
        }
        let mut hasher = DefaultHasher::new();
        (
            &publication.readiness.namespace,
            &publication.readiness.name,
        )
            .hash(&mut hasher);
        let Some(lane) = self.lanes.get(hasher.finish() as usize % self.lanes.len()) else {
            return;
        };
        self.metrics.events_pending.inc();
        if lane.send(publication).await.is_err() {
            // Only when the runtime shuts down: events are best effort.
            self.metrics.events_pending.dec();
        }
    }
}

/// Publish every event of one evaluation at once; a failed event is logged and counted,
/// never fatal.
async fn publish(recorder: &Recorder, p: &Publication) {
    let on_readiness = p.transitions.readiness.iter().map(|e| (e, &p.readiness));
    let on_deployment = p
        .deployment
        .iter()
        .flat_map(|d| p.transitions.deployment.iter().map(move |e| (e, d)));
    join_all(
        on_readiness
            .chain(on_deployment)
            .map(|(event, reference)| async move {
                if let Err(e) = recorder.publish(event, reference).await {
                    tracing::warn!(reason = %event.reason, error = %e, "could not publish event");
                }
            }),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{GateStatus, Phase, Severity};
    use crate::engine::GateResult;

    fn gate(result: GateOutcome) -> GateResult {
        GateResult {
            checklist: "inline".into(),
            name: "secrets".into(),
            kind: "secrets",
            description: None,
            severity: Severity::Required,
            phase: Phase::PreRollout,
            result,
            message: "Secret api-keys: not found".into(),
            findings: Vec::new(),
        }
    }

    fn report(result: GateOutcome) -> Report {
        Report {
            gates: vec![gate(result)],
            problems: Vec::new(),
            expired_waivers: Vec::new(),
            target_found: true,
        }
    }

    fn status(result: GateOutcome, blocking: bool) -> DeploymentReadinessStatus {
        let g = gate(result);
        DeploymentReadinessStatus {
            gates: vec![GateStatus {
                name: g.name,
                checklist: g.checklist,
                severity: g.severity,
                phase: g.phase,
                result,
                message: g.message,
                last_transition_time: None,
            }],
            blocking,
            ..Default::default()
        }
    }

    fn reasons(events: &[Event]) -> Vec<&str> {
        events.iter().map(|e| e.reason.as_str()).collect()
    }

    #[test]
    fn gate_verdicts_go_on_the_readiness_object_the_hold_on_the_deployment() {
        let blocked = status(GateOutcome::Fail, true);
        let t = transitions(None, &blocked, &report(GateOutcome::Fail), "api");
        assert_eq!(reasons(&t.readiness), ["GateFailed"]);
        assert_eq!(reasons(&t.deployment), ["RolloutBlocked"]);
        let note = t.deployment[0].note.as_deref().unwrap_or_default();
        assert!(
            note.contains("secrets: Secret api-keys: not found"),
            "{note}"
        );

        let released = status(GateOutcome::Pass, false);
        let t = transitions(Some(&blocked), &released, &report(GateOutcome::Pass), "api");
        assert_eq!(reasons(&t.readiness), ["GatePassed"]);
        assert_eq!(reasons(&t.deployment), ["RolloutUnblocked"]);
    }

    #[test]
    fn no_change_no_event() {
        let blocked = status(GateOutcome::Fail, true);
        assert!(
            transitions(Some(&blocked), &blocked, &report(GateOutcome::Fail), "api").is_empty()
        );
    }

    #[test]
    fn long_notes_are_cut_on_a_character_boundary() {
        let e = event(EventType::Warning, "GateFailed", "é".repeat(800));
        let note = e.note.unwrap_or_default();
        assert!(
            note.len() <= 1000 && note.ends_with("..."),
            "{}",
            note.len()
        );
    }
}
