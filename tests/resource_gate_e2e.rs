//! The `resource` gate on the real control plane (needs the Go-built control plane: run it
//! through `tests/run.sh`), with `gonogo run` as the chart's ServiceAccount:
//! - a kind whose CRD is installed after the operator started is Unknown "no such kind", then
//!   judged once the CRD appears, without a restart; its object's condition flipped by the
//!   test moves the gate, and the Deployment is held and released;
//! - a kind the chart does not let gonogo read is Unknown, naming the chart value to change.

mod operator;
mod support;

use gonogo::api::DeploymentReadiness;
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
