//! The controller's part of the table of related kinds: one guarded watch and reflector store
//! per kind, and the mapper from a changed object to the readiness objects it affects.

use std::any::Any;

use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource};
use std::sync::Arc;

use super::guard::UnreadableObjects;
use super::index::RelationIndex;
use super::metrics::Metrics;
use super::stores::{self, RelatedStore};
use crate::api::DeploymentReadiness;
use crate::engine::related::{
    ChooseByScope, EachRelatedKind, KnownScope, RelatedKind, Scope, relates_now,
};
use crate::probe::certificate::CertificateCache;

/// Objects per list page of the kinds whose objects may each hold up to 1 MiB of values
/// (Secrets, ConfigMaps). A page is held whole, as JSON and decoded, before its objects are
/// trimmed: at the default 500 a page of 400 KiB Secrets took the controller to 560 MiB
/// (`tests/secret_memory_e2e.rs`), over the chart's 256 Mi limit.
const LARGE_OBJECTS_PAGE: u32 = 25;

/// Starts the watch of every related kind (see [`crate::engine::for_each_related_kind`]).
pub struct WatchRelated {
    pub client: Client,
    /// Watch only these namespaces (namespaced kinds); empty: every namespace.
    pub namespaces: Vec<String>,
    /// Kinds not watched at all, with why (see [`stores::Unread`]).
    pub unread: std::collections::BTreeMap<&'static str, String>,
    pub metrics: Arc<Metrics>,
    pub unreadable: UnreadableObjects,
    pub readiness: Store<DeploymentReadiness>,
    pub index: RelationIndex,
    /// Fed from the Secret watch before values are stripped.
    pub certificates: CertificateCache,
    /// The stores, in table order.
    pub stores: Vec<Box<dyn RelatedStore>>,
    /// Per kind: the readiness objects each change affects.
    pub triggers: Vec<BoxStream<'static, ObjectRef<DeploymentReadiness>>>,
}

impl EachRelatedKind for WatchRelated {
    fn kind<K: RelatedKind>(&mut self) {
        if let Some(why) = self.unread.get(K::KIND) {
            self.stores.push(Box::new(stores::Unread {
                kind: K::KIND,
                why: why.clone(),
            }));
            self.triggers.push(futures::stream::empty().boxed());
            return;
        }
        let apis = <K::Scope as KnownScope>::choose::<K, _>(ApiOf {
            client: self.client.clone(),
            namespaces: &self.namespaces,
        });
        let certificates = self.certificates.clone();
        let observe = move |event: &watcher::Event<K>| {
            // Certificate facts are read from Secrets here, the only moment their values are
            // in memory.
            if let Some(event) = (event as &dyn Any).downcast_ref::<watcher::Event<Secret>>() {
                certificates.observe(event);
            }
        };
        let (store, events) = stores::watch_observed(
            apis,
            K::WATCH_FIELDS,
            matches!(K::KIND, "Secret" | "ConfigMap").then_some(LARGE_OBJECTS_PAGE),
            K::trim,
            self.metrics.clone(),
            &self.unreadable,
            observe,
        );
        debug_assert_eq!(self.stores.len(), K::ORDINAL, "stores in table order");
        self.stores.push(Box::new(store));
        let affected = mapper::<K>(self.readiness.clone(), self.index.clone());
        self.triggers.push(
            events
                .flat_map(move |event| {
                    futures::stream::iter(event.map(&affected).unwrap_or_default())
                })
                .boxed(),
        );
    }
}

/// The `Api`s a kind is watched through: one per watched namespace or one over all of them, or
/// the whole cluster.
struct ApiOf<'a> {
    client: Client,
    namespaces: &'a [String],
}

impl<K: RelatedKind> ChooseByScope<K> for ApiOf<'_> {
    type Out = Vec<Api<K>>;

    fn namespaced(self) -> Vec<Api<K>>
    where
        K: Resource<Scope = NamespaceResourceScope>,
    {
        super::namespaces::apis(&self.client, self.namespaces)
    }

    fn cluster(self) -> Vec<Api<K>> {
        vec![Api::all(self.client)]
    }
}

/// Every readiness object.
pub fn all_readiness(store: &Store<DeploymentReadiness>) -> Vec<ObjectRef<DeploymentReadiness>> {
    store
        .state()
        .iter()
        .map(|r| ObjectRef::from_obj(r.as_ref()))
        .collect()
}

/// The readiness objects in a namespace.
pub fn readiness_in(
    store: &Store<DeploymentReadiness>,
    namespace: &str,
) -> Vec<ObjectRef<DeploymentReadiness>> {
    store
        .state_filter(|r| r.metadata.namespace.as_deref() == Some(namespace))
        .iter()
        .map(|r| ObjectRef::from_obj(r.as_ref()))
        .collect()
}

/// Maps a changed object to the readiness objects it affects: those whose last verdict read
/// it, and those it relates to now ([`relates_now`]); of its namespace, or of every namespace
/// for a cluster-scoped kind.
fn mapper<K: RelatedKind>(
    readiness: Store<DeploymentReadiness>,
    index: RelationIndex,
) -> impl Fn(K) -> Vec<ObjectRef<DeploymentReadiness>> + Send + Sync + 'static {
    move |object: K| {
        let Some(name) = object.meta().name.clone() else {
            return Vec::new();
        };
        let candidates = match (K::SCOPE, object.meta().namespace.as_deref()) {
            (Scope::Cluster, _) => all_readiness(&readiness),
            (Scope::Namespaced, Some(namespace)) => readiness_in(&readiness, namespace),
            (Scope::Namespaced, None) => return Vec::new(),
        };
        index.affected(candidates, K::KIND, &name, |deps| {
            relates_now(&object, deps)
        })
    }
}
