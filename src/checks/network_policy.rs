use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `networkPolicy` check: a NetworkPolicy selects the pods.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicy {
    /// Policy types that must cover the pods (default Ingress).
    #[serde(default = "default_policy_types")]
    pub policy_types: Vec<String>,
}

fn default_policy_types() -> Vec<String> {
    vec!["Ingress".into()]
}

impl Check for NetworkPolicy {
    fn evaluate(&self, _cx: &Context<'_>) -> Outcome {
        Outcome::Unknown("not implemented yet".into())
    }
}
