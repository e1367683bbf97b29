use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `spread` check.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Spread {
    /// The topology key pods must spread over.
    #[serde(default = "default_topology_key")]
    pub topology_key: String,
    /// Only hard rules count (requiredDuringScheduling anti-affinity, or `whenUnsatisfiable: DoNotSchedule`).
    #[serde(default)]
    pub required: bool,
}

fn default_topology_key() -> String {
    "kubernetes.io/hostname".into()
}

impl Check for Spread {
    fn evaluate(&self, _cx: &Context<'_>) -> Outcome {
        Outcome::Unknown("not implemented yet".into())
    }
}
