//! The check catalog: one file per check kind, one ordered registry.
//!
//! Each kind is a parameter type (part of the API schema) implementing [`Check`]: a pure
//! function from a [`Context`] (the workload and the snapshot around it) to an [`Outcome`].

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodSpec;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::api::{Phase, Severity};
use crate::engine::{Outcome, Snapshot, Workload};

pub mod approval;
pub mod cel;
pub mod config_maps;
pub mod hpa;
pub mod http;
pub mod image;
pub mod job;
pub mod network_policy;
pub mod pod_disruption_budget;
pub mod probes;
pub mod prometheus;
pub mod pvcs_bound;
pub mod ready_replicas;
mod references;
pub mod replicas;
pub mod resource;
pub mod resources;
pub mod rollout;
pub mod secrets;
pub mod security_context;
pub mod service;
pub mod service_account;
pub mod spread;
#[cfg(test)]
pub(crate) mod testing;
pub mod tls_certificate;

/// What every check kind implements.
pub trait Check {
    /// The phase used when an item sets none.
    fn default_phase(&self) -> Phase {
        Phase::PreRollout
    }
    /// Judge the gate. Pure: everything it may look at is in `cx`.
    fn evaluate(&self, cx: &Context<'_>) -> Outcome;
}

/// Everything a check may look at for one gate.
pub struct Context<'a> {
    pub snapshot: &'a Snapshot,
    /// The workload judged: a Deployment, StatefulSet or DaemonSet.
    pub workload: &'a Workload,
    /// The pod template's spec (an empty default when the workload has none).
    pub pod: &'a PodSpec,
    /// The pod template's labels.
    pub pod_labels: &'a BTreeMap<String, String>,
    /// The DeploymentReadiness being evaluated (its name), for observations and approvals.
    pub readiness: &'a str,
    /// The checklist this item came from, as reported in status.
    pub checklist: &'a str,
    /// The item's name.
    pub item: &'a str,
}

impl Context<'_> {
    pub fn workload_name(&self) -> &str {
        self.workload.name()
    }

    /// Whether the item comes from a ClusterReadinessChecklist (reported as `cluster/NAME`; a
    /// namespaced checklist's name cannot contain `/`).
    pub fn from_cluster_checklist(&self) -> bool {
        self.checklist.starts_with("cluster/")
    }
}

/// Declares the registry: the order here is the catalog's order, the field names are the
/// item keys, and the `Item` type with its "exactly one check kind" rule is generated from it.
macro_rules! registry {
    ($( $(#[$doc:meta])* $field:ident = $json:literal : $ty:ty ),+ $(,)?) => {
        /// One checklist item: a named gate with exactly one check kind.
        #[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
        #[x_kube(validation = Rule::new(concat!("0" $(, " + (has(self.", $json, ") ? 1 : 0)")+, " == 1"))
            .message(concat!("an item needs exactly one check kind, one of:" $(, " ", $json)+)))]
        #[serde(rename_all = "camelCase")]
        pub struct Item {
            /// Gate name: a DNS label, unique within its checklist.
            #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
            pub name: String,
            /// The checklist's own wording of the item.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub description: Option<String>,
            /// `Required` (default) gates decide Ready and may block; `Advisory` gates only report.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub severity: Option<Severity>,
            /// `PreRollout` or `PostRollout`; the default depends on the check kind.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub phase: Option<Phase>,
            $(
                $(#[$doc])*
                #[serde(default, rename = $json, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )+
        }

        /// Item keys in catalog order.
        pub const KINDS: &[&str] = &[$($json),+];

        impl Item {
            /// The item's check kind and its parameters; `None` when it has not exactly one
            /// (the API server rejects those; offline input may still contain them).
            pub fn check(&self) -> Option<(&'static str, &dyn Check)> {
                let mut found: Option<(&'static str, &dyn Check)> = None;
                let mut count = 0;
                $(
                    if let Some(params) = &self.$field {
                        count += 1;
                        found = Some(($json, params as &dyn Check));
                    }
                )+
                if count == 1 { found } else { None }
            }

            /// The check kinds set on this item (for error messages).
            pub fn kinds(&self) -> Vec<&'static str> {
                let mut kinds = Vec::new();
                $( if self.$field.is_some() { kinds.push($json); } )+
                kinds
            }

            pub fn severity(&self) -> Severity {
                self.severity.unwrap_or_default()
            }
        }
    };
}

registry! {
    /// Liveness, readiness and startup probes on every long-running container.
    probes = "probes": probes::Probes,
    /// CPU/memory requests and limits present, and within ranges.
    resources = "resources": resources::Resources,
    /// Image references: no `latest` or untagged images, digests, allowed registries, pull policy.
    image = "image": image::Image,
    /// Pod and container security settings.
    security_context = "securityContext": security_context::SecurityContext,
    /// Replica count (from spec.replicas, or the HPA's minReplicas when one scales the Deployment).
    replicas = "replicas": replicas::Replicas,
    /// Pods spread over a topology key by anti-affinity or topology spread constraints.
    spread = "spread": spread::Spread,
    /// The pod's ServiceAccount and token mounting.
    service_account = "serviceAccount": service_account::ServiceAccount,
    /// A HorizontalPodAutoscaler scales the Deployment, within bounds.
    hpa = "hpa": hpa::Hpa,
    /// A PodDisruptionBudget selects the pods and allows a disruption.
    pod_disruption_budget = "podDisruptionBudget": pod_disruption_budget::PodDisruptionBudget,
    /// A NetworkPolicy selects the pods.
    network_policy = "networkPolicy": network_policy::NetworkPolicy,
    /// A Service selects the pods (and, live, has ready endpoints).
    service = "service": service::Service,
    /// Every PersistentVolumeClaim the pods mount exists and is Bound.
    pvcs_bound = "pvcsBound": pvcs_bound::PvcsBound,
    /// Every Secret the pods reference exists, with the keys used.
    secrets = "secrets": secrets::Secrets,
    /// Every ConfigMap the pods reference exists, with the keys used.
    config_maps = "configMaps": config_maps::ConfigMaps,
    /// Objects of any kind (custom resources included) exist, with a condition or a CEL expression.
    resource = "resource": resource::Resource,
    /// A Job completed successfully, or a CronJob succeeded recently.
    job = "job": job::Job,
    /// A TLS certificate stays valid for N more days and covers the hostnames.
    tls_certificate = "tlsCertificate": tls_certificate::TlsCertificate,
    /// The rollout of the current generation is complete.
    rollout = "rollout": rollout::Rollout,
    /// Enough replicas are ready.
    ready_replicas = "readyReplicas": ready_replicas::ReadyReplicas,
    /// An HTTP GET on a Service port answers as expected.
    http = "http": http::Http,
    /// A Prometheus instant query stays within a threshold.
    prometheus = "prometheus": prometheus::Prometheus,
    /// A person signed off the current revision (a ReadinessApproval).
    approval = "approval": approval::Approval,
    /// A CEL expression over the Deployment and its related objects.
    cel = "cel": cel::Cel,
}

/// `#[serde(default = "yes")]` for boolean parameters that default to on.
pub(crate) fn yes() -> bool {
    true
}
