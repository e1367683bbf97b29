//! Prometheus metrics, registered in one place with the `gonogo` prefix.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::probe::ProbeMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GateLabels {
    pub namespace: String,
    pub readiness: String,
    pub checklist: String,
    pub gate: String,
    pub severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReadinessLabels {
    pub namespace: String,
    pub readiness: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabel {
    pub decision: String,
}

pub struct Metrics {
    /// 1 for a gate that passes (or is waived/skipped), 0 for one that fails or is unknown.
    pub gate_passing: Family<GateLabels, Gauge>,
    /// 1 when the DeploymentReadiness is blocking its Deployment's rollout.
    pub blocking: Family<ReadinessLabels, Gauge>,
    pub blocked_deployments: Gauge,
    /// Workloads gonogo holds, by kind (Deployment, StatefulSet, DaemonSet).
    pub held_workloads: Family<KindLabel, Gauge>,
    pub reconcile_duration: Histogram,
    pub reconcile_errors: Family<ReasonLabel, Counter>,
    pub watch_restarts: Family<KindLabel, Counter>,
    /// Watched objects gonogo cannot read (left out of its caches), by kind.
    pub unreadable_objects: Family<KindLabel, Gauge>,
    pub status_writes: Counter,
    pub deployment_writes: Counter,
    /// Shared with the prober, which records into it.
    pub probes: ProbeMetrics,
    /// Evaluations whose events are queued, not yet sent.
    pub events_pending: Gauge,
    /// Reconciles that panicked (contained, reported on the object, retried with backoff).
    pub reconcile_panics: Counter,
    /// 1 while this replica holds the leader lease and may write.
    pub leader: Gauge,
    /// Times this replica lost the lease (not renewed within the renew deadline).
    pub leadership_lost: Counter,
    /// Admission reviews the webhook answered, by decision (held, admitted, unsynced, invalid).
    pub admission_reviews: Family<DecisionLabel, Counter>,
    pub registry: Registry,
    /// The `gate_passing` series last set per readiness object (namespace, name): a gate
    /// renamed or removed, or an object gone, takes its series with it.
    gate_series: Mutex<BTreeMap<(String, String), HashSet<GateLabels>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gonogo");
        let gate_passing = Family::<GateLabels, Gauge>::default();
        registry.register(
            "gate_passing",
            "Whether a gate passes (1) or fails/is unknown (0)",
            gate_passing.clone(),
        );
        let blocking = Family::<ReadinessLabels, Gauge>::default();
        registry.register(
            "readiness_blocking",
            "Whether a DeploymentReadiness blocks its rollout",
            blocking.clone(),
        );
        let blocked_deployments = Gauge::default();
        registry.register(
            "blocked_deployments",
            "Deployments paused by gonogo",
            blocked_deployments.clone(),
        );
        let held_workloads = Family::<KindLabel, Gauge>::default();
        registry.register(
            "held_workloads",
            "Workloads held by gonogo (a Deployment paused, a StatefulSet's partition, a DaemonSet OnDelete), by kind",
            held_workloads.clone(),
        );
        let reconcile_duration =
            Histogram::new([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0]);
        registry.register(
            "reconcile_duration_seconds",
            "Time to reconcile one DeploymentReadiness",
            reconcile_duration.clone(),
        );
        let reconcile_errors = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconcile failures by reason",
            reconcile_errors.clone(),
        );
        let watch_restarts = Family::<KindLabel, Counter>::default();
        registry.register(
            "watch_restarts",
            "Watch failures (retried with backoff) by kind",
            watch_restarts.clone(),
        );
        let unreadable_objects = Family::<KindLabel, Gauge>::default();
        registry.register(
            "unreadable_objects",
            "Watched objects gonogo cannot read, left out of its caches, by kind",
            unreadable_objects.clone(),
        );
        let status_writes = Counter::default();
        registry.register(
            "status_writes",
            "Status patches sent",
            status_writes.clone(),
        );
        let deployment_writes = Counter::default();
        registry.register(
            "deployment_writes",
            "Deployment applies sent (pause, unpause, annotations)",
            deployment_writes.clone(),
        );
        let probes = ProbeMetrics::default();
        registry.register(
            "probes",
            "http and prometheus probes run, by kind and result",
            probes.probes.clone(),
        );
        registry.register(
            "probe_duration_seconds",
            "Time one http or prometheus probe took",
            probes.duration.clone(),
        );
        registry.register(
            "probe_timeouts",
            "http and prometheus probes that timed out, by the readiness object's namespace and kind",
            probes.timeouts.clone(),
        );
        let events_pending = Gauge::default();
        registry.register(
            "events_pending",
            "Evaluations whose events are queued and not yet sent",
            events_pending.clone(),
        );
        let reconcile_panics = Counter::default();
        registry.register(
            "reconcile_panics",
            "Reconciles that panicked (contained and reported on the object as InternalError)",
            reconcile_panics.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader lease and may write",
            leader.clone(),
        );
        let leadership_lost = Counter::default();
        registry.register(
            "leadership_lost",
            "Times this replica lost the leader lease (not renewed within the renew deadline)",
            leadership_lost.clone(),
        );
        let admission_reviews = Family::<DecisionLabel, Counter>::default();
        registry.register(
            "admission_reviews",
            "Deployment admission reviews the webhook answered, by decision (held, admitted, \
             unsynced: admitted unheld because DeploymentReadiness objects were not listed yet, \
             invalid)",
            admission_reviews.clone(),
        );
        Metrics {
            gate_passing,
            blocking,
            blocked_deployments,
            held_workloads,
            reconcile_duration,
            reconcile_errors,
            watch_restarts,
            unreadable_objects,
            status_writes,
            deployment_writes,
            probes,
            events_pending,
            reconcile_panics,
            leader,
            leadership_lost,
            admission_reviews,
            registry,
            gate_series: Mutex::default(),
        }
    }
}

impl Metrics {
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Sets the gates of one readiness object and its `blocking` gauge; the series of its gates
    /// that are no longer there go.
    pub fn set_readiness(
        &self,
        namespace: &str,
        readiness: &str,
        gates: impl IntoIterator<Item = (GateLabels, bool)>,
        blocking: bool,
    ) {
        let mut now = HashSet::new();
        for (labels, passing) in gates {
            self.gate_passing
                .get_or_create(&labels)
                .set(i64::from(passing));
            now.insert(labels);
        }
        let key = (namespace.to_string(), readiness.to_string());
        let mut series = self.gate_series.lock().unwrap_or_else(|e| e.into_inner());
        for gone in series.get(&key).into_iter().flatten() {
            if !now.contains(gone) {
                self.gate_passing.remove(gone);
            }
        }
        series.insert(key, now);
        drop(series);
        self.blocking
            .get_or_create(&ReadinessLabels {
                namespace: namespace.to_string(),
                readiness: readiness.to_string(),
            })
            .set(i64::from(blocking));
    }

    /// Removes every series of one readiness object.
    pub fn forget_readiness(&self, namespace: &str, readiness: &str) {
        let key = (namespace.to_string(), readiness.to_string());
        let gone = self
            .gate_series
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        for labels in gone.into_iter().flatten() {
            self.gate_passing.remove(&labels);
        }
        self.blocking.remove(&ReadinessLabels {
            namespace: key.0,
            readiness: key.1,
        });
    }

    /// The readiness objects (namespace, name) that have series.
    pub fn readiness_with_series(&self) -> Vec<(String, String)> {
        self.gate_series
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// A timer that records the reconcile duration when dropped.
    pub fn reconcile_timer(&self) -> ReconcileTimer<'_> {
        ReconcileTimer {
            start: Instant::now(),
            histogram: &self.reconcile_duration,
        }
    }
}

pub struct ReconcileTimer<'a> {
    start: Instant,
    histogram: &'a Histogram,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(name: &str) -> GateLabels {
        GateLabels {
            namespace: "shop".into(),
            readiness: "api".into(),
            checklist: "inline".into(),
            gate: name.into(),
            severity: "Required".into(),
        }
    }

    #[test]
    fn renamed_gates_and_forgotten_objects_leave_no_series() {
        let m = Metrics::default();
        m.set_readiness(
            "shop",
            "api",
            [(gate("old"), true), (gate("kept"), false)],
            true,
        );
        assert!(m.encode().contains("gate=\"old\""));
        m.set_readiness(
            "shop",
            "api",
            [(gate("new"), true), (gate("kept"), true)],
            false,
        );
        let text = m.encode();
        assert!(!text.contains("gate=\"old\""), "{text}");
        assert!(text.contains("gate=\"new\"") && text.contains("gate=\"kept\""));
        assert_eq!(
            m.readiness_with_series(),
            vec![("shop".to_string(), "api".to_string())]
        );
        m.forget_readiness("shop", "api");
        let text = m.encode();
        assert!(!text.contains("readiness=\"api\""), "{text}");
        assert!(m.readiness_with_series().is_empty());
    }
}
