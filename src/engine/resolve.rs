//! From a DeploymentReadiness and the checklists it may reference to the gates it asks for:
//! the one place that looks checklists up (by name and kind), names them as verdicts report
//! them (`NAME`, `cluster/NAME`, `inline`), refuses cross-namespace references and drops
//! duplicate items. The engine, the prober, `gonogo approve`, the controller and the CLI all
//! resolve through [`resolve`], so they agree on which gates exist.

use std::collections::BTreeSet;

use super::{Checklists, INLINE_CHECKLIST, Problem};
use crate::api::{ChecklistKind, DeploymentReadiness, Item};

/// Where the items of a [`ChecklistSource`] come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecklistOrigin<'a> {
    /// A ReadinessChecklist of the readiness object's namespace, by name.
    Namespaced(&'a str),
    /// A ClusterReadinessChecklist, by name.
    Cluster(&'a str),
    /// The readiness object's own `spec.items`.
    Inline,
}

/// One checklist whose items are judged, under the label verdicts report it by.
#[derive(Clone, Debug, PartialEq)]
pub struct ChecklistSource<'a> {
    pub label: String,
    pub origin: ChecklistOrigin<'a>,
    pub items: &'a [Item],
}

/// One gate to judge: an item and the label of the checklist it came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gate<'a> {
    pub checklist: &'a str,
    pub item: &'a Item,
}

/// What a DeploymentReadiness asks for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resolved<'a> {
    /// The checklists found and accepted, in spec order, then the inline items (if any).
    pub sources: Vec<ChecklistSource<'a>>,
    /// Problems of the readiness object itself: a cross-namespace reference, a checklist not
    /// found, a duplicate item (duplicates last: they only warn).
    pub problems: Vec<Problem>,
    /// `(source, item)` positions of the gates: every item but the duplicates, in order.
    gates: Vec<(u32, u32)>,
}

impl<'a> Resolved<'a> {
    /// Every gate, in order: each checklist's items, then the inline items. An item whose name
    /// appears twice in one checklist label is judged once (a [`Problem`] says so).
    pub fn gates(&self) -> Vec<Gate<'_>> {
        self.gates
            .iter()
            .filter_map(|&(s, i)| {
                let source = self.sources.get(s as usize)?;
                Some(Gate {
                    checklist: &source.label,
                    item: source.items.get(i as usize)?,
                })
            })
            .collect()
    }
}

/// Resolve `readiness` against `checklists`. `default_namespace` stands in for the object's
/// namespace when it has none (an offline manifest without `metadata.namespace`).
pub fn resolve<'a>(
    readiness: &'a DeploymentReadiness,
    checklists: Checklists<'a>,
    default_namespace: &str,
) -> Resolved<'a> {
    let spec = &readiness.spec;
    let own_namespace = readiness
        .metadata
        .namespace
        .as_deref()
        .unwrap_or(default_namespace);
    let mut resolved = Resolved::default();

    if let Some(ns) = spec
        .target_ref
        .namespace
        .as_deref()
        .filter(|ns| *ns != own_namespace)
    {
        resolved.problems.push(Problem {
            reason: "CrossNamespaceReference",
            message: format!(
                "spec.targetRef.namespace {ns:?}: a DeploymentReadiness only targets Deployments in its own namespace {own_namespace:?}"
            ),
            blocks: false,
        });
    }

    for (i, r) in spec.checklists.iter().enumerate() {
        let name = r.name.as_str();
        let found = match r.kind {
            ChecklistKind::ReadinessChecklist => {
                if let Some(ns) = r.namespace.as_deref().filter(|ns| *ns != own_namespace) {
                    resolved.problems.push(Problem {
                        reason: "CrossNamespaceReference",
                        message: format!(
                            "spec.checklists[{i}]: ReadinessChecklist {ns}/{name} is in another namespace; use a ClusterReadinessChecklist to share a checklist"
                        ),
                        blocks: true,
                    });
                    continue;
                }
                checklists
                    .namespaced
                    .iter()
                    .find(|c| c.metadata.name.as_deref() == Some(name))
                    .map(|c| ChecklistSource {
                        label: name.to_string(),
                        origin: ChecklistOrigin::Namespaced(name),
                        items: c.spec.items.as_slice(),
                    })
                    .ok_or_else(|| {
                        format!(
                            "spec.checklists[{i}]: ReadinessChecklist {name} not found in namespace {own_namespace}"
                        )
                    })
            }
            ChecklistKind::ClusterReadinessChecklist => checklists
                .cluster
                .iter()
                .find(|c| c.metadata.name.as_deref() == Some(name))
                .map(|c| ChecklistSource {
                    label: format!("cluster/{name}"),
                    origin: ChecklistOrigin::Cluster(name),
                    items: c.spec.checklist.items.as_slice(),
                })
                .ok_or_else(|| {
                    format!("spec.checklists[{i}]: ClusterReadinessChecklist {name} not found")
                }),
        };
        match found {
            Ok(source) => resolved.sources.push(source),
            Err(message) => resolved.problems.push(Problem {
                reason: "ChecklistNotFound",
                message,
                blocks: true,
            }),
        }
    }
    if !spec.items.is_empty() {
        resolved.sources.push(ChecklistSource {
            label: INLINE_CHECKLIST.to_string(),
            origin: ChecklistOrigin::Inline,
            items: &spec.items,
        });
    }

    let mut seen = BTreeSet::new();
    for (s, source) in resolved.sources.iter().enumerate() {
        for (i, item) in source.items.iter().enumerate() {
            if seen.insert((source.label.as_str(), item.name.as_str())) {
                resolved.gates.push((s as u32, i as u32));
            } else {
                resolved.problems.push(Problem {
                    reason: "DuplicateItem",
                    message: format!(
                        "checklist {}: item {} appears twice; the second is ignored",
                        source.label, item.name
                    ),
                    blocks: false,
                });
            }
        }
    }
    resolved
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::api::{ClusterReadinessChecklist, ReadinessChecklist};

    fn readiness(spec: &str) -> DeploymentReadiness {
        serde_yaml_ng::from_str(&format!(
            "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: api, namespace: shop}}\nspec:\n{spec}"
        ))
        .unwrap()
    }

    fn namespaced(name: &str, items: &str) -> Arc<ReadinessChecklist> {
        Arc::new(
            serde_yaml_ng::from_str(&format!(
                "apiVersion: gonogo.dev/v1alpha1\nkind: ReadinessChecklist\nmetadata: {{name: {name}, namespace: shop}}\nspec: {{items: {items}}}\n"
            ))
            .unwrap(),
        )
    }

    fn cluster(name: &str, items: &str) -> Arc<ClusterReadinessChecklist> {
        Arc::new(
            serde_yaml_ng::from_str(&format!(
                "apiVersion: gonogo.dev/v1alpha1\nkind: ClusterReadinessChecklist\nmetadata: {{name: {name}}}\nspec: {{items: {items}}}\n"
            ))
            .unwrap(),
        )
    }

    fn labels(resolved: &Resolved<'_>) -> Vec<String> {
        resolved
            .gates()
            .iter()
            .map(|g| format!("{}/{}", g.checklist, g.item.name))
            .collect()
    }

    #[test]
    fn gates_come_in_spec_order_under_the_labels_verdicts_use() {
        let dr = readiness(
            "  targetRef: {name: api}\n  checklists: [{name: org, kind: ClusterReadinessChecklist}, {name: base}]\n  items: [{name: own, probes: {}}]\n",
        );
        let ns = [namespaced("base", "[{name: img, image: {}}]")];
        let cl = [cluster("org", "[{name: probes, probes: {}}]")];
        let checklists = Checklists {
            namespaced: &ns,
            cluster: &cl,
        };
        let resolved = resolve(&dr, checklists, "default");
        assert_eq!(
            labels(&resolved),
            ["cluster/org/probes", "base/img", "inline/own"]
        );
        assert_eq!(
            resolved
                .sources
                .iter()
                .map(|s| s.origin)
                .collect::<Vec<_>>(),
            [
                ChecklistOrigin::Cluster("org"),
                ChecklistOrigin::Namespaced("base"),
                ChecklistOrigin::Inline
            ]
        );
        assert!(resolved.problems.is_empty());
    }

    #[test]
    fn the_kind_decides_which_checklist_a_name_means() {
        // Both kinds have a checklist named `same`: each reference finds its own kind only.
        let dr = readiness("  targetRef: {name: api}\n  checklists: [{name: same}]\n");
        let ns = [namespaced("other", "[{name: a, probes: {}}]")];
        let cl = [cluster("same", "[{name: b, probes: {}}]")];
        let checklists = Checklists {
            namespaced: &ns,
            cluster: &cl,
        };
        let resolved = resolve(&dr, checklists, "default");
        assert!(resolved.gates().is_empty(), "{:?}", labels(&resolved));
        assert_eq!(resolved.problems[0].reason, "ChecklistNotFound");
        assert_eq!(
            resolved.problems[0].message,
            "spec.checklists[0]: ReadinessChecklist same not found in namespace shop"
        );
    }

    #[test]
    fn cross_namespace_references_are_refused_and_their_items_not_judged() {
        let dr = readiness(
            "  targetRef: {name: api, namespace: other}\n  checklists: [{name: base, namespace: platform}, {name: base, namespace: shop}]\n",
        );
        let ns = [namespaced("base", "[{name: img, image: {}}]")];
        let checklists = Checklists {
            namespaced: &ns,
            cluster: &[],
        };
        let resolved = resolve(&dr, checklists, "default");
        let problems: Vec<(&str, bool)> = resolved
            .problems
            .iter()
            .map(|p| (p.reason, p.blocks))
            .collect();
        assert_eq!(
            problems,
            [
                ("CrossNamespaceReference", false),
                ("CrossNamespaceReference", true)
            ]
        );
        assert!(
            resolved.problems[1]
                .message
                .contains("ReadinessChecklist platform/base is in another namespace")
        );
        assert_eq!(
            labels(&resolved),
            ["base/img"],
            "its own namespace, named explicitly, is fine"
        );
    }

    #[test]
    fn duplicates_are_judged_once_and_reported_last() {
        let dr = readiness(
            "  targetRef: {name: api}\n  checklists: [{name: base}, {name: base}, {name: gone}]\n  items: [{name: p, probes: {}}, {name: p, image: {}}]\n",
        );
        let ns = [namespaced("base", "[{name: img, image: {}}]")];
        let checklists = Checklists {
            namespaced: &ns,
            cluster: &[],
        };
        let resolved = resolve(&dr, checklists, "default");
        assert_eq!(labels(&resolved), ["base/img", "inline/p"]);
        assert!(
            resolved.gates()[1].item.probes.is_some(),
            "the first of two items with one name is the one judged"
        );
        let reasons: Vec<&str> = resolved.problems.iter().map(|p| p.reason).collect();
        assert_eq!(
            reasons,
            ["ChecklistNotFound", "DuplicateItem", "DuplicateItem"]
        );
        assert_eq!(
            resolved.problems[1].message,
            "checklist base: item img appears twice; the second is ignored"
        );
    }

    #[test]
    fn an_object_without_namespace_is_in_the_default_one() {
        let mut dr = readiness(
            "  targetRef: {name: api, namespace: default}\n  checklists: [{name: base, namespace: default}]\n",
        );
        dr.metadata.namespace = None;
        let resolved = resolve(&dr, Checklists::default(), "default");
        let reasons: Vec<&str> = resolved.problems.iter().map(|p| p.reason).collect();
        assert_eq!(reasons, ["ChecklistNotFound"]);
        assert!(
            resolved.problems[0]
                .message
                .ends_with("in namespace default")
        );
    }
}
