//! A set of manifests as typed objects, grouped by namespace, and the snapshots built from it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Resource;
use serde::de::DeserializeOwned;

use super::Document;
use crate::api::{ClusterReadinessChecklist, DeploymentReadiness, ReadinessChecklist};
use crate::engine::{Snapshot, Source};

/// Where an object was read from.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Origin {
    pub file: String,
    pub line: usize,
    pub helm_source: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{file}:{line}: {kind} {name}: {message}")]
pub struct SetError {
    pub file: String,
    pub line: usize,
    pub kind: String,
    pub name: String,
    pub message: String,
}

/// The objects of one namespace, shaped like a snapshot's lists.
#[derive(Clone, Debug, Default)]
pub struct Namespace {
    pub deployments: Vec<(Arc<Deployment>, Origin)>,
    pub readiness: Vec<(Arc<DeploymentReadiness>, Origin)>,
    pub checklists: Vec<Arc<ReadinessChecklist>>,
    /// Everything else, as the snapshot holds it (`deployment` unset).
    pub related: Snapshot,
}

/// Typed objects from a manifest set.
#[derive(Clone, Debug, Default)]
pub struct ManifestSet {
    pub namespaces: BTreeMap<String, Namespace>,
    pub cluster_checklists: Vec<Arc<ClusterReadinessChecklist>>,
    /// Documents that were skipped, with the reason (not Kubernetes objects, unknown kinds are silent).
    pub warnings: Vec<String>,
}

impl ManifestSet {
    /// Add one parsed document. Objects without a namespace land in `default_namespace`, as
    /// `kubectl apply -n` would put them. Unknown kinds are ignored; documents that are not
    /// Kubernetes objects are skipped with a warning.
    pub fn add(&mut self, doc: &Document, default_namespace: &str) -> Result<(), SetError> {
        let origin = Origin { file: doc.file.clone(), line: doc.line, helm_source: doc.helm_source.clone() };
        let (Some(api_version), Some(kind)) = (
            doc.value.get("apiVersion").and_then(|v| v.as_str()),
            doc.value.get("kind").and_then(|v| v.as_str()),
        ) else {
            self.warnings.push(format!("{}:{}: not a Kubernetes object (no apiVersion and kind); skipped", doc.file, doc.line));
            return Ok(());
        };
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let ns_of = |value: &serde_json::Value| {
            value
                .pointer("/metadata/namespace")
                .and_then(|v| v.as_str())
                .unwrap_or(default_namespace)
                .to_string()
        };
        let namespace = ns_of(&doc.value);
        macro_rules! put {
            ($field:ident) => {{
                let object = typed(doc, kind)?;
                self.ns(&namespace).related.$field.push(Arc::new(object));
            }};
        }
        match (group, kind) {
            ("apps", "Deployment") => {
                let object: Deployment = typed(doc, kind)?;
                self.ns(&namespace).deployments.push((Arc::new(object), origin));
            }
            ("gonogo.dev", "DeploymentReadiness") => {
                let object: DeploymentReadiness = typed(doc, kind)?;
                self.ns(&namespace).readiness.push((Arc::new(object), origin));
            }
            ("gonogo.dev", "ReadinessChecklist") => {
                let object: ReadinessChecklist = typed(doc, kind)?;
                self.ns(&namespace).checklists.push(Arc::new(object));
            }
            ("gonogo.dev", "ClusterReadinessChecklist") => {
                let object: ClusterReadinessChecklist = typed(doc, kind)?;
                self.cluster_checklists.push(Arc::new(object));
            }
            ("gonogo.dev", "ReadinessApproval") => put!(approvals),
            ("autoscaling", "HorizontalPodAutoscaler") if api_version == "autoscaling/v2" => put!(hpas),
            ("policy", "PodDisruptionBudget") => put!(pdbs),
            ("", "Service") => put!(services),
            ("discovery.k8s.io", "EndpointSlice") => put!(endpoint_slices),
            ("networking.k8s.io", "NetworkPolicy") => put!(network_policies),
            ("networking.k8s.io", "Ingress") => put!(ingresses),
            ("", "PersistentVolumeClaim") => put!(pvcs),
            ("", "Secret") => put!(secrets),
            ("", "ConfigMap") => put!(config_maps),
            ("storage.k8s.io", "StorageClass") => {
                // Cluster-scoped: visible from every namespace.
                let object = Arc::new(typed(doc, kind)?);
                self.storage_classes_mut().push(object);
            }
            _ => {} // unknown kinds are not ours to judge
        }
        Ok(())
    }

    fn ns(&mut self, namespace: &str) -> &mut Namespace {
        self.namespaces.entry(namespace.to_string()).or_insert_with(|| Namespace {
            related: Snapshot::new(namespace, Timestamp::UNIX_EPOCH, Source::Manifests),
            ..Default::default()
        })
    }

    fn storage_classes_mut(&mut self) -> &mut Vec<Arc<k8s_openapi::api::storage::v1::StorageClass>> {
        &mut self.ns("").related.storage_classes
    }

    /// The snapshot a Deployment of this set is judged against.
    pub fn snapshot_for(&self, namespace: &str, deployment: &Arc<Deployment>, now: Timestamp, assumed: &BTreeSet<(String, String)>) -> Snapshot {
        let mut snapshot = self
            .namespaces
            .get(namespace)
            .map(|ns| ns.related.clone())
            .unwrap_or_else(|| Snapshot::new(namespace, now, Source::Manifests));
        snapshot.namespace = namespace.to_string();
        snapshot.now = now;
        snapshot.source = Source::Manifests;
        snapshot.deployment = Some(deployment.clone());
        snapshot.assumed_present = assumed.clone();
        if let Some(cluster) = self.namespaces.get("") {
            snapshot.storage_classes = cluster.related.storage_classes.clone();
        }
        snapshot
    }
}

fn typed<K: DeserializeOwned + Resource>(doc: &Document, kind: &str) -> Result<K, SetError> {
    serde_json::from_value(doc.value.clone()).map_err(|e| SetError {
        file: doc.file.clone(),
        line: doc.line,
        kind: kind.to_string(),
        name: doc.value.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or("(unnamed)").to_string(),
        message: e.to_string(),
    })
}
