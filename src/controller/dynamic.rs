//! Watches of the kinds `resource` gates name: any kind the API server serves, started on
//! demand when a gate first names it, found through discovery (a CRD installed later is found
//! without a restart: discovery is asked again every few seconds while the kind is missing),
//! and reported to the engine as objects or as why they cannot be read.
//!
//! Each store keeps the objects as JSON without managed fields, indexed by name and by label
//! ([`KindIndex`]): a snapshot holds the objects its gates pick, not every object of the kind.
//! A watch that cannot list (RBAC) keeps retrying with the usual backoff; gates on its kind are
//! Unknown, naming the missing permission, and nothing else waits for it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::discovery::Scope as DiscoveryScope;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use super::kind_index::KindIndex;
use crate::engine::{ResourceKind, ResourcePick, Resources};

/// How often discovery is asked again for a kind the API server does not serve (yet).
const REDISCOVER: Duration = Duration::from_secs(5);

/// A change to objects of a kind.
pub struct Change {
    pub kind: ResourceKind,
    /// The changed object's namespace; `None` for a cluster-scoped kind (every readiness
    /// object may read it) or a change to the whole kind.
    pub namespace: Option<String>,
    /// The changed object's name and its labels before and after; `None` for a change to
    /// the whole kind (a relist, the kind appearing, going or becoming readable).
    pub object: Option<(String, Vec<BTreeMap<String, String>>)>,
}

impl Change {
    fn whole(kind: &ResourceKind) -> Change {
        Change {
            kind: kind.clone(),
            namespace: None,
            object: None,
        }
    }
}

/// The watches, by kind. Cheap to clone.
#[derive(Clone)]
pub struct DynamicWatches {
    client: Client,
    /// Watched namespaces (namespaced kinds); empty: every namespace.
    namespaces: Vec<String>,
    changes: UnboundedSender<Change>,
    watches: Arc<Mutex<HashMap<ResourceKind, Watch>>>,
}

struct Watch {
    state: Arc<RwLock<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

enum State {
    Unavailable(String),
    Watching {
        cluster_scoped: bool,
        objects: KindIndex,
        /// Filled during a relist, swapped in when it is done.
        relist: Option<Box<KindIndex>>,
        listed: bool,
    },
}

impl DynamicWatches {
    pub fn new(client: Client, namespaces: Vec<String>, changes: UnboundedSender<Change>) -> Self {
        DynamicWatches {
            client,
            namespaces,
            changes,
            watches: Arc::default(),
        }
    }

    /// What the engine may read from `namespace` of the objects `picks` select (the `resource`
    /// gates' kinds and names or selectors): those objects, or why their kind cannot be read.
    /// Starts the watches not started yet.
    pub fn resources(
        &self,
        picks: &[(ResourceKind, ResourcePick)],
        namespace: &str,
    ) -> BTreeMap<ResourceKind, Resources> {
        let mut by_kind: BTreeMap<&ResourceKind, Vec<&ResourcePick>> = BTreeMap::new();
        for (kind, pick) in picks {
            by_kind.entry(kind).or_default().push(pick);
        }
        let mut watches = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        by_kind
            .into_iter()
            .map(|(kind, picks)| {
                let watch = watches
                    .entry(kind.clone())
                    .or_insert_with(|| self.start(kind.clone()));
                let state = watch.state.read().unwrap_or_else(|e| e.into_inner());
                let resources = match &*state {
                    State::Unavailable(why) => Resources::Unavailable(why.clone()),
                    State::Watching { listed: false, .. } => Resources::Unavailable(format!(
                        "{}: gonogo is listing them (the watch has just started)",
                        kind.kind
                    )),
                    State::Watching {
                        cluster_scoped,
                        objects,
                        ..
                    } => Resources::Objects {
                        cluster_scoped: *cluster_scoped,
                        objects: objects
                            .picked(if *cluster_scoped { "" } else { namespace }, picks),
                    },
                };
                (kind.clone(), resources)
            })
            .collect()
    }

    /// Stops the watches of kinds no gate names any more.
    pub fn retain(&self, used: &BTreeSet<ResourceKind>) {
        let mut watches = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        watches.retain(|kind, _| used.contains(kind));
    }

    fn start(&self, kind: ResourceKind) -> Watch {
        let state = Arc::new(RwLock::new(State::Unavailable(format!(
            "{}: discovering the kind",
            kind.kind
        ))));
        let task = tokio::spawn(run(
            self.client.clone(),
            self.namespaces.clone(),
            kind,
            state.clone(),
            self.changes.clone(),
        ));
        Watch { state, task }
    }
}

fn gvk(kind: &ResourceKind) -> GroupVersionKind {
    let (group, version) = kind
        .api_version
        .rsplit_once('/')
        .unwrap_or(("", kind.api_version.as_str()));
    GroupVersionKind::gvk(group, version, &kind.kind)
}

/// Replaces the state; whether the gates would now say something else (a refusal repeated by
/// every retry is no news, and re-evaluating on it would be a loop).
fn set(state: &RwLock<State>, new: State) -> bool {
    let mut current = state.write().unwrap_or_else(|e| e.into_inner());
    let same =
        matches!((&*current, &new), (State::Unavailable(a), State::Unavailable(b)) if a == b);
    *current = new;
    !same
}

/// Discover the kind, then watch it for as long as it is served; discover again when it goes.
async fn run(
    client: Client,
    namespaces: Vec<String>,
    kind: ResourceKind,
    state: Arc<RwLock<State>>,
    changes: UnboundedSender<Change>,
) {
    let gvk = gvk(&kind);
    // Once served, a kind that goes away was deleted: say so for as long as it stays away.
    let mut was_served = false;
    loop {
        let (resource, capabilities) = match kube::discovery::pinned_kind(&client, &gvk).await {
            Ok(found) => found,
            Err(e) => {
                let why = match &e {
                    kube::Error::Api(status) if status.code != 404 => not_served(&kind, &e),
                    _ if was_served => no_longer_served(&kind),
                    _ => not_served(&kind, &e),
                };
                if set(&state, State::Unavailable(why)) {
                    let _ = changes.send(Change::whole(&kind));
                }
                tokio::time::sleep(REDISCOVER).await;
                continue;
            }
        };
        was_served = true;
        let cluster_scoped = capabilities.scope == DiscoveryScope::Cluster;
        let apis: Vec<Api<DynamicObject>> = if cluster_scoped || namespaces.is_empty() {
            vec![Api::all_with(client.clone(), &resource)]
        } else {
            namespaces
                .iter()
                .map(|ns| Api::namespaced_with(client.clone(), ns, &resource))
                .collect()
        };
        let _ = set(
            &state,
            State::Watching {
                cluster_scoped,
                objects: KindIndex::default(),
                relist: None,
                listed: false,
            },
        );
        watch(apis, &resource, cluster_scoped, &kind, &state, &changes).await;
        // The kind is gone (its CRD deleted): discover it again.
        tokio::time::sleep(REDISCOVER).await;
    }
}

/// Follows the watch (one per watched namespace, merged) until the kind is no longer served.
async fn watch(
    apis: Vec<Api<DynamicObject>>,
    resource: &ApiResource,
    cluster_scoped: bool,
    kind: &ResourceKind,
    state: &RwLock<State>,
    changes: &UnboundedSender<Change>,
) {
    let each = apis
        .into_iter()
        .map(|api| {
            let namespace = api.namespace().unwrap_or_default().to_string();
            let stream = watcher(api, watcher::Config::default().any_semantic())
                .backoff(super::stores::watch_backoff());
            (namespace, stream)
        })
        .collect();
    let tombstone = {
        let resource = resource.clone();
        Box::new(move |namespace: &str, name: &str| {
            let object = DynamicObject::new(name, &resource);
            if namespace.is_empty() {
                object
            } else {
                object.within(namespace)
            }
        })
    };
    let mut events = super::namespaces::merged(each, tombstone);
    // What was known before a refusal, kept until the kind can be read again: a watch that
    // resumes after a refusal (or another namespace's watch, which never stopped) goes on from
    // there without a new list.
    let mut before_refusal: Option<State> = None;
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                let code = status_code(&e);
                tracing::warn!(kind = %kind, error = %e, "resource watch failed; retrying");
                match code {
                    Some(403) => {
                        let refused = forbidden(kind, resource, cluster_scoped);
                        let mut current = state.write().unwrap_or_else(|e| e.into_inner());
                        let was_watching = matches!(&*current, State::Watching { .. });
                        let old = std::mem::replace(&mut *current, State::Unavailable(refused));
                        drop(current);
                        if was_watching {
                            before_refusal = Some(old);
                            let _ = changes.send(Change::whole(kind));
                        }
                    }
                    Some(404) => {
                        if set(state, State::Unavailable(no_longer_served(kind))) {
                            let _ = changes.send(Change::whole(kind));
                        }
                        return;
                    }
                    _ => {}
                }
                continue;
            }
        };
        let mut guard = state.write().unwrap_or_else(|e| e.into_inner());
        if let State::Unavailable(_) = &*guard {
            // Readable again after a refusal: as before it, or (refused from the start) not
            // listed yet.
            *guard = before_refusal.take().unwrap_or(State::Watching {
                cluster_scoped,
                objects: KindIndex::default(),
                relist: None,
                listed: false,
            });
            let _ = changes.send(Change::whole(kind));
        }
        let State::Watching {
            objects,
            relist,
            listed,
            ..
        } = &mut *guard
        else {
            continue;
        };
        let change = match event {
            watcher::Event::Init => {
                *relist = Some(Box::default());
                None
            }
            watcher::Event::InitApply(object) => {
                if let (Some(relist), Some(((namespace, name), value))) =
                    (relist.as_mut(), entry(object))
                {
                    relist.insert(namespace, name, value);
                }
                None
            }
            watcher::Event::InitDone => {
                *objects = relist.take().map(|r| *r).unwrap_or_default();
                *listed = true;
                Some(Change::whole(kind))
            }
            watcher::Event::Apply(object) => entry(object).map(|((namespace, name), value)| {
                let (new, old) = objects.insert(namespace.clone(), name.clone(), value);
                let labels = std::iter::once(new).chain(old).collect();
                changed(kind, cluster_scoped, (namespace, name), labels)
            }),
            watcher::Event::Delete(object) => entry(object).map(|((namespace, name), value)| {
                let labels = objects
                    .remove(&namespace, &name)
                    .unwrap_or_else(|| crate::checks::resource::labels(&value));
                changed(kind, cluster_scoped, (namespace, name), vec![labels])
            }),
        };
        drop(guard);
        if let Some(change) = change {
            let _ = changes.send(change);
        }
    }
}

/// One object changed: readiness objects of its namespace (of every namespace for a
/// cluster-scoped kind) whose gates could pick it by name or labels.
fn changed(
    kind: &ResourceKind,
    cluster_scoped: bool,
    (namespace, name): (String, String),
    labels: Vec<BTreeMap<String, String>>,
) -> Change {
    Change {
        kind: kind.clone(),
        namespace: (!cluster_scoped).then_some(namespace),
        object: Some((name, labels)),
    }
}

fn entry(object: DynamicObject) -> Option<((String, String), Arc<Value>)> {
    let key = (
        object.metadata.namespace.clone().unwrap_or_default(),
        object.metadata.name.clone()?,
    );
    let mut value = serde_json::to_value(object).ok()?;
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    Some((key, Arc::new(value)))
}

fn status_code(error: &watcher::Error) -> Option<u16> {
    match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => match e {
            kube::Error::Api(status) => Some(status.code),
            _ => None,
        },
        watcher::Error::WatchError(status) => Some(status.code),
        _ => None,
    }
}

fn not_served(kind: &ResourceKind, error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if status.code != 404 => format!(
            "{}: discovery of {} failed: {}",
            kind.kind, kind.api_version, status.message
        ),
        _ => format!(
            "no such kind: the API server serves no {} in {} (is its CRD installed?); gonogo looks again every {} s",
            kind.kind,
            kind.api_version,
            REDISCOVER.as_secs()
        ),
    }
}

fn no_longer_served(kind: &ResourceKind) -> String {
    format!(
        "no such kind: the API server no longer serves {} in {} (was its CRD deleted?); gonogo looks again every {} s",
        kind.kind,
        kind.api_version,
        REDISCOVER.as_secs()
    )
}

fn forbidden(kind: &ResourceKind, resource: &ApiResource, cluster_scoped: bool) -> String {
    format!(
        "gonogo may not list and watch {} ({}.{}): add {{apiGroup: {:?}, resources: [{}]}} to the chart value {}",
        kind.kind,
        resource.plural,
        if resource.group.is_empty() {
            "core"
        } else {
            &resource.group
        },
        resource.group,
        resource.plural,
        if cluster_scoped {
            "readClusterKinds"
        } else {
            "readKinds"
        }
    )
}
