//! The table of admission cases (`tests/fixtures/hold/cases.yaml`): when a create or update of
//! a Deployment, StatefulSet or DaemonSet is held. Read by the offline test of the Rust decision
//! (`tests/hold_decision.rs`) and by the real-API-server test of the admission policy
//! (`tests/rollout_hold_e2e.rs`).
#![allow(dead_code)]

use std::collections::BTreeMap;

use gonogo::api::{DeploymentReadiness, DeploymentReadinessSpec, WorkloadKind};
use gonogo::controller::HoldState;
use gonogo::engine::Workload;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::core::{ApiResource, DynamicObject};
use serde::Deserialize;

const TABLE: &str = include_str!("../fixtures/hold/cases.yaml");
pub const MARK: &str = "gonogo.dev/paused-by-gonogo";
pub const PARTITION_BEFORE_HOLD: &str = "gonogo.dev/partition-before-hold";

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
    /// A held StatefulSet's partition to restore, as recorded at admission.
    #[serde(default, rename = "partitionBeforeHold")]
    pub partition_before_hold: Option<String>,
}

/// A workload in short (a Deployment unless `kind` says otherwise).
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
    #[serde(default)]
    pub kind: Option<WorkloadKind>,
    /// A StatefulSet's or DaemonSet's `updateStrategy.type`.
    #[serde(default)]
    pub update_strategy: Option<String>,
    /// A StatefulSet's `updateStrategy.rollingUpdate.partition`.
    #[serde(default)]
    pub partition: Option<i32>,
    /// gonogo's record of a held StatefulSet's own partition.
    #[serde(default)]
    pub partition_before_hold: Option<String>,
}

impl Short {
    pub fn kind(&self) -> WorkloadKind {
        self.kind.unwrap_or(WorkloadKind::Deployment)
    }

    /// The workload `name` in `namespace`, as a user would send it, as JSON.
    pub fn object(&self, name: &str, namespace: &str) -> serde_json::Value {
        let mut labels = self.labels.clone();
        labels.insert("app".into(), name.into());
        let mut template_annotations = BTreeMap::new();
        if let Some(at) = &self.restarted_at {
            template_annotations
                .insert("kubectl.kubernetes.io/restartedAt".to_string(), at.clone());
        }
        let mut annotations = BTreeMap::new();
        if self.mark {
            annotations.insert(MARK.to_string(), "true".to_string());
        }
        if let Some(before) = &self.partition_before_hold {
            annotations.insert(PARTITION_BEFORE_HOLD.to_string(), before.clone());
        }
        let mut object = serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": self.kind().as_str(),
            "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}, "annotations": template_annotations},
                    "spec": {"containers": [{"name": "app", "image": format!("registry.k8s.io/{}", self.image)}]}
                }
            }
        });
        let spec = &mut object["spec"];
        match self.kind() {
            WorkloadKind::Deployment => {
                spec["replicas"] = self.replicas.unwrap_or(1).into();
                spec["paused"] = serde_json::json!(self.paused);
            }
            WorkloadKind::StatefulSet => {
                spec["replicas"] = self.replicas.unwrap_or(1).into();
                spec["serviceName"] = name.into();
                spec["updateStrategy"] = match self.update_strategy.as_deref() {
                    Some("OnDelete") => serde_json::json!({"type": "OnDelete"}),
                    _ => serde_json::json!({
                        "type": "RollingUpdate",
                        "rollingUpdate": {"partition": self.partition.unwrap_or(0)},
                    }),
                };
            }
            WorkloadKind::DaemonSet => {
                spec["updateStrategy"] = match self.update_strategy.as_deref() {
                    Some("OnDelete") => serde_json::json!({"type": "OnDelete"}),
                    _ => serde_json::json!({
                        "type": "RollingUpdate",
                        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
                    }),
                };
            }
        }
        object
    }

    /// The workload `name` in `namespace`, as a user would send it.
    pub fn workload(&self, name: &str, namespace: &str) -> Workload {
        workload(self.kind(), self.object(name, namespace))
    }
}

/// A workload of `kind` from its JSON.
pub fn workload(kind: WorkloadKind, object: serde_json::Value) -> Workload {
    match kind {
        WorkloadKind::Deployment => {
            Workload::from(serde_json::from_value::<Deployment>(object).expect("a Deployment"))
        }
        WorkloadKind::StatefulSet => {
            Workload::from(serde_json::from_value::<StatefulSet>(object).expect("a StatefulSet"))
        }
        WorkloadKind::DaemonSet => {
            Workload::from(serde_json::from_value::<DaemonSet>(object).expect("a DaemonSet"))
        }
    }
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

/// gonogo's hold is on the workload: its kind's hold field and the mark.
pub fn held(w: &Workload) -> bool {
    let state = HoldState::of(w);
    state.engaged && state.marked
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

/// Sends every case of the table to a real API server, in `namespace` (one workload `c<i>` per
/// case; the case's readiness objects target it instead of `api`), and returns the cases whose
/// admitted object is not held as the table says. `settle` is how long the admission path needs
/// to see a new DeploymentReadiness.
pub async fn wrongly_decided(
    deployments: &kube::Api<Deployment>,
    drs: &kube::Api<DeploymentReadiness>,
    namespace: &str,
    settle: std::time::Duration,
) -> Vec<String> {
    let client = deployments.clone().into_client();
    let pp = kube::api::PostParams::default();
    let mut wrong = Vec::new();
    for (i, case) in cases().into_iter().enumerate() {
        let name = format!("c{i}");
        let kind = case.new.kind();
        let resource = match kind {
            WorkloadKind::Deployment => ApiResource::erase::<Deployment>(&()),
            WorkloadKind::StatefulSet => ApiResource::erase::<StatefulSet>(&()),
            WorkloadKind::DaemonSet => ApiResource::erase::<DaemonSet>(&()),
        };
        let api: kube::Api<DynamicObject> =
            kube::Api::namespaced_with(client.clone(), namespace, &resource);
        let dynamic = |short: &Short| -> DynamicObject {
            serde_json::from_value(short.object(&name, namespace)).expect("an object")
        };
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
                api.create(&pp, &dynamic(old))
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
        let mut new = dynamic(&case.new);
        let admitted = match &old {
            None => api.create(&pp, &new).await,
            // The workload's controller writes the object too (its revision annotation):
            // replace the latest version, keeping its annotations beside the case's.
            Some(_) => loop {
                let latest = api.get(&name).await.expect("get old");
                new.metadata.resource_version = latest.metadata.resource_version.clone();
                let mut annotations = latest.metadata.annotations.clone().unwrap_or_default();
                annotations.retain(|k, _| k.starts_with("deployment.kubernetes.io/"));
                annotations.extend(dynamic(&case.new).metadata.annotations.unwrap_or_default());
                new.metadata.annotations = Some(annotations);
                match api.replace(&name, &pp, &new).await {
                    Err(kube::Error::Api(e)) if e.code == 409 => continue,
                    other => break other,
                }
            },
        }
        .unwrap_or_else(|e| panic!("{}: send new: {e}", case.name));
        let admitted = workload(kind, serde_json::to_value(&admitted).expect("JSON"));
        // A case that sends gonogo's own hold cannot tell held from not held: both look held.
        let sent_held = held(&case.new.workload(&name, namespace));
        if held(&admitted) != (case.held || sent_held) {
            wrong.push(format!(
                "{}: admitted {:?}, expected held: {}",
                case.name,
                HoldState::of(&admitted),
                case.held
            ));
        }
        if case.held
            && let Some(expected) = &case.partition_before_hold
        {
            let recorded = admitted
                .metadata()
                .annotations
                .as_ref()
                .and_then(|a| a.get(PARTITION_BEFORE_HOLD));
            if recorded != Some(expected) {
                wrong.push(format!(
                    "{}: recorded partition {recorded:?}, expected {expected}",
                    case.name
                ));
            }
        }
    }
    wrong
}
