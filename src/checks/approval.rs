use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `approval` check: a sign-off recorded as a ReadinessApproval for the
/// current revision (container images, or the Deployment generation), not expired.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// Who may approve; empty means anyone allowed to create ReadinessApprovals here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// What an approval is bound to: `Images` (default) or `Generation`.
    #[serde(default = "default_bind")]
    #[x_kube(validation = kube::core::Rule::new("self in [\"Images\", \"Generation\"]").message("bindTo is Images or Generation"))]
    #[schemars(length(max = 16))]
    pub bind_to: String,
}

fn default_bind() -> String {
    "Images".into()
}

impl Check for Approval {
    fn evaluate(&self, _cx: &Context<'_>) -> Outcome {
        Outcome::Unknown("not implemented yet".into())
    }
}
