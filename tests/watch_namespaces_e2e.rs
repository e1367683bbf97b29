//! `gonogo run --namespace a,b` on the real control plane (needs the Go-built control plane:
//! run it through `tests/run.sh`), as the chart's ServiceAccount under the RBAC the chart renders
//! for `watchNamespaces: [a, b]` (a Role in each, a small ClusterRole for cluster-scoped kinds,
//! nothing namespaced cluster-wide): readiness objects in both namespaces are judged, their
//! related objects (Secrets) and `resource` gates' kinds (a CRD) read in each, their Deployments
//! held and released; a readiness object in a third namespace is left alone; the operator is
//! never refused.

mod operator;
mod support;

use gonogo::api::DeploymentReadiness;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use operator::Operator;
use serde_json::json;
use support::{
    TIMEOUT, TestNamespace, api_keys, cluster, from_yaml, paused, ready_is, repo_root, wait_until,
};

/// The chart's ServiceAccount and RBAC, rendered for `watchNamespaces: [namespaces]`.
async fn install_rbac_for(namespaces: &[&str]) {
    let cluster = cluster();
    let chart = repo_root().join("charts/gonogo");
    let watch = format!("watchNamespaces={{{}}}", namespaces.join(","));
    let rbac = cluster
        .helm(&[
            "template",
            "gonogo",
            &chart.to_string_lossy(),
            "--namespace",
            "gonogo-system",
            "--kube-version",
            "1.36.0",
            "--set",
            &watch,
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/rbac.yaml",
        ])
        .await;
    assert!(
        !rbac.contains("kind: ClusterRole\nmetadata:\n  name: gonogo-controller\n"),
        "the namespaced rendering has no cluster-wide controller role:\n{rbac}"
    );
    cluster
        .kubectl_stdin(&["apply", "--server-side", "-f", "-"], &rbac)
        .await;
}

fn target() -> Deployment {
    from_yaml(
        "metadata: {name: api}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec:\n      containers:\n      - name: api\n        image: registry.k8s.io/pause:3.10\n        env:\n        - name: OPENAI_API_KEY\n          valueFrom: {secretKeyRef: {name: api-keys, key: OPENAI_API_KEY}}\n",
    )
}

fn readiness() -> DeploymentReadiness {
    from_yaml(
        r#"
apiVersion: gonogo.dev/v1alpha1
kind: DeploymentReadiness
metadata: {name: api}
spec:
  targetRef: {name: api}
  items:
  - {name: secrets, secrets: {}}
  - name: certificate
    resource:
      apiVersion: cert-manager.io/v1
      kind: Certificate
      name: api-tls
      condition: {type: Ready}
"#,
    )
}

#[tokio::test]
async fn a_list_of_namespaces_is_watched_under_a_role_in_each_and_nothing_else() {
    let cluster = cluster();
    cluster.apply_crds().await;
    cluster
        .kubectl_stdin(
            &["apply", "-f", "-"],
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: gonogo-system}\n",
        )
        .await;
    let client = cluster.client().await;
    let pp = PostParams::default();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(
        &pp,
        &from_yaml(
            r#"
metadata: {name: certificates.cert-manager.io}
spec:
  group: cert-manager.io
  scope: Namespaced
  names: {kind: Certificate, plural: certificates, singular: certificate, listKind: CertificateList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#,
        ),
    )
    .await
    .unwrap();
    let shop = TestNamespace::new(&client, "shop").await;
    let blog = TestNamespace::new(&client, "blog").await;
    let other = TestNamespace::new(&client, "other").await;
    install_rbac_for(&[&shop.name, &blog.name]).await;

    for ns in [&shop, &blog, &other] {
        ns.api::<Deployment>(&client)
            .create(&pp, &target())
            .await
            .unwrap();
    }
    let watched = format!("{},{}", shop.name, blog.name);
    let operator = Operator::start(cluster, "watchns", &["--namespace", &watched]).await;
    for ns in [&shop, &blog, &other] {
        ns.api::<DeploymentReadiness>(&client)
            .create(&pp, &readiness())
            .await
            .unwrap();
    }
    // No Secret and no Certificate yet: both watched namespaces' Deployments are held.
    for ns in [&shop, &blog] {
        wait_until(
            &ns.api::<Deployment>(&client),
            "api",
            "to be held",
            TIMEOUT,
            paused,
        )
        .await;
    }

    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("cert-manager.io", "v1", "Certificate"),
        "certificates",
    );
    let ready_certificate = json!({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "api-tls"},
        "spec": {"secretName": "api-tls"},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Issued", "message": "issued (set by the test)"}]},
    });
    for ns in [&shop, &blog, &other] {
        ns.api::<Secret>(&client)
            .create(&pp, &api_keys())
            .await
            .unwrap();
        Api::<DynamicObject>::namespaced_with(client.clone(), &ns.name, &resource)
            .patch(
                "api-tls",
                &PatchParams::apply("e2e-test").force(),
                &Patch::Apply(&ready_certificate),
            )
            .await
            .unwrap();
    }
    for ns in [&shop, &blog] {
        wait_until(
            &ns.api::<DeploymentReadiness>(&client),
            "api",
            "to become Ready",
            TIMEOUT,
            |d| ready_is(d, "True"),
        )
        .await;
        wait_until(
            &ns.api::<Deployment>(&client),
            "api",
            "to be released",
            TIMEOUT,
            |d| !paused(d),
        )
        .await;
    }

    // The third namespace: never judged, never held, no finalizer added.
    let dr = other
        .api::<DeploymentReadiness>(&client)
        .get("api")
        .await
        .unwrap();
    // (The CRD's schema defaults an empty status: observedGeneration 0, nothing else.)
    assert!(
        dr.status
            .as_ref()
            .is_none_or(|s| s.conditions.is_empty() && s.gates.is_empty()),
        "{:?}",
        dr.status
    );
    assert!(
        dr.metadata.finalizers.is_none(),
        "{:?}",
        dr.metadata.finalizers
    );
    let deployment = other.api::<Deployment>(&client).get("api").await.unwrap();
    assert!(!paused(&deployment));

    operator.assert_no_forbidden();
    // Without its colours (ESC [ ... m).
    let log: String = operator
        .log_text()
        .split('\x1b')
        .enumerate()
        .map(|(i, part)| match i {
            0 => part,
            _ => part.split_once('m').map_or("", |(_, rest)| rest),
        })
        .collect();
    let mut names = [shop.name.as_str(), blog.name.as_str()];
    names.sort();
    assert!(
        log.contains(&format!("namespaces={}", names.join(","))),
        "the operator does not say which namespaces it watches:\n{log}"
    );

    // Let the finalizers go while the operator runs, so the namespaces can be deleted.
    for ns in [&shop, &blog] {
        let drs = ns.api::<DeploymentReadiness>(&client);
        drs.delete("api", &Default::default()).await.unwrap();
        support::eventually("the readiness object to be gone", TIMEOUT, || async {
            match drs.get_opt("api").await {
                Ok(None) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }
}
