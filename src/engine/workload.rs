//! The workload a readiness object targets: a Deployment, a StatefulSet or a DaemonSet. Checks
//! read its pod template through one type; the few that read the kind's own spec or status
//! (replicas, rollout progress) match on it here, so no check has per-kind copies.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

pub use crate::api::WorkloadKind;

/// One workload, shared (`Arc`) like every object of a snapshot.
#[derive(Clone, Debug)]
pub enum Workload {
    Deployment(Arc<Deployment>),
    StatefulSet(Arc<StatefulSet>),
    DaemonSet(Arc<DaemonSet>),
}

/// Rollout progress in the kind's own terms, as `kubectl rollout status` reads it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// `metadata.generation` and `status.observedGeneration`.
    pub generation: i64,
    pub observed_generation: i64,
    /// Pods wanted: `spec.replicas` (default 1), or the nodes that should run the DaemonSet.
    pub desired: i32,
    /// Where `desired` comes from, for messages.
    pub desired_field: &'static str,
    /// Pods that exist, are on the current revision, are ready, are available.
    pub current: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    /// The status field names of the three counts, for messages.
    pub current_field: &'static str,
    pub updated_field: &'static str,
    pub ready_field: &'static str,
    pub available_field: &'static str,
    /// Pods a rollout leaves on the old revision by design (a StatefulSet's partition).
    pub partitioned: i32,
}

impl Workload {
    pub fn kind(&self) -> WorkloadKind {
        match self {
            Workload::Deployment(_) => WorkloadKind::Deployment,
            Workload::StatefulSet(_) => WorkloadKind::StatefulSet,
            Workload::DaemonSet(_) => WorkloadKind::DaemonSet,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Workload::Deployment(d) => &d.metadata,
            Workload::StatefulSet(s) => &s.metadata,
            Workload::DaemonSet(d) => &d.metadata,
        }
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    /// Whether this is the workload `(kind, name)`.
    pub fn is(&self, kind: WorkloadKind, name: &str) -> bool {
        self.kind() == kind && self.name() == name
    }

    /// The same object (not merely an equal one).
    pub fn ptr_eq(&self, other: &Workload) -> bool {
        match (self, other) {
            (Workload::Deployment(a), Workload::Deployment(b)) => Arc::ptr_eq(a, b),
            (Workload::StatefulSet(a), Workload::StatefulSet(b)) => Arc::ptr_eq(a, b),
            (Workload::DaemonSet(a), Workload::DaemonSet(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    pub fn template(&self) -> Option<&PodTemplateSpec> {
        match self {
            Workload::Deployment(d) => d.spec.as_ref().map(|s| &s.template),
            Workload::StatefulSet(s) => s.spec.as_ref().map(|s| &s.template),
            Workload::DaemonSet(d) => d.spec.as_ref().map(|s| &s.template),
        }
    }

    pub fn pod_spec(&self) -> Option<&PodSpec> {
        self.template().and_then(|t| t.spec.as_ref())
    }

    pub fn pod_labels(&self) -> Option<&BTreeMap<String, String>> {
        self.template()
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.as_ref())
    }

    pub fn selector(&self) -> Option<&LabelSelector> {
        match self {
            Workload::Deployment(d) => d.spec.as_ref().map(|s| &s.selector),
            Workload::StatefulSet(s) => s.spec.as_ref().map(|s| &s.selector),
            Workload::DaemonSet(d) => d.spec.as_ref().map(|s| &s.selector),
        }
    }

    /// `spec.replicas` as written; `Err` for a DaemonSet, which has no replica count (one pod
    /// per eligible node).
    pub fn spec_replicas(&self) -> Result<Option<i32>, NoReplicas> {
        match self {
            Workload::Deployment(d) => Ok(d.spec.as_ref().and_then(|s| s.replicas)),
            Workload::StatefulSet(s) => Ok(s.spec.as_ref().and_then(|s| s.replicas)),
            Workload::DaemonSet(_) => Err(NoReplicas),
        }
    }

    /// A StatefulSet's `volumeClaimTemplates` (empty for the other kinds).
    pub fn volume_claim_templates(&self) -> &[PersistentVolumeClaim] {
        match self {
            Workload::StatefulSet(s) => s
                .spec
                .as_ref()
                .and_then(|s| s.volume_claim_templates.as_deref())
                .unwrap_or_default(),
            _ => &[],
        }
    }

    /// A StatefulSet's `serviceName` (its governing, usually headless, Service).
    pub fn service_name(&self) -> Option<&str> {
        match self {
            Workload::StatefulSet(s) => s
                .spec
                .as_ref()
                .and_then(|s| s.service_name.as_deref())
                .filter(|n| !n.is_empty()),
            _ => None,
        }
    }

    /// A StatefulSet's or DaemonSet's `spec.updateStrategy.type` as written (`None` for a
    /// Deployment, or when absent: `RollingUpdate` by default).
    pub fn update_strategy_type(&self) -> Option<&str> {
        match self {
            Workload::Deployment(_) => None,
            Workload::StatefulSet(s) => s.spec.as_ref()?.update_strategy.as_ref()?.type_.as_deref(),
            Workload::DaemonSet(d) => d.spec.as_ref()?.update_strategy.as_ref()?.type_.as_deref(),
        }
    }

    /// A StatefulSet's `spec.updateStrategy.rollingUpdate.partition` (0 when absent; `None` for
    /// the other kinds).
    pub fn partition(&self) -> Option<i32> {
        match self {
            Workload::StatefulSet(s) => Some(
                s.spec
                    .as_ref()
                    .and_then(|s| s.update_strategy.as_ref())
                    .and_then(|u| u.rolling_update.as_ref())
                    .and_then(|r| r.partition)
                    .unwrap_or(0),
            ),
            _ => None,
        }
    }

    /// Whether the kind's own rollout is switched off by its spec: a paused Deployment, a
    /// StatefulSet or DaemonSet with `updateStrategy.type: OnDelete`, a StatefulSet whose
    /// partition is not below its replica count (gonogo's own hold among them). Says the field
    /// and value.
    pub fn rollout_switched_off(&self) -> Option<String> {
        if let Workload::Deployment(d) = self {
            return (d.spec.as_ref().and_then(|s| s.paused) == Some(true))
                .then(|| "spec.paused is true".to_string());
        }
        if self.update_strategy_type() == Some("OnDelete") {
            return Some("spec.updateStrategy.type is OnDelete".to_string());
        }
        let partition = self.partition()?;
        let replicas = self.spec_replicas().ok().flatten().unwrap_or(1);
        (partition > 0 && partition >= replicas).then(|| {
            format!(
                "spec.updateStrategy.rollingUpdate.partition is {partition}, not below spec.replicas {replicas}"
            )
        })
    }

    /// The rollout's progress, or `None` before the kind's controller reported a status.
    pub fn progress(&self) -> Option<Progress> {
        let generation = self.metadata().generation.unwrap_or(0);
        match self {
            Workload::Deployment(d) => {
                let status = d.status.as_ref()?;
                Some(Progress {
                    generation,
                    observed_generation: status.observed_generation.unwrap_or(0),
                    desired: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                    desired_field: "spec.replicas",
                    current: status.replicas.unwrap_or(0),
                    updated: status.updated_replicas.unwrap_or(0),
                    ready: status.ready_replicas.unwrap_or(0),
                    available: status.available_replicas.unwrap_or(0),
                    current_field: "status.replicas",
                    updated_field: "status.updatedReplicas",
                    ready_field: "status.readyReplicas",
                    available_field: "status.availableReplicas",
                    partitioned: 0,
                })
            }
            Workload::StatefulSet(s) => {
                let status = s.status.as_ref()?;
                let spec = s.spec.as_ref();
                let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
                let partition = self.partition().unwrap_or(0);
                Some(Progress {
                    generation,
                    observed_generation: status.observed_generation.unwrap_or(0),
                    desired,
                    desired_field: "spec.replicas",
                    current: status.replicas,
                    updated: status.updated_replicas.unwrap_or(0),
                    ready: status.ready_replicas.unwrap_or(0),
                    available: status.available_replicas.unwrap_or(0),
                    current_field: "status.replicas",
                    updated_field: "status.updatedReplicas",
                    ready_field: "status.readyReplicas",
                    available_field: "status.availableReplicas",
                    partitioned: partition.clamp(0, desired),
                })
            }
            Workload::DaemonSet(d) => {
                let status = d.status.as_ref()?;
                Some(Progress {
                    generation,
                    observed_generation: status.observed_generation.unwrap_or(0),
                    desired: status.desired_number_scheduled,
                    desired_field: "status.desiredNumberScheduled",
                    current: status.current_number_scheduled,
                    updated: status.updated_number_scheduled.unwrap_or(0),
                    ready: status.number_ready,
                    available: status.number_available.unwrap_or(0),
                    current_field: "status.currentNumberScheduled",
                    updated_field: "status.updatedNumberScheduled",
                    ready_field: "status.numberReady",
                    available_field: "status.numberAvailable",
                    partitioned: 0,
                })
            }
        }
    }

    /// The object as JSON (for `cel`).
    pub fn to_value(&self) -> serde_json::Value {
        match self {
            Workload::Deployment(d) => serde_json::to_value(d.as_ref()),
            Workload::StatefulSet(s) => serde_json::to_value(s.as_ref()),
            Workload::DaemonSet(d) => serde_json::to_value(d.as_ref()),
        }
        .unwrap_or_default()
    }
}

/// A DaemonSet has no replica count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoReplicas;

/// `Deployment web`: how messages name a workload.
impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.name())
    }
}

impl From<Arc<Deployment>> for Workload {
    fn from(d: Arc<Deployment>) -> Self {
        Workload::Deployment(d)
    }
}

impl From<Arc<StatefulSet>> for Workload {
    fn from(s: Arc<StatefulSet>) -> Self {
        Workload::StatefulSet(s)
    }
}

impl From<Arc<DaemonSet>> for Workload {
    fn from(d: Arc<DaemonSet>) -> Self {
        Workload::DaemonSet(d)
    }
}

impl From<Deployment> for Workload {
    fn from(d: Deployment) -> Self {
        Workload::Deployment(Arc::new(d))
    }
}

impl From<StatefulSet> for Workload {
    fn from(s: StatefulSet) -> Self {
        Workload::StatefulSet(Arc::new(s))
    }
}

impl From<DaemonSet> for Workload {
    fn from(d: DaemonSet) -> Self {
        Workload::DaemonSet(Arc::new(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_yaml<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn a_statefulset_partition_is_part_of_its_progress() {
        let s: StatefulSet = from_yaml(
            "metadata: {name: db, generation: 2}\nspec:\n  replicas: 3\n  serviceName: db\n  selector: {matchLabels: {app: db}}\n  template: {metadata: {labels: {app: db}}}\n  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 5}}\nstatus: {replicas: 3, observedGeneration: 2, updatedReplicas: 0, readyReplicas: 3, availableReplicas: 3}\n",
        );
        let w = Workload::from(s);
        assert_eq!(w.to_string(), "StatefulSet db");
        assert_eq!(w.service_name(), Some("db"));
        let p = w.progress().unwrap();
        assert_eq!((p.desired, p.updated, p.partitioned), (3, 0, 3));
        assert_eq!(w.spec_replicas(), Ok(Some(3)));
    }

    #[test]
    fn a_daemonset_has_no_replica_count_and_counts_nodes() {
        let d: DaemonSet = from_yaml(
            "metadata: {name: agent}\nspec:\n  selector: {matchLabels: {app: agent}}\n  template: {metadata: {labels: {app: agent}}}\n  updateStrategy: {type: OnDelete}\nstatus: {desiredNumberScheduled: 4, currentNumberScheduled: 4, numberMisscheduled: 0, numberReady: 3, updatedNumberScheduled: 2}\n",
        );
        let w = Workload::from(d);
        assert_eq!(w.spec_replicas(), Err(NoReplicas));
        assert_eq!(
            w.rollout_switched_off().as_deref(),
            Some("spec.updateStrategy.type is OnDelete")
        );
        let p = w.progress().unwrap();
        assert_eq!((p.desired, p.ready, p.updated), (4, 3, 2));
        assert_eq!(p.desired_field, "status.desiredNumberScheduled");
    }
}
