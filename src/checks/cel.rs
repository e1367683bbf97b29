use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `cel` check: a CEL expression that must be true. Variables: `deployment`,
/// `hpa` (or null), `pdbs`, `services`, `networkPolicies`, `pvcs`, `secrets` (names and key names
/// only), `configMaps`, `namespace`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Cel {
    #[schemars(length(min = 1, max = 4096))]
    pub expression: String,
    /// Reported when the expression is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Check for Cel {
    fn evaluate(&self, _cx: &Context<'_>) -> Outcome {
        Outcome::Unknown("not implemented yet".into())
    }
}
