use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;

use k8s_openapi::ByteString;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::pod;
use super::related::{PodSelector, Relation, related_kinds, trim_metadata};
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

related_kinds! {
    /// Plain data the engine judges: one Deployment's namespace as seen by the controller's
    /// reflectors or by the offline loader. Objects are shared (`Arc`) so building a snapshot
    /// from a store copies pointers, not objects.
    ///
    /// Secrets and ConfigMaps have their values stripped; checks only read key names.
    #[derive(Clone, Debug, Default)]
    pub struct Snapshot {
        pub now: Timestamp,
        pub source: Source,
        pub namespace: String,
        /// The workload judged (a Deployment, StatefulSet or DaemonSet).
        pub workload: Option<super::Workload>,
        /// ReadinessApprovals of the namespace (gonogo's own kind: the controller and the
        /// offline set find them by the readiness object they name).
        pub approvals: Vec<Arc<ReadinessApproval>>,
        /// Objects declared to exist outside the manifest set (offline `--assume-present`),
        /// as `(kind, name)`, e.g. `("Secret", "api-keys")`. Their keys are not known.
        pub assumed_present: BTreeSet<(String, String)>,
        /// Objects of the kinds `resource` gates name (any kind the API server serves), by kind.
        pub resources: BTreeMap<ResourceKind, Resources>,
        pub observations: Observations,
        /// Related kinds this gonogo does not read (e.g. Secrets turned off by the operator's
        /// flags), by kind, with why in words that say what to change: gates that need them
        /// are Unknown, never judged on an empty list.
        pub unread: BTreeMap<&'static str, String>,
    }

    // The table of related kinds: one row per kind a verdict may read besides the workload
    // (see `related.rs`). A kind relating through another (`OfService`, `RoutesTo`) comes
    // after Services.
    related kinds {
        hpas: HorizontalPodAutoscaler {
            api_version: "autoscaling/v2",
            short_names: ["hpa"],
            cel: None, // `hpa`: the one scaling the target
            relation: Relation::Scales(pod::hpa_scaled),
            trim: trim_metadata,
        },
        pdbs: PodDisruptionBudget {
            api_version: "policy/v1",
            short_names: ["pdb"],
            cel: Some("pdbs"),
            relation: Relation::SelectsPods(|p| {
                // A PDB without selector selects no pod, but the check names it (a likely
                // mistake), so it relates to every workload of its namespace.
                PodSelector::labels(p.spec.as_ref().and_then(|s| s.selector.as_ref()), PodSelector::Every)
            }),
            trim: trim_metadata,
        },
        services: Service {
            api_version: "v1",
            short_names: ["svc"],
            cel: Some("services"),
            relation: Relation::SelectsPods(|s| {
                s.spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .map_or(PodSelector::Nothing, PodSelector::Map)
            }),
            trim: trim_metadata,
        },
        endpoint_slices: EndpointSlice {
            api_version: "discovery.k8s.io/v1",
            short_names: [],
            cel: None,
            relation: Relation::OfService(|s| {
                s.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("kubernetes.io/service-name"))
                    .map(String::as_str)
            }),
            trim: trim_metadata,
        },
        network_policies: NetworkPolicy {
            api_version: "networking.k8s.io/v1",
            short_names: ["netpol"],
            cel: Some("networkPolicies"),
            relation: Relation::SelectsPods(|p| {
                PodSelector::labels(p.spec.as_ref().and_then(|s| s.pod_selector.as_ref()), PodSelector::Every)
            }),
            trim: trim_metadata,
        },
        ingresses: Ingress {
            api_version: "networking.k8s.io/v1",
            short_names: ["ing"],
            cel: None,
            relation: Relation::RoutesTo {
                services: ingress_backends,
                secrets: ingress_tls_secrets,
            },
            trim: trim_metadata,
        },
        pvcs: PersistentVolumeClaim {
            api_version: "v1",
            short_names: ["pvc"],
            cel: Some("pvcs"),
            relation: Relation::Named,
            trim: trim_metadata,
        },
        storage_classes: StorageClass {
            api_version: "storage.k8s.io/v1",
            short_names: ["sc"],
            cel: None,
            relation: Relation::Every,
            trim: trim_metadata,
        },
        secrets: Secret {
            api_version: "v1",
            short_names: [],
            cel: Some("secrets"),
            relation: Relation::Named,
            trim: trim_secret,
            // Helm's release records (the whole rendered release, gzipped: the bulk of a
            // namespace's Secrets) and ServiceAccount tokens: no gate reads them, `helm
            // template` never renders them, and they would dominate the controller's memory.
            watch_fields: "type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token",
            cel_view: |s: &Secret| {
                let data = s.data.iter().flat_map(|m| m.keys());
                let string_data = s.string_data.iter().flat_map(|m| m.keys());
                redacted(&s.metadata, s.type_.as_deref(), data.chain(string_data))
            },
            blank: blank_secret_values,
        },
        config_maps: ConfigMap {
            api_version: "v1",
            short_names: ["cm"],
            cel: Some("configMaps"),
            relation: Relation::Named,
            trim: trim_config_map,
            cel_view: |c: &ConfigMap| {
                let data = c.data.iter().flat_map(|m| m.keys());
                let binary = c.binary_data.iter().flat_map(|m| m.keys());
                redacted(&c.metadata, None, data.chain(binary))
            },
        },
        jobs: Job {
            api_version: "batch/v1",
            short_names: [],
            cel: Some("jobs"),
            relation: Relation::Named, // by a `job` gate
            trim: trim_metadata,
        },
        cron_jobs: CronJob {
            api_version: "batch/v1",
            short_names: ["cj"],
            cel: Some("cronJobs"),
            relation: Relation::Named, // by a `job` gate
            trim: trim_metadata,
        },
        service_accounts: ServiceAccount {
            api_version: "v1",
            short_names: ["sa"],
            cel: None,
            relation: Relation::Named, // by `serviceAccountName` (its token automount)
            trim: trim_metadata,
        },
    }
}

/// Names of the Services an Ingress routes to (rules and default backend).
fn ingress_backends(ingress: &Ingress) -> Vec<&str> {
    let spec = ingress.spec.as_ref();
    spec.into_iter()
        .flat_map(|s| s.rules.iter().flatten())
        .flat_map(|r| r.http.iter().flat_map(|h| h.paths.iter()))
        .filter_map(|p| p.backend.service.as_ref().map(|s| s.name.as_str()))
        .chain(
            spec.and_then(|s| s.default_backend.as_ref())
                .and_then(|b| b.service.as_ref())
                .map(|s| s.name.as_str()),
        )
        .collect()
}

/// Names of an Ingress's TLS Secrets.
fn ingress_tls_secrets(ingress: &Ingress) -> Vec<&str> {
    ingress
        .spec
        .iter()
        .flat_map(|s| s.tls.iter().flatten())
        .filter_map(|t| t.secret_name.as_deref())
        .collect()
}

/// Secrets keep their type, labels and key names; values and annotations (which may hold a
/// copy of the values in `kubectl.kubernetes.io/last-applied-configuration`) are dropped.
pub fn trim_secret(secret: &mut Secret) {
    trim_metadata(secret);
    secret.metadata.annotations = None;
    for value in secret.data.iter_mut().flat_map(|d| d.values_mut()) {
        *value = ByteString(Vec::new());
    }
    for value in secret.string_data.iter_mut().flat_map(|d| d.values_mut()) {
        value.clear();
    }
}

/// A Secret manifest's values, blanked keeping their JSON type (a string stays a string, a
/// number becomes 0, ...): a type error then names the field and the type, never the value.
pub fn blank_secret_values(secret: &mut serde_json::Value) {
    fn blank(value: &mut serde_json::Value) {
        use serde_json::Value;
        *value = match value {
            Value::String(_) => Value::String(String::new()),
            Value::Number(_) => Value::from(0),
            Value::Array(_) => Value::Array(Vec::new()),
            Value::Object(_) => Value::Object(Default::default()),
            Value::Bool(_) | Value::Null => return,
        }
    }
    for field in ["data", "stringData"] {
        match secret.get_mut(field) {
            Some(serde_json::Value::Object(values)) => values.values_mut().for_each(blank),
            Some(other) => blank(other),
            None => {}
        }
    }
}

/// ConfigMaps keep key names only.
pub fn trim_config_map(config_map: &mut ConfigMap) {
    trim_metadata(config_map);
    config_map.metadata.annotations = None;
    for value in config_map.data.iter_mut().flat_map(|d| d.values_mut()) {
        value.clear();
    }
    for value in config_map
        .binary_data
        .iter_mut()
        .flat_map(|d| d.values_mut())
    {
        *value = ByteString(Vec::new());
    }
}

/// What a `cel` expression sees of a Secret or ConfigMap: names, labels, type and key names.
fn redacted<'a>(
    meta: &ObjectMeta,
    type_: Option<&str>,
    keys: impl Iterator<Item = &'a String>,
) -> serde_json::Value {
    let keys: BTreeSet<&String> = keys.collect();
    let mut view = serde_json::json!({
        "metadata": {
            "name": meta.name.clone().unwrap_or_default(),
            "labels": meta.labels.clone().unwrap_or_default(),
        },
        "keys": keys,
    });
    if let Some(t) = type_ {
        view["type"] = serde_json::Value::from(t);
    }
    view
}

/// A kind a `resource` gate names: `apiVersion` and `kind`, as written in the gate.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceKind {
    pub api_version: String,
    pub kind: String,
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.api_version, self.kind)
    }
}

/// What is known of the objects of one kind a `resource` gate reads.
#[derive(Clone, Debug, PartialEq)]
pub enum Resources {
    /// Objects visible to the workload: of its namespace for a namespaced kind, all of them
    /// for a cluster-scoped one. At least the ones the gates pick (their names or selectors):
    /// the controller puts in those only, the offline set every one of the namespace; a gate
    /// picks from them itself. Plain JSON, without managed fields.
    Objects {
        cluster_scoped: bool,
        objects: Vec<Arc<serde_json::Value>>,
    },
    /// The kind cannot be read; why (no such kind, a missing permission, a watch starting),
    /// in words that say what to do.
    Unavailable(String),
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

    /// Why objects of `kind` are not read, when they are not.
    pub fn unread(&self, kind: &str) -> Option<&str> {
        self.unread.get(kind).map(String::as_str)
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
