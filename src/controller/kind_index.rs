//! The objects of one kind a `resource` gate reads, found by name and by label, so a gate's
//! snapshot holds the objects it picks and not every object of the kind: with thousands of
//! objects of a kind, a reconcile reads a handful of them instead of copying and scanning all
//! (issue 13, `resource` gates at scale in BENCHMARKS.md).
//!
//! Pure data, kept by the watch of the kind ([`super::dynamic`]); the snapshot built from it is
//! still plain objects the engine judges with the gate's own name or selector.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use crate::engine::ResourcePick;
use crate::engine::pod::selector_matches;

/// An object's labels.
pub type Labels = BTreeMap<String, String>;

/// The objects of one kind by `(namespace, name)` (namespace `""` for a cluster-scoped kind),
/// with an index of their labels.
#[derive(Default)]
pub struct KindIndex {
    objects: BTreeMap<(String, String), Stored>,
    /// `(namespace, label key, label value)` → names.
    by_label: HashMap<(String, String, String), BTreeSet<String>>,
    /// `(namespace, label key)` → names (for `Exists`).
    by_key: HashMap<(String, String), BTreeSet<String>>,
}

struct Stored {
    object: Arc<Value>,
    labels: Labels,
}

impl KindIndex {
    /// Stores the object `(namespace, name)`, replacing the one stored under that name; the
    /// new object's labels and the replaced one's, if any.
    pub fn insert(
        &mut self,
        namespace: String,
        name: String,
        object: Arc<Value>,
    ) -> (Labels, Option<Labels>) {
        let old = self.remove(&namespace, &name);
        let labels = crate::checks::resource::labels(&object);
        for (key, value) in &labels {
            self.by_label
                .entry((namespace.clone(), key.clone(), value.clone()))
                .or_default()
                .insert(name.clone());
            self.by_key
                .entry((namespace.clone(), key.clone()))
                .or_default()
                .insert(name.clone());
        }
        self.objects.insert(
            (namespace, name),
            Stored {
                object,
                labels: labels.clone(),
            },
        );
        (labels, old)
    }

    /// Forgets the object `(namespace, name)`; its labels, if it was stored.
    pub fn remove(&mut self, namespace: &str, name: &str) -> Option<Labels> {
        let stored = self
            .objects
            .remove(&(namespace.to_string(), name.to_string()))?;
        for (key, value) in &stored.labels {
            let by_label = (namespace.to_string(), key.clone(), value.clone());
            if let Some(names) = self.by_label.get_mut(&by_label) {
                names.remove(name);
                if names.is_empty() {
                    self.by_label.remove(&by_label);
                }
            }
            let by_key = (namespace.to_string(), key.clone());
            if let Some(names) = self.by_key.get_mut(&by_key) {
                names.remove(name);
                if names.is_empty() {
                    self.by_key.remove(&by_key);
                }
            }
        }
        Some(stored.labels)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.objects.len()
    }

    /// The objects of `namespace` that any of `picks` selects, each once, by name.
    pub fn picked<'a>(
        &self,
        namespace: &str,
        picks: impl IntoIterator<Item = &'a ResourcePick>,
    ) -> Vec<Arc<Value>> {
        let mut found: BTreeMap<&str, &Arc<Value>> = BTreeMap::new();
        for pick in picks {
            match pick {
                ResourcePick::Name(name) => {
                    if let Some(stored) = self.get(namespace, name) {
                        found.insert(name, &stored.object);
                    }
                }
                ResourcePick::Selector(selector) => {
                    for (name, stored) in self.candidates(namespace, selector) {
                        if selector_matches(selector, &stored.labels) {
                            found.insert(name, &stored.object);
                        }
                    }
                }
                ResourcePick::Every => {
                    for (name, stored) in self.in_namespace(namespace) {
                        found.insert(name, &stored.object);
                    }
                }
            }
        }
        found.into_values().cloned().collect()
    }

    fn get(&self, namespace: &str, name: &str) -> Option<&Stored> {
        self.objects.get(&(namespace.to_string(), name.to_string()))
    }

    fn in_namespace<'s>(
        &'s self,
        namespace: &str,
    ) -> impl Iterator<Item = (&'s str, &'s Stored)> + use<'s> {
        let namespace = namespace.to_string();
        self.objects
            .range((namespace.clone(), String::new())..)
            .take_while(move |((ns, _), _)| *ns == namespace)
            .map(|((_, name), stored)| (name.as_str(), stored))
    }

    /// The objects of `namespace` the selector could match: those of its narrowest requirement
    /// that the label index answers (`matchLabels`, `In`, `Exists`), or every object of the
    /// namespace when it has none (`NotIn` and `DoesNotExist` only, or an empty selector).
    fn candidates<'s>(
        &'s self,
        namespace: &str,
        selector: &LabelSelector,
    ) -> Box<dyn Iterator<Item = (&'s str, &'s Stored)> + 's> {
        let with_label = |key: &str, value: &str| {
            self.by_label
                .get(&(namespace.to_string(), key.to_string(), value.to_string()))
        };
        let mut narrowest: Option<BTreeSet<&str>> = None;
        let mut narrow = |names: BTreeSet<&'s str>| {
            if narrowest.as_ref().is_none_or(|n| names.len() < n.len()) {
                narrowest = Some(names);
            }
        };
        for (key, value) in selector.match_labels.iter().flatten() {
            narrow(
                with_label(key, value)
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
                    .collect(),
            );
        }
        for e in selector.match_expressions.iter().flatten() {
            match e.operator.as_str() {
                "In" => narrow(
                    e.values
                        .iter()
                        .flatten()
                        .filter_map(|v| with_label(&e.key, v))
                        .flatten()
                        .map(String::as_str)
                        .collect(),
                ),
                "Exists" => narrow(
                    self.by_key
                        .get(&(namespace.to_string(), e.key.clone()))
                        .into_iter()
                        .flatten()
                        .map(String::as_str)
                        .collect(),
                ),
                _ => {}
            }
        }
        match narrowest {
            None => Box::new(self.in_namespace(namespace)),
            Some(names) => {
                let namespace = namespace.to_string();
                Box::new(
                    names
                        .into_iter()
                        .filter_map(move |name| Some((name, self.get(&namespace, name)?))),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(name: &str, labels: Value) -> Arc<Value> {
        Arc::new(json!({"metadata": {"name": name, "labels": labels}}))
    }

    fn names(objects: &[Arc<Value>]) -> Vec<&str> {
        objects
            .iter()
            .map(|o| o.pointer("/metadata/name").and_then(Value::as_str).unwrap())
            .collect()
    }

    fn selector(yaml: &str) -> ResourcePick {
        ResourcePick::Selector(serde_json::from_value(serde_yaml_value(yaml)).unwrap())
    }

    fn serde_yaml_value(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    /// 100 objects in `ns`, `cert-<i>` labelled `team: t<i mod 10>`, and `tier: web` on even
    /// ones; one object of the same name in another namespace.
    fn index() -> KindIndex {
        let mut index = KindIndex::default();
        for i in 0..100 {
            let labels = if i % 2 == 0 {
                json!({"team": format!("t{}", i % 10), "tier": "web"})
            } else {
                json!({"team": format!("t{}", i % 10)})
            };
            index.insert(
                "ns".into(),
                format!("cert-{i}"),
                object(&format!("cert-{i}"), labels),
            );
        }
        index.insert(
            "other".into(),
            "cert-1".into(),
            object("cert-1", json!({"team": "t1"})),
        );
        index
    }

    #[test]
    fn a_name_finds_that_object_of_the_namespace_only() {
        let index = index();
        let picked = index.picked("ns", &[ResourcePick::Name("cert-7".into())]);
        assert_eq!(names(&picked), ["cert-7"]);
        assert!(
            index
                .picked("ns", &[ResourcePick::Name("cert-100".into())])
                .is_empty()
        );
        let other = index.picked("other", &[ResourcePick::Name("cert-1".into())]);
        assert_eq!(names(&other), ["cert-1"]);
        assert!(
            index
                .picked("other", &[ResourcePick::Name("cert-2".into())])
                .is_empty()
        );
        assert!(index.picked("nowhere", &[ResourcePick::Every]).is_empty());
    }

    #[test]
    fn a_selector_finds_exactly_the_objects_it_matches() {
        let index = index();
        let by_team = index.picked("ns", &[selector("{matchLabels: {team: t3}}")]);
        assert_eq!(
            names(&by_team),
            [
                "cert-13", "cert-23", "cert-3", "cert-33", "cert-43", "cert-53", "cert-63",
                "cert-73", "cert-83", "cert-93"
            ]
        );
        let both = index.picked("ns", &[selector("{matchLabels: {team: t4, tier: web}}")]);
        assert_eq!(names(&both).len(), 10);
        assert!(
            index
                .picked("ns", &[selector("{matchLabels: {team: t3, tier: web}}")])
                .is_empty()
        );
        assert!(
            index
                .picked("ns", &[selector("{matchLabels: {team: nobody}}")])
                .is_empty()
        );
        let in_ = index.picked(
            "ns",
            &[selector(
                "{matchExpressions: [{key: team, operator: In, values: [t1, t2]}]}",
            )],
        );
        assert_eq!(names(&in_).len(), 20);
        let exists = index.picked(
            "ns",
            &[selector(
                "{matchExpressions: [{key: tier, operator: Exists}]}",
            )],
        );
        assert_eq!(names(&exists).len(), 50);
        let not = index.picked(
            "ns",
            &[selector("{matchExpressions: [{key: tier, operator: DoesNotExist}, {key: team, operator: NotIn, values: [t1]}]}")],
        );
        assert_eq!(names(&not).len(), 40);
        assert_eq!(index.picked("ns", &[selector("{}")]).len(), 100);
        // Every selector the index answers agrees with matching each object's labels.
        for text in [
            "{matchLabels: {team: t3}}",
            "{matchLabels: {team: t4}, matchExpressions: [{key: tier, operator: NotIn, values: [web]}]}",
            "{matchExpressions: [{key: team, operator: In, values: [t0, t5, none]}, {key: tier, operator: Exists}]}",
            "{matchExpressions: [{key: team, operator: Gt, values: [t1]}]}",
        ] {
            let ResourcePick::Selector(s) = selector(text) else {
                unreachable!()
            };
            let expected: Vec<String> = {
                let mut all: Vec<_> = index
                    .picked("ns", &[ResourcePick::Every])
                    .into_iter()
                    .filter(|o| selector_matches(&s, &crate::checks::resource::labels(o)))
                    .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
                    .collect();
                all.sort();
                all
            };
            let got = index.picked("ns", &[ResourcePick::Selector(s.clone())]);
            assert_eq!(names(&got), expected, "{text}");
        }
    }

    #[test]
    fn several_picks_give_each_object_once_in_name_order() {
        let index = index();
        let picked = index.picked(
            "ns",
            &[
                ResourcePick::Name("cert-13".into()),
                selector("{matchLabels: {team: t3}}"),
                ResourcePick::Name("cert-2".into()),
            ],
        );
        let got = names(&picked);
        assert_eq!(got.len(), 11);
        assert!(got.is_sorted(), "{got:?}");
        assert_eq!(index.picked("ns", &[ResourcePick::Every]).len(), 100);
    }

    #[test]
    fn an_object_whose_labels_change_is_found_by_its_new_labels_only() {
        let mut index = index();
        let (new, old) = index.insert(
            "ns".into(),
            "cert-3".into(),
            object("cert-3", json!({"team": "t9"})),
        );
        assert_eq!(new.get("team").map(String::as_str), Some("t9"));
        assert_eq!(
            old.as_ref().and_then(|l| l.get("team")).map(String::as_str),
            Some("t3")
        );
        let t3 = index.picked("ns", &[selector("{matchLabels: {team: t3}}")]);
        assert!(!names(&t3).contains(&"cert-3"), "{:?}", names(&t3));
        assert_eq!(t3.len(), 9);
        let t9 = index.picked("ns", &[selector("{matchLabels: {team: t9}}")]);
        assert!(names(&t9).contains(&"cert-3"));
        // Labels removed altogether.
        index.insert(
            "ns".into(),
            "cert-4".into(),
            Arc::new(json!({"metadata": {"name": "cert-4"}})),
        );
        let web = index.picked(
            "ns",
            &[selector(
                "{matchExpressions: [{key: tier, operator: Exists}]}",
            )],
        );
        assert_eq!(web.len(), 49);
        let picked = index.picked("ns", &[ResourcePick::Name("cert-4".into())]);
        assert_eq!(names(&picked), ["cert-4"]);
        assert_eq!(index.len(), 101);
    }

    #[test]
    fn a_deleted_object_is_found_by_neither_name_nor_label() {
        let mut index = index();
        let labels = index.remove("ns", "cert-3");
        assert_eq!(
            labels.and_then(|l| l.get("team").cloned()).as_deref(),
            Some("t3")
        );
        assert!(index.remove("ns", "cert-3").is_none(), "removed once");
        assert!(
            index
                .picked("ns", &[ResourcePick::Name("cert-3".into())])
                .is_empty()
        );
        assert_eq!(
            index
                .picked("ns", &[selector("{matchLabels: {team: t3}}")])
                .len(),
            9
        );
        // The same name elsewhere is untouched.
        assert_eq!(
            index
                .picked("other", &[ResourcePick::Name("cert-1".into())])
                .len(),
            1
        );
        // The last object with a label leaves no empty entry behind.
        for i in (0..100).step_by(2) {
            index.remove("ns", &format!("cert-{i}"));
        }
        assert!(
            !index
                .by_key
                .contains_key(&("ns".to_string(), "tier".to_string()))
        );
        assert!(
            index
                .picked(
                    "ns",
                    &[selector(
                        "{matchExpressions: [{key: tier, operator: Exists}]}"
                    )]
                )
                .is_empty()
        );
        assert_eq!(index.len(), 50);
    }
}
