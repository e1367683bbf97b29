//! The `resource` gate on the real control plane (needs the Go-built control plane: run it
//! through `tests/run.sh`), with `gonogo run` as the chart's ServiceAccount:
//! - a kind whose CRD is installed after the operator started is Unknown "no such kind", then
//!   judged once the CRD appears, without a restart; its object's condition flipped by the
//!   test moves the gate, and the Deployment is held and released;
//! - a kind the chart does not let gonogo read is Unknown, naming the chart value to change;
//! - a kind whose CRD is deleted while a gate reads it makes the gate Unknown "no longer
//!   serves", the controller keeps judging other readiness objects, and the CRD re-created
//!   brings the gate back;
//! - a cluster-scoped kind (Node) read by a ClusterReadinessChecklist's selector: a node
//!   labelled, then unlabelled, moves the gate within seconds (its labels before and after
//!   the change are matched; not the 10-minute resync).

mod operator;
mod support;

use gonogo::api::{ClusterReadinessChecklist, DeploymentReadiness, GateOutcome};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use operator::{Operator, WatchedNamespace, install, watched_namespace_with_api};
use serde_json::json;
use support::{
    TIMEOUT, TestNamespace, cluster, from_yaml, gate_message, paused, ready_is,
    single_container_deployment, wait_until,
};

fn gate_result(dr: &DeploymentReadiness, name: &str) -> Option<GateOutcome> {
    dr.status
        .iter()
        .flat_map(|s| s.gates.iter())
        .find(|g| g.name == name)
        .map(|g| g.result)
}

/// A namespaced kind of `group`, accepting any content.
fn crd(group: &str, kind: &str, plural: &str) -> CustomResourceDefinition {
    from_yaml(&format!(
        r#"
metadata: {{name: {plural}.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{kind: {kind}, plural: {plural}, singular: {singular}, listKind: {kind}List}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"#,
        singular = kind.to_lowercase()
    ))
}

fn readiness(items: &str) -> DeploymentReadiness {
    from_yaml(&format!(
        "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: api}}\nspec:\n  targetRef: {{name: api}}\n  items:\n{items}"
    ))
}

#[tokio::test]
async fn a_kind_installed_after_the_operator_started_is_judged_and_followed() {
    let WatchedNamespace {
        client,
        ns,
        operator,
        drs,
        deployments,
    } = watched_namespace_with_api("resgate").await;
    let pp = PostParams::default();
    drs.create(
        &pp,
        &readiness(
            r#"
  - name: certificate
    description: TLS certificate issued
    resource:
      apiVersion: cert-manager.io/v1
      kind: Certificate
      name: "{{ .target }}-tls"
      condition: {type: Ready}
"#,
        ),
    )
    .await
    .unwrap();
    let dr = wait_until(&drs, "api", "to say the kind is not served", TIMEOUT, |d| {
        gate_message(d, "certificate").contains("no such kind")
    })
    .await;
    assert_eq!(
        gate_message(&dr, "certificate"),
        "no such kind: the API server serves no Certificate in cert-manager.io/v1 (is its CRD installed?); gonogo looks again every 5 s"
    );
    wait_until(&deployments, "api", "to be held", TIMEOUT, paused).await;

    // The CRD arrives after the operator started.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&pp, &crd("cert-manager.io", "Certificate", "certificates"))
        .await
        .unwrap();
    wait_until(
        &drs,
        "api",
        "to find the kind and no object",
        TIMEOUT,
        |d| gate_message(d, "certificate").contains("no Certificate api-tls found"),
    )
    .await;

    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cert-manager.io", "v1", "Certificate"),
        "certificates",
    );
    let certificates: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns.name, &resource);
    let condition = |status: &str, reason: &str| {
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
               "metadata": {"name": "api-tls"},
               "spec": {"secretName": "api-tls"},
               "status": {"conditions": [{"type": "Ready", "status": status, "reason": reason, "message": format!("{reason} (set by the test)")}]}})
    };
    let apply = PatchParams::apply("e2e-test").force();
    certificates
        .patch(
            "api-tls",
            &apply,
            &Patch::Apply(condition("False", "Issuing")),
        )
        .await
        .unwrap();
    wait_until(&drs, "api", "to name the condition", TIMEOUT, |d| {
        gate_message(d, "certificate")
            .contains("condition Ready is False (Issuing): Issuing (set by the test)")
    })
    .await;
    certificates
        .patch("api-tls", &apply, &Patch::Apply(condition("True", "Ready")))
        .await
        .unwrap();
    wait_until(&drs, "api", "to become Ready", TIMEOUT, |d| {
        ready_is(d, "True")
    })
    .await;
    wait_until(&deployments, "api", "to be released", TIMEOUT, |d| {
        !paused(d)
    })
    .await;
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn a_kind_gonogo_may_not_read_names_the_chart_value() {
    let cluster = cluster();
    install(cluster).await;
    let client = cluster.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(
        &PostParams::default(),
        &crd("e2e.gonogo.dev", "Widget", "widgets"),
    )
    .await
    .unwrap();
    let ns = TestNamespace::new(&client, "resdenied").await;
    let _operator = Operator::start(cluster, "resdenied", &["--namespace", &ns.name]).await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let deployments: Api<Deployment> = ns.api(&client);
    let pp = PostParams::default();
    deployments
        .create(
            &pp,
            &single_container_deployment("api", "registry.k8s.io/pause:3.10"),
        )
        .await
        .unwrap();
    drs.create(
        &pp,
        &readiness(
            "  - name: widgets\n    resource: {apiVersion: e2e.gonogo.dev/v1, kind: Widget}\n  - name: replicas\n    replicas: {min: 1}\n",
        ),
    )
    .await
    .unwrap();
    let dr = wait_until(
        &drs,
        "api",
        "to name the missing permission",
        TIMEOUT,
        |d| gate_message(d, "widgets").contains("may not list"),
    )
    .await;
    assert_eq!(
        gate_message(&dr, "widgets"),
        "gonogo may not list and watch Widget (widgets.e2e.gonogo.dev): add {apiGroup: \"e2e.gonogo.dev\", resources: [widgets]} to the chart value readKinds"
    );
    // The other gates of the object are judged as usual.
    assert!(
        gate_message(&dr, "replicas").contains("replicas"),
        "{}",
        gate_message(&dr, "replicas")
    );
}

#[tokio::test]
async fn a_crd_deleted_while_a_gate_reads_it_is_unknown_and_recreating_it_recovers() {
    let WatchedNamespace {
        client,
        ns,
        operator,
        drs,
        deployments,
    } = watched_namespace_with_api("rescrd").await;
    let pp = PostParams::default();
    // A kind the chart lets gonogo read, and no other test of this file installs.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let definition = crd("monitoring.coreos.com", "PrometheusRule", "prometheusrules");
    let crd_name = "prometheusrules.monitoring.coreos.com";
    crds.create(&pp, &definition).await.unwrap();
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("monitoring.coreos.com", "v1", "PrometheusRule"),
        "prometheusrules",
    );
    let rules: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns.name, &resource);
    let rule = json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
        "metadata": {"name": "api-alerts"},
        "spec": {"groups": [{"name": "api", "rules": [{"alert": "ApiDown", "expr": "up == 0"}]}]}});
    let apply = PatchParams::apply("e2e-test").force();
    // The CRD is served a moment after it is created.
    support::eventually("the PrometheusRule to be created", TIMEOUT, || async {
        rules
            .patch("api-alerts", &apply, &Patch::Apply(rule.clone()))
            .await
            .map(|_| ())
    })
    .await;
    drs.create(
        &pp,
        &readiness(
            r#"
  - name: alerts
    resource:
      apiVersion: monitoring.coreos.com/v1
      kind: PrometheusRule
      name: "{{ .target }}-alerts"
      expression: object.spec.groups.exists(g, g.rules.exists(r, has(r.alert)))
"#,
        ),
    )
    .await
    .unwrap();
    // Another Deployment and readiness object, gated on nothing the CRD holds.
    deployments
        .create(
            &pp,
            &single_container_deployment("web", "registry.k8s.io/pause:3.10"),
        )
        .await
        .unwrap();
    let web = |min: u32| -> DeploymentReadiness {
        from_yaml(&format!(
            "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: web}}\nspec:\n  enforcement: Annotate\n  targetRef: {{name: web}}\n  items:\n  - name: replicas\n    replicas: {{min: {min}}}\n"
        ))
    };
    drs.create(&pp, &web(1)).await.unwrap();
    wait_until(&drs, "api", "to pass on the alert rule", TIMEOUT, |d| {
        ready_is(d, "True")
    })
    .await;
    wait_until(&drs, "web", "to pass", TIMEOUT, |d| ready_is(d, "True")).await;

    // The CRD goes, and its objects with it.
    crds.delete(crd_name, &Default::default()).await.unwrap();
    let gone = "no such kind: the API server no longer serves PrometheusRule in monitoring.coreos.com/v1 (was its CRD deleted?); gonogo looks again every 5 s";
    let dr = wait_until(&drs, "api", "to say the kind is gone", TIMEOUT, |d| {
        gate_message(d, "alerts") == gone
    })
    .await;
    assert_eq!(gate_result(&dr, "alerts"), Some(GateOutcome::Unknown));
    assert!(ready_is(&dr, "False"), "{:?}", dr.status);
    // It stays so (rediscovery every 5 s says the same), and other objects are judged.
    drs.replace("web", &pp, &{
        let mut w = web(2);
        w.metadata.resource_version = drs.get("web").await.unwrap().metadata.resource_version;
        w
    })
    .await
    .unwrap();
    wait_until(&drs, "web", "to judge its new item", TIMEOUT, |d| {
        ready_is(d, "False") && gate_message(d, "replicas").contains('2')
    })
    .await;
    let dr = drs.get("api").await.unwrap();
    assert_eq!(gate_message(&dr, "alerts"), gone);

    // The CRD comes back: the kind is found again without a restart, and its object judged.
    support::eventually("the CRD to be re-created", TIMEOUT, || async {
        crds.create(&pp, &definition).await.map(|_| ())
    })
    .await;
    wait_until(
        &drs,
        "api",
        "to find the kind and no object",
        TIMEOUT,
        |d| gate_message(d, "alerts").contains("no PrometheusRule api-alerts found"),
    )
    .await;
    support::eventually("the PrometheusRule to be re-created", TIMEOUT, || async {
        rules
            .patch("api-alerts", &apply, &Patch::Apply(rule.clone()))
            .await
            .map(|_| ())
    })
    .await;
    wait_until(&drs, "api", "to pass again", TIMEOUT, |d| {
        ready_is(d, "True")
    })
    .await;
    crds.delete(crd_name, &Default::default()).await.unwrap();
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn a_node_gaining_and_losing_a_label_moves_a_cluster_checklist_gate_promptly() {
    let WatchedNamespace {
        client,
        ns,
        operator,
        drs,
        deployments: _,
    } = watched_namespace_with_api("resnode").await;
    let pp = PostParams::default();
    let label = format!("e2e.gonogo.dev/{}", ns.name);
    let checklists: Api<ClusterReadinessChecklist> = Api::all(client.clone());
    let checklist: ClusterReadinessChecklist = from_yaml(&format!(
        "apiVersion: gonogo.dev/v1alpha1\nkind: ClusterReadinessChecklist\nmetadata: {{name: {n}}}\nspec:\n  items:\n  - name: nodes\n    resource:\n      apiVersion: v1\n      kind: Node\n      selector: {{matchLabels: {{\"{label}\": ready}}}}\n",
        n = ns.name
    ));
    checklists.create(&pp, &checklist).await.unwrap();
    let dr: DeploymentReadiness = from_yaml(&format!(
        "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: api}}\nspec:\n  targetRef: {{name: api}}\n  checklists:\n  - {{name: {n}, kind: ClusterReadinessChecklist}}\n",
        n = ns.name
    ));
    drs.create(&pp, &dr).await.unwrap();
    wait_until(&drs, "api", "to find no labelled Node", TIMEOUT, |d| {
        gate_result(d, "nodes") == Some(GateOutcome::Fail)
            && gate_message(d, "nodes").contains("no Nodes selected by")
    })
    .await;
    // A watch event and one reconcile, far under the resync.
    let promptly = std::time::Duration::from_secs(15);
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let set_label = |value: Option<&str>| json!({"metadata": {"labels": {label.clone(): value}}});
    nodes
        .patch(
            "kwok-node-0",
            &PatchParams::default(),
            &Patch::Merge(set_label(Some("ready"))),
        )
        .await
        .unwrap();
    wait_until(&drs, "api", "to see the labelled Node", promptly, |d| {
        gate_result(d, "nodes") == Some(GateOutcome::Pass)
            && gate_message(d, "nodes").contains("kwok-node-0")
    })
    .await;
    nodes
        .patch(
            "kwok-node-0",
            &PatchParams::default(),
            &Patch::Merge(set_label(None)),
        )
        .await
        .unwrap();
    wait_until(&drs, "api", "to see the label gone", promptly, |d| {
        gate_result(d, "nodes") == Some(GateOutcome::Fail)
    })
    .await;
    checklists
        .delete(&ns.name, &Default::default())
        .await
        .unwrap();
    operator.assert_no_forbidden();
}
