//! The pure engine: `evaluate(readiness, checklists, &snapshot) -> Report`.
//!
//! No kube client, tokio or reqwest in here (a test checks it): the controller and the CLI
//! gather a [`Snapshot`], the engine judges it, and [`status::status_from_report`] turns the
//! report into the object's status. Same snapshot, same verdicts, wherever it came from.

mod dependencies;
pub mod pod;
pub mod quantity;
pub mod related;
mod resolve;
mod snapshot;
pub mod status;
mod waivers;
pub mod workload;

use std::sync::Arc;

use k8s_openapi::api::core::v1::PodSpec;
use serde::Serialize;

pub use dependencies::{Dependencies, ResourcePick, dependencies, kinds_read, resource_picks};
pub use resolve::{ChecklistOrigin, ChecklistSource, Gate, Resolved, resolve};
pub use snapshot::{
    CertificateFacts, GateKey, Observations, ProbeObservation, ProbeOutcome, RELATED_KINDS,
    ResourceKind, Resources, Snapshot, Source, for_each_related_kind, trim_config_map, trim_secret,
};
pub use workload::{Workload, WorkloadKind};

use crate::api::{
    ClusterReadinessChecklist, DeploymentReadiness, GateOutcome, Phase, ReadinessChecklist,
    Severity, Summary,
};
use crate::checks::Context;

/// The checklist name reported for a DeploymentReadiness's inline items.
pub const INLINE_CHECKLIST: &str = "inline";

/// What a check says about one gate, before waivers.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Passed; the message says what was verified.
    Pass(String),
    /// Failed; one finding per thing wrong, each naming object, container, field and value.
    Fail(Vec<Finding>),
    /// Could not be judged; the reason.
    Unknown(String),
    /// Does not apply here (e.g. a runtime gate offline); the reason.
    Skipped(String),
}

impl Outcome {
    /// Fail when there are findings, otherwise Unknown when something could not be judged,
    /// otherwise Pass with `pass`.
    pub fn from_findings(
        findings: Vec<Finding>,
        unknown: Vec<String>,
        pass: impl Into<String>,
    ) -> Self {
        if !findings.is_empty() {
            Outcome::Fail(findings)
        } else if !unknown.is_empty() {
            Outcome::Unknown(unknown.join("; "))
        } else {
            Outcome::Pass(pass.into())
        }
    }

    pub fn fail(message: impl Into<String>) -> Self {
        Outcome::Fail(vec![Finding::new(message)])
    }
}

/// One thing wrong. `container` scopes it for per-container waivers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub message: String,
}

impl Finding {
    pub fn new(message: impl Into<String>) -> Self {
        Finding {
            container: None,
            message: message.into(),
        }
    }
    /// A finding about one container; the message is prefixed `container NAME: `.
    pub fn in_container(container: &str, message: impl std::fmt::Display) -> Self {
        Finding {
            container: Some(container.to_string()),
            message: format!("container {container}: {message}"),
        }
    }
}

/// The verdict on one gate.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateResult {
    pub checklist: String,
    pub name: String,
    /// The check kind (`probes`, `secrets`, ...); empty when the item has none or several.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub severity: Severity,
    pub phase: Phase,
    pub result: GateOutcome,
    pub message: String,
    /// The individual findings of a failed gate (after waivers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

impl GateResult {
    /// Whether this gate keeps the target from being Ready.
    pub fn holds_ready(&self) -> bool {
        self.severity == Severity::Required
            && matches!(self.result, GateOutcome::Fail | GateOutcome::Unknown)
    }
    /// Whether this gate holds the rollout (a required PreRollout gate that is not known to pass).
    pub fn holds_rollout(&self) -> bool {
        self.phase == Phase::PreRollout && self.holds_ready()
    }
}

/// Something wrong with the DeploymentReadiness itself rather than with a gate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// A CamelCase reason for the Ready condition, e.g. `ChecklistNotFound`.
    pub reason: &'static str,
    pub message: String,
    /// Whether it holds the rollout (fail closed) or only keeps Ready false.
    pub blocks: bool,
}

/// A waiver that has expired and so no longer applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExpiredWaiver {
    pub item: String,
    pub owner: String,
    pub expired: String,
}

/// The verdicts on every gate of one DeploymentReadiness.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    pub gates: Vec<GateResult>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expired_waivers: Vec<ExpiredWaiver>,
    /// Whether the target Deployment was in the snapshot.
    pub target_found: bool,
}

impl Report {
    /// Ready: no problem and every required gate passed, was waived or does not apply.
    pub fn ready(&self) -> bool {
        self.problems.is_empty() && !self.gates.iter().any(GateResult::holds_ready)
    }

    /// Whether the rollout should be held (before enforcement mode is considered). Without a
    /// target there is nothing to hold.
    pub fn holds_rollout(&self) -> bool {
        self.target_found
            && (self.problems.iter().any(|p| p.blocks)
                || self.gates.iter().any(GateResult::holds_rollout))
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            total: self.gates.len() as u32,
            ..Default::default()
        };
        for gate in &self.gates {
            match gate.result {
                GateOutcome::Pass => s.passed += 1,
                GateOutcome::Fail => s.failed += 1,
                GateOutcome::Unknown => s.unknown += 1,
                GateOutcome::Waived => s.waived += 1,
                GateOutcome::Skipped => s.skipped += 1,
            }
        }
        s.passing = format!("{}/{}", s.passed + s.waived, s.total);
        s
    }

    /// The gates that keep the target from being Ready, in order.
    pub fn failing(&self) -> impl Iterator<Item = &GateResult> {
        self.gates.iter().filter(|g| g.holds_ready())
    }
}

/// The checklist objects a DeploymentReadiness may reference (from a store or from manifests).
#[derive(Clone, Copy, Debug, Default)]
pub struct Checklists<'a> {
    pub namespaced: &'a [Arc<ReadinessChecklist>],
    pub cluster: &'a [Arc<ClusterReadinessChecklist>],
}

/// Judge every gate of `readiness` against `snapshot`.
pub fn evaluate(
    readiness: &DeploymentReadiness,
    checklists: Checklists<'_>,
    snapshot: &Snapshot,
) -> Report {
    evaluate_resolved(
        readiness,
        &resolve(readiness, checklists, &snapshot.namespace),
        snapshot,
    )
}

/// [`evaluate`] with the gates already resolved (the controller resolves once for the
/// verdict and for what it depends on).
pub fn evaluate_resolved(
    readiness: &DeploymentReadiness,
    resolved: &Resolved<'_>,
    snapshot: &Snapshot,
) -> Report {
    let mut report = Report {
        problems: resolved.problems.clone(),
        ..Default::default()
    };
    let spec = &readiness.spec;
    let own_namespace = readiness
        .metadata
        .namespace
        .as_deref()
        .unwrap_or(&snapshot.namespace);
    let readiness_name = readiness.metadata.name.as_deref().unwrap_or_default();

    let target = spec.target_ref.name.as_str();
    let target_kind = spec.target_ref.kind();
    let workload = snapshot
        .workload
        .as_ref()
        .filter(|w| w.is(target_kind, target));
    report.target_found = workload.is_some();
    if workload.is_none() {
        // Before the duplicate items, which only warn.
        let at = report
            .problems
            .iter()
            .position(|p| p.reason == "DuplicateItem")
            .unwrap_or(report.problems.len());
        report.problems.insert(
            at,
            Problem {
                reason: "TargetNotFound",
                message: format!("{target_kind} {target} not found in namespace {own_namespace}"),
                blocks: false,
            },
        );
    }

    let empty_pod = PodSpec::default();
    let empty_labels = Default::default();
    let pod = workload.and_then(Workload::pod_spec).unwrap_or(&empty_pod);
    let pod_labels = workload
        .and_then(Workload::pod_labels)
        .unwrap_or(&empty_labels);

    for Gate { checklist, item } in resolved.gates() {
        let check = item.check();
        let phase = item
            .phase
            .unwrap_or_else(|| check.map_or(Phase::PreRollout, |(_, c)| c.default_phase()));
        let (kind, outcome) = match (check, workload) {
            (None, _) => {
                let kinds = item.kinds();
                let message = if kinds.is_empty() {
                    "the item has no check kind; it needs exactly one".to_string()
                } else {
                    format!(
                        "the item has {} check kinds ({}); it needs exactly one",
                        kinds.len(),
                        kinds.join(", ")
                    )
                };
                ("", Outcome::Unknown(message))
            }
            (Some((kind, _)), None) => (
                kind,
                Outcome::Unknown(format!("{target_kind} {target} not found")),
            ),
            (Some((kind, check)), Some(workload)) => {
                let cx = Context {
                    snapshot,
                    workload,
                    pod,
                    pod_labels,
                    readiness: readiness_name,
                    checklist,
                    item: &item.name,
                };
                (kind, check.evaluate(&cx))
            }
        };
        let (result, message, findings) = waivers::apply(
            &spec.waivers,
            checklist,
            item,
            outcome,
            snapshot.now,
            &mut report.expired_waivers,
        );
        report.gates.push(GateResult {
            checklist: checklist.to_string(),
            name: item.name.clone(),
            kind,
            description: item.description.clone(),
            severity: item.severity(),
            phase,
            result,
            message,
            findings,
        });
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;

    fn readiness(yaml: &str) -> DeploymentReadiness {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    fn snapshot() -> Snapshot {
        let deployment: Deployment = serde_yaml_ng::from_str(
            "metadata: {name: api, namespace: shop}\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers: [{name: api, image: 'ghcr.io/acme/api:1.0'}]\n",
        )
        .unwrap();
        let mut s = Snapshot::new(
            "shop",
            "2026-06-01T00:00:00Z".parse().unwrap(),
            Source::Cluster,
        );
        s.workload = Some(deployment.into());
        s
    }

    const HEAD: &str = "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {name: api, namespace: shop}\n";

    #[test]
    fn expired_waivers_do_not_apply_and_say_so() {
        let dr = readiness(&format!(
            "{HEAD}spec:\n  targetRef: {{name: api}}\n  items: [{{name: probes, probes: {{}}}}]\n  waivers:\n  - {{item: probes, owner: alice, reason: later, expires: '2026-05-01T00:00:00Z'}}\n"
        ));
        let report = evaluate(&dr, Checklists::default(), &snapshot());
        assert_eq!(report.gates[0].result, GateOutcome::Fail);
        assert!(
            report.gates[0]
                .message
                .contains("waiver by alice expired 2026-05-01T00:00:00Z"),
            "{}",
            report.gates[0].message
        );
        assert_eq!(report.expired_waivers.len(), 1);
        assert!(report.holds_rollout());
    }

    #[test]
    fn active_waiver_by_qualified_name_waives_the_gate() {
        let dr = readiness(&format!(
            "{HEAD}spec:\n  targetRef: {{name: api}}\n  items: [{{name: probes, probes: {{}}}}]\n  waivers:\n  - {{item: inline/probes, owner: alice, reason: later, expires: '2026-07-01T00:00:00Z'}}\n"
        ));
        let report = evaluate(&dr, Checklists::default(), &snapshot());
        assert_eq!(report.gates[0].result, GateOutcome::Waived);
        assert!(report.ready());
        assert!(!report.holds_rollout());
    }

    #[test]
    fn missing_checklists_and_cross_namespace_references_are_problems() {
        let dr = readiness(&format!(
            "{HEAD}spec:\n  targetRef: {{name: api, namespace: other}}\n  checklists:\n  - {{name: base}}\n  - {{name: shared, namespace: platform}}\n  - {{name: org, kind: ClusterReadinessChecklist}}\n"
        ));
        let report = evaluate(&dr, Checklists::default(), &snapshot());
        let reasons: Vec<&str> = report.problems.iter().map(|p| p.reason).collect();
        assert_eq!(
            reasons,
            [
                "CrossNamespaceReference",
                "ChecklistNotFound",
                "CrossNamespaceReference",
                "ChecklistNotFound"
            ]
        );
        assert!(
            report.problems[2]
                .message
                .contains("use a ClusterReadinessChecklist")
        );
        assert!(!report.ready());
        assert!(report.holds_rollout(), "a missing checklist fails closed");
    }

    #[test]
    fn items_with_zero_or_two_kinds_are_unknown_not_panics() {
        let dr = readiness(&format!(
            "{HEAD}spec:\n  targetRef: {{name: api}}\n  items:\n  - {{name: none}}\n  - {{name: two, probes: {{}}, image: {{}}}}\n"
        ));
        let report = evaluate(&dr, Checklists::default(), &snapshot());
        assert_eq!(report.gates[0].result, GateOutcome::Unknown);
        assert!(report.gates[0].message.contains("no check kind"));
        assert!(
            report.gates[1]
                .message
                .contains("2 check kinds (probes, image)"),
            "{}",
            report.gates[1].message
        );
    }

    #[test]
    fn missing_target_makes_every_gate_unknown() {
        let dr = readiness(&format!(
            "{HEAD}spec:\n  targetRef: {{name: web}}\n  items: [{{name: probes, probes: {{}}}}]\n"
        ));
        let report = evaluate(&dr, Checklists::default(), &snapshot());
        assert_eq!(report.problems[0].reason, "TargetNotFound");
        assert_eq!(report.gates[0].result, GateOutcome::Unknown);
        assert!(!report.holds_rollout(), "there is nothing to pause");
    }
}
