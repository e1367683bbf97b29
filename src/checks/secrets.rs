use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::references::{Referenced, judge, required_references, template_references};
use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `secrets` check: every Secret the template references (env, envFrom,
/// volumes, projected volumes, imagePullSecrets) exists with the keys used; `optional: true`
/// references never fail. `required` adds explicit names and keys.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Secrets {
    /// Check what the pod template references (default true).
    #[serde(default = "super::yes")]
    pub from_template: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<NamedKeys>,
}

/// An object that must exist, with these keys.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NamedKeys {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

impl Check for Secrets {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        let mut refs = if self.from_template { template_references(cx.pod, Referenced::Secret) } else { Vec::new() };
        refs.extend(required_references(&self.required));
        judge(Referenced::Secret, &refs, cx.snapshot)
    }
}
