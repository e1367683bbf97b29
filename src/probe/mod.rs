//! Live probes, outside the engine: `http` and `prometheus` gates are probed on their own
//! schedule (each item's `intervalSeconds`), a bounded number at once, each with a timeout, and
//! the results are kept as [`ProbeObservation`]s that the controller puts into snapshots.
//!
//! The prober learns what to probe from reconciles ([`Prober::register`]); when a result
//! changes what a gate would say, it asks for a reconcile of that DeploymentReadiness.
//! TLS certificates are observed passively from the Secret watch ([`certificate`]).

pub mod certificate;
pub mod http;
pub mod prometheus;
pub mod ssrf;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::ObjectRef;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use reqwest::Url;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::AbortHandle;
use tracing::{debug, warn};

use crate::api::DeploymentReadiness;
use crate::checks::{http::Http, prometheus::Prometheus};
use crate::engine::{Checklists, GateKey, ProbeObservation, ProbeOutcome, resolve};
use ssrf::Guard;

/// How long an instant query may take (the `prometheus` check allows for the same).
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the prober (flags of `gonogo run`).
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// Probes in flight at once, in all.
    pub concurrency: usize,
    /// Probes in flight at once for the gates of one namespace: one tenant's slow targets
    /// cannot take every permit.
    pub namespace_concurrency: usize,
    /// Probes in flight at once for the gates of one readiness object.
    pub object_concurrency: usize,
    /// The longest any one probe may take, whatever its gate asks (`timeoutSeconds`).
    pub max_timeout: Duration,
    /// `--http-allow-cidr`; the API server's addresses are added at start.
    pub allow_cidrs: Vec<ipnet::IpNet>,
    /// `--prometheus-url`: the only Prometheus queried.
    pub prometheus_url: Option<Url>,
    /// Where probe counts and durations are recorded (registered by the controller's metrics).
    pub metrics: ProbeMetrics,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            concurrency: 16,
            namespace_concurrency: 4,
            object_concurrency: 2,
            max_timeout: Duration::from_secs(10),
            allow_cidrs: Vec::new(),
            prometheus_url: None,
            metrics: ProbeMetrics::default(),
        }
    }
}

/// `kind` (http, prometheus) and `result` of a probe. No per-object labels: gate verdicts
/// already have `gonogo_gate_passing`; these say whether probing itself is healthy.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    pub kind: &'static str,
    /// `success` (the gate's condition held), `failure` (an answer that does not satisfy it),
    /// `error` (no usable answer: timeout, connection, bad query) or `refused` (SSRF guard).
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeKindLabel {
    pub kind: &'static str,
}

/// `namespace` and `kind` of a probe that timed out.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeTimeoutLabels {
    pub namespace: String,
    pub kind: &'static str,
}

/// Probe counters and latency; cheap to clone (the families are shared).
#[derive(Clone, Debug)]
pub struct ProbeMetrics {
    pub probes: Family<ProbeLabels, Counter>,
    pub duration: Family<ProbeKindLabel, Histogram>,
    /// Probes that timed out, by namespace: which tenant's targets do not answer.
    pub timeouts: Family<ProbeTimeoutLabels, Counter>,
}

impl Default for ProbeMetrics {
    fn default() -> Self {
        let duration = Family::<ProbeKindLabel, Histogram>::new_with_constructor(
            (|| {
                Histogram::new([
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
            }) as fn() -> Histogram,
        );
        ProbeMetrics {
            probes: Family::default(),
            duration,
            timeouts: Family::default(),
        }
    }
}

/// What the prober reads of the cluster: the controller's reflector stores.
pub trait ClusterView: Send + Sync + 'static {
    fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>>;
    /// EndpointSlices labelled `kubernetes.io/service-name: service` in the namespace.
    fn endpoint_slices(&self, namespace: &str, service: &str) -> Vec<Arc<EndpointSlice>>;
    /// The Pods of the namespace, trimmed to name, labels, `hostNetwork`, phase and Pod IPs:
    /// an endpoint is probed only at a current IP of a Pod its Service selects.
    fn pods(&self, namespace: &str) -> Vec<Arc<Pod>>;
    /// Whether the readiness object still exists; probes of a vanished one stop by themselves
    /// (its finalizer normally stops them, but a finalizer can be removed by hand).
    fn readiness_exists(&self, readiness: &ObjectRef<DeploymentReadiness>) -> bool;
}

/// One gate to probe.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeSpec {
    pub key: GateKey,
    pub kind: ProbeKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ProbeKind {
    Http(Http),
    Prometheus(Prometheus),
}

impl ProbeKind {
    fn name(&self) -> &'static str {
        match self {
            ProbeKind::Http(_) => "http",
            ProbeKind::Prometheus(_) => "prometheus",
        }
    }

    fn interval(&self) -> Duration {
        let seconds = match self {
            ProbeKind::Http(h) => h.interval_seconds,
            ProbeKind::Prometheus(p) => p.interval_seconds,
        };
        // The CRD says 5..3600; a bad value offline or from an old schema must not spin.
        Duration::from_secs(u64::try_from(seconds).unwrap_or(30).clamp(5, 3600))
    }
}

/// The `http` and `prometheus` gates of a readiness object, with the checklist labels the
/// engine uses (so the keys match what the checks look up).
pub fn probe_specs(readiness: &DeploymentReadiness, checklists: Checklists<'_>) -> Vec<ProbeSpec> {
    let name = readiness.metadata.name.clone().unwrap_or_default();
    let resolved = resolve(readiness, checklists, "");
    resolved
        .gates()
        .into_iter()
        .filter_map(|gate| {
            // An item with several kinds is not judged, so not probed either.
            let kind = match (gate.item.check()?.0, &gate.item.http, &gate.item.prometheus) {
                ("http", Some(h), _) => ProbeKind::Http(h.clone()),
                ("prometheus", _, Some(p)) => ProbeKind::Prometheus(p.clone()),
                _ => return None,
            };
            let key = GateKey {
                readiness: name.clone(),
                checklist: gate.checklist.to_string(),
                item: gate.item.name.clone(),
            };
            Some(ProbeSpec { key, kind })
        })
        .collect()
}

/// The probing service. Cheap to clone.
#[derive(Clone)]
pub struct Prober {
    inner: Arc<Inner>,
}

struct Inner {
    guard: Guard,
    prometheus_url: Option<Url>,
    http: reqwest::Client,
    prometheus: reqwest::Client,
    /// Probe permits: all of them, then per namespace and per readiness object (created on
    /// first use). A probe holds one of each, taken object first, so a tenant waiting on its
    /// own caps holds none of the shared ones.
    permits: Arc<Semaphore>,
    namespace_permits: Mutex<HashMap<String, Arc<Semaphore>>>,
    object_permits: Mutex<HashMap<ObjectRef<DeploymentReadiness>, Arc<Semaphore>>>,
    namespace_concurrency: usize,
    object_concurrency: usize,
    max_timeout: Duration,
    metrics: ProbeMetrics,
    cluster: Arc<dyn ClusterView>,
    trigger: mpsc::Sender<ObjectRef<DeploymentReadiness>>,
    /// Running probe tasks by readiness object and gate.
    running: Mutex<HashMap<ObjectRef<DeploymentReadiness>, HashMap<GateKey, Running>>>,
    /// Latest observations by namespace and gate.
    results: RwLock<HashMap<(String, GateKey), ProbeObservation>>,
}

struct Running {
    spec: ProbeSpec,
    task: AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(running) = self.running.get_mut() {
            running
                .values()
                .flat_map(|gates| gates.values())
                .for_each(|r| r.task.abort());
        }
    }
}

impl Prober {
    /// `trigger` receives the readiness objects whose probe results changed.
    pub fn new(
        config: ProbeConfig,
        guard: Guard,
        cluster: Arc<dyn ClusterView>,
        trigger: mpsc::Sender<ObjectRef<DeploymentReadiness>>,
    ) -> reqwest::Result<Self> {
        Ok(Prober {
            inner: Arc::new(Inner {
                guard,
                prometheus_url: config.prometheus_url,
                http: http::client()?,
                prometheus: prometheus::client()?,
                permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
                namespace_permits: Mutex::new(HashMap::new()),
                object_permits: Mutex::new(HashMap::new()),
                namespace_concurrency: config.namespace_concurrency.max(1),
                object_concurrency: config.object_concurrency.max(1),
                max_timeout: config.max_timeout.max(Duration::from_secs(1)),
                metrics: config.metrics,
                cluster,
                trigger,
                running: Mutex::new(HashMap::new()),
                results: RwLock::new(HashMap::new()),
            }),
        })
    }

    /// Probe exactly these gates of one readiness object from now on: new gates start at once,
    /// changed ones restart (their old results dropped), gates no longer listed stop.
    pub fn register(&self, readiness: &ObjectRef<DeploymentReadiness>, specs: Vec<ProbeSpec>) {
        let namespace = readiness.namespace.clone().unwrap_or_default();
        let Ok(mut running) = self.inner.running.lock() else {
            return;
        };
        let gates = running.entry(readiness.clone()).or_default();
        let mut stale: Vec<GateKey> = Vec::new();
        gates.retain(|key, r| {
            let keep = specs.iter().any(|s| s.key == *key && s.kind == r.spec.kind);
            if !keep {
                r.task.abort();
                stale.push(key.clone());
            }
            keep
        });
        for spec in specs {
            if gates.contains_key(&spec.key) {
                continue;
            }
            let task = tokio::spawn(probe_loop(
                Arc::downgrade(&self.inner),
                readiness.clone(),
                spec.clone(),
            ))
            .abort_handle();
            gates.insert(spec.key.clone(), Running { spec, task });
        }
        if gates.is_empty() {
            running.remove(readiness);
            if let Ok(mut permits) = self.inner.object_permits.lock() {
                permits.remove(readiness);
            }
        }
        drop(running);
        if !stale.is_empty()
            && let Ok(mut results) = self.inner.results.write()
        {
            for key in stale {
                results.remove(&(namespace.clone(), key));
            }
        }
    }

    /// Stop probing a readiness object and drop its results (it was deleted).
    pub fn forget(&self, readiness: &ObjectRef<DeploymentReadiness>) {
        self.register(readiness, Vec::new());
    }

    /// The observations of one readiness object's gates, for its snapshot.
    pub fn observations(
        &self,
        namespace: &str,
        readiness: &str,
    ) -> BTreeMap<GateKey, ProbeObservation> {
        let Ok(results) = self.inner.results.read() else {
            return BTreeMap::new();
        };
        results
            .iter()
            .filter(|((ns, key), _)| ns == namespace && key.readiness == readiness)
            .map(|((_, key), o)| (key.clone(), o.clone()))
            .collect()
    }

    /// How many gates are being probed (for tests and metrics).
    pub fn probing(&self) -> usize {
        self.inner
            .running
            .lock()
            .map(|r| r.values().map(HashMap::len).sum())
            .unwrap_or(0)
    }
}

/// Probe one gate every interval until aborted (or the prober is gone).
async fn probe_loop(
    inner: std::sync::Weak<Inner>,
    readiness: ObjectRef<DeploymentReadiness>,
    spec: ProbeSpec,
) {
    let namespace = readiness.namespace.clone().unwrap_or_default();
    let interval = spec.kind.interval();
    let mut attempt: usize = 0;
    loop {
        let Some(prober) = inner.upgrade() else {
            return;
        };
        if !prober.cluster.readiness_exists(&readiness) {
            prober.stop(&readiness, &spec.key);
            return;
        }
        let outcome = {
            let Some(_permits) = prober.permits(&readiness).await else {
                return;
            };
            let started = std::time::Instant::now();
            // Each probe bounds itself; this bounds whatever it might wait on besides.
            let limit = prober.max_timeout + Duration::from_secs(1);
            let outcome = match tokio::time::timeout(
                limit,
                run_probe(&prober, &namespace, &spec.kind, attempt),
            )
            .await
            {
                Ok(outcome) => outcome,
                Err(_) => ProbeOutcome::Error(format!("timed out after {}s", limit.as_secs())),
            };
            prober.record(&namespace, &spec.kind, &outcome, started.elapsed());
            outcome
        };
        attempt = attempt.wrapping_add(1);
        let now = Timestamp::now();
        let key = (namespace.clone(), spec.key.clone());
        let changed = match prober.results.write() {
            Ok(mut results) => {
                let previous = results.get(&key).cloned();
                let next = observe(previous.as_ref(), outcome, &spec.kind, now);
                let changed = changes_verdict(previous.as_ref(), &next, &spec.kind);
                results.insert(key, next);
                changed
            }
            Err(_) => false,
        };
        if changed {
            debug!(readiness = %readiness, gate = %spec.key.item, "probe result changed");
            if let Err(e) = prober.trigger.try_send(readiness.clone()) {
                // A full queue already holds reconciles; the periodic resync covers a lost one.
                warn!(readiness = %readiness, error = %e, "cannot queue a reconcile after a probe");
            }
        }
        drop(prober);
        tokio::time::sleep(interval).await;
    }
}

/// The permits one probe holds while it runs.
struct Permits {
    _object: tokio::sync::OwnedSemaphorePermit,
    _namespace: tokio::sync::OwnedSemaphorePermit,
    _all: tokio::sync::OwnedSemaphorePermit,
}

/// Whether a probe outcome is a time-out (the probes word them so).
fn timed_out(outcome: &ProbeOutcome) -> bool {
    matches!(outcome, ProbeOutcome::Error(reason)
        if reason.starts_with("timed out after") || reason.starts_with("Prometheus did not answer within"))
}

impl Inner {
    /// Wait for a permit of the readiness object, then of its namespace, then a shared one.
    async fn permits(&self, readiness: &ObjectRef<DeploymentReadiness>) -> Option<Permits> {
        let namespace = readiness.namespace.clone().unwrap_or_default();
        let object = self
            .object_permits
            .lock()
            .ok()?
            .entry(readiness.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(self.object_concurrency)))
            .clone();
        let in_namespace = self
            .namespace_permits
            .lock()
            .ok()?
            .entry(namespace)
            .or_insert_with(|| Arc::new(Semaphore::new(self.namespace_concurrency)))
            .clone();
        let object = object.acquire_owned().await.ok()?;
        let in_namespace = in_namespace.acquire_owned().await.ok()?;
        let all = self.permits.clone().acquire_owned().await.ok()?;
        Some(Permits {
            _object: object,
            _namespace: in_namespace,
            _all: all,
        })
    }

    fn record(&self, namespace: &str, kind: &ProbeKind, outcome: &ProbeOutcome, took: Duration) {
        if timed_out(outcome) {
            self.metrics
                .timeouts
                .get_or_create(&ProbeTimeoutLabels {
                    namespace: namespace.to_string(),
                    kind: kind.name(),
                })
                .inc();
        }
        let result = match outcome {
            ProbeOutcome::Error(_) => "error",
            ProbeOutcome::Refused(_) => "refused",
            _ if succeeded(outcome, kind) => "success",
            _ => "failure",
        };
        self.metrics
            .probes
            .get_or_create(&ProbeLabels {
                kind: kind.name(),
                result,
            })
            .inc();
        self.metrics
            .duration
            .get_or_create(&ProbeKindLabel { kind: kind.name() })
            .observe(took.as_secs_f64());
    }

    /// Forget one gate from inside its own task (which then ends).
    fn stop(&self, readiness: &ObjectRef<DeploymentReadiness>, key: &GateKey) {
        if let Ok(mut running) = self.running.lock()
            && let Some(gates) = running.get_mut(readiness)
        {
            gates.remove(key);
            if gates.is_empty() {
                running.remove(readiness);
            }
        }
        if let Ok(mut results) = self.results.write() {
            results.remove(&(readiness.namespace.clone().unwrap_or_default(), key.clone()));
        }
    }
}

async fn run_probe(
    prober: &Inner,
    namespace: &str,
    kind: &ProbeKind,
    attempt: usize,
) -> ProbeOutcome {
    match kind {
        ProbeKind::Http(h) => {
            if !prober.guard.knows_api_server() {
                // Not a verdict on the gate: gonogo itself is not ready to probe safely.
                return ProbeOutcome::Error(
                    "not probed yet: gonogo has not read the Kubernetes API server's addresses, which http probes must avoid (see the operator's log)".into(),
                );
            }
            let service = prober.cluster.service(namespace, &h.service);
            let slices = prober.cluster.endpoint_slices(namespace, &h.service);
            let pods = prober.cluster.pods(namespace);
            let addresses: Vec<SocketAddr> = match http::resolve(
                namespace,
                &h.service,
                service.as_deref(),
                &slices,
                &pods,
                &h.port,
                &prober.guard,
            ) {
                Ok(addresses) => addresses,
                Err(outcome) => return outcome,
            };
            // Take turns among ready endpoints: over time every pod answers.
            let Some(address) = addresses.get(attempt % addresses.len().max(1)).copied() else {
                return ProbeOutcome::Error(format!(
                    "Service {} has no ready endpoints",
                    h.service
                ));
            };
            let timeout =
                Duration::from_secs(u64::try_from(h.timeout_seconds).unwrap_or(5).clamp(1, 60))
                    .min(prober.max_timeout);
            let request = http::Request {
                scheme: &h.scheme,
                address,
                method: &h.method,
                path: &h.path,
                body_contains: h.body_contains.as_deref(),
                body_json: &h.body_json,
                timeout,
            };
            http::probe_once(&prober.http, &prober.guard, &request).await
        }
        ProbeKind::Prometheus(p) => match &prober.prometheus_url {
            Some(url) => {
                let timeout = QUERY_TIMEOUT.min(prober.max_timeout);
                prometheus::query_once(&prober.prometheus, url, &p.query, timeout).await
            }
            None => ProbeOutcome::Refused(
                "no Prometheus address is configured (gonogo run --prometheus-url)".into(),
            ),
        },
    }
}

/// Whether an outcome counts as a success for the gate's own condition.
fn succeeded(outcome: &ProbeOutcome, kind: &ProbeKind) -> bool {
    match (outcome, kind) {
        (
            ProbeOutcome::Http {
                status,
                body_matched,
            },
            ProbeKind::Http(h),
        ) => {
            h.expected_status.contains(&i32::from(*status))
                && ((h.body_contains.is_none() && h.body_json.is_empty())
                    || *body_matched == Some(true))
        }
        (ProbeOutcome::Value(Some(v)), ProbeKind::Prometheus(p)) => {
            !v.is_nan() && prometheus::holds(&p.operator, *v, p.threshold)
        }
        _ => false,
    }
}

/// The next observation after `previous`: successes count up and `holding_since` stays while
/// the condition holds; any other result resets both.
pub fn observe(
    previous: Option<&ProbeObservation>,
    outcome: ProbeOutcome,
    kind: &ProbeKind,
    now: Timestamp,
) -> ProbeObservation {
    if succeeded(&outcome, kind) {
        ProbeObservation {
            at: now,
            outcome,
            consecutive_successes: previous
                .map_or(0, |p| p.consecutive_successes)
                .saturating_add(1),
            holding_since: Some(previous.and_then(|p| p.holding_since).unwrap_or(now)),
        }
    } else {
        ProbeObservation {
            at: now,
            outcome,
            consecutive_successes: 0,
            holding_since: None,
        }
    }
}

/// Whether `next` may change what the gate says compared with `previous` (each judged at the
/// time it was made, so a `for` that has been held since shows up as a change).
fn changes_verdict(
    previous: Option<&ProbeObservation>,
    next: &ProbeObservation,
    kind: &ProbeKind,
) -> bool {
    previous.map(|p| signature(p, kind, p.at)) != Some(signature(next, kind, next.at))
}

/// What of an observation can change a gate's verdict: the kind of answer (status code, pass
/// or fail against the threshold, the error), successes still counting toward the threshold,
/// and whether `for` has been held. A new metric value on the same side of the threshold does
/// not count, so a steady gate does not rewrite its status at every probe.
#[derive(Debug, PartialEq)]
struct Signature {
    answer: String,
    counting: u32,
    held: bool,
}

fn signature(observation: &ProbeObservation, kind: &ProbeKind, now: Timestamp) -> Signature {
    let success = succeeded(&observation.outcome, kind);
    let answer = match &observation.outcome {
        ProbeOutcome::Http {
            status,
            body_matched,
        } => format!("http {status} {body_matched:?}"),
        ProbeOutcome::Value(None) => "no data".into(),
        ProbeOutcome::Value(Some(v)) if v.is_nan() => "NaN".into(),
        ProbeOutcome::Value(Some(_)) => format!("value success={success}"),
        ProbeOutcome::Error(reason) => format!("error {reason}"),
        ProbeOutcome::Refused(reason) => format!("refused {reason}"),
    };
    let (counting, held) = match kind {
        ProbeKind::Http(h) => {
            let needed = u32::try_from(h.success_threshold.max(1)).unwrap_or(1);
            (observation.consecutive_successes.min(needed), false)
        }
        ProbeKind::Prometheus(p) => {
            let hold = p
                .hold_for
                .as_deref()
                .and_then(|d| d.parse::<SignedDuration>().ok());
            let held = match (hold, observation.holding_since) {
                (Some(hold), Some(since)) => now.duration_since(since) >= hold,
                _ => false,
            };
            (0, held)
        }
    };
    Signature {
        answer,
        counting,
        held,
    }
}

#[cfg(test)]
mod tests;
