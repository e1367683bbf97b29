//! The table of admission cases (`tests/fixtures/hold/cases.yaml`): when a create or update of
//! a Deployment is held. Read by the offline test of the Rust decision
//! (`tests/hold_decision.rs`) and by the real-API-server test of the admission policy
//! (`tests/rollout_hold_e2e.rs`).
#![allow(dead_code)]

use std::collections::BTreeMap;

use gonogo::api::{DeploymentReadiness, DeploymentReadinessSpec};
use k8s_openapi::api::apps::v1::Deployment;
use serde::Deserialize;

const TABLE: &str = include_str!("../fixtures/hold/cases.yaml");
pub const MARK: &str = "gonogo.dev/paused-by-gonogo";

#[derive(Deserialize)]
struct Table {
    cases: Vec<Case>,
}

#[derive(Deserialize, Clone)]
pub struct Case {
    pub name: String,
    pub old: Option<Short>,
    pub new: Short,
    pub readiness: Vec<DeploymentReadinessSpec>,
    pub held: bool,
}

/// A Deployment in short.
#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Short {
    pub image: String,
    #[serde(default)]
    pub replicas: Option<i32>,
    #[serde(default)]
    pub paused: Option<bool>,
    #[serde(default)]
    pub mark: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub restarted_at: Option<String>,
}

impl Short {
    /// The Deployment `name` in `namespace`, as a user would send it.
    pub fn deployment(&self, name: &str, namespace: &str) -> Deployment {
        let mut labels = self.labels.clone();
        labels.insert("app".into(), name.into());
        let mut template_annotations = BTreeMap::new();
        if let Some(at) = &self.restarted_at {
            template_annotations
                .insert("kubectl.kubernetes.io/restartedAt".to_string(), at.clone());
        }
        let annotations: BTreeMap<String, String> = if self.mark {
            [(MARK.to_string(), "true".to_string())].into()
        } else {
            BTreeMap::new()
        };
        serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
            "spec": {
                "replicas": self.replicas.unwrap_or(1),
                "paused": self.paused,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}, "annotations": template_annotations},
                    "spec": {"containers": [{"name": "app", "image": format!("registry.k8s.io/{}", self.image)}]}
                }
            }
        }))
        .expect("a Deployment")
    }
}

impl Case {
    /// The readiness objects of the case, named `r0`, `r1`, … in `namespace`.
    pub fn readiness(&self, namespace: &str) -> Vec<DeploymentReadiness> {
        self.readiness
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let mut r = DeploymentReadiness::new(&format!("r{i}"), spec.clone());
                r.metadata.namespace = Some(namespace.to_string());
                r
            })
            .collect()
    }
}

pub fn cases() -> Vec<Case> {
    let table: Table = serde_yaml_ng::from_str(TABLE).expect("tests/fixtures/hold/cases.yaml");
    table.cases
}
