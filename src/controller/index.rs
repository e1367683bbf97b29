//! Reference index: which objects each DeploymentReadiness depends on, so a change to one
//! object re-evaluates only the DeploymentReadiness objects it affects.
//!
//! Each reconcile records the objects the evaluation could look at (by name, and the pod
//! labels selectors are matched against). A watched object maps to the readiness objects that
//! depended on it at their last evaluation *or* depend on it now (a new Service selecting the
//! pods), so both gaining and losing a relation trigger re-evaluation.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::PodSpec;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

use crate::api::{DeploymentReadiness, Item};
use crate::engine::{Snapshot, pod};

/// What one DeploymentReadiness depended on at its last evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Relations {
    pub target: String,
    /// The target's pod template labels, for "does this selector select the pods now".
    pub pod_labels: BTreeMap<String, String>,
    /// `(kind, name)` of every object the evaluation could read.
    pub objects: BTreeSet<(&'static str, String)>,
}

#[derive(Clone, Default)]
pub struct RelationIndex {
    inner: Arc<RwLock<HashMap<ObjectRef<DeploymentReadiness>, Relations>>>,
}

impl RelationIndex {
    pub fn record(&self, readiness: ObjectRef<DeploymentReadiness>, relations: Relations) {
        if let Ok(mut map) = self.inner.write() {
            map.insert(readiness, relations);
        }
    }

    pub fn forget(&self, readiness: &ObjectRef<DeploymentReadiness>) {
        if let Ok(mut map) = self.inner.write() {
            map.remove(readiness);
        }
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
        relates_now: impl Fn(&Relations) -> bool,
    ) -> Vec<ObjectRef<DeploymentReadiness>> {
        let Ok(map) = self.inner.read() else {
            return candidates.into_iter().collect();
        };
        let object = (kind, name.to_string());
        candidates
            .into_iter()
            .filter(|r| match map.get(r) {
                None => true,
                Some(rel) => rel.objects.contains(&object) || relates_now(rel),
            })
            .collect()
    }
}

/// DeploymentReadiness objects by the Deployment they target, kept from the watch events, so a
/// Deployment's readiness objects are found without scanning all of them (on every Deployment
/// event and every reconcile: quadratic with thousands of objects).
#[derive(Clone, Default)]
pub struct TargetIndex {
    inner: Arc<RwLock<Targets>>,
}

#[derive(Default)]
struct Targets {
    /// (namespace, Deployment) → readiness names.
    by_target: HashMap<(String, String), BTreeSet<String>>,
    /// (namespace, readiness) → Deployment.
    target_of: HashMap<(String, String), String>,
    /// A relist in progress: what it has brought so far.
    relist: Option<Vec<(String, String, String)>>,
}

impl Targets {
    fn insert(&mut self, namespace: String, name: String, target: String) {
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

/// A readiness object and the Deployment it may act on (none for a refused `targetRef`).
fn entry(readiness: &DeploymentReadiness) -> Option<(String, String, String)> {
    Some((
        readiness.metadata.namespace.clone()?,
        readiness.metadata.name.clone()?,
        readiness.target_name()?.to_string(),
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

    /// Names of the readiness objects targeting this Deployment, sorted.
    pub fn targeting(&self, namespace: &str, deployment: &str) -> Vec<String> {
        let Ok(t) = self.inner.read() else {
            return Vec::new();
        };
        t.by_target
            .get(&(namespace.to_string(), deployment.to_string()))
            .map(|names| names.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The objects an evaluation of `readiness` (with these checklist items) against `snapshot`
/// could read.
pub fn relations(
    readiness: &DeploymentReadiness,
    items: &[&Item],
    snapshot: &Snapshot,
) -> Relations {
    let mut rel = Relations {
        target: readiness.spec.target_ref.name.clone(),
        ..Default::default()
    };
    rel.objects.insert(("Deployment", rel.target.clone()));
    let Some(deployment) = snapshot.deployment.as_deref() else {
        return rel;
    };
    let template = deployment.spec.as_ref().map(|s| &s.template);
    rel.pod_labels = template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    if let Some(pod_spec) = template.and_then(|t| t.spec.as_ref()) {
        template_references(pod_spec, &mut rel.objects);
    }
    for item in items {
        if let Some(s) = &item.secrets {
            rel.objects
                .extend(s.required.iter().map(|n| ("Secret", n.name.clone())));
        }
        if let Some(c) = &item.config_maps {
            rel.objects
                .extend(c.required.iter().map(|n| ("ConfigMap", n.name.clone())));
        }
        if let Some(p) = &item.pvcs_bound {
            rel.objects.extend(
                p.claims
                    .iter()
                    .map(|c| ("PersistentVolumeClaim", c.clone())),
            );
        }
        if let Some(t) = &item.tls_certificate
            && let Some(secret) = &t.secret_name
        {
            rel.objects.insert(("Secret", secret.clone()));
        }
        if let Some(h) = &item.http {
            rel.objects.insert(("Service", h.service.clone()));
        }
        if let Some(s) = &item.service
            && let Some(name) = &s.name
        {
            rel.objects.insert(("Service", name.clone()));
        }
    }
    for svc in &snapshot.services {
        let selects = svc
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_some_and(|sel| pod::map_selector_matches(sel, &rel.pod_labels));
        if selects && let Some(name) = &svc.metadata.name {
            rel.objects.insert(("Service", name.clone()));
        }
    }
    // Ingresses routing to those Services, and their TLS Secrets.
    for ingress in &snapshot.ingresses {
        let spec = ingress.spec.as_ref();
        let backends = spec
            .into_iter()
            .flat_map(|s| s.rules.iter().flatten())
            .flat_map(|r| r.http.iter().flat_map(|h| h.paths.iter()))
            .filter_map(|p| p.backend.service.as_ref().map(|s| s.name.clone()))
            .chain(
                spec.and_then(|s| s.default_backend.as_ref())
                    .and_then(|b| b.service.as_ref())
                    .map(|s| s.name.clone()),
            );
        let routes_here = backends
            .into_iter()
            .any(|svc| rel.objects.contains(&("Service", svc)));
        if routes_here {
            if let Some(name) = &ingress.metadata.name {
                rel.objects.insert(("Ingress", name.clone()));
            }
            for tls in spec.into_iter().flat_map(|s| s.tls.iter().flatten()) {
                if let Some(secret) = &tls.secret_name {
                    rel.objects.insert(("Secret", secret.clone()));
                }
            }
        }
    }
    for pdb in &snapshot.pdbs {
        let selects = pdb
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_some_and(|sel| pod::selector_matches(sel, &rel.pod_labels));
        if selects && let Some(name) = &pdb.metadata.name {
            rel.objects.insert(("PodDisruptionBudget", name.clone()));
        }
    }
    for np in &snapshot.network_policies {
        let selects = np.spec.as_ref().is_some_and(|s| {
            s.pod_selector
                .as_ref()
                .is_none_or(|sel| pod::selector_matches(sel, &rel.pod_labels))
        });
        if selects && let Some(name) = &np.metadata.name {
            rel.objects.insert(("NetworkPolicy", name.clone()));
        }
    }
    if let Some(hpa) = pod::hpa_for(snapshot, &rel.target)
        && let Some(name) = &hpa.metadata.name
    {
        rel.objects
            .insert(("HorizontalPodAutoscaler", name.clone()));
    }
    rel
}

/// Names of Secrets, ConfigMaps and PVCs the pod template refers to.
fn template_references(pod_spec: &PodSpec, out: &mut BTreeSet<(&'static str, String)>) {
    for (container, _) in pod::containers(pod_spec) {
        for env in container.env.iter().flatten() {
            if let Some(from) = &env.value_from {
                if let Some(r) = &from.secret_key_ref {
                    out.insert(("Secret", r.name.clone()));
                }
                if let Some(r) = &from.config_map_key_ref {
                    out.insert(("ConfigMap", r.name.clone()));
                }
            }
        }
        for from in container.env_from.iter().flatten() {
            if let Some(r) = &from.secret_ref {
                out.insert(("Secret", r.name.clone()));
            }
            if let Some(r) = &from.config_map_ref {
                out.insert(("ConfigMap", r.name.clone()));
            }
        }
    }
    for volume in pod_spec.volumes.iter().flatten() {
        if let Some(s) = volume.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            out.insert(("Secret", s));
        }
        if let Some(c) = &volume.config_map {
            out.insert(("ConfigMap", c.name.clone()));
        }
        if let Some(p) = &volume.persistent_volume_claim {
            out.insert(("PersistentVolumeClaim", p.claim_name.clone()));
        }
        for source in volume
            .projected
            .iter()
            .flat_map(|p| p.sources.iter().flatten())
        {
            if let Some(s) = &source.secret {
                out.insert(("Secret", s.name.clone()));
            }
            if let Some(c) = &source.config_map {
                out.insert(("ConfigMap", c.name.clone()));
            }
        }
    }
    for secret in pod_spec.image_pull_secrets.iter().flatten() {
        out.insert(("Secret", secret.name.clone()));
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

    #[test]
    fn target_index_follows_applies_moves_deletes_and_relists() {
        let index = TargetIndex::default();
        index.observe(&watcher::Event::Apply(dr("b", "api")));
        index.observe(&watcher::Event::Apply(dr("a", "api")));
        index.observe(&watcher::Event::Apply(dr("c", "web")));
        assert_eq!(index.targeting("ns", "api"), ["a", "b"]);
        index.observe(&watcher::Event::Apply(dr("b", "web")));
        assert_eq!(index.targeting("ns", "api"), ["a"]);
        assert_eq!(index.targeting("ns", "web"), ["b", "c"]);
        index.observe(&watcher::Event::Delete(dr("a", "api")));
        assert!(index.targeting("ns", "api").is_empty());
        assert!(index.targeting("other", "web").is_empty());
        // A relist replaces everything once done.
        index.observe(&watcher::Event::Init);
        index.observe(&watcher::Event::InitApply(dr("d", "api")));
        assert_eq!(
            index.targeting("ns", "web"),
            ["b", "c"],
            "unchanged until the relist is done"
        );
        index.observe(&watcher::Event::InitDone);
        assert_eq!(index.targeting("ns", "api"), ["d"]);
        assert!(index.targeting("ns", "web").is_empty());
    }
}
