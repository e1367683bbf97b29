use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `resources` check.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// Resources that need a request on every container (default cpu, memory).
    #[serde(default = "default_requests")]
    pub requests: Vec<String>,
    /// Resources that need a limit on every container (default memory).
    #[serde(default = "default_limits")]
    pub limits: Vec<String>,
    /// Allowed ranges for requests or limits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<ResourceRange>,
    /// Also check plain init containers (app containers and native sidecars are always checked).
    #[serde(default)]
    pub init_containers: bool,
}

fn default_requests() -> Vec<String> {
    vec!["cpu".into(), "memory".into()]
}
fn default_limits() -> Vec<String> {
    vec!["memory".into()]
}

/// A range a request or limit must fall in. Quantities as in a pod spec (`250m`, `512Mi`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = kube::core::Rule::new("!has(self.min) || !has(self.max) || quantity(self.min).compareTo(quantity(self.max)) <= 0").message("min must not exceed max"))]
#[serde(rename_all = "camelCase")]
pub struct ResourceRange {
    /// e.g. `cpu`, `memory`, `ephemeral-storage`.
    pub resource: String,
    /// `requests` or `limits`.
    pub on: RangeOn,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("isQuantity(self)").message("must be a quantity such as 250m or 512Mi"))]
    #[schemars(length(max = 64))]
    pub min: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("isQuantity(self)").message("must be a quantity such as 250m or 512Mi"))]
    #[schemars(length(max = 64))]
    pub max: Option<String>,
}

#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum RangeOn {
    Requests,
    Limits,
}

impl Check for Resources {
    fn evaluate(&self, _cx: &Context<'_>) -> Outcome {
        Outcome::Unknown("not implemented yet".into())
    }
}
