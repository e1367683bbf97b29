use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::checklist::{Item, Phase, Severity};

/// Binds production-readiness checklists to one Deployment and gates its rollout on them.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "gonogo.dev",
    version = "v1alpha1",
    kind = "DeploymentReadiness",
    namespaced,
    status = "DeploymentReadinessStatus",
    shortname = "dr",
    shortname = "readiness",
    category = "gonogo",
    derive = "PartialEq",
    derive = "Default",
    doc = "Go/no-go gates for one Deployment, from production-readiness checklists.",
    printcolumn = r#"{"name":"KIND","type":"string","jsonPath":".spec.targetRef.kind"}"#,
    printcolumn = r#"{"name":"TARGET","type":"string","jsonPath":".spec.targetRef.name"}"#,
    printcolumn = r#"{"name":"GATES","type":"string","jsonPath":".status.summary.passing","description":"Gates passed (or waived) of the total"}"#,
    printcolumn = r#"{"name":"READY","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"MODE","type":"string","jsonPath":".spec.enforcement"}"#,
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("(has(self.checklists) && size(self.checklists) > 0) || (has(self.items) && size(self.items) > 0)").message("at least one checklist reference or inline item is required"))]
#[serde(rename_all = "camelCase")]
pub struct DeploymentReadinessSpec {
    /// The Deployment these gates apply to, in this namespace. Immutable: gonogo cleans up
    /// (unpauses, removes its annotations) when a DeploymentReadiness is deleted, and a retarget
    /// would strand that state on the old Deployment.
    #[x_kube(validation = Rule::new("self == oldSelf").message("targetRef is immutable: create a new DeploymentReadiness for another Deployment and delete this one"))]
    pub target_ref: TargetRef,
    /// Checklists whose items apply to the target.
    #[serde(default)]
    #[schemars(length(max = 32))]
    pub checklists: Vec<ChecklistRef>,
    /// Items written inline, reported under the checklist name `inline`.
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    #[schemars(length(max = 128))]
    pub items: Vec<Item>,
    /// `Block` pauses the Deployment while a required PreRollout gate fails; `Annotate` only reports.
    #[serde(default)]
    pub enforcement: Enforcement,
    /// Time-boxed exemptions, owned by whoever may edit this object (never by Deployment editors).
    #[serde(default)]
    #[schemars(length(max = 128))]
    pub waivers: Vec<Waiver>,
    /// After this many seconds of failing required gates the object becomes Stalled, so
    /// `helm --wait`, Flux and Argo CD fail fast instead of waiting forever. At most
    /// 2147483647 (as a Deployment's own `progressDeadlineSeconds`), so the deadline is a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2147483647))]
    pub progress_deadline_seconds: Option<i64>,
}

impl DeploymentReadiness {
    /// The Deployment gonogo may act on for this object: its `targetRef.name`, unless
    /// `targetRef.namespace` names another namespace. Such a reference is refused (the engine
    /// reports `CrossNamespaceReference`) and acts on nothing, not even on a Deployment of the
    /// same name in this namespace. The admission policy that holds rollouts applies the same rule.
    pub fn target_name(&self) -> Option<&str> {
        let own = self.metadata.namespace.as_deref();
        match self.spec.target_ref.namespace.as_deref() {
            Some(ns) if Some(ns) != own => None,
            _ => Some(self.spec.target_ref.name.as_str()),
        }
    }
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TargetRef {
    /// Name of the workload.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The workload's kind: `Deployment` (the default), `StatefulSet` or `DaemonSet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Deployment"))]
    pub kind: Option<WorkloadKind>,
    /// `apps/v1`, the only version of the three kinds (may be left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["apps/v1"]))]
    pub api_version: Option<String>,
    /// Must be empty or this object's own namespace: cross-namespace targets are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl TargetRef {
    /// The target's kind (`Deployment` when unset).
    pub fn kind(&self) -> WorkloadKind {
        self.kind.unwrap_or_default()
    }
}

/// The kinds of workload a DeploymentReadiness can target: those with a pod template whose
/// rollout gonogo can hold.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    JsonSchema,
)]
pub enum WorkloadKind {
    #[default]
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 3] = [Self::Deployment, Self::StatefulSet, Self::DaemonSet];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
        }
    }

    /// The kind named `kind` (as written in `kind:`), if it is a workload kind.
    pub fn from_kind(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == kind)
    }
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChecklistRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default)]
    pub kind: ChecklistKind,
    /// Must be empty or this object's own namespace for a ReadinessChecklist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    JsonSchema,
    Default,
)]
pub enum ChecklistKind {
    #[default]
    ReadinessChecklist,
    ClusterReadinessChecklist,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema, Default)]
pub enum Enforcement {
    #[default]
    Block,
    Annotate,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("self.reason.size() > 0 && self.owner.size() > 0").message("a waiver needs a reason and an owner"))]
#[serde(rename_all = "camelCase")]
pub struct Waiver {
    /// The item waived: `name`, or `checklist/name` to pick one checklist's item.
    #[schemars(length(min = 1, max = 507))]
    pub item: String,
    /// Why the gate may fail for now.
    #[schemars(length(max = 1024))]
    pub reason: String,
    /// Who answers for the waiver (a person or team).
    #[schemars(length(max = 253))]
    pub owner: String,
    /// When the waiver stops applying (RFC 3339). An expired waiver is reported, not applied.
    pub expires: Time,
    /// Limit the waiver to these containers; empty waives the whole gate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
}

/// Observed state, written by the controller only. kstatus-compliant conditions.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentReadinessStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling` and `Stalled`, by the kstatus conventions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    /// Every gate, in checklist order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<GateStatus>,
    /// True while gonogo holds the target's rollout because of this object (a Deployment's
    /// `spec.paused`, a StatefulSet's partition, a DaemonSet's `OnDelete`). Always false for a
    /// StatefulSet updated `OnDelete`: nothing rolls, so nothing is held.
    #[serde(default)]
    pub blocking: bool,
    /// When the current generation started waiting for its required gates; the clock of
    /// `progressDeadlineSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<Time>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub total: u32,
    pub passed: u32,
    pub failed: u32,
    pub unknown: u32,
    pub waived: u32,
    pub skipped: u32,
    /// `passed+waived/total`, for the GATES printer column.
    pub passing: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateStatus {
    pub name: String,
    /// The checklist the item came from (`inline` for inline items, `cluster/NAME` for cluster checklists).
    pub checklist: String,
    pub severity: Severity,
    pub phase: Phase,
    pub result: GateOutcome,
    /// What is wrong and where: object, container, field, value.
    pub message: String,
    /// When `result` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum GateOutcome {
    Pass,
    Fail,
    Unknown,
    Waived,
    Skipped,
}

impl std::fmt::Display for GateOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GateOutcome::Pass => "Pass",
            GateOutcome::Fail => "Fail",
            GateOutcome::Unknown => "Unknown",
            GateOutcome::Waived => "Waived",
            GateOutcome::Skipped => "Skipped",
        })
    }
}
