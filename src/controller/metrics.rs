//! Prometheus metrics, registered in one place with the `gonogo` prefix.

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
