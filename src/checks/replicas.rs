use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `replicas` check: the low point of the replica count (spec.replicas, or the
/// HPA's minReplicas when an HPA scales the Deployment).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = kube::core::Rule::new("!has(self.max) || self.min <= self.max").message("min must not exceed max"))]
#[serde(rename_all = "camelCase")]
pub struct Replicas {
    #[schemars(range(min = 1))]
    pub min: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max: Option<i32>,
}

impl Check for Replicas {
    fn evaluate(&self, _cx: &Context<'_>) -> Outcome {
        Outcome::Unknown("not implemented yet".into())
    }
}
