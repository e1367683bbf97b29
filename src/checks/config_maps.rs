use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::references::{Referenced, judge, required_references, template_references};
use super::{Check, Context};
use crate::engine::Outcome;

/// Parameters of the `configMaps` check: as `secrets`, for ConfigMaps (env, envFrom, volumes,
/// projected volumes).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMaps {
    #[serde(default = "super::yes")]
    pub from_template: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<super::secrets::NamedKeys>,
}

impl Check for ConfigMaps {
    fn evaluate(&self, cx: &Context<'_>) -> Outcome {
        let mut refs = if self.from_template { template_references(cx.pod, Referenced::ConfigMap) } else { Vec::new() };
        refs.extend(required_references(&self.required));
        judge(Referenced::ConfigMap, &refs, cx.snapshot)
    }
}
