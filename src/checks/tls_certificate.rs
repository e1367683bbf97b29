use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `tlsCertificate` check: a kubernetes.io/tls Secret (or the TLS Secrets of
/// Ingresses routing to the Deployment's Services) stays valid for `minDaysValid` more days and
/// covers `hosts` (and the Ingress hosts).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = kube::core::Rule::new("has(self.secretName) || !has(self.fromIngresses) || self.fromIngresses").message("name a secretName or use fromIngresses"))]
#[serde(rename_all = "camelCase")]
pub struct TlsCertificate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Check the TLS Secrets of Ingresses whose backends are Services selecting the pods
    /// (default: when no secretName is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_ingresses: Option<bool>,
    #[serde(default = "default_min_days")]
    #[schemars(range(min = 0, max = 3650))]
    pub min_days_valid: i32,
    /// Hostnames the certificate must cover.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

fn default_min_days() -> i32 {
    30
}

impl Check for TlsCertificate {
    fn evaluate(&self, _cx: &Context<'_>) -> Outcome {
        Outcome::Unknown("not implemented yet".into())
    }
}
