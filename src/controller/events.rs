//! Events on transitions only, on the DeploymentReadiness and on its Deployment, so
//! `kubectl describe deployment X` says why it is blocked and by which gate.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};

use crate::api::{DeploymentReadinessStatus, GateOutcome};
use crate::engine::Report;

/// The events a status change deserves. Pure, so it is tested without a cluster.
pub fn transitions(old: Option<&DeploymentReadinessStatus>, new: &DeploymentReadinessStatus, report: &Report, readiness: &str) -> Vec<Event> {
    let mut events = Vec::new();
    let old_gates = old.map(|s| s.gates.as_slice()).unwrap_or_default();
    for gate in &new.gates {
        let before = old_gates.iter().find(|g| g.name == gate.name && g.checklist == gate.checklist);
        let before_result = before.map(|g| g.result);
        if before_result == Some(gate.result) {
            continue;
        }
        let note = format!("{readiness}: gate {} ({}, {}): {}", gate.name, gate.checklist, gate.severity, gate.message);
        match gate.result {
            GateOutcome::Fail => events.push(event(EventType::Warning, "GateFailed", note)),
            GateOutcome::Pass if before_result.is_some() => events.push(event(EventType::Normal, "GatePassed", note)),
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
                format!("{readiness}: waiver for {} by {} expired {}; the gate counts again", expired.item, expired.owner, expired.expired),
            ));
        }
    }
    let was_blocking = old.is_some_and(|s| s.blocking);
    if new.blocking && !was_blocking {
        let failing: Vec<String> = report.gates.iter().filter(|g| g.holds_rollout()).map(|g| format!("{}: {}", g.name, g.message)).collect();
        // `event` shortens the note on a character boundary (gate messages are any UTF-8).
        let note = format!("{readiness}: rollout paused by gonogo; failing PreRollout gates: {}", failing.join("; "));
        events.push(event(EventType::Warning, "RolloutBlocked", note));
    } else if was_blocking && !new.blocking {
        events.push(event(EventType::Normal, "RolloutUnblocked", format!("{readiness}: every required PreRollout gate passes")));
    }
    events
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
    Event { type_, reason: reason.to_string(), note: Some(note), action: "Evaluate".to_string(), secondary: None }
}

/// Publish on every reference; a failed event is logged, never fatal.
pub async fn publish(recorder: &Recorder, events: &[Event], references: &[ObjectReference]) {
    for event in events {
        for reference in references {
            if let Err(e) = recorder.publish(event, reference).await {
                tracing::warn!(reason = %event.reason, error = %e, "could not publish event");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Phase, Severity};
    use crate::engine::GateResult;

    fn failing_gate(message: String) -> GateResult {
        GateResult {
            checklist: "inline".into(),
            name: "rule".into(),
            kind: "cel",
            description: None,
            severity: Severity::Required,
            phase: Phase::PreRollout,
            result: GateOutcome::Fail,
            message,
            findings: Vec::new(),
        }
    }

    #[test]
    fn a_long_multibyte_blocking_note_is_shortened_on_a_character_boundary() {
        let report = Report { gates: vec![failing_gate("é".repeat(600))], problems: Vec::new(), expired_waivers: Vec::new(), target_found: true };
        let status = DeploymentReadinessStatus { blocking: true, ..Default::default() };
        // The prefix before the message is odd in length here, so byte 1000 falls inside an `é`.
        for readiness in ["api", "apis"] {
            let events = transitions(None, &status, &report, readiness);
            let blocked = events.iter().find(|e| e.reason == "RolloutBlocked").expect("a RolloutBlocked event");
            let note = blocked.note.as_deref().unwrap_or_default();
            assert!(note.len() <= 1000 && note.ends_with("..."), "{} bytes: {note}", note.len());
        }
    }
}
