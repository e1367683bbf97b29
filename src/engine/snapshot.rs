use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;

use crate::api::ReadinessApproval;

/// Where a snapshot came from, which decides what an absent object means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Source {
    /// Reflector stores of a live cluster: an absent object does not exist, statuses are real.
    #[default]
    Cluster,
    /// A set of manifests: an absent object may live elsewhere, and no status is observed.
    Manifests,
}

/// Plain data the engine judges: one Deployment's namespace as seen by the controller's
/// reflectors or by the offline loader. Objects are shared (`Arc`) so building a snapshot
/// from a store copies pointers, not objects.
///
/// Secrets and ConfigMaps may have their values stripped; checks only read key names.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub now: Timestamp,
    pub source: Source,
    pub namespace: String,
    pub deployment: Option<Arc<Deployment>>,
    pub hpas: Vec<Arc<HorizontalPodAutoscaler>>,
    pub pdbs: Vec<Arc<PodDisruptionBudget>>,
    pub services: Vec<Arc<Service>>,
    pub endpoint_slices: Vec<Arc<EndpointSlice>>,
    pub network_policies: Vec<Arc<NetworkPolicy>>,
    pub ingresses: Vec<Arc<Ingress>>,
    pub pvcs: Vec<Arc<PersistentVolumeClaim>>,
    pub storage_classes: Vec<Arc<StorageClass>>,
    pub secrets: Vec<Arc<Secret>>,
    pub config_maps: Vec<Arc<ConfigMap>>,
    pub approvals: Vec<Arc<ReadinessApproval>>,
    /// Objects declared to exist outside the manifest set (offline `--assume-present`),
    /// as `(kind, name)`, e.g. `("Secret", "api-keys")`. Their keys are not known.
    pub assumed_present: BTreeSet<(String, String)>,
    pub observations: Observations,
}

/// Results of live probes, gathered outside the engine on their own schedule.
#[derive(Clone, Debug, Default)]
pub struct Observations {
    /// `http` and `prometheus` results by gate.
    pub probes: BTreeMap<GateKey, ProbeObservation>,
    /// Parsed facts of TLS certificates, by Secret name. Never the key material.
    pub certificates: BTreeMap<String, CertificateFacts>,
}

/// Identifies one gate of one DeploymentReadiness.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GateKey {
    pub readiness: String,
    pub checklist: String,
    pub item: String,
}

/// The latest result of a live probe for one gate.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeObservation {
    pub at: Timestamp,
    /// What was observed, e.g. the HTTP status code or the query's value.
    pub outcome: ProbeOutcome,
    /// Consecutive successful probes, for `successThreshold`.
    pub consecutive_successes: u32,
    /// Since when the condition has held without interruption (for Prometheus `for`).
    pub holding_since: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ProbeOutcome {
    /// An HTTP answer: status code, and whether the expected body substring was found.
    Http {
        status: u16,
        body_matched: Option<bool>,
    },
    /// A Prometheus instant query's scalar value (`None`: the query returned no data).
    Value(Option<f64>),
    /// The probe could not run or did not answer; a short reason, never a response body.
    Error(String),
    /// The probe is not allowed (e.g. an address refused by the SSRF guard).
    Refused(String),
}

/// What gonogo keeps of a certificate: dates and names, no key material.
#[derive(Clone, Debug, PartialEq)]
pub struct CertificateFacts {
    pub not_before: Option<Timestamp>,
    pub not_after: Timestamp,
    pub dns_names: Vec<String>,
    pub subject: String,
    /// Set when the Secret's certificate could not be parsed.
    pub error: Option<String>,
}

impl Snapshot {
    pub fn new(namespace: impl Into<String>, now: Timestamp, source: Source) -> Self {
        Snapshot {
            namespace: namespace.into(),
            now,
            source,
            ..Default::default()
        }
    }

    pub fn is_offline(&self) -> bool {
        self.source == Source::Manifests
    }

    pub fn is_assumed_present(&self, kind: &str, name: &str) -> bool {
        self.assumed_present
            .contains(&(kind.to_string(), name.to_string()))
    }

    pub fn secret(&self, name: &str) -> Option<&Secret> {
        by_name(&self.secrets, name)
    }
    pub fn config_map(&self, name: &str) -> Option<&ConfigMap> {
        by_name(&self.config_maps, name)
    }
    pub fn pvc(&self, name: &str) -> Option<&PersistentVolumeClaim> {
        by_name(&self.pvcs, name)
    }
    pub fn service(&self, name: &str) -> Option<&Service> {
        by_name(&self.services, name)
    }
    pub fn storage_class(&self, name: &str) -> Option<&StorageClass> {
        by_name(&self.storage_classes, name)
    }
    /// The cluster's default StorageClass (annotation `storageclass.kubernetes.io/is-default-class`).
    pub fn default_storage_class(&self) -> Option<&StorageClass> {
        self.storage_classes
            .iter()
            .map(|sc| sc.as_ref())
            .find(|sc| {
                sc.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("storageclass.kubernetes.io/is-default-class"))
                    .is_some_and(|v| v == "true")
            })
    }
}

fn by_name<'a, K: kube::Resource>(objects: &'a [Arc<K>], name: &str) -> Option<&'a K> {
    objects
        .iter()
        .map(|o| o.as_ref())
        .find(|o| o.meta().name.as_deref() == Some(name))
}
