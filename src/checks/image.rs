use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `image` check.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Refuse `:latest` and untagged images (which mean latest).
    #[serde(default = "super::yes")]
    pub disallow_latest: bool,
    /// Require images pinned by digest (`@sha256:...`).
    #[serde(default)]
    pub require_digest: bool,
    /// Allowed registries (`ghcr.io`, `registry.example.com:5000`, or a prefix such as
    /// `ghcr.io/acme/`); empty allows any. Images without a registry are `docker.io`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_registries: Vec<String>,
    /// Require this imagePullPolicy (`Always`, `IfNotPresent`, `Never`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self in [\"Always\", \"IfNotPresent\", \"Never\"]").message("pullPolicy is Always, IfNotPresent or Never"))]
    #[schemars(length(max = 16))]
    pub pull_policy: Option<String>,
}

impl Check for Image {
    fn evaluate(&self, _cx: &Context<'_>) -> Outcome {
        Outcome::Unknown("not implemented yet".into())
    }
}
