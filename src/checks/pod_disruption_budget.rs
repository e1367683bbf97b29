use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `podDisruptionBudget` check: exactly one PDB selects the pods, and it
/// allows at least one voluntary disruption at the Deployment's low replica count.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudget {
    /// Fail a PDB that can never allow a disruption (node drains would hang).
    #[serde(default = "super::yes")]
    pub require_disruption_allowed: bool,
}

impl Check for PodDisruptionBudget {
    fn evaluate(&self, _cx: &Context<'_>) -> Outcome {
        Outcome::Unknown("not implemented yet".into())
    }
}
