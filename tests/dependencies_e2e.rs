//! What a verdict depends on, on the real control plane: a change to an object that only a
//! `cel` gate reads re-evaluates the readiness object at once, not at the periodic resync
//! (10 minutes). `gonogo run` runs as the chart's ServiceAccount.

mod operator;
mod support;

use std::time::{Duration, Instant};

use gonogo::api::DeploymentReadiness;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, PostParams};
use operator::{Operator, install};
use support::{
    TIMEOUT, TestNamespace, cluster, delete_ignore_missing, from_yaml, gate_message, paused,
    single_container_deployment, wait_until,
};

/// How soon a verdict must follow a change it depends on: a watch event and one reconcile.
const PROMPTLY: Duration = Duration::from_secs(2);

fn ready(dr: &DeploymentReadiness) -> Option<bool> {
    let status = dr.status.as_ref()?;
    if status.observed_generation != dr.metadata.generation {
        return None;
    }
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
    Some(ready.status == "True")
}

#[tokio::test]
async fn an_object_only_a_cel_gate_reads_is_followed_at_once() {
    let cluster = cluster();
    install(cluster).await;
    let client = cluster.client().await;
    let ns = TestNamespace::new(&client, "celdep").await;
    let operator = Operator::start(cluster, "celdep", &["--namespace", &ns.name]).await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let deployments: Api<Deployment> = ns.api(&client);
    let secrets: Api<Secret> = ns.api(&client);
    let config_maps: Api<ConfigMap> = ns.api(&client);
    let pp = PostParams::default();

    // Neither the Deployment nor any other gate names the Secret or the ConfigMap: only the
    // CEL expressions read them, through the `secrets` and `configMaps` lists.
    deployments
        .create(
            &pp,
            &single_container_deployment("api", "registry.k8s.io/pause:3.10"),
        )
        .await
        .unwrap();
    drs.create(
        &pp,
        &from_yaml(
            r#"
apiVersion: gonogo.dev/v1alpha1
kind: DeploymentReadiness
metadata: {name: api}
spec:
  targetRef: {name: api}
  items:
  - name: db-credentials
    cel:
      expression: "secrets.exists(s, s.metadata.name == 'db' && 'password' in s.keys)"
      message: Secret db with a password key is missing
  - name: flags
    cel: {expression: "configMaps.exists(c, c.metadata.name == 'flags')"}
"#,
        ),
    )
    .await
    .unwrap();
    let dr = wait_until(&drs, "api", "to fail on the missing Secret", TIMEOUT, |d| {
        ready(d) == Some(false) && gate_message(d, "db-credentials").contains("Secret db")
    })
    .await;
    assert!(
        gate_message(&dr, "flags").contains("is false"),
        "{}",
        gate_message(&dr, "flags")
    );
    wait_until(&deployments, "api", "to be held", TIMEOUT, |d| {
        paused(d) && d.status.as_ref().and_then(|s| s.observed_generation) == d.metadata.generation
    })
    .await;
    // Let the Deployment's own updates (which re-evaluate it anyway) die down, so that only the
    // Secret can trigger the next evaluation.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Created after the readiness object was evaluated: the index must already know that the
    // expressions read every Secret and every ConfigMap.
    secrets
        .create(
            &pp,
            &from_yaml("metadata: {name: db}\nstringData: {password: hunter2}\n"),
        )
        .await
        .unwrap();
    let start = Instant::now();
    wait_until(
        &drs,
        "api",
        "to see the new Secret (only a cel gate reads it)",
        PROMPTLY,
        |d| !gate_message(d, "db-credentials").contains("missing"),
    )
    .await;
    eprintln!("Secret created -> gate passes in {:?}", start.elapsed());

    config_maps
        .create(&pp, &from_yaml("metadata: {name: flags}\ndata: {a: b}\n"))
        .await
        .unwrap();
    let start = Instant::now();
    wait_until(
        &drs,
        "api",
        "to become Ready once the ConfigMap exists",
        PROMPTLY,
        |d| ready(d) == Some(true),
    )
    .await;
    eprintln!("ConfigMap created -> Ready in {:?}", start.elapsed());
    wait_until(&deployments, "api", "to be released", TIMEOUT, |d| {
        !paused(d)
    })
    .await;

    // Losing the object is followed as promptly.
    delete_ignore_missing(&secrets, "db").await;
    let start = Instant::now();
    wait_until(
        &drs,
        "api",
        "to fail again once the Secret is deleted",
        PROMPTLY,
        |d| ready(d) == Some(false),
    )
    .await;
    eprintln!("Secret deleted -> not Ready in {:?}", start.elapsed());
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn helm_release_records_and_token_secrets_are_not_watched() {
    // Helm keeps each release revision as a Secret of type helm.sh/release.v1 (the whole
    // rendered release, often hundreds of KiB): no gate reads them, a manifest set never holds
    // them, and the controller's watch leaves them out (a field selector on `type`).
    let operator::WatchedNamespace {
        client,
        ns,
        drs,
        operator: _operator,
        ..
    } = operator::watched_namespace_with_api("secretsel").await;
    let secrets: Api<Secret> = ns.api(&client);
    let pp = PostParams::default();
    for secret in [
        "metadata: {name: sh.helm.release.v1.api.v1}\ntype: helm.sh/release.v1\nstringData: {release: H4sIAAAA}\n",
        "metadata: {name: api-keys}\nstringData: {OPENAI_API_KEY: sk-test}\n",
    ] {
        secrets.create(&pp, &from_yaml(secret)).await.unwrap();
    }
    drs.create(
        &pp,
        &from_yaml(
            r#"
apiVersion: gonogo.dev/v1alpha1
kind: DeploymentReadiness
metadata: {name: api}
spec:
  targetRef: {name: api}
  enforcement: Annotate
  items:
  - name: secrets-seen
    cel:
      expression: "secrets.map(s, s.metadata.name) == ['api-keys']"
"#,
        ),
    )
    .await
    .unwrap();
    wait_until(&drs, "api", "Ready: only api-keys is seen", TIMEOUT, |d| {
        ready(d) == Some(true)
    })
    .await;
}
