use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `prometheus` check (PostRollout): an instant query against the Prometheus
/// the cluster admin configured, compared with a threshold.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Prometheus {
    /// PromQL returning one sample (a scalar or a one-element vector).
    #[schemars(length(min = 1, max = 4096))]
    pub query: String,
    /// `<`, `<=`, `>`, `>=`, `==` or `!=`: the value passes when `value OP threshold`.
    #[x_kube(validation = kube::core::Rule::new("self in [\"<\", \"<=\", \">\", \">=\", \"==\", \"!=\"]").message("operator is one of < <= > >= == !="))]
    #[schemars(length(max = 2))]
    pub operator: String,
    pub threshold: f64,
    /// The condition must have held this long (`5m`, `1h`); default: one sample is enough.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self.matches(\"^([0-9]+(ms|s|m|h))+$\")").message("a duration such as 30s, 5m or 1h"))]
    #[schemars(length(max = 32))]
    pub hold_for: Option<String>,
    #[serde(default = "default_interval")]
    #[schemars(range(min = 5, max = 3600))]
    pub interval_seconds: i32,
}

fn default_interval() -> i32 {
    60
}

impl Check for Prometheus {
    fn evaluate(&self, _cx: &Context<'_>) -> Outcome {
        Outcome::Unknown("not implemented yet".into())
    }
}
