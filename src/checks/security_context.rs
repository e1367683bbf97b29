use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `securityContext` check; every setting defaults to required.
/// Pod-level settings count for every container unless the container overrides them.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContext {
    #[serde(default = "super::yes")]
    pub run_as_non_root: bool,
    #[serde(default = "super::yes")]
    pub read_only_root_filesystem: bool,
    /// `allowPrivilegeEscalation: false` on every container.
    #[serde(default = "super::yes")]
    pub disallow_privilege_escalation: bool,
    /// `capabilities.drop` includes `ALL`.
    #[serde(default = "super::yes")]
    pub drop_all_capabilities: bool,
    /// A seccompProfile of type `RuntimeDefault` or `Localhost`.
    #[serde(default = "super::yes")]
    pub seccomp_profile: bool,
    /// No `privileged: true` container.
    #[serde(default = "super::yes")]
    pub disallow_privileged: bool,
}

impl Check for SecurityContext {
    fn evaluate(&self, _cx: &Context<'_>) -> Outcome {
        Outcome::Unknown("not implemented yet".into())
    }
}
