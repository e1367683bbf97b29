//! Reference index: which objects each DeploymentReadiness depends on, so a change to one
//! object re-evaluates only the DeploymentReadiness objects it affects.
//!
//! Each reconcile records what the evaluation depends on ([`crate::engine::dependencies`]: the
//! objects it could read by name, the kinds it reads whole, the pod labels selectors are
//! matched against). A watched object maps to the readiness objects that
//! depended on it at their last evaluation *or* depend on it now (a new Service selecting the
//! pods), so both gaining and losing a relation trigger re-evaluation.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

use crate::api::DeploymentReadiness;
use crate::engine::{Dependencies, ResourceKind, WorkloadKind};

#[derive(Clone, Default)]
pub struct RelationIndex {
    inner: Arc<RwLock<HashMap<ObjectRef<DeploymentReadiness>, Dependencies>>>,
}

impl RelationIndex {
    pub fn record(&self, readiness: ObjectRef<DeploymentReadiness>, dependencies: Dependencies) {
        if let Ok(mut map) = self.inner.write() {
            map.insert(readiness, dependencies);
        }
    }

    pub fn forget(&self, readiness: &ObjectRef<DeploymentReadiness>) {
        if let Ok(mut map) = self.inner.write() {
            map.remove(readiness);
        }
    }

    /// Of `candidates`, the readiness objects whose verdict reads objects of the `resource`
    /// kind `kind` (and those not evaluated yet): for a change to one object (its name, and
    /// its labels before and after), those with a gate that could pick it; for a change to
    /// the whole kind (a relist, the kind appearing or going), every one reading the kind.
    pub fn reading_resource(
        &self,
        candidates: impl IntoIterator<Item = ObjectRef<DeploymentReadiness>>,
        kind: &ResourceKind,
        object: Option<&(String, Vec<BTreeMap<String, String>>)>,
    ) -> Vec<ObjectRef<DeploymentReadiness>> {
        let Ok(map) = self.inner.read() else {
            return candidates.into_iter().collect();
        };
        candidates
            .into_iter()
            .filter(|r| {
                map.get(r).is_none_or(|deps| match object {
                    None => deps.resources.contains(kind),
                    Some((name, labels)) => deps.reads_resource(kind, name, labels),
                })
            })
            .collect()
    }

    /// Every kind some readiness object's `resource` gates read.
    pub fn resource_kinds(&self) -> BTreeSet<ResourceKind> {
        let Ok(map) = self.inner.read() else {
            return BTreeSet::new();
        };
        map.values()
            .flat_map(|deps| deps.resources.iter().cloned())
            .collect()
    }

    /// The readiness objects in `namespace` (from `candidates`) affected by a change to the
    /// object `(kind, name)`; `relates_now` says whether it relates to a target with these
    /// pod labels and name in its current state. Readiness objects not evaluated yet are
    /// always included.
    pub fn affected(
        &self,
        candidates: impl IntoIterator<Item = ObjectRef<DeploymentReadiness>>,
        kind: &'static str,
        name: &str,
        relates_now: impl Fn(&Dependencies) -> bool,
    ) -> Vec<ObjectRef<DeploymentReadiness>> {
        let Ok(map) = self.inner.read() else {
            return candidates.into_iter().collect();
        };
        candidates
            .into_iter()
            .filter(|r| match map.get(r) {
                None => true,
                Some(deps) => deps.reads(kind, name) || relates_now(deps),
            })
            .collect()
    }
}

/// DeploymentReadiness objects by the workload they target, kept from the watch events, so a
/// workload's readiness objects are found without scanning all of them (on every workload
/// event and every reconcile: quadratic with thousands of objects).
#[derive(Clone, Default)]
pub struct TargetIndex {
    inner: Arc<RwLock<Targets>>,
}

#[derive(Default)]
struct Targets {
    /// (namespace, workload) → readiness names.
    by_target: HashMap<(String, Target), BTreeSet<String>>,
    /// (namespace, readiness) → workload.
    target_of: HashMap<(String, String), Target>,
    /// A relist in progress: what it has brought so far.
    relist: Option<Vec<(String, String, Target)>>,
}

/// A workload: its kind and name.
type Target = (WorkloadKind, String);

impl Targets {
    fn insert(&mut self, namespace: String, name: String, target: Target) {
        self.remove(&namespace, &name);
        self.by_target
            .entry((namespace.clone(), target.clone()))
            .or_default()
            .insert(name.clone());
        self.target_of.insert((namespace, name), target);
    }

    fn remove(&mut self, namespace: &str, name: &str) {
        let Some(target) = self
            .target_of
            .remove(&(namespace.to_string(), name.to_string()))
        else {
            return;
        };
        let key = (namespace.to_string(), target);
        if let Some(names) = self.by_target.get_mut(&key) {
            names.remove(name);
            if names.is_empty() {
                self.by_target.remove(&key);
            }
        }
    }
}

/// A readiness object and the workload it may act on (none for a refused `targetRef`).
fn entry(readiness: &DeploymentReadiness) -> Option<(String, String, Target)> {
    Some((
        readiness.metadata.namespace.clone()?,
        readiness.metadata.name.clone()?,
        (
            readiness.spec.target_ref.kind(),
            readiness.target_name()?.to_string(),
        ),
    ))
}

impl TargetIndex {
    /// Follow the DeploymentReadiness watch (as the reflector store does).
    pub fn observe(&self, event: &watcher::Event<DeploymentReadiness>) {
        let Ok(mut t) = self.inner.write() else {
            return;
        };
        match event {
            watcher::Event::Apply(r) => {
                if let Some((namespace, name, target)) = entry(r) {
                    t.insert(namespace, name, target);
                }
            }
            watcher::Event::Delete(r) => {
                if let Some((namespace, name, _)) = entry(r) {
                    t.remove(&namespace, &name);
                }
            }
            watcher::Event::Init => t.relist = Some(Vec::new()),
            watcher::Event::InitApply(r) => {
                if let (Some(relist), Some(e)) = (t.relist.as_mut(), entry(r)) {
                    relist.push(e);
                }
            }
            watcher::Event::InitDone => {
                let relist = t.relist.take().unwrap_or_default();
                *t = Targets::default();
                for (namespace, name, target) in relist {
                    t.insert(namespace, name, target);
                }
            }
        }
    }

    /// The readiness objects targeting the workload of kind `kind` with this metadata.
    pub fn readiness_refs(
        &self,
        workload: &ObjectMeta,
        kind: WorkloadKind,
    ) -> Vec<ObjectRef<DeploymentReadiness>> {
        let (Some(ns), Some(name)) = (workload.namespace.as_deref(), workload.name.as_deref())
        else {
            return Vec::new();
        };
        self.targeting(ns, kind, name)
            .iter()
            .map(|r| ObjectRef::new(r).within(ns))
            .collect()
    }

    /// Names of the readiness objects targeting this workload, sorted.
    pub fn targeting(&self, namespace: &str, kind: WorkloadKind, name: &str) -> Vec<String> {
        let Ok(t) = self.inner.read() else {
            return Vec::new();
        };
        t.by_target
            .get(&(namespace.to_string(), (kind, name.to_string())))
            .map(|names| names.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dr(name: &str, target: &str) -> DeploymentReadiness {
        serde_yaml_ng::from_str(&format!(
            "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: {name}, namespace: ns}}\nspec: {{targetRef: {{name: {target}}}}}\n"
        ))
        .unwrap()
    }

    const D: WorkloadKind = WorkloadKind::Deployment;

    #[test]
    fn target_index_follows_applies_moves_deletes_and_relists() {
        let index = TargetIndex::default();
        index.observe(&watcher::Event::Apply(dr("b", "api")));
        index.observe(&watcher::Event::Apply(dr("a", "api")));
        index.observe(&watcher::Event::Apply(dr("c", "web")));
        assert_eq!(index.targeting("ns", D, "api"), ["a", "b"]);
        index.observe(&watcher::Event::Apply(dr("b", "web")));
        assert_eq!(index.targeting("ns", D, "api"), ["a"]);
        assert_eq!(index.targeting("ns", D, "web"), ["b", "c"]);
        index.observe(&watcher::Event::Delete(dr("a", "api")));
        assert!(index.targeting("ns", D, "api").is_empty());
        assert!(index.targeting("other", D, "web").is_empty());
        // A relist replaces everything once done.
        index.observe(&watcher::Event::Init);
        index.observe(&watcher::Event::InitApply(dr("d", "api")));
        assert_eq!(
            index.targeting("ns", D, "web"),
            ["b", "c"],
            "unchanged until the relist is done"
        );
        index.observe(&watcher::Event::InitDone);
        assert_eq!(index.targeting("ns", D, "api"), ["d"]);
        assert!(index.targeting("ns", D, "web").is_empty());
    }

    #[test]
    fn a_statefulset_and_a_deployment_of_one_name_are_two_targets() {
        let index = TargetIndex::default();
        index.observe(&watcher::Event::Apply(dr("web-ready", "web")));
        let sts: DeploymentReadiness = serde_yaml_ng::from_str(
            "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {name: db-ready, namespace: ns}\nspec: {targetRef: {kind: StatefulSet, name: web}}\n",
        )
        .unwrap();
        index.observe(&watcher::Event::Apply(sts));
        assert_eq!(index.targeting("ns", D, "web"), ["web-ready"]);
        assert_eq!(
            index.targeting("ns", WorkloadKind::StatefulSet, "web"),
            ["db-ready"]
        );
        assert!(
            index
                .targeting("ns", WorkloadKind::DaemonSet, "web")
                .is_empty()
        );
    }
}
