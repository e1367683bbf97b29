use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `service` check: a Service selects the pods, its named target ports exist,
/// and (with `readyEndpoints`, PostRollout by default) its EndpointSlices have ready endpoints.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// A specific Service; by default any Service that selects the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Require at least this many ready endpoints (live only). 0 = do not look at endpoints.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub ready_endpoints: i32,
}

impl Check for Service {
    fn evaluate(&self, _cx: &Context<'_>) -> Outcome {
        Outcome::Unknown("not implemented yet".into())
    }
}
