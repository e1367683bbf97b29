use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `pvcsBound` check: every claim the template mounts (and `claims`) exists
/// and is Bound. A Pending claim whose StorageClass binds WaitForFirstConsumer passes PreRollout:
/// it binds only once a pod is scheduled, so blocking on it would deadlock.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PvcsBound {
    /// Further claim names to require.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<String>,
}

impl Check for PvcsBound {
    fn evaluate(&self, _cx: &Context<'_>) -> Outcome {
        Outcome::Unknown("not implemented yet".into())
    }
}
