//! What a verdict depends on: the one answer to "which objects could these gates read", used
//! by the controller's reference index (which readiness objects a change affects) and by the
//! offline per-Deployment snapshot filter (which objects the snapshot must hold).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::related::{EachRelatedKind, RelatedKind, Relation, Scope, relates_now};
use super::{Gate, ResourceKind, Snapshot, WorkloadKind, for_each_related_kind, pod};
use crate::api::Item;

/// What one readiness object's verdict depends on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dependencies {
    /// The target workload's kind and name.
    pub target_kind: WorkloadKind,
    pub target: String,
    /// The target's pod template labels, for "does this selector select the pods now".
    pub pod_labels: BTreeMap<String, String>,
    /// `(kind, name)` of every object the evaluation could read by name or selector.
    pub objects: BTreeSet<(&'static str, String)>,
    /// Kinds of which every object of the namespace is read (the lists a `cel` expression uses).
    pub kinds: BTreeSet<&'static str>,
    /// Kinds `resource` gates read (any object of them: a selector may come to match).
    pub resources: BTreeSet<ResourceKind>,
    /// How each `resource` gate picks objects of its kind: a change to an object it cannot
    /// pick (another name, labels its selector matches neither before nor after) leaves the
    /// verdict as it is.
    pub resource_picks: Vec<(ResourceKind, ResourcePick)>,
}

/// The objects of its kind a `resource` gate reads.
#[derive(Clone, Debug, PartialEq)]
pub enum ResourcePick {
    /// One, by name (`{{ .target }}` replaced).
    Name(String),
    /// Those with labels this selector matches.
    Selector(LabelSelector),
    /// Every one.
    Every,
}

impl Dependencies {
    /// Whether the verdict could read the object `(kind, name)` as it was at evaluation time.
    pub fn reads(&self, kind: &'static str, name: &str) -> bool {
        self.kinds.contains(kind) || self.objects.contains(&(kind, name.to_string()))
    }

    /// Whether a `resource` gate could read the object `name` of `kind` that had or has one
    /// of `labels` (its labels before and after the change).
    pub fn reads_resource(
        &self,
        kind: &ResourceKind,
        name: &str,
        labels: &[BTreeMap<String, String>],
    ) -> bool {
        self.resource_picks
            .iter()
            .filter(|(k, _)| k == kind)
            .any(|(_, pick)| match pick {
                ResourcePick::Name(n) => n == name,
                ResourcePick::Selector(s) => labels.iter().any(|l| pod::selector_matches(s, l)),
                ResourcePick::Every => true,
            })
    }
}

/// How each `resource` gate of a readiness object targeting `target` picks objects of its kind:
/// what the controller puts in the snapshot (the objects picked, not every object of the
/// kind) and what a change must touch to re-evaluate the verdict.
pub fn resource_picks(gates: &[Gate<'_>], target: &str) -> Vec<(ResourceKind, ResourcePick)> {
    gates
        .iter()
        .filter_map(|g| g.item.resource.as_ref())
        .map(|r| {
            let pick = match (r.name_for(target), &r.selector) {
                (Some(name), _) => ResourcePick::Name(name),
                (None, Some(selector)) => ResourcePick::Selector(selector.clone()),
                (None, None) => ResourcePick::Every,
            };
            (r.resource_kind(), pick)
        })
        .collect()
}

/// Kinds of which `items` read every object of the namespace, whatever the target: the lists a
/// `cel` expression uses.
pub fn kinds_read<'a>(items: impl IntoIterator<Item = &'a Item>) -> BTreeSet<&'static str> {
    items
        .into_iter()
        .filter_map(|item| item.cel.as_ref())
        .flat_map(|cel| cel.kinds_read())
        .collect()
}

/// The objects a verdict on `gates` of a readiness object targeting `target` could read in
/// `snapshot`: the controller re-evaluates it when one of them changes, and the offline
/// snapshot of a Deployment holds them.
pub fn dependencies(
    target_kind: WorkloadKind,
    target: &str,
    gates: &[Gate<'_>],
    snapshot: &Snapshot,
) -> Dependencies {
    let mut deps = Dependencies {
        target_kind,
        target: target.to_string(),
        ..Default::default()
    };
    deps.objects
        .insert((target_kind.as_str(), deps.target.clone()));
    deps.kinds = kinds_read(gates.iter().map(|g| g.item));
    deps.resource_picks = resource_picks(gates, target);
    deps.resources = deps.resource_picks.iter().map(|(k, _)| k.clone()).collect();
    let Some(workload) = snapshot
        .workload
        .as_ref()
        .filter(|w| w.is(target_kind, target))
    else {
        return deps;
    };
    deps.pod_labels = workload.pod_labels().cloned().unwrap_or_default();
    if let Some(pod_spec) = workload.pod_spec() {
        template_references(pod_spec, &mut deps.objects);
    }
    // A StatefulSet's claims from its templates, and its governing Service.
    deps.objects.extend(
        pod::claims_of_templates(workload)
            .into_iter()
            .map(|c| ("PersistentVolumeClaim", c)),
    );
    if let Some(service) = workload.service_name() {
        deps.objects.insert(("Service", service.to_string()));
    }
    for item in gates.iter().map(|g| g.item) {
        if let Some(s) = &item.secrets {
            deps.objects
                .extend(s.required.iter().map(|n| ("Secret", n.name.clone())));
        }
        if let Some(c) = &item.config_maps {
            deps.objects
                .extend(c.required.iter().map(|n| ("ConfigMap", n.name.clone())));
        }
        if let Some(p) = &item.pvcs_bound {
            deps.objects.extend(
                p.claims
                    .iter()
                    .map(|c| ("PersistentVolumeClaim", c.clone())),
            );
        }
        if let Some(t) = &item.tls_certificate
            && let Some(secret) = &t.secret_name
        {
            deps.objects.insert(("Secret", secret.clone()));
        }
        if let Some(h) = &item.http {
            deps.objects.insert(("Service", h.service.clone()));
        }
        if let Some(s) = &item.service
            && let Some(name) = &s.name
        {
            deps.objects.insert(("Service", name.clone()));
        }
        if let Some(j) = &item.job {
            let named = |name: &String| name.replace("{{ .target }}", target);
            if let Some(name) = &j.name {
                deps.objects.insert(("Job", named(name)));
            }
            if j.selector.is_some() {
                deps.kinds.insert("Job"); // any Job may come to match
            }
            if let Some(name) = &j.cron_job {
                deps.objects.insert(("CronJob", named(name)));
            }
        }
    }
    // Objects relating to the target through the table of related kinds (in table order, so
    // the Services are known before the EndpointSlices and Ingresses of them).
    for_each_related_kind(&mut Relate {
        snapshot,
        deps: &mut deps,
    });
    deps
}

/// Adds the objects of each related kind that relate to the target now.
struct Relate<'a> {
    snapshot: &'a Snapshot,
    deps: &'a mut Dependencies,
}

impl EachRelatedKind for Relate<'_> {
    fn kind<K: RelatedKind>(&mut self) {
        if K::SCOPE == Scope::Cluster {
            return; // every workload reads them: the controller maps their changes to all
        }
        for object in K::of(self.snapshot) {
            let Some(name) = object.meta().name.as_deref() else {
                continue;
            };
            if !relates_now(object.as_ref(), self.deps) {
                continue;
            }
            self.deps.objects.insert((K::KIND, name.to_string()));
            if let Relation::RoutesTo { secrets, .. } = K::relation() {
                let secrets = secrets(object);
                self.deps
                    .objects
                    .extend(secrets.into_iter().map(|s| ("Secret", s.to_string())));
            }
        }
    }
}

/// Names of Secrets, ConfigMaps and PVCs the pod template refers to.
fn template_references(pod_spec: &PodSpec, out: &mut BTreeSet<(&'static str, String)>) {
    // The ServiceAccount the pods run as (its token automount); `default` when unset.
    out.insert(("ServiceAccount", pod::service_account(pod_spec).to_string()));
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
    use crate::api::DeploymentReadiness;
    use crate::engine::{Checklists, Source, resolve};

    fn readiness(items: &str) -> DeploymentReadiness {
        serde_yaml_ng::from_str(&format!(
            "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: api, namespace: shop}}\nspec:\n  targetRef: {{name: api}}\n  items: {items}\n"
        ))
        .unwrap()
    }

    fn snapshot() -> Snapshot {
        let mut s = Snapshot::new("shop", jiff::Timestamp::UNIX_EPOCH, Source::Cluster);
        let deployment: k8s_openapi::api::apps::v1::Deployment = serde_yaml_ng::from_str(
            "metadata: {name: api}\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers: [{name: api, envFrom: [{secretRef: {name: env}}]}]\n",
        )
        .unwrap();
        s.workload = Some(deployment.into());
        s
    }

    fn of(items: &str) -> Dependencies {
        let dr = readiness(items);
        let resolved = resolve(&dr, Checklists::default(), "shop");
        dependencies(
            WorkloadKind::Deployment,
            "api",
            &resolved.gates(),
            &snapshot(),
        )
    }

    #[test]
    fn a_cel_gate_depends_on_every_object_of_the_lists_it_uses() {
        let deps = of(
            "[{name: c, cel: {expression: \"secrets.exists(s, s.metadata.name == 'db') && size(pdbs) > 0 && deployment.spec.replicas > 1\"}}]",
        );
        assert_eq!(
            deps.kinds,
            ["PodDisruptionBudget", "Secret"].into_iter().collect()
        );
        assert!(deps.reads("Secret", "db"));
        assert!(
            deps.reads("Secret", "created-later"),
            "any Secret, named or not"
        );
        assert!(!deps.reads("ConfigMap", "db"));
    }

    #[test]
    fn a_resource_gate_depends_on_the_objects_it_could_pick() {
        let deps = of(
            "[{name: own, resource: {apiVersion: cert-manager.io/v1, kind: Certificate, name: '{{ .target }}-tls'}}, {name: team, resource: {apiVersion: cert-manager.io/v1, kind: Certificate, selector: {matchLabels: {team: a}}}}]",
        );
        let certificate = ResourceKind {
            api_version: "cert-manager.io/v1".into(),
            kind: "Certificate".into(),
        };
        let labels = |team: &str| BTreeMap::from([("team".to_string(), team.to_string())]);
        assert!(deps.resources.contains(&certificate));
        assert!(deps.reads_resource(&certificate, "api-tls", &[labels("b")]));
        assert!(deps.reads_resource(&certificate, "web-tls", &[labels("a")]));
        // Labels before and after: leaving the selection matters as much as entering it.
        assert!(deps.reads_resource(&certificate, "web-tls", &[labels("b"), labels("a")]));
        assert!(!deps.reads_resource(&certificate, "web-tls", &[labels("b")]));
        let issuer = ResourceKind {
            api_version: "cert-manager.io/v1".into(),
            kind: "Issuer".into(),
        };
        assert!(!deps.reads_resource(&issuer, "api-tls", &[labels("a")]));
        let every = of("[{name: all, resource: {apiVersion: cert-manager.io/v1, kind: Issuer}}]");
        assert!(every.reads_resource(&issuer, "anything", &[BTreeMap::new()]));
    }

    #[test]
    fn a_cel_expression_that_does_not_compile_depends_on_no_list() {
        let deps = of("[{name: c, cel: {expression: 'secrets.exists(s, '}}]");
        assert!(deps.kinds.is_empty());
    }

    #[test]
    fn named_objects_come_from_the_gates_and_the_pod_template() {
        let deps = of(
            "[{name: s, secrets: {required: [{name: db}]}}, {name: c, configMaps: {required: [{name: flags}]}}]",
        );
        assert!(deps.kinds.is_empty());
        for (kind, name) in [
            ("Deployment", "api"),
            ("Secret", "env"),
            ("Secret", "db"),
            ("ConfigMap", "flags"),
            // The pods' ServiceAccount (`default`: the template names none).
            ("ServiceAccount", "default"),
        ] {
            assert!(deps.reads(kind, name), "{kind} {name}: {deps:?}");
        }
        assert!(!deps.reads("Secret", "other"));
        assert_eq!(deps.pod_labels.get("app").map(String::as_str), Some("api"));
    }

    #[test]
    fn without_its_target_a_verdict_depends_on_the_deployment_and_the_lists() {
        let dr = readiness("[{name: c, cel: {expression: 'size(configMaps) > 0'}}]");
        let resolved = resolve(&dr, Checklists::default(), "shop");
        let deps = dependencies(
            WorkloadKind::Deployment,
            "web",
            &resolved.gates(),
            &snapshot(),
        );
        assert!(deps.reads("Deployment", "web"));
        assert!(deps.reads("ConfigMap", "any"));
        assert!(
            !deps.reads("Secret", "env"),
            "another Deployment's template"
        );
    }
}
