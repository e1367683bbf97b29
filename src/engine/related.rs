//! Related kinds: the Kubernetes kinds a verdict may read besides the workload itself, and how
//! an object of each relates to a workload.
//!
//! The table is the `related_kinds!` invocation in `snapshot.rs` (one row per kind). From it
//! come the [`Snapshot`] field of the kind, the controller's store, watch and mapper, the
//! offline classifier and per-Deployment filter, the `cel` list variable, and the kind's part
//! of [`dependencies`](super::dependencies). Adding a related kind is one row plus the check
//! that reads it.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Dependencies, Snapshot, WorkloadKind, pod};

/// Where objects of a kind live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// In the workload's namespace; only that namespace is read.
    Namespaced,
    /// Cluster-scoped (StorageClasses); every object is visible to every workload.
    Cluster,
}

/// The scope types of `k8s-openapi` (`Resource::Scope`), told apart at compile time: a
/// namespaced kind can be read from one namespace, a cluster-scoped one only whole.
pub trait KnownScope {
    const SCOPE: Scope;
    /// `choose.namespaced()` for a namespaced kind, `choose.cluster()` for a cluster-scoped one.
    fn choose<K: Resource<Scope = Self>, C: ChooseByScope<K>>(choose: C) -> C::Out;
}

/// Something done differently for namespaced and cluster-scoped kinds (see [`KnownScope`]).
pub trait ChooseByScope<K: Resource> {
    type Out;
    fn namespaced(self) -> Self::Out
    where
        K: Resource<Scope = NamespaceResourceScope>;
    fn cluster(self) -> Self::Out;
}

impl KnownScope for NamespaceResourceScope {
    const SCOPE: Scope = Scope::Namespaced;
    fn choose<K: Resource<Scope = Self>, C: ChooseByScope<K>>(choose: C) -> C::Out {
        choose.namespaced()
    }
}

impl KnownScope for ClusterResourceScope {
    const SCOPE: Scope = Scope::Cluster;
    fn choose<K: Resource<Scope = Self>, C: ChooseByScope<K>>(choose: C) -> C::Out {
        choose.cluster()
    }
}

/// How an object of a kind relates to a workload: what makes a change to it a reason to judge
/// the workload again, and what the offline filter puts in the workload's snapshot.
pub enum Relation<K> {
    /// Read by name: named in the pod template or by a gate (Secrets, ConfigMaps, claims).
    Named,
    /// Selects the workload's pods (Services, PodDisruptionBudgets, NetworkPolicies).
    SelectsPods(fn(&K) -> PodSelector<'_>),
    /// Scales the workload (`scaleTargetRef` of a HorizontalPodAutoscaler): the kind and name
    /// of the workload it scales.
    Scales(fn(&K) -> Option<(WorkloadKind, &str)>),
    /// Belongs to a related Service (EndpointSlices): the Service's name.
    OfService(fn(&K) -> Option<&str>),
    /// Routes to Services (Ingresses): their names, and the names of the Secrets it uses.
    RoutesTo {
        services: fn(&K) -> Vec<&str>,
        secrets: fn(&K) -> Vec<&str>,
    },
    /// Every object relates to every workload (cluster-scoped, few: StorageClasses).
    Every,
}

/// Which pods a selector of a related object selects.
#[derive(Clone, Copy, Debug)]
pub enum PodSelector<'a> {
    /// No pod (a Service without selector, a PDB with a null selector).
    Nothing,
    /// Pods carrying every pair (a Service's map selector; empty selects nothing).
    Map(&'a BTreeMap<String, String>),
    /// A label selector (`{}` selects every pod).
    Labels(&'a LabelSelector),
    /// Every pod of the namespace (a NetworkPolicy without `podSelector`).
    Every,
}

impl PodSelector<'_> {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            PodSelector::Nothing => false,
            PodSelector::Map(map) => pod::map_selector_matches(map, labels),
            PodSelector::Labels(selector) => pod::selector_matches(selector, labels),
            PodSelector::Every => true,
        }
    }

    /// A label selector, or `or_else` when there is none.
    pub fn labels<'a>(
        selector: Option<&'a LabelSelector>,
        or_else: PodSelector<'a>,
    ) -> PodSelector<'a> {
        selector.map_or(or_else, PodSelector::Labels)
    }
}

/// A kind of the table. Implemented by `related_kinds!` only.
pub trait RelatedKind:
    Resource<DynamicType = (), Scope: KnownScope>
    + Clone
    + Default
    + DeserializeOwned
    + Serialize
    + Debug
    + Send
    + Sync
    + 'static
{
    /// The Kubernetes kind, e.g. `PodDisruptionBudget`.
    const KIND: &'static str;
    /// The resource name in URLs and RBAC rules, e.g. `poddisruptionbudgets`.
    const PLURAL: &'static str;
    /// The API version gonogo reads (offline, other versions of the kind are not read).
    const API_VERSION: &'static str;
    const SCOPE: Scope = <Self::Scope as KnownScope>::SCOPE;
    /// kubectl's short names of the kind.
    const SHORT_NAMES: &'static [&'static str];
    /// The `cel` variable listing every object of the kind in the namespace, if any.
    const CEL_LIST: Option<&'static str>;
    /// Position in the table.
    const ORDINAL: usize;
    /// A field selector for the controller's watch, leaving out objects of the kind that no
    /// gate reads (and that a manifest set never holds).
    const WATCH_FIELDS: Option<&'static str> = None;
    fn relation() -> Relation<Self>;
    /// Drop what gonogo never needs before an object is kept (in a store or a manifest set):
    /// managed fields always; values of Secrets and ConfigMaps.
    fn trim(&mut self);
    /// A copy of a manifest with what must never be read blanked, typed instead of the
    /// manifest so that not even a type error can quote it (a Secret's values); None when the
    /// kind has nothing to blank.
    fn blanked(_object: &serde_json::Value) -> Option<serde_json::Value> {
        None
    }
    /// The object as a `cel` list element (Secrets and ConfigMaps: key names only).
    fn cel_view(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn of(snapshot: &Snapshot) -> &Vec<Arc<Self>>;
    fn of_mut(snapshot: &mut Snapshot) -> &mut Vec<Arc<Self>>;
}

/// Something done once per kind of the table, in table order (see [`for_each_related_kind`]).
pub trait EachRelatedKind {
    fn kind<K: RelatedKind>(&mut self);
}

/// Whether `object` relates to the workload whose dependencies are `deps`, in its current
/// state (a new Service selecting the pods; an Ingress starting to route to one of them).
/// Named objects relate only through `deps` itself.
pub fn relates_now<K: RelatedKind>(object: &K, deps: &Dependencies) -> bool {
    match K::relation() {
        Relation::Named => false,
        Relation::SelectsPods(selector) => selector(object).matches(&deps.pod_labels),
        Relation::Scales(scaled) => {
            scaled(object) == Some((deps.target_kind, deps.target.as_str()))
        }
        Relation::OfService(service) => service(object).is_some_and(|s| deps.reads("Service", s)),
        Relation::RoutesTo { services, .. } => {
            services(object).iter().any(|s| deps.reads("Service", s))
        }
        Relation::Every => true,
    }
}

/// The kind (`"Secret"`) whose objects the `cel` list variable `variable` (`"secrets"`) holds.
pub fn kind_of_cel_list(variable: &str) -> Option<&'static str> {
    struct Find<'a>(&'a str, Option<&'static str>);
    impl EachRelatedKind for Find<'_> {
        fn kind<K: RelatedKind>(&mut self) {
            if K::CEL_LIST == Some(self.0) {
                self.1 = Some(K::KIND);
            }
        }
    }
    let mut find = Find(variable, None);
    super::for_each_related_kind(&mut find);
    find.1
}

/// The `cel` list variable `variable` over `snapshot`, if it is one.
pub fn cel_list(snapshot: &Snapshot, variable: &str) -> Option<Vec<serde_json::Value>> {
    struct List<'a>(&'a Snapshot, &'a str, Option<Vec<serde_json::Value>>);
    impl EachRelatedKind for List<'_> {
        fn kind<K: RelatedKind>(&mut self) {
            if K::CEL_LIST == Some(self.1) {
                self.2 = Some(K::of(self.0).iter().map(|o| o.cel_view()).collect());
            }
        }
    }
    let mut list = List(snapshot, variable, None);
    super::for_each_related_kind(&mut list);
    list.2
}

/// Every `cel` list variable, in table order.
pub fn cel_lists() -> Vec<&'static str> {
    struct Lists(Vec<&'static str>);
    impl EachRelatedKind for Lists {
        fn kind<K: RelatedKind>(&mut self) {
            self.0.extend(K::CEL_LIST);
        }
    }
    let mut lists = Lists(Vec::new());
    super::for_each_related_kind(&mut lists);
    lists.0
}

/// One row of the table, as plain data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindInfo {
    pub kind: &'static str,
    pub api_version: &'static str,
    /// The resource name in URLs and RBAC rules, e.g. `poddisruptionbudgets`.
    pub plural: &'static str,
    pub scope: Scope,
    pub cel_list: Option<&'static str>,
    /// kubectl's short names (`pdb`), accepted wherever a kind is named on the command line.
    pub short_names: &'static [&'static str],
}

impl KindInfo {
    /// Whether `name` names this kind as kubectl accepts it: the kind, its plural or a short
    /// name, in any case.
    pub fn is_named(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        name == self.kind.to_ascii_lowercase()
            || name == self.plural
            || self.short_names.contains(&name.as_str())
    }
}

/// Every kind of the table, in table order.
pub fn kinds() -> Vec<KindInfo> {
    struct Kinds(Vec<KindInfo>);
    impl EachRelatedKind for Kinds {
        fn kind<K: RelatedKind>(&mut self) {
            self.0.push(KindInfo {
                kind: K::KIND,
                api_version: K::API_VERSION,
                plural: K::PLURAL,
                scope: K::SCOPE,
                cel_list: K::CEL_LIST,
                short_names: K::SHORT_NAMES,
            });
        }
    }
    let mut kinds = Kinds(Vec::new());
    super::for_each_related_kind(&mut kinds);
    kinds.0
}

/// Managed fields are never read, nor the copy of the whole object `kubectl apply` keeps in an
/// annotation (it would double the memory of a store, and bound every field of a `cel`
/// expression's cost estimate).
pub fn trim_metadata<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// Defines [`Snapshot`] with one field per related kind, and the [`RelatedKind`] impls.
macro_rules! related_kinds {
    (
        $(#[$meta:meta])*
        pub struct Snapshot {
            $( $(#[$fixed_meta:meta])* pub $fixed:ident: $fixed_ty:ty, )*
        }
        related kinds {
            $(
                $(#[$kind_meta:meta])*
                $field:ident: $kind:ident {
                    api_version: $api_version:literal,
                    short_names: [$($short:literal),*],
                    cel: $cel:expr,
                    relation: $relation:expr,
                    trim: $trim:expr
                    $(, watch_fields: $watch_fields:literal)?
                    $(, cel_view: $cel_view:expr)?
                    $(, blank: $blank:expr)? $(,)?
                }
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        pub struct Snapshot {
            $( $(#[$fixed_meta])* pub $fixed: $fixed_ty, )*
            $( $(#[$kind_meta])* pub $field: Vec<Arc<$kind>>, )*
        }

        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        enum Ordinal { $($field),* }

        /// Number of related kinds in the table.
        pub const RELATED_KINDS: usize = [$(Ordinal::$field),*].len();

        $(
            impl $crate::engine::related::RelatedKind for $kind {
                const KIND: &'static str = <$kind as k8s_openapi::Resource>::KIND;
                const PLURAL: &'static str = <$kind as k8s_openapi::Resource>::URL_PATH_SEGMENT;
                const API_VERSION: &'static str = $api_version;
                const SHORT_NAMES: &'static [&'static str] = &[$($short),*];
                const CEL_LIST: Option<&'static str> = $cel;
                const ORDINAL: usize = Ordinal::$field as usize;
                $(const WATCH_FIELDS: Option<&'static str> = Some($watch_fields);)?
                fn relation() -> $crate::engine::related::Relation<Self> {
                    $relation
                }
                fn trim(&mut self) {
                    ($trim)(self)
                }
                $(fn cel_view(&self) -> serde_json::Value {
                    ($cel_view)(self)
                })?
                $(fn blanked(object: &serde_json::Value) -> Option<serde_json::Value> {
                    let mut copy = object.clone();
                    ($blank)(&mut copy);
                    Some(copy)
                })?
                fn of(snapshot: &Snapshot) -> &Vec<Arc<Self>> {
                    &snapshot.$field
                }
                fn of_mut(snapshot: &mut Snapshot) -> &mut Vec<Arc<Self>> {
                    &mut snapshot.$field
                }
            }
        )*

        /// Calls `each` once per related kind, in table order.
        pub fn for_each_related_kind(each: &mut impl $crate::engine::related::EachRelatedKind) {
            $( each.kind::<$kind>(); )*
        }
    };
}
pub(crate) use related_kinds;
