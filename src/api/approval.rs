use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A human sign-off for one `approval` item of a DeploymentReadiness, bound to the revision it
/// approves. A ValidatingAdmissionPolicy shipped with gonogo requires `approver` to be the
/// requesting user, so nobody signs in someone else's name.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "gonogo.dev",
    version = "v1alpha1",
    kind = "ReadinessApproval",
    namespaced,
    shortname = "approval",
    category = "gonogo",
    derive = "PartialEq",
    derive = "Default",
    doc = "A recorded sign-off for one approval gate.",
    printcolumn = r#"{"name":"READINESS","type":"string","jsonPath":".spec.readinessRef.name"}"#,
    printcolumn = r#"{"name":"ITEM","type":"string","jsonPath":".spec.item"}"#,
    printcolumn = r#"{"name":"APPROVER","type":"string","jsonPath":".spec.approver"}"#,
    printcolumn = r#"{"name":"EXPIRES","type":"string","jsonPath":".spec.expires"}"#,
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("self == oldSelf").message("an approval is immutable; record a new one"))]
#[serde(rename_all = "camelCase")]
pub struct ReadinessApprovalSpec {
    /// The DeploymentReadiness in this namespace whose gate this approves.
    pub readiness_ref: ReadinessRef,
    /// The approval item's name (`name` or `checklist/name`).
    #[schemars(length(min = 1, max = 507))]
    pub item: String,
    /// The user who approves; must equal the requesting user (enforced at admission).
    #[schemars(length(min = 1))]
    pub approver: String,
    /// What was approved; a later revision needs a new approval.
    pub revision: ApprovedRevision,
    /// When the approval stops counting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessRef {
    pub name: String,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(validation = Rule::new("(has(self.images) && size(self.images) > 0) || has(self.template)").message("approve container images or a pod template"))]
#[serde(rename_all = "camelCase")]
pub struct ApprovedRevision {
    /// The container images approved (`container=image`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// The pod template approved: `sha256:` and the hex digest of its JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 71), regex(pattern = r"^sha256:[0-9a-f]{64}$"))]
    pub template: Option<String>,
}
