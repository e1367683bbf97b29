//! Watches that one unreadable object cannot break.
//!
//! The API server may hold objects gonogo's types cannot represent (written under an older,
//! wider CRD schema; a Kubernetes kind newer than k8s-openapi). Decoded as `K`, one of them
//! fails the whole list, and so every object of the kind. Each object is therefore decoded on
//! its own ([`Guarded`]): an unreadable one is kept aside with the field path that failed, logged
//! once by kind, name and path (never its body), and left out of the store.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Patch, PatchParams};
use kube::core::DynamicResourceScope;
use kube::runtime::watcher;
use kube::{Api, Client, Resource};

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::enforce::FIELD_MANAGER;
use super::metrics::KindLabel;
use crate::api::DeploymentReadiness;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// An object as listed or watched: `K`, or why it could not be read as `K`.
#[derive(Clone, Debug)]
pub struct Guarded<K>(pub Result<K, Unreadable>);

/// An object whose JSON does not fit gonogo's type for its kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Unreadable {
    pub kind: String,
    pub metadata: ObjectMeta,
    /// The field that could not be read, e.g. `spec.waivers[0].expires` (`.` for the object).
    pub path: String,
    /// Why, without the object's body.
    pub error: String,
    /// The object's `status` as stored, to tell whether it already reports this.
    pub status: Option<serde_json::Value>,
}

impl Unreadable {
    pub fn namespace(&self) -> Option<&str> {
        self.metadata.namespace.as_deref()
    }

    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    /// `KIND NAMESPACE/NAME` (or `KIND NAME` for a cluster-scoped object).
    pub fn object(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name()),
            None => format!("{} {}", self.kind, self.name()),
        }
    }

    /// `spec.x: why`, for messages on the object and on those that use it.
    pub fn field_error(&self) -> String {
        format!("{}: {}", self.path, self.error)
    }
}

/// Values of these kinds are never repeated, not even in a decoding error.
const REDACTED_KINDS: &[&str] = &["Secret", "ConfigMap"];
/// A decoding error quotes at most this much (a long string value would otherwise follow).
const MAX_ERROR_CHARS: usize = 300;

impl<'de, K> Deserialize<'de> for Guarded<K>
where
    K: DeserializeOwned + Resource<DynamicType = ()>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Only a body that is not JSON at all fails here (and then the whole response is bad).
        let value = serde_json::Value::deserialize(deserializer)?;
        match serde_path_to_error::deserialize::<_, K>(&value) {
            Ok(object) => Ok(Guarded(Ok(object))),
            Err(e) => {
                let kind = K::kind(&()).into_owned();
                let path = e.path().to_string();
                let error = if REDACTED_KINDS.contains(&kind.as_str()) {
                    "the value does not have the expected type".to_string()
                } else {
                    shorten(&e.into_inner().to_string())
                };
                Ok(Guarded(Err(Unreadable {
                    kind,
                    metadata: metadata_of(&value),
                    path,
                    error,
                    status: value.get("status").cloned(),
                })))
            }
        }
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

/// The object's metadata, or as much of it as names the object.
fn metadata_of(value: &serde_json::Value) -> ObjectMeta {
    let metadata = &value["metadata"];
    ObjectMeta::deserialize(metadata).unwrap_or_else(|_| {
        let text = |key: &str| metadata[key].as_str().map(str::to_string);
        ObjectMeta {
            name: text("name"),
            namespace: text("namespace"),
            uid: text("uid"),
            resource_version: text("resourceVersion"),
            generation: metadata["generation"].as_i64(),
            ..ObjectMeta::default()
        }
    })
}

impl<K: Resource<DynamicType = ()>> Resource for Guarded<K> {
    type DynamicType = ();
    // Dynamic, so that one `Api` constructor serves namespaced and cluster-scoped kinds alike.
    type Scope = DynamicResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        match &self.0 {
            Ok(object) => object.meta(),
            Err(unreadable) => &unreadable.metadata,
        }
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match &mut self.0 {
            Ok(object) => object.meta_mut(),
            Err(unreadable) => &mut unreadable.metadata,
        }
    }
}

/// The same list and watch as `api`, each object decoded on its own.
pub fn guarded<K: Resource<DynamicType = ()>>(api: Api<K>) -> Api<Guarded<K>> {
    let namespace = api.namespace().map(str::to_string);
    let client = api.into_client();
    match namespace {
        Some(ns) => Api::namespaced_with(client, &ns, &()),
        None => Api::all_with(client, &()),
    }
}

/// An object of `K` with `metadata` only, standing in for an object that became unreadable
/// when the store must forget its last readable version.
pub trait Tombstone: Resource {
    fn tombstone(metadata: ObjectMeta) -> Self;
}

impl<K: Resource + Default> Tombstone for K {
    fn tombstone(metadata: ObjectMeta) -> Self {
        let mut object = K::default();
        *object.meta_mut() = metadata;
        object
    }
}

type Key = (String, Option<String>, String);

/// The objects every guarded watch currently cannot read. Cheap to clone.
#[derive(Clone, Default)]
pub struct UnreadableObjects {
    objects: Arc<Mutex<BTreeMap<Key, Unreadable>>>,
    /// `gonogo_unreadable_objects`, kept equal to the counts by kind.
    gauge: Family<KindLabel, Gauge>,
}

impl UnreadableObjects {
    pub fn new(gauge: Family<KindLabel, Gauge>) -> Self {
        UnreadableObjects {
            objects: Arc::default(),
            gauge,
        }
    }

    fn update_gauge(&self, objects: &BTreeMap<Key, Unreadable>, kind: &str) {
        let count = objects.keys().filter(|(k, _, _)| k == kind).count();
        self.gauge
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }
    pub fn get(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<Unreadable> {
        let key = (
            kind.to_string(),
            namespace.map(str::to_string),
            name.to_string(),
        );
        self.lock().get(&key).cloned()
    }

    /// How many objects of `kind` cannot be read.
    #[cfg(test)]
    pub fn count(&self, kind: &str) -> usize {
        self.lock().keys().filter(|(k, _, _)| k == kind).count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Unreadable>> {
        // A panic elsewhere while holding the lock leaves the map itself intact.
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records an unreadable object; true when it is new or fails differently than before (a
    /// re-list, or gonogo's own status write, repeats the same object: one warning is enough).
    fn record(&self, unreadable: &Unreadable) -> bool {
        let key = key_of(&unreadable.kind, &unreadable.metadata);
        let mut objects = self.lock();
        let changed = objects
            .get(&key)
            .is_none_or(|known| known.path != unreadable.path || known.error != unreadable.error);
        objects.insert(key, unreadable.clone());
        self.update_gauge(&objects, &unreadable.kind);
        changed
    }

    /// Forgets an object (deleted, or readable again); true when it was recorded.
    fn forget(&self, kind: &str, metadata: &ObjectMeta) -> bool {
        let mut objects = self.lock();
        let forgotten = objects.remove(&key_of(kind, metadata)).is_some();
        if forgotten {
            self.update_gauge(&objects, kind);
        }
        forgotten
    }

    /// After a re-list of `namespace` (`None`: every namespace): forgets the objects of `kind`
    /// the list no longer has.
    fn keep_only(&self, kind: &str, namespace: Option<&str>, listed: &HashSet<Key>) {
        let mut objects = self.lock();
        objects.retain(|key, _| {
            key.0 != kind
                || namespace.is_some_and(|ns| key.1.as_deref() != Some(ns))
                || listed.contains(key)
        });
        self.update_gauge(&objects, kind);
    }
}

fn key_of(kind: &str, metadata: &ObjectMeta) -> Key {
    (
        kind.to_string(),
        metadata.namespace.clone(),
        metadata.name.clone().unwrap_or_default(),
    )
}

/// Turns the events of a guarded watch into events of `K`: unreadable objects are recorded in
/// `unreadable`, reported to `on_unreadable`, and leave the store (a tombstone deletion, in case
/// an earlier version was readable). Deleting an unreadable object forgets it. `namespace`: the
/// one namespace the watch lists (`None`: every namespace, or a cluster-scoped kind).
pub fn readable_events<K>(
    unreadable: UnreadableObjects,
    namespace: Option<String>,
    mut on_unreadable: impl FnMut(&Unreadable) + Send + 'static,
) -> impl FnMut(watcher::Event<Guarded<K>>) -> Option<watcher::Event<K>> + Send + 'static
where
    K: Tombstone<DynamicType = ()>,
{
    let kind = K::kind(&()).into_owned();
    // Keys of the unreadable objects listed since the last `Init`.
    let mut listed: HashSet<Key> = HashSet::new();
    let mut report = move |bad: &Unreadable, unreadable: &UnreadableObjects| {
        if unreadable.record(bad) {
            tracing::warn!(
                kind = %bad.kind,
                namespace = bad.namespace().unwrap_or_default(),
                name = bad.name(),
                field = %bad.path,
                error = %bad.error,
                "cannot read this object; it is left out until it is fixed (the others are not affected)"
            );
        }
        on_unreadable(bad);
    };
    move |event| match event {
        watcher::Event::Init => {
            listed.clear();
            Some(watcher::Event::Init)
        }
        watcher::Event::InitApply(Guarded(Ok(object))) => {
            unreadable.forget(&kind, object.meta());
            Some(watcher::Event::InitApply(object))
        }
        watcher::Event::InitApply(Guarded(Err(bad))) => {
            listed.insert(key_of(&kind, &bad.metadata));
            report(&bad, &unreadable);
            // The store is rebuilt from the listed objects at `InitDone`: leaving it out is enough.
            None
        }
        watcher::Event::InitDone => {
            unreadable.keep_only(&kind, namespace.as_deref(), &listed);
            Some(watcher::Event::InitDone)
        }
        watcher::Event::Apply(Guarded(Ok(object))) => {
            if unreadable.forget(&kind, object.meta()) {
                let meta = object.meta();
                tracing::info!(
                    kind = %kind,
                    namespace = meta.namespace.as_deref().unwrap_or_default(),
                    name = meta.name.as_deref().unwrap_or_default(),
                    "the object can be read again"
                );
            }
            Some(watcher::Event::Apply(object))
        }
        watcher::Event::Apply(Guarded(Err(bad))) => {
            report(&bad, &unreadable);
            Some(watcher::Event::Delete(K::tombstone(bad.metadata)))
        }
        watcher::Event::Delete(Guarded(Ok(object))) => {
            unreadable.forget(&kind, object.meta());
            Some(watcher::Event::Delete(object))
        }
        watcher::Event::Delete(Guarded(Err(bad))) => {
            unreadable.forget(&kind, &bad.metadata);
            Some(watcher::Event::Delete(K::tombstone(bad.metadata)))
        }
    }
}

/// The reason of the conditions on a DeploymentReadiness gonogo cannot read.
pub const REASON_UNREADABLE: &str = "Unreadable";

/// What a DeploymentReadiness gonogo cannot read says in its conditions.
fn unreadable_message(bad: &Unreadable) -> String {
    format!(
        "gonogo cannot read this object: {}; no gate is judged until that field is fixed",
        bad.field_error()
    )
}

/// Reports each unreadable DeploymentReadiness on the object itself: a status with
/// `Ready=False` and `Stalled=True` (reason `Unreadable`, the field in the message), written by
/// server-side apply as gonogo. One task writes them in turn; an object that already says so
/// is not written again, so its own status update ends the loop.
pub fn report_on_readiness(client: Client) -> impl FnMut(&Unreadable) + Send + 'static {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Unreadable>();
    tokio::spawn(async move {
        while let Some(bad) = rx.recv().await {
            write_unreadable_status(&client, &bad).await;
        }
    });
    move |bad| {
        if !reports_unreadable(bad) {
            // Fails only when the task ended, at shutdown.
            let _ = tx.send(bad.clone());
        }
    }
}

/// Whether the stored status already says what [`unreadable_status`] would write.
fn reports_unreadable(bad: &Unreadable) -> bool {
    let Some(status) = &bad.status else {
        return false;
    };
    let message = unreadable_message(bad);
    status["observedGeneration"].as_i64() == bad.metadata.generation
        && status["conditions"].as_array().is_some_and(|conditions| {
            conditions.iter().any(|c| {
                c["type"] == "Stalled"
                    && c["status"] == "True"
                    && c["reason"] == REASON_UNREADABLE
                    && c["message"] == message.as_str()
            })
        })
}

fn unreadable_status(bad: &Unreadable, now: jiff::Timestamp) -> serde_json::Value {
    let message = unreadable_message(bad);
    let condition = |type_: &str, status: &str| {
        serde_json::json!({
            "type": type_,
            "status": status,
            "reason": REASON_UNREADABLE,
            "message": message,
            "lastTransitionTime": Time(now),
            "observedGeneration": bad.metadata.generation,
        })
    };
    serde_json::json!({
        "apiVersion": "gonogo.dev/v1alpha1",
        "kind": "DeploymentReadiness",
        "status": {
            "observedGeneration": bad.metadata.generation,
            "conditions": [condition("Ready", "False"), condition("Stalled", "True")],
        },
    })
}

async fn write_unreadable_status(client: &Client, bad: &Unreadable) {
    let Some(namespace) = bad.namespace() else {
        return;
    };
    // Guarded: the response is the same unreadable object.
    let api: Api<Guarded<DeploymentReadiness>> =
        Api::namespaced_with(client.clone(), namespace, &());
    let patch = Patch::Apply(unreadable_status(bad, jiff::Timestamp::now()));
    // A few quick attempts; the next change of the object reports it again anyway.
    for attempt in 1..=3u32 {
        match api
            .patch_status(
                bad.name(),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &patch,
            )
            .await
        {
            Ok(_) => return,
            Err(kube::Error::Api(e)) if e.code == 404 => return,
            Err(e) => {
                tracing::warn!(
                    namespace,
                    name = bad.name(),
                    attempt,
                    error = %e,
                    "cannot write the Unreadable status of this DeploymentReadiness"
                );
                tokio::time::sleep(std::time::Duration::from_secs(2 * u64::from(attempt))).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DeploymentReadiness, ReadinessChecklist};
    use k8s_openapi::api::core::v1::Secret;
    use serde_json::json;

    fn readiness(expires: &str) -> serde_json::Value {
        json!({
            "apiVersion": "gonogo.dev/v1alpha1",
            "kind": "DeploymentReadiness",
            "metadata": {"name": "api", "namespace": "shop", "resourceVersion": "7", "generation": 2},
            "spec": {
                "targetRef": {"name": "api"},
                "checklists": [{"name": "baseline"}],
                "waivers": [{"item": "probes", "reason": "r", "owner": "o", "expires": expires}],
            },
            "status": {"observedGeneration": 0},
        })
    }

    #[test]
    fn an_unreadable_object_names_the_field_and_keeps_its_metadata() {
        let guarded: Guarded<DeploymentReadiness> =
            serde_json::from_value(readiness("9999-12-31T00:00:00Z")).unwrap();
        let bad = guarded.0.unwrap_err();
        assert_eq!(bad.path, "spec.waivers[0].expires");
        assert_eq!(bad.object(), "DeploymentReadiness shop/api");
        assert_eq!(bad.metadata.generation, Some(2));
        assert_eq!(bad.status, Some(json!({"observedGeneration": 0})));
        assert!(!bad.error.is_empty());
    }

    #[test]
    fn a_list_with_one_unreadable_object_still_reads() {
        let list = json!({
            "apiVersion": "v1", "kind": "List", "metadata": {},
            "items": [readiness("2030-01-01T00:00:00Z"), readiness("2030-01-01T00:00:00.1234567891Z")],
        });
        let list: kube::core::ObjectList<Guarded<DeploymentReadiness>> =
            serde_json::from_value(list).unwrap();
        assert!(list.items[0].0.is_ok());
        assert_eq!(
            list.items[1].0.as_ref().unwrap_err().path,
            "spec.waivers[0].expires"
        );
    }

    #[test]
    fn a_cluster_checklist_names_the_field_too() {
        let guarded: Guarded<crate::api::ClusterReadinessChecklist> =
            serde_json::from_value(json!({
                "metadata": {"name": "platform"},
                "spec": {"items": [{"name": "r", "replicas": {"min": 3000000000u64}}]},
            }))
            .unwrap();
        let bad = guarded.0.unwrap_err();
        assert_eq!(bad.object(), "ClusterReadinessChecklist platform");
        assert_eq!(bad.path, "spec.items[0].replicas.min");
    }

    #[test]
    fn a_secret_value_is_never_quoted() {
        let guarded: Guarded<Secret> = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "shop"},
            "data": {"password": "not base64 hunter2!"},
        }))
        .unwrap();
        let bad = guarded.0.unwrap_err();
        assert_eq!(bad.path, "data.password");
        assert!(!bad.error.contains("hunter2"), "{}", bad.error);
    }

    #[test]
    fn unreadable_objects_leave_the_store_and_are_forgotten_when_fixed_or_gone() {
        let unreadable = UnreadableObjects::default();
        let mut seen = Vec::new();
        let mut convert = readable_events::<ReadinessChecklist>(unreadable.clone(), None, |_| {});
        let good: Guarded<ReadinessChecklist> = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop"}, "spec": {"items": []},
        }))
        .unwrap();
        let bad: Guarded<ReadinessChecklist> = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"items": [{"name": "h", "http": {"service": "web", "port": 3000000000u64}}]},
        }))
        .unwrap();
        assert_eq!(bad.0.as_ref().unwrap_err().path, "spec.items[0].http.port");
        for event in [
            watcher::Event::Apply(good.clone()),
            watcher::Event::Apply(bad.clone()),
        ] {
            seen.push(convert(event));
        }
        assert!(matches!(seen[1], Some(watcher::Event::Delete(_))));
        assert!(
            unreadable
                .get("ReadinessChecklist", Some("shop"), "web")
                .is_some()
        );
        assert_eq!(unreadable.count("ReadinessChecklist"), 1);

        convert(watcher::Event::Apply(good));
        assert_eq!(unreadable.count("ReadinessChecklist"), 0);

        // A re-list that no longer has it forgets it.
        convert(watcher::Event::Apply(bad));
        assert!(convert(watcher::Event::Init).is_some());
        assert!(convert(watcher::Event::InitDone).is_some());
        assert_eq!(unreadable.count("ReadinessChecklist"), 0);
    }

    #[test]
    fn a_relist_of_one_namespace_forgets_only_that_namespaces_unreadable_objects() {
        let unreadable = UnreadableObjects::default();
        let bad = |ns: &str| -> Guarded<ReadinessChecklist> {
            serde_json::from_value(json!({
                "metadata": {"name": "web", "namespace": ns},
                "spec": {"items": [{"name": "h", "http": {"service": "web", "port": 3000000000u64}}]},
            }))
            .unwrap()
        };
        let mut shop =
            readable_events::<ReadinessChecklist>(unreadable.clone(), Some("shop".into()), |_| {});
        let mut blog =
            readable_events::<ReadinessChecklist>(unreadable.clone(), Some("blog".into()), |_| {});
        shop(watcher::Event::Apply(bad("shop")));
        blog(watcher::Event::Apply(bad("blog")));
        assert_eq!(unreadable.count("ReadinessChecklist"), 2);
        shop(watcher::Event::Init);
        shop(watcher::Event::InitDone);
        assert!(
            unreadable
                .get("ReadinessChecklist", Some("shop"), "web")
                .is_none()
        );
        assert!(
            unreadable
                .get("ReadinessChecklist", Some("blog"), "web")
                .is_some()
        );
    }
}
