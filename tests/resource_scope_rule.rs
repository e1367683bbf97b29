//! A `resource` gate on a cluster-scoped kind (Node, StorageClass, ClusterIssuer, ...) belongs
//! in a ClusterReadinessChecklist: a namespace's ReadinessChecklist or a DeploymentReadiness's
//! inline items read their own namespace only. The shipped CRDs refuse such items at admission
//! (their rule is evaluated here on sample objects; tests/schema_bounds_e2e.rs asks the real API
//! server), the ClusterReadinessChecklist accepts them, and offline `gonogo check` reports them
//! Unknown, saying where they belong.

use std::process::Command;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube_cel::cel;
use serde_json::{Value, json};

use gonogo::checks::resource::CLUSTER_SCOPED_REFUSAL;

fn crd(file: &str) -> CustomResourceDefinition {
    let path = format!("{}/crds/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The rules on `spec.items` of the CRD's only version whose message is the refusal.
fn refusal_rules(crd: &CustomResourceDefinition) -> Vec<String> {
    let root = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .unwrap();
    let items = &root.properties.as_ref().unwrap()["spec"]
        .properties
        .as_ref()
        .unwrap()["items"];
    items
        .x_kubernetes_validations
        .iter()
        .flatten()
        .filter(|r| r.message.as_deref() == Some(CLUSTER_SCOPED_REFUSAL))
        .map(|r| r.rule.clone())
        .collect()
}

fn admits(rule: &str, object: &Value) -> bool {
    let program = cel::Program::compile(rule).unwrap();
    let mut context = cel::Context::default();
    context.add_variable("self", object.clone()).unwrap();
    match program.execute(&context).unwrap() {
        cel::Value::Bool(b) => b,
        other => panic!("{rule}: {other:?}"),
    }
}

/// `spec.items`, as the rule sees them.
fn with_resource(api_version: &str, kind: &str) -> Value {
    json!([
        {"name": "replicas", "replicas": {"min": 1}},
        {"name": "gate", "resource": {"apiVersion": api_version, "kind": kind}},
    ])
}

#[test]
fn namespaced_kinds_refuse_cluster_scoped_resource_gates_and_the_cluster_checklist_takes_them() {
    for file in [
        "readinesschecklists.gonogo.dev.yaml",
        "deploymentreadinesses.gonogo.dev.yaml",
    ] {
        let rules = refusal_rules(&crd(file));
        assert_eq!(
            rules.len(),
            1,
            "{file}: one rule refusing cluster-scoped kinds"
        );
        let rule = &rules[0];
        for (api_version, kind) in [
            ("v1", "Node"),
            ("v1", "PersistentVolume"),
            ("storage.k8s.io/v1", "StorageClass"),
            ("cert-manager.io/v1", "ClusterIssuer"),
        ] {
            assert!(
                !admits(rule, &with_resource(api_version, kind)),
                "{file}: {kind} ({api_version}) admitted"
            );
        }
        for (api_version, kind) in [
            ("cert-manager.io/v1", "Certificate"),
            ("batch/v1", "Job"),
            // A namespaced kind of another group that happens to be called Node.
            ("example.com/v1", "Node"),
            ("v1", "ConfigMap"),
        ] {
            assert!(
                admits(rule, &with_resource(api_version, kind)),
                "{file}: {kind} ({api_version}) refused"
            );
        }
        assert!(admits(rule, &json!([])), "{file}");
    }
    assert!(
        refusal_rules(&crd("clusterreadinesschecklists.gonogo.dev.yaml")).is_empty(),
        "a ClusterReadinessChecklist may read cluster-scoped kinds"
    );
}

#[test]
fn offline_a_namespaced_checklist_naming_a_cluster_scoped_kind_is_unknown_and_a_cluster_one_judges_it()
 {
    let dir = std::env::temp_dir().join(format!("gonogo-scope-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("set.yaml");
    std::fs::write(
        &file,
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: "registry.k8s.io/pause:3.10"}]
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
---
apiVersion: gonogo.dev/v1alpha1
kind: ReadinessChecklist
metadata: {name: team}
spec:
  items:
  - name: nodes
    resource: {apiVersion: v1, kind: Node}
---
apiVersion: gonogo.dev/v1alpha1
kind: ClusterReadinessChecklist
metadata: {name: platform}
spec:
  items:
  - name: nodes
    resource: {apiVersion: v1, kind: Node}
---
apiVersion: gonogo.dev/v1alpha1
kind: DeploymentReadiness
metadata: {name: api}
spec:
  targetRef: {name: api}
  checklists:
  - {name: team}
  - {name: platform, kind: ClusterReadinessChecklist}
"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gonogo"))
        .args(["check", "-f"])
        .arg(&file)
        .args(["-o", "json"])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let gates = report["deployments"][0]["evaluations"][0]["gates"]
        .as_array()
        .unwrap();
    let gate = |checklist: &str| {
        gates
            .iter()
            .find(|g| g["checklist"] == checklist && g["name"] == "nodes")
            .unwrap_or_else(|| panic!("no {checklist}/nodes in {gates:?}"))
    };
    assert_eq!(gate("team")["result"], "Unknown");
    assert_eq!(
        gate("team")["message"],
        "Node is cluster-scoped: only a ClusterReadinessChecklist may read it (a namespace's checklists and a DeploymentReadiness's inline items read their namespace only)"
    );
    assert_eq!(
        gate("cluster/platform")["result"],
        "Pass",
        "{:?}",
        gate("cluster/platform")
    );
}
