//! The admission rule refusing a `resource` gate on a cluster-scoped kind in a namespace's
//! readiness object (tests/resource_scope_rule.rs) on an object stored before the rule: it
//! ratchets. gonogo can still write its status and finalizer, a person can still change other
//! fields, and only a change to the items is judged. (Its own control plane: the test replaces
//! the DeploymentReadiness CRD.)

mod support;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use support::{TestNamespace, cluster, repo_root};

fn shipped() -> CustomResourceDefinition {
    let path = repo_root().join("crds/deploymentreadinesses.gonogo.dev.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The shipped CRD without the rule, as it was before it.
fn without_the_rule() -> CustomResourceDefinition {
    let mut crd = shipped();
    for version in &mut crd.spec.versions {
        let items = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .and_then(|s| s.properties.as_mut())
            .and_then(|p| p.get_mut("spec"))
            .and_then(|s| s.properties.as_mut())
            .and_then(|p| p.get_mut("items"))
            .unwrap();
        let rules = items.x_kubernetes_validations.as_mut().unwrap();
        let before = rules.len();
        rules.retain(|r| !r.rule.contains("i.resource.kind == 'Node'"));
        assert_eq!(rules.len(), before - 1, "the rule is on spec.items");
    }
    crd
}

#[tokio::test]
async fn an_object_stored_before_the_rule_can_still_be_updated_but_not_its_items() {
    let cluster = cluster();
    cluster.apply_crds().await;
    let apply_crd = |crd: CustomResourceDefinition| async move {
        let yaml = serde_yaml_ng::to_string(&crd).unwrap();
        cluster
            .kubectl_stdin(
                &["apply", "--server-side", "--force-conflicts", "-f", "-"],
                &yaml,
            )
            .await;
        // The API server takes a moment to use the new schema.
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    };
    apply_crd(without_the_rule()).await;
    let client = cluster.client().await;
    let ns = TestNamespace::new(&client, "ratchet").await;
    let n = ns.name.as_str();
    cluster
        .kubectl_stdin(
            &["apply", "-n", n, "-f", "-"],
            "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {name: old}\nspec:\n  targetRef: {name: api}\n  items:\n  - name: nodes\n    resource: {apiVersion: v1, kind: Node}\n",
        )
        .await;
    apply_crd(shipped()).await;

    let patch = |args: &[&str]| {
        let mut all = vec![
            "patch",
            "-n",
            n,
            "deploymentreadiness",
            "old",
            "--type=merge",
        ];
        all.extend_from_slice(args);
        all.into_iter().map(String::from).collect::<Vec<_>>()
    };
    for (what, args) in [
        (
            "its finalizer added",
            patch(&["-p", r#"{"metadata":{"finalizers":["gonogo.dev/e2e"]}}"#]),
        ),
        (
            "its status written",
            patch(&[
                "--subresource=status",
                "-p",
                r#"{"status":{"observedGeneration":1}}"#,
            ]),
        ),
        (
            "another spec field changed",
            patch(&["-p", r#"{"spec":{"enforcement":"Annotate"}}"#]),
        ),
        (
            "its finalizer removed",
            patch(&["-p", r#"{"metadata":{"finalizers":null}}"#]),
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = cluster.try_kubectl(&args).await;
        assert!(out.success(), "{what}: refused: {}", out.stderr);
    }
    let args = patch(&[
        "-p",
        r#"{"spec":{"items":[{"name":"nodes","resource":{"apiVersion":"v1","kind":"Node"}},{"name":"replicas","replicas":{"min":1}}]}}"#,
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = cluster.try_kubectl(&args).await;
    assert!(!out.success(), "a change to the items is judged");
    assert!(
        out.stderr.contains("put it in a ClusterReadinessChecklist"),
        "{}",
        out.stderr
    );
}
