//! Reflector stores of everything the engine may look at, fed by watches the controller drives.
//! Objects are trimmed before they reach a store: no managedFields, and no Secret or ConfigMap
//! values (key names only), so a heap dump of gonogo holds no secret.

use std::sync::Arc;

use std::any::Any;

use futures::future::BoxFuture;
use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, PodSpec, PodStatus, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use super::guard::{self, Tombstone, UnreadableObjects};
use super::index::TargetIndex;
use super::metrics::Metrics;
use super::namespaces;
use crate::api::{
    ChecklistKind, ClusterReadinessChecklist, DeploymentReadiness, ReadinessApproval,
    ReadinessChecklist,
};
use crate::engine::related::{RelatedKind, Scope};
use crate::engine::{Report, Snapshot, Source, Workload, WorkloadKind};
use crate::probe::ClusterView;

/// Read handles on every store. Cheap to clone.
#[derive(Clone)]
pub struct Stores {
    pub readiness: Store<DeploymentReadiness>,
    /// DeploymentReadiness objects by target.
    pub targets: TargetIndex,
    pub deployments: Store<Deployment>,
    pub stateful_sets: Store<StatefulSet>,
    pub daemon_sets: Store<DaemonSet>,
    pub checklists: Store<ReadinessChecklist>,
    pub cluster_checklists: Store<ClusterReadinessChecklist>,
    pub approvals: Store<ReadinessApproval>,
    /// Pods, trimmed by [`trim_pod`]: only for vetting `http` gate endpoints.
    pub pods: Store<Pod>,
    /// One store per related kind, in the order of the table (`engine::for_each_related_kind`).
    pub related: Arc<Vec<Box<dyn RelatedStore>>>,
    /// Objects of the watched kinds that gonogo cannot read, left out of the stores.
    pub unreadable: UnreadableObjects,
}

impl Stores {
    /// Wait until every store has its initial list.
    pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        macro_rules! wait {
            ($($store:ident),+) => {$(
                wait_ready(&self.$store).await?;
                tracing::debug!(store = stringify!($store), "store synced");
            )+};
        }
        wait!(
            readiness,
            deployments,
            stateful_sets,
            daemon_sets,
            checklists,
            cluster_checklists,
            approvals,
            pods
        );
        for store in self.related.iter() {
            store.wait_ready().await?;
        }
        Ok(())
    }

    /// A StatefulSet or DaemonSet from its store (Deployments: `reconcile::fresh_target`,
    /// which knows gonogo's own recent writes).
    pub fn workload(&self, namespace: &str, kind: WorkloadKind, name: &str) -> Option<Workload> {
        match kind {
            WorkloadKind::Deployment => self
                .deployments
                .get(&at(namespace, name))
                .map(Workload::from),
            WorkloadKind::StatefulSet => self
                .stateful_sets
                .get(&at(namespace, name))
                .map(Workload::from),
            WorkloadKind::DaemonSet => self
                .daemon_sets
                .get(&at(namespace, name))
                .map(Workload::from),
        }
    }

    /// The snapshot for one workload, from the stores: pointer copies, no API calls.
    pub fn snapshot(
        &self,
        namespace: &str,
        workload: Option<Workload>,
        now: jiff::Timestamp,
    ) -> Snapshot {
        let mut s = Snapshot::new(namespace, now, Source::Cluster);
        s.workload = workload;
        s.approvals = in_namespace(&self.approvals, namespace);
        for store in self.related.iter() {
            store.fill(namespace, &mut s);
        }
        s
    }

    /// The store of one related kind.
    pub fn of<K: RelatedKind>(&self) -> &Store<K> {
        self.related[K::ORDINAL]
            .as_any()
            .downcast_ref()
            .expect("the stores are built in table order")
    }

    pub fn checklists_in(&self, namespace: &str) -> Vec<Arc<ReadinessChecklist>> {
        in_namespace(&self.checklists, namespace)
    }

    /// A referenced checklist missing from the store because gonogo cannot read it is
    /// reported as such (reason `ChecklistUnreadable`, with the field), not as not found.
    pub fn explain_unreadable_checklists(
        &self,
        readiness: &DeploymentReadiness,
        report: &mut Report,
    ) {
        for (i, r) in readiness.spec.checklists.iter().enumerate() {
            let unreadable = match r.kind {
                ChecklistKind::ReadinessChecklist => self.unreadable.get(
                    "ReadinessChecklist",
                    readiness.metadata.namespace.as_deref(),
                    &r.name,
                ),
                ChecklistKind::ClusterReadinessChecklist => {
                    self.unreadable
                        .get("ClusterReadinessChecklist", None, &r.name)
                }
            };
            let Some(bad) = unreadable else { continue };
            let prefix = format!("spec.checklists[{i}]:");
            for problem in report
                .problems
                .iter_mut()
                .filter(|p| p.reason == "ChecklistNotFound" && p.message.starts_with(&prefix))
            {
                problem.reason = "ChecklistUnreadable";
                problem.message = format!(
                    "{prefix} {} exists but gonogo cannot read it: {}; fix that field in the checklist",
                    bad.object(),
                    bad.field_error()
                );
            }
        }
    }

    /// DeploymentReadiness objects in a namespace that target this workload.
    pub fn readiness_for(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
    ) -> Vec<Arc<DeploymentReadiness>> {
        self.targets
            .targeting(namespace, kind, name)
            .iter()
            .filter_map(|name| self.readiness.get(&ObjectRef::new(name).within(namespace)))
            .collect()
    }
}

/// The reference to the object `name` of kind `K` in `namespace`.
fn at<K: Resource<DynamicType = ()>>(namespace: &str, name: &str) -> ObjectRef<K> {
    ObjectRef::new(name).within(namespace)
}

/// `Store::wait_until_ready` wakes only one of several concurrent waiters (it polls a oneshot
/// receiver), and the controller itself waits on the readiness store; poll it with a timeout.
async fn wait_ready<K: Resource + Clone + 'static>(
    store: &Store<K>,
) -> Result<(), reflector::store::WriterDropped>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        if let Ok(result) = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            store.wait_until_ready(),
        )
        .await
        {
            return result;
        }
    }
}

/// The prober resolves `http` gates through the same stores the engine reads.
impl ClusterView for Stores {
    fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>> {
        self.of::<Service>()
            .get(&ObjectRef::new(name).within(namespace))
    }

    fn endpoint_slices(&self, namespace: &str, service: &str) -> Vec<Arc<EndpointSlice>> {
        self.of::<EndpointSlice>().state_filter(|s| {
            s.metadata.namespace.as_deref() == Some(namespace)
                && s.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("kubernetes.io/service-name"))
                    .map(String::as_str)
                    == Some(service)
        })
    }

    fn pods(&self, namespace: &str) -> Vec<Arc<Pod>> {
        self.pods
            .state_filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
    }

    fn readiness_exists(&self, readiness: &ObjectRef<DeploymentReadiness>) -> bool {
        self.readiness.get(readiness).is_some()
    }
}

fn in_namespace<K: Resource<DynamicType = ()> + Clone + 'static>(
    store: &Store<K>,
    namespace: &str,
) -> Vec<Arc<K>> {
    let mut objects = store.state_filter(|o| o.meta().namespace.as_deref() == Some(namespace));
    // Deterministic order: same inputs, same verdict messages.
    objects.sort_by(|a, b| a.meta().name.cmp(&b.meta().name));
    objects
}

/// Remove what gonogo never needs before an object is stored.
pub fn trim<K: Resource>(object: &mut K) {
    crate::engine::related::trim_metadata(object);
}

/// A Pod as the prober needs it, and no more: name, namespace, labels, `hostNetwork`, phase
/// and Pod IPs. Everything else (the spec's containers, env, volumes, the status' conditions)
/// is dropped before the Pod is stored.
pub fn trim_pod(pod: &mut Pod) {
    let metadata = &mut pod.metadata;
    *metadata = kube::api::ObjectMeta {
        name: metadata.name.take(),
        namespace: metadata.namespace.take(),
        labels: metadata.labels.take(),
        resource_version: metadata.resource_version.take(),
        uid: metadata.uid.take(),
        ..Default::default()
    };
    pod.spec = Some(PodSpec {
        host_network: pod.spec.as_ref().and_then(|s| s.host_network),
        ..Default::default()
    });
    pod.status = pod.status.take().map(|status| PodStatus {
        phase: status.phase,
        pod_ip: status.pod_ip,
        pod_ips: status.pod_ips,
        ..Default::default()
    });
}

/// The store of one related kind, whatever the kind.
pub trait RelatedStore: Send + Sync {
    fn wait_ready(&self) -> BoxFuture<'_, Result<(), reflector::store::WriterDropped>>;
    /// Put the objects a snapshot of `namespace` holds into it.
    fn fill(&self, namespace: &str, snapshot: &mut Snapshot);
    fn as_any(&self) -> &dyn Any;
}

/// A kind not read at all (turned off by a flag): always ready, and every snapshot says why
/// its objects are not known.
pub struct Unread {
    pub kind: &'static str,
    pub why: String,
}

impl RelatedStore for Unread {
    fn wait_ready(&self) -> BoxFuture<'_, Result<(), reflector::store::WriterDropped>> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn fill(&self, _namespace: &str, snapshot: &mut Snapshot) {
        snapshot.unread.insert(self.kind, self.why.clone());
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<K: RelatedKind> RelatedStore for Store<K> {
    fn wait_ready(&self) -> BoxFuture<'_, Result<(), reflector::store::WriterDropped>> {
        Box::pin(async move {
            wait_ready(self).await?;
            tracing::debug!(kind = K::KIND, "store synced");
            Ok(())
        })
    }

    fn fill(&self, namespace: &str, snapshot: &mut Snapshot) {
        *K::of_mut(snapshot) = match K::SCOPE {
            Scope::Namespaced => in_namespace(self, namespace),
            Scope::Cluster => {
                let mut all = self.state();
                all.sort_by(|a, b| a.meta().name.cmp(&b.meta().name));
                all
            }
        };
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Retry delays of a failed watch: 250 ms doubling to at most 2 s (plus up to as much jitter),
/// reset by the first event after a success. kube's default grows to 30 s and resets only after
/// 120 s, which left the controller blind for up to a minute after an API server outage.
pub fn watch_backoff() -> watcher::ExponentialBackoff {
    backon::ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(250))
        .with_max_delay(std::time::Duration::from_secs(2))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .into()
}

/// A reflector-backed watch stream of one kind: every change is trimmed, stored, and yielded
/// (for mapping to the DeploymentReadiness objects it affects). Watch errors back off and
/// retry; they are counted, never fatal. An object gonogo cannot read is left out of the store
/// and recorded in `unreadable`; the rest of the kind is unaffected.
pub fn watch<K>(
    apis: Vec<Api<K>>,
    trim_fn: fn(&mut K),
    metrics: Arc<Metrics>,
    unreadable: &UnreadableObjects,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Tombstone<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    watch_observed(apis, None, None, trim_fn, metrics, unreadable, |_| {})
}

/// [`watch`], with `observe` seeing every event before the objects are trimmed (certificate
/// facts are read from Secrets there, the only moment their values are in memory). One watch
/// per `Api` (per watched namespace), merged into one ([`namespaces::merged`]).
pub fn watch_observed<K>(
    apis: Vec<Api<K>>,
    fields: Option<&str>,
    page_size: Option<u32>,
    trim_fn: fn(&mut K),
    metrics: Arc<Metrics>,
    unreadable: &UnreadableObjects,
    observe: impl FnMut(&watcher::Event<K>) + Send + 'static,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Tombstone<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let kind = K::kind(&()).to_string();
    let mut config = watcher::Config::default().any_semantic();
    if let Some(fields) = fields {
        config = config.fields(fields);
    }
    if let Some(page_size) = page_size {
        config = config.page_size(page_size);
    }
    let each = apis
        .into_iter()
        .map(|api| {
            let namespace = api.namespace().map(str::to_string);
            let mut readable =
                guard::readable_events::<K>(unreadable.clone(), namespace.clone(), |_| {});
            let (kind, metrics, watched) = (kind.clone(), metrics.clone(), namespace.clone());
            let stream = watcher(guard::guarded(api), config.clone())
                .backoff(watch_backoff())
                .inspect_err(move |e| {
                    tracing::warn!(
                        kind = %kind,
                        namespace = watched.as_deref().unwrap_or("(all)"),
                        error = %e,
                        "watch failed; retrying"
                    );
                    metrics
                        .watch_restarts
                        .get_or_create(&super::metrics::KindLabel { kind: kind.clone() })
                        .inc();
                })
                // Logged, counted and retried above. Passed on, an error would pause every
                // trigger stream of the controller for its trigger backoff, one error after
                // another.
                .filter(|event| std::future::ready(event.is_ok()))
                .try_filter_map(move |event| std::future::ready(Ok(readable(event))));
            (namespace.unwrap_or_default(), stream)
        })
        .collect();
    let stream = namespaces::merged(each, Box::new(tombstone::<K>))
        .inspect_ok(observe)
        .modify(trim_fn)
        .reflect(writer)
        .touched_objects()
        .filter(|event| std::future::ready(event.is_ok()))
        .boxed();
    (reader, stream)
}

/// A deleted object of kind `K`, named only.
pub fn tombstone<K: Tombstone>(namespace: &str, name: &str) -> K {
    K::tombstone(kube::api::ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()).filter(|ns| !ns.is_empty()),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kube::runtime::utils::Backoff;

    #[test]
    fn watch_retries_stay_within_seconds_and_start_small_again_after_a_success() {
        let mut backoff = super::watch_backoff();
        let delays: Vec<Duration> = (0..30).filter_map(|_| backoff.next()).collect();
        assert_eq!(delays.len(), 30, "a watch never gives up");
        assert!(delays[0] < Duration::from_millis(500), "{delays:?}");
        // At most 2 s, plus as much jitter.
        assert!(
            delays.iter().all(|d| *d <= Duration::from_secs(4)),
            "{delays:?}"
        );
        backoff.reset();
        assert!(
            backoff
                .next()
                .is_some_and(|d| d < Duration::from_millis(500))
        );
    }
}
