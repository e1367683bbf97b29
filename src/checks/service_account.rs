use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `serviceAccount` check.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccount {
    /// Refuse the namespace's `default` ServiceAccount (or none set).
    #[serde(default = "super::yes")]
    pub disallow_default: bool,
    /// Require `automountServiceAccountToken: false` on the pod.
    #[serde(default)]
    pub disallow_token_automount: bool,
}

impl Check for ServiceAccount {
    fn evaluate(&self, _cx: &Context<'_>) -> Outcome {
        Outcome::Unknown("not implemented yet".into())
    }
}
