use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::checks::Item;

/// A platform team's production-readiness checklist: the items a Deployment must satisfy.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "gonogo.dev",
    version = "v1alpha1",
    kind = "ReadinessChecklist",
    namespaced,
    shortname = "rcl",
    category = "gonogo",
    printcolumn = r#"{"name":"DESCRIPTION","type":"string","jsonPath":".spec.description"}"#,
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[kube(
    derive = "PartialEq",
    derive = "Default",
    doc = "A namespaced production-readiness checklist."
)]
#[serde(rename_all = "camelCase")]
pub struct ChecklistSpec {
    /// What this checklist is for, in the team's own words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The checklist items. Names are unique within the checklist (the API server rejects duplicates).
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    #[schemars(length(max = 128))]
    pub items: Vec<Item>,
}

/// The same spec, cluster-scoped, so a platform team can publish one checklist for every namespace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[kube(
    group = "gonogo.dev",
    version = "v1alpha1",
    kind = "ClusterReadinessChecklist",
    shortname = "crcl",
    category = "gonogo",
    derive = "PartialEq",
    derive = "Default",
    doc = "A cluster-scoped production-readiness checklist.",
    printcolumn = r#"{"name":"DESCRIPTION","type":"string","jsonPath":".spec.description"}"#,
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
// Transparent, not flattened: the same JSON, and a field gonogo cannot read is named by its
// path (serde_path_to_error cannot see through `flatten`).
#[serde(transparent)]
pub struct ClusterChecklistSpec {
    pub checklist: ChecklistSpec,
}

/// Required gates decide `Ready` and may block; Advisory gates are reported only.
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
pub enum Severity {
    #[default]
    Required,
    Advisory,
}

/// When a gate is judged: before the rollout (it can block it) or after (it decides Ready only).
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum Phase {
    PreRollout,
    PostRollout,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Required => "Required",
            Severity::Advisory => "Advisory",
        })
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::PreRollout => "PreRollout",
            Phase::PostRollout => "PostRollout",
        })
    }
}
