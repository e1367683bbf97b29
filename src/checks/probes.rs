use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `probes` check. Applies to app containers and native sidecars.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Probes {
    /// Require a readinessProbe.
    #[serde(default = "super::yes")]
    pub readiness: bool,
    /// Require a livenessProbe.
    #[serde(default = "super::yes")]
    pub liveness: bool,
    /// Require a startupProbe.
    #[serde(default)]
    pub startup: bool,
    /// Require the liveness and readiness probes to differ (a shared one restarts pods that are merely busy).
    #[serde(default)]
    pub distinct: bool,
    /// Only these containers; empty means every app container and native sidecar.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
}

impl Check for Probes {
    fn evaluate(&self, _cx: &Context<'_>) -> Outcome {
        Outcome::Unknown("not implemented yet".into())
    }
}
