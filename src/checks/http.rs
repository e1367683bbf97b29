use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `http` check (PostRollout): GET (or HEAD) a path on a Service port in the
/// DeploymentReadiness's namespace, through its ready endpoints.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Http {
    /// A Service in the same namespace.
    #[schemars(length(min = 1, max = 253))]
    pub service: String,
    /// The Service port, by number or name.
    pub port: k8s_openapi::apimachinery::pkg::util::intstr::IntOrString,
    #[serde(default = "default_path")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = kube::core::Rule::new("self.startsWith(\"/\")").message("path must start with /"))]
    pub path: String,
    /// `GET` or `HEAD`.
    #[serde(default = "default_method")]
    #[schemars(length(max = 8))]
    #[x_kube(validation = kube::core::Rule::new("self in [\"GET\", \"HEAD\"]").message("method is GET or HEAD"))]
    pub method: String,
    /// `http` or `https`.
    #[serde(default = "default_scheme")]
    #[schemars(length(max = 8))]
    #[x_kube(validation = kube::core::Rule::new("self in [\"http\", \"https\"]").message("scheme is http or https"))]
    pub scheme: String,
    /// Status codes that pass (default 200).
    #[serde(default = "default_status")]
    #[schemars(length(min = 1, max = 16))]
    #[x_kube(validation = kube::core::Rule::new("self.all(c, c >= 100 && c <= 599)").message("status codes are 100-599"))]
    pub expected_status: Vec<i32>,
    /// A substring the body must contain. The body itself is never stored or reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 1, max = 60))]
    pub timeout_seconds: i32,
    /// Consecutive successes needed to pass.
    #[serde(default = "default_one")]
    #[schemars(range(min = 1, max = 100))]
    pub success_threshold: i32,
    #[serde(default = "default_interval")]
    #[schemars(range(min = 5, max = 3600))]
    pub interval_seconds: i32,
}

fn default_path() -> String {
    "/".into()
}
fn default_method() -> String {
    "GET".into()
}
fn default_scheme() -> String {
    "http".into()
}
fn default_status() -> Vec<i32> {
    vec![200]
}
fn default_timeout() -> i32 {
    5
}
fn default_one() -> i32 {
    1
}
fn default_interval() -> i32 {
    30
}

impl Check for Http {
    fn evaluate(&self, _cx: &Context<'_>) -> Outcome {
        Outcome::Unknown("not implemented yet".into())
    }
}
