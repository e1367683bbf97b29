//! StatefulSets and DaemonSets judged on the real control plane (needs the Go-built control
//! plane: run it through `tests/run.sh`), with `gonogo run` as the chart's ServiceAccount: a
//! DeploymentReadiness targets a StatefulSet or DaemonSet by `targetRef.kind`, its gates read
//! that workload (not a Deployment of the same name), its changes re-judge it, and gonogo does
//! not hold it (holding these kinds is not implemented: `Block` acts as `Annotate`).

mod operator;
mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams, PostParams};
use operator::{WatchedNamespace, watched_namespace_with_api};
use serde_json::json;
use support::{TIMEOUT, from_yaml, gate_message, paused, ready_is, wait_until};

/// How soon a verdict must follow a change of the workload: a watch event and one reconcile.
const PROMPTLY: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_statefulset_is_judged_by_its_own_fields_and_a_deployment_of_its_name_is_left_alone() {
    let WatchedNamespace {
        client,
        ns,
        operator,
        drs,
        deployments,
    } = watched_namespace_with_api("sts").await;
    let pp = PostParams::default();
    // A StatefulSet named like the namespace's Deployment `api`, governed by a Service that
    // does not exist yet.
    let sets: Api<StatefulSet> = ns.api(&client);
    sets.create(
        &pp,
        &from_yaml(
            r#"
metadata: {name: api}
spec:
  replicas: 2
  serviceName: api-headless
  selector: {matchLabels: {app: api-db}}
  template:
    metadata: {labels: {app: api-db}}
    spec:
      containers: [{name: db, image: "registry.k8s.io/pause:3.10"}]
"#,
        ),
    )
    .await
    .unwrap();
    drs.create(
        &pp,
        &from_yaml(
            r#"
apiVersion: gonogo.dev/v1alpha1
kind: DeploymentReadiness
metadata: {name: db}
spec:
  targetRef: {kind: StatefulSet, name: api}
  items:
  - name: quorum
    description: "ZooKeeper: at least 3 nodes"
    replicas: {min: 3}
  - name: governing-service
    service: {}
"#,
        ),
    )
    .await
    .unwrap();
    let dr = wait_until(&drs, "db", "to fail on the StatefulSet", TIMEOUT, |d| {
        ready_is(d, "False")
    })
    .await;
    assert_eq!(
        gate_message(&dr, "quorum"),
        "StatefulSet api spec.replicas is 2, below minimum 3"
    );
    assert!(
        gate_message(&dr, "governing-service").contains("api-headless"),
        "{}",
        gate_message(&dr, "governing-service")
    );
    assert!(!dr.status.as_ref().unwrap().blocking, "not held: {dr:?}");
    // Neither the StatefulSet nor the Deployment of the same name is touched.
    let set = sets.get("api").await.unwrap();
    assert!(
        set.spec
            .as_ref()
            .and_then(|s| s.update_strategy.as_ref())
            .and_then(|u| u.rolling_update.as_ref())
            .and_then(|r| r.partition)
            .unwrap_or(0)
            == 0,
        "{set:?}"
    );
    assert!(
        !set.metadata
            .annotations
            .unwrap_or_default()
            .keys()
            .any(|k| k.starts_with("gonogo.dev/")),
        "the StatefulSet carries nothing of gonogo's"
    );
    let deployment = deployments.get("api").await.unwrap();
    assert!(!paused(&deployment), "the Deployment api is not the target");

    // The target cannot change kind (targetRef is immutable), and `kubectl get dr` shows it.
    let retarget = drs
        .patch(
            "db",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"targetRef": {"kind": "Deployment"}}})),
        )
        .await
        .expect_err("a change of targetRef.kind is refused");
    assert!(
        retarget.to_string().contains("targetRef is immutable"),
        "{retarget}"
    );
    let table = support::cluster()
        .kubectl(&["get", "dr", "db", "-n", &ns.name, "--no-headers"])
        .await;
    assert!(table.contains("StatefulSet"), "{table}");

    // Its own changes re-judge it: scaled to 3, with its Service, every gate passes.
    sets.patch(
        "api",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 3}})),
    )
    .await
    .unwrap();
    wait_until(&drs, "db", "to pass quorum once scaled", PROMPTLY, |d| {
        gate_message(d, "quorum").contains("is 3, at least 3")
    })
    .await;
    let services: Api<Service> = ns.api(&client);
    services
        .create(
            &pp,
            &from_yaml(
                "metadata: {name: api-headless}\nspec: {clusterIP: None, selector: {app: api-db}, ports: [{port: 9000}]}\n",
            ),
        )
        .await
        .unwrap();
    wait_until(
        &drs,
        "db",
        "Ready with its governing Service",
        PROMPTLY,
        |d| ready_is(d, "True"),
    )
    .await;
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn a_daemonset_is_judged_and_re_judged_on_its_changes() {
    let WatchedNamespace {
        client,
        ns,
        operator,
        drs,
        ..
    } = watched_namespace_with_api("ds").await;
    let pp = PostParams::default();
    let sets: Api<DaemonSet> = ns.api(&client);
    sets.create(
        &pp,
        &from_yaml(
            r#"
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: "registry.k8s.io/pause:3.10"}]
"#,
        ),
    )
    .await
    .unwrap();
    drs.create(
        &pp,
        &from_yaml(
            r#"
apiVersion: gonogo.dev/v1alpha1
kind: DeploymentReadiness
metadata: {name: agent}
spec:
  targetRef: {kind: DaemonSet, name: agent}
  items:
  - name: probes
    probes: {liveness: false}
  - name: not-scaled
    hpa: {}
"#,
        ),
    )
    .await
    .unwrap();
    let dr = wait_until(&drs, "agent", "to fail: no readinessProbe", TIMEOUT, |d| {
        ready_is(d, "False")
    })
    .await;
    assert!(
        gate_message(&dr, "probes").contains("container agent: no readinessProbe"),
        "{}",
        gate_message(&dr, "probes")
    );
    assert!(
        gate_message(&dr, "not-scaled").contains("not applicable"),
        "{}",
        gate_message(&dr, "not-scaled")
    );
    sets.patch(
        "agent",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [{
            "name": "agent",
            "image": "registry.k8s.io/pause:3.10",
            "readinessProbe": {"tcpSocket": {"port": 8080}}
        }]}}}})),
    )
    .await
    .unwrap();
    wait_until(&drs, "agent", "Ready once probed", PROMPTLY, |d| {
        ready_is(d, "True")
    })
    .await;
    operator.assert_no_forbidden();
}
