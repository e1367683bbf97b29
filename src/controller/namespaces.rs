//! A list of namespaces to watch (`--namespace a --namespace b`), as one watch of each.
//!
//! The API server lists and watches either one namespace or all of them, and a reflector store
//! takes each `Init … InitDone` of its watch for a complete relist: fed by several namespaces'
//! watches naively, the last namespace to list would replace the others' objects. So each
//! namespace has a watch of its own (its errors and retries its own: one namespace refused or
//! failing never stops the others), and [`Merger`] turns their events into the events of one
//! watch over all of them: one initial list, complete when every namespace has listed once,
//! then only changes. A namespace's later relist becomes the changes it brings, with a deletion
//! for each object it no longer lists.
//!
//! Everything downstream (the stores, the trimming, the certificate facts, the readiness index)
//! sees one watch per kind, as with every namespace or one, so the table of related kinds
//! stays the one place kinds are declared, and stores are read by namespace as before.

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use kube::runtime::watcher::Event;
use kube::{Api, Client, Resource};

/// The namespaced kinds' `Api`s: one per watched namespace, or one over every namespace when
/// `namespaces` is empty.
pub fn apis<K>(client: &Client, namespaces: &[String]) -> Vec<Api<K>>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    if namespaces.is_empty() {
        return vec![Api::all(client.clone())];
    }
    namespaces
        .iter()
        .map(|ns| Api::namespaced(client.clone(), ns))
        .collect()
}

/// Makes an object of the kind standing for a deleted one, from its namespace and name (the
/// stores and everything after them key objects by these only).
pub type Tombstone<K> = Box<dyn Fn(&str, &str) -> K + Send + Sync>;

/// The events of several namespaces' watches, each tagged with its namespace, as the events of
/// one watch. Errors pass through unchanged. One stream is passed on as it is.
pub fn merged<K, E, S>(
    streams: Vec<(String, S)>,
    tombstone: Tombstone<K>,
) -> BoxStream<'static, Result<Event<K>, E>>
where
    K: Resource + Send + 'static,
    E: Send + 'static,
    S: Stream<Item = Result<Event<K>, E>> + Send + 'static,
{
    if streams.len() == 1 {
        let (_, stream) = streams.into_iter().next().expect("one stream");
        return stream.boxed();
    }
    let mut merger = Merger::new(streams.iter().map(|(ns, _)| ns.clone()), tombstone);
    futures::stream::select_all(
        streams
            .into_iter()
            .map(|(ns, stream)| stream.map(move |event| (ns.clone(), event)).boxed()),
    )
    .flat_map(move |(ns, event)| {
        let events: Vec<Result<Event<K>, E>> = match event {
            Ok(event) => merger.push(&ns, event).into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        };
        futures::stream::iter(events)
    })
    .boxed()
}

/// Turns the events of several namespaces' watches of one kind into the events of one watch.
///
/// Until every namespace has listed once, everything goes into one initial list (`Init`,
/// `InitApply`…, then `InitDone` when the last namespace is listed): a store is ready only when
/// it knows every namespace. A deletion meanwhile cannot be said inside a list; it follows the
/// `InitDone`, unless the object came back. After that, a namespace's relist (its watch
/// restarted) becomes `Apply` for what it lists and `Delete` for what it no longer has.
pub struct Merger<K> {
    /// Namespaces whose first list is not done yet.
    unlisted: BTreeSet<String>,
    /// Whether the initial list has begun (`Init` passed on).
    started: bool,
    /// By namespace: the names of the objects passed on and not deleted since.
    known: BTreeMap<String, BTreeSet<String>>,
    /// By namespace: the names listed so far by its list in progress.
    listing: BTreeMap<String, BTreeSet<String>>,
    /// Deleted during the initial list, by namespace and name: passed on after its `InitDone`.
    deleted: BTreeMap<(String, String), K>,
    tombstone: Tombstone<K>,
}

impl<K: Resource> Merger<K> {
    pub fn new(namespaces: impl IntoIterator<Item = String>, tombstone: Tombstone<K>) -> Self {
        Merger {
            unlisted: namespaces.into_iter().collect(),
            started: false,
            known: BTreeMap::new(),
            listing: BTreeMap::new(),
            deleted: BTreeMap::new(),
            tombstone,
        }
    }

    /// The events of the merged watch that one event of `namespace`'s watch makes.
    pub fn push(&mut self, namespace: &str, event: Event<K>) -> Vec<Event<K>> {
        let initial = !self.unlisted.is_empty();
        let name = |object: &K| object.meta().name.clone().unwrap_or_default();
        match event {
            Event::Init => {
                self.listing.insert(namespace.to_string(), BTreeSet::new());
                if initial && !self.started {
                    self.started = true;
                    vec![Event::Init]
                } else {
                    Vec::new()
                }
            }
            Event::InitApply(object) => {
                let name = name(&object);
                if let Some(listing) = self.listing.get_mut(namespace) {
                    listing.insert(name.clone());
                }
                self.applied(namespace, name, object, initial)
            }
            Event::Apply(object) => {
                let name = name(&object);
                self.applied(namespace, name, object, initial)
            }
            Event::Delete(object) => {
                let name = name(&object);
                if let Some(known) = self.known.get_mut(namespace) {
                    known.remove(&name);
                }
                if initial {
                    self.deleted.insert((namespace.to_string(), name), object);
                    Vec::new()
                } else {
                    vec![Event::Delete(object)]
                }
            }
            Event::InitDone => {
                let listed = self.listing.remove(namespace).unwrap_or_default();
                let known = self.known.entry(namespace.to_string()).or_default();
                let gone: Vec<String> = known.difference(&listed).cloned().collect();
                *known = listed;
                let tombstones = gone
                    .into_iter()
                    .map(|name| ((self.tombstone)(namespace, &name), name));
                if !initial {
                    return tombstones.map(|(t, _)| Event::Delete(t)).collect();
                }
                for (tombstone, name) in tombstones.collect::<Vec<_>>() {
                    self.deleted
                        .insert((namespace.to_string(), name), tombstone);
                }
                self.unlisted.remove(namespace);
                if !self.unlisted.is_empty() {
                    return Vec::new();
                }
                std::iter::once(Event::InitDone)
                    .chain(
                        std::mem::take(&mut self.deleted)
                            .into_values()
                            .map(Event::Delete),
                    )
                    .collect()
            }
        }
    }

    fn applied(
        &mut self,
        namespace: &str,
        name: String,
        object: K,
        initial: bool,
    ) -> Vec<Event<K>> {
        self.deleted.remove(&(namespace.to_string(), name.clone()));
        self.known
            .entry(namespace.to_string())
            .or_default()
            .insert(name);
        if initial {
            vec![Event::InitApply(object)]
        } else {
            vec![Event::Apply(object)]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::reflector::{Store, store::Writer};

    fn cm(namespace: &str, name: &str, value: &str) -> ConfigMap {
        let mut cm = ConfigMap::default();
        cm.metadata.namespace = Some(namespace.into());
        cm.metadata.name = Some(name.into());
        cm.metadata.labels = Some([("v".to_string(), value.to_string())].into());
        cm
    }

    fn tombstone() -> Tombstone<ConfigMap> {
        Box::new(|namespace, name| cm(namespace, name, "tombstone"))
    }

    struct Fixture {
        merger: Merger<ConfigMap>,
        writer: Writer<ConfigMap>,
        store: Store<ConfigMap>,
        out: Vec<String>,
    }

    impl Fixture {
        fn new(namespaces: &[&str]) -> Self {
            let writer = Writer::default();
            let store = writer.as_reader();
            Fixture {
                merger: Merger::new(namespaces.iter().map(|n| n.to_string()), tombstone()),
                writer,
                store,
                out: Vec::new(),
            }
        }

        fn push(&mut self, namespace: &str, event: Event<ConfigMap>) -> &mut Self {
            for event in self.merger.push(namespace, event) {
                self.out.push(match &event {
                    Event::Init => "Init".into(),
                    Event::InitApply(o) => {
                        format!("InitApply {}", o.metadata.name.as_deref().unwrap())
                    }
                    Event::InitDone => "InitDone".into(),
                    Event::Apply(o) => format!("Apply {}", o.metadata.name.as_deref().unwrap()),
                    Event::Delete(o) => format!("Delete {}", o.metadata.name.as_deref().unwrap()),
                });
                self.writer.apply_watcher_event(&event);
            }
            self
        }

        /// `namespace/name=v` of every stored object, sorted.
        fn stored(&self) -> Vec<String> {
            let mut all: Vec<String> = self
                .store
                .state()
                .iter()
                .map(|o| {
                    format!(
                        "{}/{}={}",
                        o.metadata.namespace.as_deref().unwrap(),
                        o.metadata.name.as_deref().unwrap(),
                        o.metadata.labels.as_ref().unwrap()["v"]
                    )
                })
                .collect();
            all.sort();
            all
        }

        fn ready(&self) -> bool {
            futures::FutureExt::now_or_never(self.store.wait_until_ready()).is_some()
        }
    }

    #[test]
    fn the_store_is_ready_when_every_namespace_has_listed_and_keeps_them_all() {
        let mut f = Fixture::new(&["a", "b"]);
        f.push("a", Event::Init)
            .push("a", Event::InitApply(cm("a", "x", "1")))
            .push("a", Event::InitDone);
        assert!(!f.ready(), "b has not listed yet");
        assert!(
            f.stored().is_empty(),
            "the initial list is swapped in at its end"
        );
        f.push("b", Event::Init)
            // a changes while b lists: part of the initial list.
            .push("a", Event::Apply(cm("a", "x", "2")))
            .push("b", Event::InitApply(cm("b", "y", "1")))
            .push("b", Event::InitDone);
        assert!(f.ready());
        assert_eq!(f.stored(), ["a/x=2", "b/y=1"]);
        assert_eq!(
            f.out,
            [
                "Init",
                "InitApply x",
                "InitApply x",
                "InitApply y",
                "InitDone"
            ]
        );
    }

    #[test]
    fn a_deletion_during_the_initial_list_follows_its_end_unless_the_object_came_back() {
        let mut f = Fixture::new(&["a", "b"]);
        f.push("a", Event::Init)
            .push("a", Event::InitApply(cm("a", "x", "1")))
            .push("a", Event::InitApply(cm("a", "z", "1")))
            .push("a", Event::InitDone)
            .push("b", Event::Init)
            .push("a", Event::Delete(cm("a", "x", "1")))
            .push("a", Event::Delete(cm("a", "z", "1")))
            .push("a", Event::Apply(cm("a", "z", "2")))
            .push("b", Event::InitDone);
        assert_eq!(f.stored(), ["a/z=2"]);
        assert_eq!(f.out.last().unwrap(), "Delete x");
    }

    #[test]
    fn a_relist_of_one_namespace_leaves_the_others_and_deletes_what_it_no_longer_has() {
        let mut f = Fixture::new(&["a", "b"]);
        for ns in ["a", "b"] {
            f.push(ns, Event::Init)
                .push(ns, Event::InitApply(cm(ns, "x", "1")))
                .push(ns, Event::InitApply(cm(ns, "y", "1")))
                .push(ns, Event::InitDone);
        }
        assert_eq!(f.stored(), ["a/x=1", "a/y=1", "b/x=1", "b/y=1"]);
        f.out.clear();
        // a's watch restarts: y was deleted and x changed while it was down.
        f.push("a", Event::Init)
            .push("a", Event::InitApply(cm("a", "x", "2")))
            .push("b", Event::Apply(cm("b", "y", "2")))
            .push("a", Event::InitDone);
        assert_eq!(f.stored(), ["a/x=2", "b/x=1", "b/y=2"]);
        assert_eq!(f.out, ["Apply x", "Apply y", "Delete y"]);
        assert!(f.ready());
    }

    #[tokio::test]
    async fn one_namespace_failing_passes_its_errors_on_and_stops_no_other() {
        let listed = |ns: &'static str| {
            vec![
                Ok(Event::Init),
                Ok(Event::InitApply(cm(ns, "x", "1"))),
                Ok(Event::InitDone),
            ]
        };
        let mut a = listed("a");
        a.extend([Err("refused"), Err("refused")]);
        let mut b = listed("b");
        b.push(Ok(Event::Apply(cm("b", "x", "2"))));
        let streams = vec![
            ("a".to_string(), futures::stream::iter(a)),
            ("b".to_string(), futures::stream::iter(b)),
        ];
        let out: Vec<Result<Event<ConfigMap>, &str>> = merged(streams, tombstone()).collect().await;
        assert_eq!(out.iter().filter(|e| e.is_err()).count(), 2);
        assert_eq!(
            out.iter()
                .filter(|e| matches!(e, Ok(Event::InitDone)))
                .count(),
            1
        );
        let mut writer = Writer::<ConfigMap>::default();
        let store = writer.as_reader();
        for event in out.iter().flatten() {
            writer.apply_watcher_event(event);
        }
        let mut stored: Vec<String> = store
            .state()
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o.metadata.namespace.as_deref().unwrap(),
                    o.metadata.labels.as_ref().unwrap()["v"]
                )
            })
            .collect();
        stored.sort();
        assert_eq!(stored, ["a/1", "b/2"]);
    }

    #[test]
    fn a_relist_during_the_initial_list_forgets_what_the_first_list_had() {
        let mut f = Fixture::new(&["a", "b"]);
        // a's list broke off and started over; b still lists.
        f.push("a", Event::Init)
            .push("a", Event::InitApply(cm("a", "x", "1")))
            .push("a", Event::InitDone)
            .push("b", Event::Init)
            .push("a", Event::Init)
            .push("a", Event::InitApply(cm("a", "w", "1")))
            .push("a", Event::InitDone)
            .push("b", Event::InitDone);
        assert_eq!(f.stored(), ["a/w=1"]);
    }
}
