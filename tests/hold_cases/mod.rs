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

pub fn paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

pub fn marked(d: &Deployment) -> bool {
    d.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(MARK))
        .is_some_and(|v| v == "true")
}

/// Sends every case of the table to a real API server, in `namespace` (one Deployment `c<i>`
/// per case; the case's readiness objects target it instead of `api`), and returns the cases
/// whose admitted object is not held as the table says. `settle` is how long the admission
/// path needs to see a new DeploymentReadiness.
pub async fn wrongly_decided(
    deployments: &kube::Api<Deployment>,
    drs: &kube::Api<DeploymentReadiness>,
    namespace: &str,
    settle: std::time::Duration,
) -> Vec<String> {
    let pp = kube::api::PostParams::default();
    let mut wrong = Vec::new();
    for (i, case) in cases().into_iter().enumerate() {
        let name = format!("c{i}");
        let mut readiness = case.readiness(namespace);
        for (j, r) in readiness.iter_mut().enumerate() {
            r.metadata.name = Some(format!("{name}-r{j}"));
            r.metadata.namespace = None;
            if r.spec.target_ref.name == "api" {
                r.spec.target_ref.name = name.clone();
            }
        }
        // The old object exists as it is before any readiness object could hold it.
        let old = match &case.old {
            Some(old) => Some(
                deployments
                    .create(&pp, &old.deployment(&name, namespace))
                    .await
                    .unwrap_or_else(|e| panic!("{}: create old: {e}", case.name)),
            ),
            None => None,
        };
        for r in &readiness {
            drs.create(&pp, r)
                .await
                .unwrap_or_else(|e| panic!("{}: create readiness: {e}", case.name));
        }
        tokio::time::sleep(settle).await;
        let mut new = case.new.deployment(&name, namespace);
        let admitted = match &old {
            None => deployments.create(&pp, &new).await,
            // The Deployment controller writes the object too (its revision annotation): replace
            // the latest version, keeping its annotations beside the case's.
            Some(_) => loop {
                let latest = deployments.get(&name).await.expect("get old");
                new.metadata.resource_version = latest.metadata.resource_version.clone();
                let mut annotations = latest.metadata.annotations.clone().unwrap_or_default();
                annotations.retain(|k, _| k.starts_with("deployment.kubernetes.io/"));
                annotations.extend(
                    case.new
                        .deployment(&name, namespace)
                        .metadata
                        .annotations
                        .unwrap_or_default(),
                );
                new.metadata.annotations = Some(annotations);
                match deployments.replace(&name, &pp, &new).await {
                    Err(kube::Error::Api(e)) if e.code == 409 => continue,
                    other => break other,
                }
            },
        }
        .unwrap_or_else(|e| panic!("{}: send new: {e}", case.name));
        // A case that sends gonogo's own hold cannot tell held from not held: both look held.
        let sent_held = case.new.paused == Some(true) && case.new.mark;
        if (paused(&admitted) && marked(&admitted)) != (case.held || sent_held) {
            wrong.push(format!(
                "{}: admitted paused={} marked={}, expected held: {}",
                case.name,
                paused(&admitted),
                marked(&admitted),
                case.held
            ));
        }
    }
    wrong
}
