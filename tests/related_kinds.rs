//! The table of related kinds (`src/engine/snapshot.rs`) is the one place a kind is declared:
//! the controller may read every kind of it (the chart's RBAC), the README documents its `cel`
//! lists, and the offline loader reads the API version it names.

use std::path::Path;

use gonogo::engine::related::{self, Scope};
use gonogo::manifests::{ManifestSet, parse_stream};

fn repo(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// `(apiGroups, resources, verbs)` of the rules of the controller's ClusterRole.
fn controller_rules() -> Vec<(Vec<String>, Vec<String>, Vec<String>)> {
    let text = repo("deploy/rbac.yaml");
    let role = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| <serde_json::Value as serde::Deserialize>::deserialize(d).unwrap())
        .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == "gonogo-controller")
        .expect("deploy/rbac.yaml has the controller's ClusterRole");
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()
    };
    role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                strings(&r["apiGroups"]),
                strings(&r["resources"]),
                strings(&r["verbs"]),
            )
        })
        .collect()
}

#[test]
fn the_chart_lets_the_controller_list_and_watch_every_related_kind_and_nothing_more() {
    let rules = controller_rules();
    for kind in related::kinds() {
        let group = kind.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let granted = |verb: &str| {
            rules.iter().any(|(groups, resources, verbs)| {
                groups.iter().any(|g| g == group)
                    && resources.iter().any(|r| r == kind.plural)
                    && verbs.iter().any(|v| v == verb)
            })
        };
        for verb in ["list", "watch"] {
            assert!(
                granted(verb),
                "the controller's ClusterRole does not grant {verb} on {}.{group}: add it to charts/gonogo/templates/_helpers.tpl and run scripts/render-deploy.sh",
                kind.plural
            );
        }
        for verb in ["create", "update", "patch", "delete"] {
            assert!(
                !granted(verb),
                "{} are read only, the ClusterRole grants {verb}",
                kind.plural
            );
        }
    }
}

#[test]
fn the_readme_documents_every_cel_list() {
    let readme = repo("README.md");
    let cel = &readme[readme.find("#### cel").expect("README has the cel section")..];
    for list in related::cel_lists() {
        assert!(
            cel.contains(&format!("`{list}`")),
            "README's cel section does not document the variable `{list}`"
        );
    }
}

#[test]
fn offline_every_kind_is_read_in_the_api_version_of_the_table_and_others_are_named() {
    for kind in related::kinds() {
        let scope = match kind.scope {
            Scope::Namespaced => "namespace: shop, ",
            Scope::Cluster => "",
        };
        let text = format!(
            "apiVersion: {}\nkind: {}\nmetadata: {{name: x, {scope}}}\n---\napiVersion: {}-gone\nkind: {}\nmetadata: {{name: y}}\n",
            kind.api_version, kind.kind, kind.api_version, kind.kind
        );
        let mut set = ManifestSet::default();
        for doc in parse_stream("kinds.yaml", &text).unwrap() {
            set.add(&doc, "shop").unwrap();
        }
        assert_eq!(set.objects, 2, "{}", kind.kind);
        assert_eq!(set.warnings.len(), 1, "{}: {:?}", kind.kind, set.warnings);
        assert!(
            set.warnings[0].contains(&format!("gonogo reads {} {}", kind.kind, kind.api_version))
                && set.warnings[0].contains(" only; skipped"),
            "{}",
            set.warnings[0]
        );
    }
}
