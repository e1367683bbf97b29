//! A set of manifests as typed objects, grouped by namespace, and the snapshots built from it.
//!
//! A Deployment's snapshot holds only the objects related to it, found through an index built
//! once per namespace, so judging N Deployments costs O(N) rather than O(N²). The filter is
//! deliberately generous (a superset of what any check looks at):
//!
//! - Services, PodDisruptionBudgets and NetworkPolicies whose selector could select the pod
//!   labels (indexed under the selector's rarest `matchLabels` pair; selectors without
//!   `matchLabels` are always included);
//! - HorizontalPodAutoscalers whose `scaleTargetRef.name` is the Deployment;
//! - EndpointSlices of the included Services, and Ingresses routing to them;
//! - approvals of the DeploymentReadiness objects judged;
//! - any object whose name appears as a word in the Deployment, in the DeploymentReadiness
//!   objects targeting it or in the checklists they use (Secret, ConfigMap and PVC references,
//!   `service.name`, `tlsCertificate.secretName`, names quoted in a CEL expression, ...), and
//!   the TLS Secrets of included Ingresses;
//! - every StorageClass (cluster-scoped, few);
//! - whatever [`dependencies`] says the gates read: the objects they name, and every object
//!   of the kinds a `cel` expression lists (`secrets`, `configMaps`, ...), as in the cluster.
//!
//! The controller's reference index is fed by the same [`dependencies`] function.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{PodTemplateSpec, Secret, Service};
use kube::Resource;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Document;
use crate::api::{ClusterReadinessChecklist, DeploymentReadiness, ReadinessChecklist};
use crate::engine::related::{EachRelatedKind, PodSelector, RelatedKind, Relation, Scope};
use crate::engine::{
    ChecklistOrigin, Checklists, Gate, RELATED_KINDS, Resolved, ResourceKind, Resources, Snapshot,
    Source, Workload, WorkloadKind, dependencies, for_each_related_kind, resolve,
};

/// Where an object was read from.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Origin {
    pub file: String,
    /// 1-based line of the object's document (its first content line).
    pub line: usize,
    pub helm_source: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{file}:{line}: {kind} {name}: {message}")]
pub struct SetError {
    pub file: String,
    pub line: usize,
    pub kind: String,
    pub name: String,
    pub message: String,
}

/// The objects of one namespace.
#[derive(Clone, Debug, Default)]
pub struct Namespace {
    /// Deployments, StatefulSets and DaemonSets, in input order.
    pub workloads: Vec<(Workload, Origin)>,
    pub readiness: Vec<(Arc<DeploymentReadiness>, Origin)>,
    pub checklists: Vec<Arc<ReadinessChecklist>>,
    /// Everything else, as the snapshot holds it (`workload` unset), in input order.
    pub related: Snapshot,
    /// Objects of other kinds (for `resource` gates), by kind, in input order.
    pub other: BTreeMap<ResourceKind, Vec<Arc<Value>>>,
    /// Per workload (same order): the words of its manifest that could name an object,
    /// space-separated (one allocation per workload rather than one per word).
    workload_mentions: Vec<Box<str>>,
    index: OnceLock<Index>,
}

/// Typed objects from a manifest set.
#[derive(Clone, Debug, Default)]
pub struct ManifestSet {
    pub namespaces: BTreeMap<String, Namespace>,
    pub cluster_checklists: Vec<Arc<ClusterReadinessChecklist>>,
    /// Objects of the cluster-scoped related kinds (StorageClasses), visible from every
    /// namespace, in a snapshot's fields.
    pub cluster: Snapshot,
    /// Objects of other kinds written without a namespace, by kind: visible from every
    /// namespace (they may be cluster-scoped, as Nodes and ClusterIssuers are).
    pub unscoped: BTreeMap<ResourceKind, Vec<Arc<Value>>>,
    /// Documents that were skipped, with the reason (unknown kinds are silent).
    pub warnings: Vec<String>,
    /// Number of Kubernetes objects read (of any kind).
    pub objects: usize,
    cluster_checklist_mentions: OnceLock<HashMap<String, Vec<String>>>,
    /// Related objects read so far, by `(kind, namespace, name)` (namespace empty for
    /// cluster-scoped kinds): where each was read and its place in its snapshot field, so a
    /// later duplicate replaces it in place.
    related_seen: HashMap<(&'static str, String, String), (Origin, usize)>,
}

/// Names a checklist or readiness mentions, so that the objects they name are in the snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mentions {
    pub names: BTreeSet<String>,
    /// DeploymentReadiness names, for their ReadinessApprovals.
    pub readiness: BTreeSet<String>,
    /// Kinds of which every object is read (by the `cel` items of the checklists mentioned).
    pub kinds: BTreeSet<&'static str>,
    /// Kinds `resource` items of the checklists mentioned read.
    pub resources: BTreeSet<ResourceKind>,
}

impl Mentions {
    /// Every string in `value` (e.g. a serialized checklist) that could name an object.
    pub fn of_value(value: &Value) -> Self {
        let mut names = Vec::new();
        collect_names(value, &mut names);
        Mentions {
            names: names.into_iter().map(String::from).collect(),
            ..Default::default()
        }
    }

    pub fn of<T: serde::Serialize>(object: &T) -> Self {
        Self::of_value(&serde_json::to_value(object).unwrap_or_default())
    }

    pub fn extend(&mut self, other: &Mentions) {
        self.names.extend(other.names.iter().cloned());
        self.readiness.extend(other.readiness.iter().cloned());
        self.kinds.extend(other.kinds.iter().copied());
        self.resources.extend(other.resources.iter().cloned());
    }

    /// What `items` read besides names: the `cel` lists and the `resource` kinds.
    pub fn read_by(&mut self, items: &[crate::api::Item]) {
        self.kinds.extend(crate::engine::kinds_read(items));
        self.resources.extend(
            items
                .iter()
                .filter_map(|i| i.resource.as_ref())
                .map(|r| r.resource_kind()),
        );
    }
}

impl ManifestSet {
    /// Add one parsed document. Objects without a namespace land in `default_namespace`, as
    /// `kubectl apply -n` would put them. Unknown kinds are ignored; documents that are not
    /// Kubernetes objects are skipped with a warning.
    pub fn add(&mut self, doc: &Document, default_namespace: &str) -> Result<(), SetError> {
        self.insert(classify(doc, default_namespace)?);
        Ok(())
    }

    /// Add an object typed by [`classify`] (which may run on another thread).
    pub fn insert(&mut self, object: Classified) {
        let Classified {
            namespace,
            origin,
            object,
        } = object;
        if !matches!(object, Object::NotKubernetes(_)) {
            self.objects += 1;
        }
        match object {
            Object::NotKubernetes(warning) | Object::Skipped(warning) => {
                self.warnings.push(warning)
            }
            Object::Ignored => {}
            Object::Other {
                kind,
                object,
                namespaced,
            } => {
                if !namespaced {
                    self.unscoped
                        .entry(kind.clone())
                        .or_default()
                        .push(object.clone());
                }
                self.ns(&namespace)
                    .other
                    .entry(kind)
                    .or_default()
                    .push(object);
            }
            Object::Workload(w, mentions) => {
                let ns = self.ns(&namespace);
                ns.workloads.push((w, origin));
                ns.workload_mentions.push(mentions);
            }
            Object::Readiness(r) => self.ns(&namespace).readiness.push((r, origin)),
            Object::Checklist(c) => self.ns(&namespace).checklists.push(c),
            Object::ClusterChecklist(c) => {
                self.cluster_checklists.push(c);
                self.cluster_checklist_mentions = OnceLock::new();
            }
            Object::Approval(o) => self.ns(&namespace).related.approvals.push(o),
            Object::Related(o) => {
                // Duplicates of one (kind, namespace, name): the last one wins, as
                // `kubectl apply` would leave it.
                let ns_key = match o.scope {
                    Scope::Cluster => String::new(),
                    Scope::Namespaced => namespace.clone(),
                };
                let key = (o.kind, ns_key, o.name.clone());
                let earlier = self
                    .related_seen
                    .get(&key)
                    .filter(|_| !o.name.is_empty())
                    .map(|(at, i)| (at.clone(), *i));
                if let Some((first, _)) = &earlier {
                    let shown = match o.scope {
                        Scope::Cluster => o.name.clone(),
                        Scope::Namespaced => format!("{namespace}/{}", o.name),
                    };
                    self.warnings.push(format!(
                        "{}:{}: {} {shown} appears again (first at {}:{}); the last one is used, as kubectl apply would leave it",
                        origin.file, origin.line, o.kind, first.file, first.line
                    ));
                }
                let at = earlier.map(|(_, i)| i);
                let i = match o.scope {
                    Scope::Cluster => (o.put)(&mut self.cluster, at),
                    Scope::Namespaced => (o.put)(&mut self.ns(&namespace).related, at),
                };
                if !o.name.is_empty() {
                    self.related_seen.insert(key, (origin, i));
                }
            }
        }
    }

    fn ns(&mut self, namespace: &str) -> &mut Namespace {
        let ns = self
            .namespaces
            .entry(namespace.to_string())
            .or_insert_with(|| Namespace {
                related: Snapshot::new(namespace, Timestamp::UNIX_EPOCH, Source::Manifests),
                ..Default::default()
            });
        // Anything added invalidates the namespace's index.
        ns.index = OnceLock::new();
        ns
    }

    /// The snapshot a Deployment of this set is judged against: its related objects (see the
    /// module documentation), with the names mentioned by the DeploymentReadiness objects of
    /// the set that target it and by the checklists they reference.
    pub fn snapshot_for(
        &self,
        namespace: &str,
        workload: &Workload,
        now: Timestamp,
        assumed: &BTreeSet<(String, String)>,
    ) -> Snapshot {
        self.snapshot_with(namespace, workload, now, assumed, &Mentions::default())
    }

    /// As [`snapshot_for`](Self::snapshot_for), with more names and readiness names (checklists
    /// applied from outside the set, e.g. `gonogo check --checklist`).
    pub fn snapshot_with(
        &self,
        namespace: &str,
        workload: &Workload,
        now: Timestamp,
        assumed: &BTreeSet<(String, String)>,
        extra: &Mentions,
    ) -> Snapshot {
        let mut snapshot = Snapshot::new(namespace, now, Source::Manifests);
        snapshot.workload = Some(workload.clone());
        snapshot.assumed_present = assumed.clone();
        self.copy_cluster_scoped(&mut snapshot);
        let Some(ns) = self.namespaces.get(namespace) else {
            return snapshot;
        };
        let index = ns.index.get_or_init(|| Index::build(ns));
        let name = workload.name();
        let target = (workload.kind(), name.to_string());

        // Names that may refer to objects: the workload's own strings, the readiness objects
        // targeting it and their checklists, and what the caller adds.
        let mut names: HashSet<&str> = extra.names.iter().map(String::as_str).collect();
        let mut readiness: HashSet<&str> = extra.readiness.iter().map(String::as_str).collect();
        let own = index
            .workloads_by_target
            .get(&target)
            .filter(|&&i| ns.workloads[i as usize].0.ptr_eq(workload))
            .map(|&i| &ns.workload_mentions[i as usize]);
        let computed;
        match own {
            Some(own) => names.extend(own.split(' ').filter(|w| !w.is_empty())),
            None => {
                // Not one of ours (a caller-made workload): read its strings now.
                let mut found = Vec::new();
                let value = workload.to_value();
                collect_names(&value, &mut found);
                computed = found.into_iter().map(String::from).collect::<Vec<_>>();
                names.extend(computed.iter().map(String::as_str));
            }
        }
        let cluster_mentions = self.cluster_checklist_mentions.get_or_init(|| {
            self.cluster_checklists
                .iter()
                .filter_map(|c| {
                    Some((
                        c.metadata.name.clone()?,
                        Mentions::of(&c.spec).names.into_iter().collect(),
                    ))
                })
                .collect()
        });
        let checklists = Checklists {
            namespaced: &ns.checklists,
            cluster: &self.cluster_checklists,
        };
        let mut resolved = Vec::new();
        for &r in index.readiness_by_target.get(&target).into_iter().flatten() {
            let (dr, _) = &ns.readiness[r as usize];
            readiness.extend(dr.metadata.name.as_deref());
            resolved.push(resolve(dr, checklists, namespace));
            for source in &resolved[resolved.len() - 1].sources {
                let mentioned = match source.origin {
                    ChecklistOrigin::Inline => Some(&index.readiness_mentions[r as usize]),
                    ChecklistOrigin::Namespaced(c) => index.checklist_mentions.get(c),
                    ChecklistOrigin::Cluster(c) => cluster_mentions.get(c),
                };
                names.extend(mentioned.into_iter().flatten().map(String::as_str));
            }
        }

        let objects = &ns.related;
        let mut pick = Picked::default();
        for n in &names {
            for &(kind, i) in index.by_name.get(*n).into_iter().flatten() {
                pick.kinds[kind].push(i);
            }
        }
        for r in &readiness {
            pick.approvals
                .extend(index.approvals_by_readiness.get(*r).into_iter().flatten());
        }
        let labels = workload.pod_labels();
        let scaled = scale_key(workload.kind(), name);
        for_each_related_kind(&mut PickRelated {
            index,
            objects,
            scaled: &scaled,
            labels,
            pick: &mut pick,
        });
        pick.fill(objects, &mut snapshot);

        // What the gates depend on, by the same function the controller's index uses: objects
        // they name, and every object of the kinds a `cel` expression reads (as in the cluster).
        let gates: Vec<Gate<'_>> = resolved.iter().flat_map(Resolved::gates).collect();
        let deps = dependencies(workload.kind(), name, &gates, &snapshot);
        let before = pick.len();
        let kinds = kind_names();
        for (kind, object) in &deps.objects {
            for &(k, i) in index.by_name.get(object.as_str()).into_iter().flatten() {
                if kinds[k] == *kind {
                    pick.kinds[k].push(i);
                }
            }
        }
        for (k, kind) in index.kinds.iter().enumerate() {
            if deps.kinds.contains(kinds[k]) || extra.kinds.contains(kinds[k]) {
                pick.kinds[k].extend(&kind.all);
            }
        }
        if pick.len() != before {
            pick.fill(objects, &mut snapshot);
        }
        for kind in deps.resources.iter().chain(&extra.resources) {
            self.fill_resources(ns, kind, &mut snapshot);
        }
        snapshot
    }

    /// The objects of `kind` visible from `ns` (its own and those written without a namespace)
    /// into `snapshot.resources`; nothing when there are none (the gate then says so).
    fn fill_resources(&self, ns: &Namespace, kind: &ResourceKind, snapshot: &mut Snapshot) {
        let own = ns.other.get(kind).into_iter().flatten();
        let unscoped = self.unscoped.get(kind).into_iter().flatten();
        let mut objects: Vec<Arc<Value>> = own.cloned().collect();
        for o in unscoped {
            if !objects.iter().any(|x| Arc::ptr_eq(x, o)) {
                objects.push(o.clone());
            }
        }
        if !objects.is_empty() {
            snapshot.resources.insert(
                kind.clone(),
                Resources::Objects {
                    cluster_scoped: crate::checks::resource::is_cluster_scoped(
                        &kind.api_version,
                        &kind.kind,
                    ),
                    objects,
                },
            );
        }
    }

    /// The cluster-scoped objects (every one) into a snapshot.
    fn copy_cluster_scoped(&self, snapshot: &mut Snapshot) {
        struct Copy<'a>(&'a Snapshot, &'a mut Snapshot);
        impl EachRelatedKind for Copy<'_> {
            fn kind<K: RelatedKind>(&mut self) {
                if K::SCOPE == Scope::Cluster {
                    *K::of_mut(self.1) = K::of(self.0).clone();
                }
            }
        }
        for_each_related_kind(&mut Copy(&self.cluster, snapshot));
    }

    /// Every object of the namespace, unfiltered (O(namespace) per call): the reference the
    /// filtered [`snapshot_for`](Self::snapshot_for) is tested against.
    pub fn full_snapshot_for(
        &self,
        namespace: &str,
        workload: &Workload,
        now: Timestamp,
        assumed: &BTreeSet<(String, String)>,
    ) -> Snapshot {
        let mut snapshot = self
            .namespaces
            .get(namespace)
            .map(|ns| ns.related.clone())
            .unwrap_or_default();
        snapshot.namespace = namespace.to_string();
        snapshot.now = now;
        snapshot.source = Source::Manifests;
        snapshot.workload = Some(workload.clone());
        snapshot.assumed_present = assumed.clone();
        self.copy_cluster_scoped(&mut snapshot);
        if let Some(ns) = self.namespaces.get(namespace) {
            let kinds = ns.other.keys().chain(self.unscoped.keys());
            for kind in kinds.cloned().collect::<BTreeSet<_>>() {
                self.fill_resources(ns, &kind, &mut snapshot);
            }
        }
        snapshot
    }
}

/// The Kubernetes kind of each related kind, by position in the table.
fn kind_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        crate::engine::related::kinds()
            .into_iter()
            .map(|k| k.kind)
            .collect()
    })
}

/// Positions (in `Namespace::related`) of the objects picked for one snapshot.
struct Picked {
    /// Per related kind, by position in the table.
    kinds: [Vec<u32>; RELATED_KINDS],
    approvals: Vec<u32>,
}

impl Default for Picked {
    fn default() -> Self {
        Picked {
            kinds: std::array::from_fn(|_| Vec::new()),
            approvals: Vec::new(),
        }
    }
}

impl Picked {
    /// How many distinct objects are picked.
    fn len(&mut self) -> usize {
        self.kinds
            .iter_mut()
            .chain(std::iter::once(&mut self.approvals))
            .map(|l| {
                sort_dedup(l);
                l.len()
            })
            .sum()
    }

    /// The picked objects into `snapshot`, in input order.
    fn fill(&mut self, objects: &Snapshot, snapshot: &mut Snapshot) {
        struct Fill<'a> {
            objects: &'a Snapshot,
            picked: &'a mut Picked,
            snapshot: &'a mut Snapshot,
        }
        impl EachRelatedKind for Fill<'_> {
            fn kind<K: RelatedKind>(&mut self) {
                if K::SCOPE == Scope::Namespaced {
                    *K::of_mut(self.snapshot) =
                        take(K::of(self.objects), &mut self.picked.kinds[K::ORDINAL]);
                }
            }
        }
        snapshot.approvals = take(&objects.approvals, &mut self.approvals);
        for_each_related_kind(&mut Fill {
            objects,
            picked: self,
            snapshot,
        });
    }
}

/// Picks, per related kind, the objects relating to one Deployment (after those picked by
/// name), in table order: the Services are picked before their EndpointSlices and Ingresses.
struct PickRelated<'a> {
    index: &'a Index,
    objects: &'a Snapshot,
    /// The target's key among objects that scale a workload ([`scale_key`]).
    scaled: &'a str,
    labels: Option<&'a BTreeMap<String, String>>,
    pick: &'a mut Picked,
}

impl PickRelated<'_> {
    /// Names of the Services picked so far.
    fn services(&mut self) -> Vec<&str> {
        let picked = &mut self.pick.kinds[<Service as RelatedKind>::ORDINAL];
        sort_dedup(picked);
        picked
            .iter()
            .filter_map(|&i| self.objects.services[i as usize].metadata.name.as_deref())
            .collect()
    }
}

impl EachRelatedKind for PickRelated<'_> {
    fn kind<K: RelatedKind>(&mut self) {
        let index = &self.index.kinds[K::ORDINAL];
        match K::relation() {
            Relation::Named | Relation::Every => {}
            Relation::SelectsPods(_) => index
                .selectors
                .candidates(self.labels, &mut self.pick.kinds[K::ORDINAL]),
            Relation::Scales(_) => self.pick.kinds[K::ORDINAL]
                .extend(index.by_key.get(self.scaled).into_iter().flatten()),
            Relation::OfService(_) => {
                let mut found = index.unkeyed.clone();
                for service in self.services() {
                    found.extend(index.by_key.get(service).into_iter().flatten());
                }
                self.pick.kinds[K::ORDINAL].extend(found);
            }
            Relation::RoutesTo { secrets, .. } => {
                let mut found = Vec::new();
                for service in self.services() {
                    found.extend(index.by_key.get(service).into_iter().flatten());
                }
                sort_dedup(&mut found);
                let objects = K::of(self.objects);
                for &i in &found {
                    for secret in secrets(&objects[i as usize]) {
                        for &(kind, j) in self.index.by_name.get(secret).into_iter().flatten() {
                            if kind == <Secret as RelatedKind>::ORDINAL {
                                self.pick.kinds[kind].push(j);
                            }
                        }
                    }
                }
                self.pick.kinds[K::ORDINAL].extend(found);
            }
        }
    }
}

/// How a workload is keyed among the objects that scale one: `StatefulSet/db`.
fn scale_key(kind: WorkloadKind, name: &str) -> String {
    format!("{kind}/{name}")
}

fn sort_dedup(v: &mut Vec<u32>) {
    v.sort_unstable();
    v.dedup();
}

/// The picked objects in input order, as in a full snapshot.
fn take<K>(objects: &[Arc<K>], picked: &mut Vec<u32>) -> Vec<Arc<K>> {
    sort_dedup(picked);
    picked
        .iter()
        .filter_map(|&i| objects.get(i as usize).cloned())
        .collect()
}

/// Lookup tables over one namespace, built on first use after the last `add`.
#[derive(Clone, Debug)]
struct Index {
    /// Objects of the related kinds by name: (position of the kind in the table, position).
    by_name: HashMap<String, Vec<(usize, u32)>>,
    /// Per related kind, by position in the table.
    kinds: [KindIndex; RELATED_KINDS],
    approvals_by_readiness: HashMap<String, Vec<u32>>,
    /// The last workload of each kind and name (a later duplicate replaces an earlier one, as
    /// `kubectl apply` would).
    workloads_by_target: HashMap<(WorkloadKind, String), u32>,
    readiness_by_target: HashMap<(WorkloadKind, String), Vec<u32>>,
    /// Per DeploymentReadiness (same order as `Namespace::readiness`): names its inline items mention.
    readiness_mentions: Vec<Vec<String>>,
    /// Namespaced checklists by name: the names they mention.
    checklist_mentions: HashMap<String, Vec<String>>,
}

/// Lookup tables over the objects of one related kind, by its relation to workloads.
#[derive(Clone, Debug, Default)]
struct KindIndex {
    /// Every object (for the lists a `cel` expression reads whole).
    all: Vec<u32>,
    /// `SelectsPods`: the selectors.
    selectors: SelectorIndex,
    /// `Scales`: by the workload scaled ([`scale_key`]); `OfService`, `RoutesTo`: by Service.
    by_key: HashMap<String, Vec<u32>>,
    /// `OfService`: objects naming no Service (candidates for every Service).
    unkeyed: Vec<u32>,
}

/// Builds the [`KindIndex`] of each related kind.
struct BuildIndex<'a> {
    objects: &'a Snapshot,
    index: &'a mut Index,
}

impl EachRelatedKind for BuildIndex<'_> {
    fn kind<K: RelatedKind>(&mut self) {
        let objects = K::of(self.objects);
        let mut kind = KindIndex::default();
        for (i, object) in objects.iter().enumerate() {
            if let Some(n) = &object.meta().name {
                index_by_name_push(&mut self.index.by_name, n, K::ORDINAL, i);
            }
            kind.all.push(i as u32);
        }
        match K::relation() {
            Relation::Named | Relation::Every => {}
            Relation::SelectsPods(selector) => {
                kind.selectors = SelectorIndex::build(objects.iter().map(|o| selects(selector(o))));
            }
            Relation::Scales(scaled) => {
                for (i, object) in objects.iter().enumerate() {
                    if let Some((kind_scaled, name)) = scaled(object) {
                        push(&mut kind.by_key, &scale_key(kind_scaled, name), i);
                    }
                }
            }
            Relation::OfService(service) => {
                for (i, object) in objects.iter().enumerate() {
                    match service(object) {
                        Some(service) => push(&mut kind.by_key, service, i),
                        None => kind.unkeyed.push(i as u32),
                    }
                }
            }
            Relation::RoutesTo { services, .. } => {
                for (i, object) in objects.iter().enumerate() {
                    for service in services(object) {
                        push(&mut kind.by_key, service, i);
                    }
                }
            }
        }
        self.index.kinds[K::ORDINAL] = kind;
    }
}

impl Index {
    fn build(ns: &Namespace) -> Index {
        let o = &ns.related;
        let mut index = Index {
            by_name: HashMap::new(),
            kinds: std::array::from_fn(|_| KindIndex::default()),
            approvals_by_readiness: HashMap::new(),
            workloads_by_target: HashMap::new(),
            readiness_by_target: HashMap::new(),
            readiness_mentions: Vec::new(),
            checklist_mentions: HashMap::new(),
        };
        for_each_related_kind(&mut BuildIndex {
            objects: o,
            index: &mut index,
        });
        for (i, a) in o.approvals.iter().enumerate() {
            push(
                &mut index.approvals_by_readiness,
                &a.spec.readiness_ref.name,
                i,
            );
        }
        for (i, (w, _)) in ns.workloads.iter().enumerate() {
            index
                .workloads_by_target
                .insert((w.kind(), w.name().to_string()), i as u32);
        }
        for (i, (r, _)) in ns.readiness.iter().enumerate() {
            let target = &r.spec.target_ref;
            index
                .readiness_by_target
                .entry((target.kind(), target.name.clone()))
                .or_default()
                .push(i as u32);
            index
                .readiness_mentions
                .push(Mentions::of(&r.spec.items).names.into_iter().collect());
        }
        for c in &ns.checklists {
            if let Some(n) = &c.metadata.name {
                let entry = index.checklist_mentions.entry(n.clone()).or_default();
                entry.extend(Mentions::of(&c.spec).names);
            }
        }
        index
    }
}

fn index_by_name_push(
    map: &mut HashMap<String, Vec<(usize, u32)>>,
    name: &str,
    kind: usize,
    i: usize,
) {
    match map.get_mut(name) {
        Some(v) => v.push((kind, i as u32)),
        None => {
            map.insert(name.to_string(), vec![(kind, i as u32)]);
        }
    }
}

fn push(map: &mut HashMap<String, Vec<u32>>, key: &str, i: usize) {
    match map.get_mut(key) {
        Some(v) => v.push(i as u32),
        None => {
            map.insert(key.to_string(), vec![i as u32]);
        }
    }
}

fn pair(k: &str, v: &str) -> String {
    // `=` appears in neither label keys nor values.
    format!("{k}={v}")
}

/// What a selector may select, for indexing.
enum Selects {
    /// Nothing (a selector-less Service).
    Nothing,
    /// Pods with all these `key=value` pairs (and maybe more conditions).
    Pairs(Vec<String>),
    /// Possibly any pod: no `matchLabels` to index by.
    Anything,
}

fn selects(selector: PodSelector<'_>) -> Selects {
    let pairs = |map: &BTreeMap<String, String>| map.iter().map(|(k, v)| pair(k, v)).collect();
    match selector {
        PodSelector::Nothing => Selects::Nothing,
        // An empty map selects nothing (a Service without selector: found by name only).
        PodSelector::Map(map) if map.is_empty() => Selects::Nothing,
        PodSelector::Map(map) => Selects::Pairs(pairs(map)),
        PodSelector::Labels(selector) => match selector.match_labels.as_ref() {
            Some(map) if !map.is_empty() => Selects::Pairs(pairs(map)),
            // Only matchExpressions, or `{}` (every pod): always a candidate.
            _ => Selects::Anything,
        },
        PodSelector::Every => Selects::Anything,
    }
}

/// Selectors indexed under their rarest `matchLabels` pair, so a label every pod shares
/// (`app.kubernetes.io/instance: release`) does not make every selector a candidate for
/// every Deployment.
#[derive(Clone, Debug, Default)]
struct SelectorIndex {
    by_pair: HashMap<String, Vec<u32>>,
    anything: Vec<u32>,
}

impl SelectorIndex {
    fn build(selectors: impl Iterator<Item = Selects>) -> Self {
        let selectors: Vec<Selects> = selectors.collect();
        let mut frequency: HashMap<&str, usize> = HashMap::new();
        for s in &selectors {
            if let Selects::Pairs(pairs) = s {
                for p in pairs {
                    *frequency.entry(p.as_str()).or_default() += 1;
                }
            }
        }
        let mut index = SelectorIndex::default();
        for (i, s) in selectors.iter().enumerate() {
            match s {
                Selects::Nothing => {}
                Selects::Anything => index.anything.push(i as u32),
                Selects::Pairs(pairs) => {
                    // A selector matches only pods carrying every pair, so any one pair is
                    // a sound key; the rarest keeps the buckets small.
                    if let Some(rarest) = pairs.iter().min_by_key(|p| {
                        (frequency.get(p.as_str()).copied().unwrap_or(0), p.as_str())
                    }) {
                        push(&mut index.by_pair, rarest, i);
                    }
                }
            }
        }
        index
    }

    /// Every selector that could select pods with these labels (a superset of the matches).
    fn candidates(&self, labels: Option<&BTreeMap<String, String>>, out: &mut Vec<u32>) {
        out.extend(&self.anything);
        for (k, v) in labels.into_iter().flatten() {
            if let Some(found) = self.by_pair.get(&pair(k, v)) {
                out.extend(found);
            }
        }
    }
}

/// Words of `value`'s strings that could be an object's name: every run of
/// `[A-Za-z0-9._-]` of at most 253 bytes (object names use a subset of these characters).
/// Splitting, rather than taking whole strings, catches names inside longer text: a CEL
/// expression `secrets.exists(s, s.metadata.name == 'db')` mentions `db`. Looser than the real
/// rules on purpose: an extra candidate costs a lookup, a missing one would hide an object.
fn collect_names<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.extend(super::direct::words(s)),
        Value::Array(items) => items.iter().for_each(|v| collect_names(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_names(v, out)),
        _ => {}
    }
}

/// One document, typed: what [`ManifestSet::insert`] files where.
#[derive(Debug)]
pub struct Classified {
    namespace: String,
    origin: Origin,
    object: Object,
}

#[derive(Debug)]
enum Object {
    /// Not a Kubernetes object (no apiVersion and kind): a warning.
    NotKubernetes(String),
    /// A Kubernetes object skipped with a warning (no name, an API version gone from 1.33).
    Skipped(String),
    /// A kind gonogo does not judge.
    Ignored,
    Workload(Workload, Box<str>),
    Readiness(Arc<DeploymentReadiness>),
    Checklist(Arc<ReadinessChecklist>),
    ClusterChecklist(Arc<ClusterReadinessChecklist>),
    Approval(Arc<crate::api::ReadinessApproval>),
    Related(RelatedObject),
    /// An object of any other kind, for `resource` gates.
    Other {
        kind: ResourceKind,
        object: Arc<Value>,
        /// Whether the manifest names its namespace.
        namespaced: bool,
    },
}

/// An object of a related kind, typed and trimmed, ready to be filed in its snapshot field.
struct RelatedObject {
    kind: &'static str,
    scope: Scope,
    name: String,
    /// Files the object in its snapshot field: replacing the one at the index given (an
    /// earlier duplicate), else at the end; returns where it is.
    put: Box<Put>,
}

/// Files a related object in a snapshot (see [`RelatedObject::put`]).
type Put = dyn FnOnce(&mut Snapshot, Option<usize>) -> usize + Send + Sync;

impl std::fmt::Debug for RelatedObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RelatedObject({})", self.kind)
    }
}

/// Types a document of a related kind, if it is one (see [`for_each_related_kind`]).
struct ClassifyRelated<'a> {
    doc: &'a Document,
    api_version: &'a str,
    kind: &'a str,
    found: Option<Result<Object, SetError>>,
}

impl EachRelatedKind for ClassifyRelated<'_> {
    fn kind<K: RelatedKind>(&mut self) {
        if self.found.is_some() || K::KIND != self.kind {
            return;
        }
        let group = |v: &str| v.rsplit_once('/').map_or("", |(g, _)| g).to_string();
        if K::API_VERSION == self.api_version {
            let blanked = K::blanked(&self.doc.value);
            let value = blanked.as_ref().unwrap_or(&self.doc.value);
            self.found = Some(typed_value::<K>(self.doc, value, self.kind).map(related_object));
        } else if group(K::API_VERSION) == group(self.api_version) {
            // Versions read by conversion (`versions.rs`) count as read.
            let read = match super::versions::ALSO_READ
                .iter()
                .find(|(k, _)| *k == K::KIND)
            {
                Some((_, other)) => format!("{} and {other}", K::API_VERSION),
                None => K::API_VERSION.to_string(),
            };
            self.found = Some(Ok(Object::Skipped(format!(
                "{}:{}: {} {}: gonogo reads {} {read} only; skipped",
                self.doc.file, self.doc.line, self.kind, self.api_version, self.kind,
            ))));
        }
    }
}

/// A related object, trimmed, ready to be filed.
fn related_object<K: RelatedKind>(mut object: K) -> Object {
    object.trim();
    Object::Related(RelatedObject {
        kind: K::KIND,
        scope: K::SCOPE,
        name: object.meta().name.clone().unwrap_or_default(),
        put: Box::new(move |snapshot, at| {
            let objects = K::of_mut(snapshot);
            match at.filter(|&i| i < objects.len()) {
                Some(i) => {
                    objects[i] = Arc::new(object);
                    i
                }
                None => {
                    objects.push(Arc::new(object));
                    objects.len() - 1
                }
            }
        }),
    })
}

/// A workload's mentions: its words that may name an object, sorted, once each,
/// space-separated.
fn mentions(mut names: Vec<&str>) -> Box<str> {
    // Object names are lowercase (RFC 1123): other words can name nothing.
    names.retain(|w| super::direct::may_name(w));
    names.sort_unstable();
    names.dedup();
    names.join(" ").into_boxed_str()
}

/// The fast path of [`classify`]: a YAML block mapping of a workload or a related kind in the
/// version gonogo reads, typed straight from its text (see [`super::direct`]). `None` for any
/// other document, and for any the direct reader cannot vouch for: [`classify`] then reads it
/// (and reports its errors) as ever, so the result is the same either way.
pub fn classify_direct(
    doc: &super::RawDocument<'_>,
    file: &str,
    default_namespace: &str,
) -> Option<Classified> {
    let (line, helm_source, body) = doc.block_mapping()?;
    let (api_version, kind) = top_level_type(body)?;
    let (namespace, object) = match (api_version, kind) {
        ("apps/v1", "Deployment" | "StatefulSet" | "DaemonSet") => {
            let read = super::direct::Read {
                words: true,
                ..Default::default()
            };
            let shrink = |template: Option<&mut PodTemplateSpec>| {
                if let Some(pod) = template.and_then(|t| t.spec.as_mut()) {
                    super::direct::shrink_pod(pod);
                }
            };
            let (workload, words): (Workload, _) = match kind {
                "Deployment" => {
                    let (mut o, w) = super::direct::typed::<Deployment>(body, read)?;
                    shrink(o.spec.as_mut().map(|s| &mut s.template));
                    (o.into(), w)
                }
                "StatefulSet" => {
                    let (mut o, w) = super::direct::typed::<StatefulSet>(body, read)?;
                    shrink(o.spec.as_mut().map(|s| &mut s.template));
                    (o.into(), w)
                }
                _ => {
                    let (mut o, w) = super::direct::typed::<DaemonSet>(body, read)?;
                    shrink(o.spec.as_mut().map(|s| &mut s.template));
                    (o.into(), w)
                }
            };
            let meta = workload.metadata();
            if meta.name.as_deref().is_none_or(str::is_empty) {
                return None; // skipped with a warning, by `classify`
            }
            let namespace = meta.namespace.clone();
            let words = words.unwrap_or_default();
            let mentions = mentions(words.split(' ').filter(|w| !w.is_empty()).collect());
            (namespace, Object::Workload(workload, mentions))
        }
        _ => {
            let mut related = DirectRelated {
                body,
                api_version,
                kind,
                found: None,
            };
            for_each_related_kind(&mut related);
            related.found?
        }
    };
    let namespace = namespace.filter(|ns| !ns.is_empty());
    Some(Classified {
        namespace: namespace.unwrap_or_else(|| default_namespace.to_string()),
        origin: Origin {
            file: file.to_string(),
            line,
            helm_source,
        },
        object,
    })
}

/// The top-level `apiVersion` and `kind` of a block mapping, when written plainly at the
/// start of their lines (a guess: the typed read checks both).
fn top_level_type(body: &str) -> Option<(&str, &str)> {
    let (mut api_version, mut kind) = (None, None);
    for line in body.lines() {
        let slot = if let Some(v) = line.strip_prefix("apiVersion:") {
            (&mut api_version, v)
        } else if let Some(v) = line.strip_prefix("kind:") {
            (&mut kind, v)
        } else {
            continue;
        };
        let value = slot.1.trim();
        let plain = !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'-'));
        if !plain || slot.0.is_some() {
            return None;
        }
        *slot.0 = Some(value);
        if let (Some(a), Some(k)) = (api_version, kind) {
            return Some((a, k));
        }
    }
    None
}

/// Types a document of a related kind straight from its text, if it is one in the version
/// gonogo reads (see [`classify_direct`]).
struct DirectRelated<'a> {
    body: &'a str,
    api_version: &'a str,
    kind: &'a str,
    /// The object's namespace as written, and the object.
    found: Option<(Option<String>, Object)>,
}

impl EachRelatedKind for DirectRelated<'_> {
    fn kind<K: RelatedKind>(&mut self) {
        if self.found.is_some() || K::KIND != self.kind || K::API_VERSION != self.api_version {
            return;
        }
        // Values no check reads, never kept (and a Secret's blanked as `blanked` does).
        let blank: &'static [&'static str] = match K::KIND {
            "Secret" => &["data", "stringData"],
            "ConfigMap" => &["data"],
            _ => &[],
        };
        let read = super::direct::Read {
            words: false,
            blank,
        };
        if let Some((object, _)) = super::direct::typed::<K>(self.body, read) {
            let namespace = object.meta().namespace.clone();
            self.found = Some((namespace, related_object(object)));
        }
    }
}

/// Type one document (pure, so documents can be typed in parallel). Objects without a
/// namespace land in `default_namespace`.
pub fn classify(doc: &Document, default_namespace: &str) -> Result<Classified, SetError> {
    let origin = Origin {
        file: doc.file.clone(),
        line: doc.line,
        helm_source: doc.helm_source.clone(),
    };
    let (Some(api_version), Some(kind)) = (
        doc.value.get("apiVersion").and_then(Value::as_str),
        doc.value.get("kind").and_then(Value::as_str),
    ) else {
        let warning = format!(
            "{}:{}: not a Kubernetes object (no apiVersion and kind); skipped",
            doc.file, doc.line
        );
        return Ok(Classified {
            namespace: String::new(),
            origin,
            object: Object::NotKubernetes(warning),
        });
    };
    // A served version gonogo does not read: read as the API server shows it in the one it does.
    if let Some(value) = super::versions::hpa_v1_as_v2(&doc.value) {
        let converted = Document {
            value,
            file: doc.file.clone(),
            line: doc.line,
            helm_source: doc.helm_source.clone(),
        };
        return classify(&converted, default_namespace);
    }
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let namespace = doc
        .value
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|ns| !ns.is_empty())
        .unwrap_or(default_namespace)
        .to_string();
    let named = doc
        .value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let object = match (group, kind) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet")
        | (
            "gonogo.dev",
            "DeploymentReadiness" | "ReadinessChecklist" | "ClusterReadinessChecklist",
        ) if !named => Object::Skipped(format!(
            "{}:{}: {kind} without metadata.name; skipped",
            doc.file, doc.line
        )),
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet") => {
            let object: Workload = match kind {
                "Deployment" => typed::<Deployment>(doc, kind)?.into(),
                "StatefulSet" => typed::<StatefulSet>(doc, kind)?.into(),
                _ => typed::<DaemonSet>(doc, kind)?.into(),
            };
            let mut names = Vec::new();
            collect_names(&doc.value, &mut names);
            Object::Workload(object, mentions(names))
        }
        ("gonogo.dev", "DeploymentReadiness") => {
            validate_items(doc, kind, doc.value.pointer("/spec/items"))?;
            Object::Readiness(Arc::new(typed(doc, kind)?))
        }
        ("gonogo.dev", "ReadinessChecklist") => {
            validate_items(doc, kind, doc.value.pointer("/spec/items"))?;
            Object::Checklist(Arc::new(typed(doc, kind)?))
        }
        ("gonogo.dev", "ClusterReadinessChecklist") => {
            validate_items(doc, kind, doc.value.pointer("/spec/items"))?;
            Object::ClusterChecklist(Arc::new(typed(doc, kind)?))
        }
        ("gonogo.dev", "ReadinessApproval") => Object::Approval(Arc::new(typed(doc, kind)?)),
        _ => {
            let mut related = ClassifyRelated {
                doc,
                api_version,
                kind,
                found: None,
            };
            for_each_related_kind(&mut related);
            match related.found {
                Some(object) => object?,
                // Any other kind: kept as written (no managed fields) for `resource` gates.
                None if named => {
                    let mut object = doc.value.clone();
                    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                        meta.remove("managedFields");
                    }
                    Object::Other {
                        kind: ResourceKind {
                            api_version: api_version.to_string(),
                            kind: kind.to_string(),
                        },
                        namespaced: doc
                            .value
                            .pointer("/metadata/namespace")
                            .and_then(Value::as_str)
                            .is_some_and(|ns| !ns.is_empty()),
                        object: Arc::new(object),
                    }
                }
                None => Object::Ignored,
            }
        }
    };
    Ok(Classified {
        namespace,
        origin,
        object,
    })
}

fn typed<K: DeserializeOwned + Resource>(doc: &Document, kind: &str) -> Result<K, SetError> {
    typed_value(doc, &doc.value, kind)
}

fn typed_value<K: DeserializeOwned + Resource>(
    doc: &Document,
    value: &Value,
    kind: &str,
) -> Result<K, SetError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        SetError {
            file: doc.file.clone(),
            line: doc.line,
            kind: kind.to_string(),
            name: object_name(&doc.value),
            message: if path == "." {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            },
        }
    })
}

fn object_name(value: &Value) -> String {
    value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)")
        .to_string()
}

/// Item keys beside the check kinds.
const ITEM_FIELDS: &[&str] = &["name", "description", "severity", "phase"];

/// Checklist items must have exactly one check kind and no unknown keys. The API server would
/// refuse such an object (structural schema, CEL rule); offline it is an input error, not a
/// gate that is quietly Unknown. A typo such as `probs:` is named.
fn validate_items(doc: &Document, kind: &str, items: Option<&Value>) -> Result<(), SetError> {
    let error = |message: String| SetError {
        file: doc.file.clone(),
        line: doc.line,
        kind: kind.to_string(),
        name: object_name(&doc.value),
        message,
    };
    let Some(Value::Array(items)) = items else {
        return Ok(());
    };
    for (i, item) in items.iter().enumerate() {
        let Value::Object(map) = item else { continue }; // the typed parse reports it
        let item_name = map
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)");
        let unknown: Vec<&str> = map
            .keys()
            .map(String::as_str)
            .filter(|k| !ITEM_FIELDS.contains(k) && !crate::checks::KINDS.contains(k))
            .collect();
        if !unknown.is_empty() {
            return Err(error(format!(
                "spec.items[{i}] ({item_name}): unknown field{} {}; check kinds are: {}",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.join(", "),
                crate::checks::KINDS.join(", ")
            )));
        }
        let kinds: Vec<&str> = map
            .keys()
            .map(String::as_str)
            .filter(|k| crate::checks::KINDS.contains(k))
            .collect();
        if kinds.len() != 1 {
            return Err(error(format!(
                "spec.items[{i}] ({item_name}): an item needs exactly one check kind, found {}",
                if kinds.is_empty() {
                    "none".to_string()
                } else {
                    kinds.join(", ")
                }
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::parse_stream;

    fn set(text: &str) -> ManifestSet {
        let mut set = ManifestSet::default();
        for doc in parse_stream("t.yaml", text).unwrap() {
            set.add(&doc, "default").unwrap();
        }
        set
    }

    fn names<K: Resource>(objects: &[Arc<K>]) -> Vec<&str> {
        objects
            .iter()
            .filter_map(|o| o.meta().name.as_deref())
            .collect()
    }

    const APP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api, part-of: shop}}
    spec:
      containers:
        - name: api
          image: ghcr.io/acme/api:1
          envFrom: [{secretRef: {name: api-env}}]
          volumes: []
      volumes:
        - {name: data, persistentVolumeClaim: {claimName: api-data}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, part-of: shop}}
    spec: {containers: [{name: web, image: web:1}]}
---
{apiVersion: v1, kind: Service, metadata: {name: api}, spec: {selector: {app: api, part-of: shop}}}
---
{apiVersion: v1, kind: Service, metadata: {name: web}, spec: {selector: {app: web, part-of: shop}}}
---
{apiVersion: v1, kind: Service, metadata: {name: external}, spec: {type: ExternalName, externalName: x.example.com}}
---
{apiVersion: policy/v1, kind: PodDisruptionBudget, metadata: {name: shop}, spec: {selector: {matchLabels: {part-of: shop}}, minAvailable: 1}}
---
{apiVersion: policy/v1, kind: PodDisruptionBudget, metadata: {name: web}, spec: {selector: {matchLabels: {app: web}}, minAvailable: 1}}
---
{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: deny-all}, spec: {podSelector: {}}}
---
{apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, metadata: {name: api}, spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}, maxReplicas: 3}}
---
{apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, metadata: {name: web}, spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, maxReplicas: 3}}
---
{apiVersion: v1, kind: Secret, metadata: {name: api-env}}
---
{apiVersion: v1, kind: Secret, metadata: {name: web-env}}
---
{apiVersion: v1, kind: Secret, metadata: {name: api-tls}, type: kubernetes.io/tls}
---
{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: api-data}}
---
{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: api-x1, labels: {kubernetes.io/service-name: api}}, addressType: IPv4, endpoints: []}
---
{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: web-x1, labels: {kubernetes.io/service-name: web}}, addressType: IPv4, endpoints: []}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: api}
spec:
  tls: [{secretName: api-tls, hosts: [api.example.com]}]
  rules: [{host: api.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}]}}]
---
{apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {name: standard}, provisioner: x}
---
apiVersion: gonogo.dev/v1alpha1
kind: DeploymentReadiness
metadata: {name: api-ready}
spec:
  targetRef: {name: api}
  checklists: [{name: shared}]
  items: [{name: ext, service: {name: external}}]
---
apiVersion: gonogo.dev/v1alpha1
kind: ReadinessChecklist
metadata: {name: shared}
spec:
  items: [{name: cm, configMaps: {required: [{name: feature-flags}]}}]
---
{apiVersion: v1, kind: ConfigMap, metadata: {name: feature-flags}}
---
{apiVersion: v1, kind: ConfigMap, metadata: {name: unrelated}}
---
{apiVersion: gonogo.dev/v1alpha1, kind: ReadinessApproval, metadata: {name: a1}, spec: {readinessRef: {name: api-ready}, item: x, approver: me, revision: {generation: 1}}}
---
{apiVersion: gonogo.dev/v1alpha1, kind: ReadinessApproval, metadata: {name: a2}, spec: {readinessRef: {name: web}, item: x, approver: me, revision: {generation: 1}}}
"#;

    #[test]
    fn a_snapshot_holds_the_related_objects_only() {
        let set = set(APP);
        let ns = &set.namespaces["default"];
        let api = &ns.workloads[0].0;
        let s = set.snapshot_for("default", api, Timestamp::UNIX_EPOCH, &BTreeSet::new());
        assert_eq!(
            names(&s.services),
            ["api", "external"],
            "selecting Service, and the one an item names"
        );
        assert_eq!(names(&s.pdbs), ["shop"]);
        assert_eq!(names(&s.network_policies), ["deny-all"]);
        assert_eq!(names(&s.hpas), ["api"]);
        assert_eq!(
            names(&s.secrets),
            ["api-env", "api-tls"],
            "envFrom, and the Ingress TLS Secret"
        );
        assert_eq!(names(&s.pvcs), ["api-data"]);
        assert_eq!(names(&s.endpoint_slices), ["api-x1"]);
        assert_eq!(names(&s.ingresses), ["api"]);
        assert_eq!(
            names(&s.config_maps),
            ["feature-flags"],
            "named by a referenced checklist"
        );
        assert_eq!(names(&s.approvals), ["a1"]);
        assert_eq!(names(&s.storage_classes), ["standard"]);

        let web = &ns.workloads[1].0;
        let s = set.snapshot_for("default", web, Timestamp::UNIX_EPOCH, &BTreeSet::new());
        assert_eq!(names(&s.services), ["web"]);
        assert_eq!(names(&s.pdbs), ["shop", "web"]);
        assert_eq!(names(&s.hpas), ["web"]);
        assert!(s.secrets.is_empty() && s.config_maps.is_empty() && s.approvals.is_empty());
        let extra = Mentions {
            names: ["unrelated".into()].into(),
            readiness: ["web".into()].into(),
            ..Default::default()
        };
        let s = set.snapshot_with(
            "default",
            web,
            Timestamp::UNIX_EPOCH,
            &BTreeSet::new(),
            &extra,
        );
        assert_eq!(names(&s.config_maps), ["unrelated"]);
        assert_eq!(names(&s.approvals), ["a2"]);
    }

    #[test]
    fn a_cel_gate_sees_every_object_of_the_lists_it_uses() {
        let mut text = APP.to_string();
        text.push_str("---\n{apiVersion: gonogo.dev/v1alpha1, kind: DeploymentReadiness, metadata: {name: web-ready}, spec: {targetRef: {name: web}, items: [{name: c, cel: {expression: 'size(configMaps) == 2'}}]}}\n");
        let set = set(&text);
        let web = &set.namespaces["default"].workloads[1].0;
        let s = set.snapshot_for("default", web, Timestamp::UNIX_EPOCH, &BTreeSet::new());
        assert_eq!(
            names(&s.config_maps),
            ["feature-flags", "unrelated"],
            "none is named, both are read"
        );
        assert!(s.secrets.is_empty(), "the expression reads no Secret");
        // Checklists applied from outside the set say which lists their cel items read.
        let api = &set.namespaces["default"].workloads[0].0;
        let extra = Mentions {
            kinds: ["Secret"].into(),
            ..Default::default()
        };
        let s = set.snapshot_with(
            "default",
            api,
            Timestamp::UNIX_EPOCH,
            &BTreeSet::new(),
            &extra,
        );
        assert_eq!(names(&s.secrets), ["api-env", "web-env", "api-tls"]);
    }

    #[test]
    fn a_shared_label_does_not_make_every_selector_a_candidate() {
        let mut text = String::new();
        for i in 0..50 {
            text.push_str(&format!(
                "---\n{{apiVersion: policy/v1, kind: PodDisruptionBudget, metadata: {{name: p{i}}}, spec: {{selector: {{matchLabels: {{app: a{i}, part-of: shop}}}}}}}}\n"
            ));
        }
        text.push_str("---\n{apiVersion: apps/v1, kind: Deployment, metadata: {name: a7}, spec: {selector: {matchLabels: {app: a7}}, template: {metadata: {labels: {app: a7, part-of: shop}}}}}\n");
        let set = set(&text);
        let d = &set.namespaces["default"].workloads[0].0;
        let s = set.snapshot_for("default", d, Timestamp::UNIX_EPOCH, &BTreeSet::new());
        assert_eq!(names(&s.pdbs), ["p7"]);
    }

    #[test]
    fn adding_after_a_snapshot_rebuilds_the_index() {
        let mut set = set(APP);
        let api = set.namespaces["default"].workloads[0].0.clone();
        let before = set.snapshot_for("default", &api, Timestamp::UNIX_EPOCH, &BTreeSet::new());
        let doc = &parse_stream(
            "u.yaml",
            "{apiVersion: v1, kind: Service, metadata: {name: api2}, spec: {selector: {app: api}}}",
        )
        .unwrap()[0];
        set.add(doc, "default").unwrap();
        let after = set.snapshot_for("default", &api, Timestamp::UNIX_EPOCH, &BTreeSet::new());
        assert_eq!(before.services.len() + 1, after.services.len());
    }

    #[test]
    fn items_with_unknown_keys_or_no_kind_are_input_errors() {
        let mut set = ManifestSet::default();
        let bad = "apiVersion: gonogo.dev/v1alpha1\nkind: ReadinessChecklist\nmetadata: {name: c}\nspec:\n  items: [{name: p, probs: {}}]\n";
        let err = set
            .add(&parse_stream("c.yaml", bad).unwrap()[0], "default")
            .unwrap_err();
        assert!(err.message.contains("unknown field probs"), "{err}");
        let none = bad.replace("probs: {}", "severity: Advisory");
        let err = set
            .add(&parse_stream("c.yaml", &none).unwrap()[0], "default")
            .unwrap_err();
        assert!(
            err.message.contains("exactly one check kind, found none"),
            "{err}"
        );
    }

    #[test]
    fn secret_values_are_not_kept() {
        let set = set(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {A: c2VjcmV0}\nstringData: {B: secret}\n",
        );
        let secret = &set.namespaces["default"].related.secrets[0];
        assert_eq!(secret.data.as_ref().unwrap()["A"].0, Vec::<u8>::new());
        assert_eq!(secret.string_data.as_ref().unwrap()["B"], "");
    }

    #[test]
    fn a_bad_secret_is_reported_without_its_values() {
        for text in [
            "data: {token: [TOPSECRET-VALUE]}",
            "data: TOPSECRET-VALUE",
            "stringData: {pin: 8675309}",
            "stringData: TOPSECRET-VALUE",
        ] {
            let mut set = ManifestSet::default();
            let doc = format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\n{text}\n");
            let error = parse_stream("s.yaml", &doc)
                .unwrap()
                .iter()
                .find_map(|d| set.add(d, "default").err())
                .unwrap_or_else(|| panic!("{text}: accepted"))
                .to_string();
            assert!(error.starts_with("s.yaml:1: Secret s: "), "{error}");
            for secret in ["TOPSECRET", "8675309"] {
                assert!(!error.contains(secret), "{text}: {error}");
            }
        }
    }

    #[test]
    fn type_errors_name_the_field_path() {
        let mut set = ManifestSet::default();
        let bad = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: three\n";
        let err = set
            .add(&parse_stream("d.yaml", bad).unwrap()[0], "default")
            .unwrap_err();
        assert_eq!((err.line, err.name.as_str()), (1, "d"));
        assert!(
            err.message.starts_with("spec.replicas: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn a_duplicate_related_object_replaces_the_first_in_place_with_a_warning() {
        let mut set = ManifestSet::default();
        let first = "{apiVersion: v1, kind: Service, metadata: {name: web}, spec: {type: LoadBalancer}}\n---\n{apiVersion: v1, kind: Service, metadata: {name: api}}\n---\n{apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {name: standard}, provisioner: a}\n";
        let second = "{apiVersion: v1, kind: Service, metadata: {name: web}, spec: {type: NodePort}}\n---\n{apiVersion: v1, kind: Service, metadata: {name: web, namespace: other}}\n---\n{apiVersion: storage.k8s.io/v1, kind: StorageClass, metadata: {name: standard, namespace: x}, provisioner: b}\n";
        for (file, text) in [("aws.yaml", first), ("metal.yaml", second)] {
            for doc in parse_stream(file, text).unwrap() {
                set.add(&doc, "default").unwrap();
            }
        }
        let services = &set.namespaces["default"].related.services;
        assert_eq!(names(services), ["web", "api"], "replaced in place");
        let web_type = services[0].spec.as_ref().and_then(|s| s.type_.as_deref());
        assert_eq!(web_type, Some("NodePort"), "the last one wins");
        // Another namespace is another object; a cluster-scoped kind ignores the namespace.
        assert_eq!(names(&set.namespaces["other"].related.services), ["web"]);
        assert_eq!(set.cluster.storage_classes.len(), 1);
        assert_eq!(set.cluster.storage_classes[0].provisioner, "b");
        assert_eq!(
            set.warnings,
            [
                "metal.yaml:1: Service default/web appears again (first at aws.yaml:1); the last one is used, as kubectl apply would leave it",
                "metal.yaml:5: StorageClass standard appears again (first at aws.yaml:5); the last one is used, as kubectl apply would leave it",
            ]
        );
    }
}
