//! Events on transitions only, on the DeploymentReadiness and on its Deployment, so
//! `kubectl describe deployment X` says why it is blocked and by which gate.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};
use serde_json::json;

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

/// How long a repeat of an event counts up its series instead of making a new Event (as in
/// client-go).
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);

/// Publishes events.k8s.io/v1 Events. A repeat of the same note about the same object within
/// [`SERIES_WINDOW`] counts up the first Event's series. (kube's `Recorder` leaves the note out
/// of what makes two events the same, so every GateFailed of one object within its window
/// showed the first gate's note, and `kubectl describe` never named the others.)
pub struct Publisher {
    client: Client,
    reporter: Reporter,
    recent: Mutex<HashMap<SeriesKey, K8sEvent>>,
}

/// What makes two events one series: the object (not its resourceVersion, which every status
/// write changes), type, reason, action and note.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SeriesKey {
    regarding: [Option<String>; 4],
    type_: &'static str,
    reason: String,
    action: String,
    note: Option<String>,
}

impl SeriesKey {
    fn new(event: &Event, regarding: &ObjectReference) -> Self {
        SeriesKey {
            regarding: [regarding.kind.clone(), regarding.namespace.clone(), regarding.name.clone(), regarding.uid.clone()],
            type_: type_name(event.type_),
            reason: event.reason.clone(),
            action: event.action.clone(),
            note: event.note.clone(),
        }
    }
}

fn type_name(type_: EventType) -> &'static str {
    match type_ {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

fn last_seen(event: &K8sEvent) -> Option<Timestamp> {
    event.series.as_ref().map(|s| s.last_observed_time.0).or(event.event_time.as_ref().map(|t| t.0))
}

impl Publisher {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Publisher { client, reporter, recent: Mutex::new(HashMap::new()) }
    }

    /// Publish every event on every reference; a failed event is logged, never fatal.
    pub async fn publish(&self, events: &[Event], references: &[ObjectReference]) {
        for event in events {
            for reference in references {
                if let Err(e) = self.publish_one(event, reference).await {
                    tracing::warn!(reason = %event.reason, error = %e, "could not publish event");
                }
            }
        }
    }

    async fn publish_one(&self, event: &Event, regarding: &ObjectReference) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = SeriesKey::new(event, regarding);
        let previous = match self.recent.lock() {
            Ok(mut recent) => {
                recent.retain(|_, e| last_seen(e).is_some_and(|t| t + SERIES_WINDOW > now));
                recent.get(&key).cloned()
            }
            Err(_) => None,
        };
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), regarding.namespace.as_deref().unwrap_or("default"));
        let written = match previous {
            Some(mut repeat) => {
                let count = repeat.series.as_ref().map_or(2, |s| s.count.saturating_add(1));
                repeat.series = Some(EventSeries { count, last_observed_time: MicroTime(now) });
                let name = repeat.metadata.name.clone().unwrap_or_default();
                match api.patch(&name, &PatchParams::default(), &Patch::Merge(json!({"series": repeat.series}))).await {
                    Ok(_) => repeat,
                    // The Event expired or was deleted: start over.
                    Err(kube::Error::Api(status)) if status.code == 404 => api.create(&PostParams::default(), &self.new_event(event, regarding, now)).await?,
                    Err(e) => return Err(e),
                }
            }
            None => api.create(&PostParams::default(), &self.new_event(event, regarding, now)).await?,
        };
        if let Ok(mut recent) = self.recent.lock() {
            recent.insert(key, written);
        }
        Ok(())
    }

    fn new_event(&self, event: &Event, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        let name = regarding.name.as_deref().unwrap_or(&self.reporter.controller);
        K8sEvent {
            metadata: ObjectMeta {
                name: Some(format!("{name}.{:x}", now.as_nanosecond())),
                namespace: regarding.namespace.clone(),
                ..Default::default()
            },
            event_time: Some(MicroTime(now)),
            type_: Some(type_name(event.type_).to_string()),
            reason: Some(event.reason.clone()),
            action: Some(event.action.clone()),
            note: event.note.clone(),
            regarding: Some(regarding.clone()),
            related: event.secondary.clone(),
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(self.reporter.instance.clone().unwrap_or_else(|| self.reporter.controller.clone())),
            ..Default::default()
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

    #[test]
    fn a_series_is_one_note_about_one_object_whatever_its_resource_version() {
        let failed = |note: &str| event(EventType::Warning, "GateFailed", note.to_string());
        let reference = |rv: &str| ObjectReference {
            kind: Some("DeploymentReadiness".into()),
            namespace: Some("shop".into()),
            name: Some("api".into()),
            uid: Some("1f0c".into()),
            resource_version: Some(rv.into()),
            ..Default::default()
        };
        let key = SeriesKey::new(&failed("api: gate broken: answered 500"), &reference("1"));
        assert_eq!(key, SeriesKey::new(&failed("api: gate broken: answered 500"), &reference("2")));
        assert_ne!(key, SeriesKey::new(&failed("api: gate slow: timed out after 1s"), &reference("1")));
        assert_ne!(key, SeriesKey::new(&event(EventType::Normal, "GatePassed", "api: gate broken: answered 500".into()), &reference("1")));
    }
}
