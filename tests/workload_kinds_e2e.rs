//! StatefulSets and DaemonSets judged and held on the real control plane (needs the Go-built
//! control plane: run it through `tests/run.sh`), with `gonogo run` as the chart's
//! ServiceAccount and the shipped admission policies: a DeploymentReadiness targets a
//! StatefulSet or DaemonSet by `targetRef.kind`, its gates read that workload (not a Deployment
//! of the same name), its changes re-judge it, and while a required gate fails gonogo holds it:
//! a StatefulSet by its partition (no pod, kwok-run, moves to the new revision; a person's
//! partition is restored), a DaemonSet by `updateStrategy.type: OnDelete` (its `rollingUpdate`
//! parameters kept). Released when the gates pass, after a restart of the operator mid-hold, and
//! when the readiness object is deleted.

mod operator;
mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use operator::{WatchedNamespace, watched_namespace_with_api};
use serde_json::json;
use support::{TIMEOUT, eventually, from_yaml, gate_message, paused, ready_is, wait_until};

const MARK: &str = "gonogo.dev/paused-by-gonogo";
const BEFORE: &str = "gonogo.dev/partition-before-hold";
const HOLD_PARTITION: i32 = i32::MAX;
/// Fails the `image` gate (`disallowLatest`).
const BAD: &str = "registry.k8s.io/pause:latest";

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// Whether the object carries any `gonogo.dev/` annotation.
fn ours(meta: &ObjectMeta) -> bool {
    meta.annotations
        .iter()
        .flatten()
        .any(|(k, _)| k.starts_with("gonogo.dev/"))
}

fn partition(s: &StatefulSet) -> i32 {
    s.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0)
}

fn strategy(d: &DaemonSet) -> String {
    d.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.clone())
        .unwrap_or_default()
}

/// The `controller-revision-hash` of every pod labelled `app=<app>`, and how many pods there are.
async fn pod_revisions(pods: &Api<Pod>, app: &str) -> Vec<String> {
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| {
            p.metadata
                .labels
                .unwrap_or_default()
                .get("controller-revision-hash")
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

/// Sets the image of the container named like the workload `name`, as `kubectl set image` does:
/// a new pod template.
async fn set_image<K>(api: &Api<K>, name: &str, image: &str) -> K
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let containers = json!([{"name": name, "image": image}]);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": containers}}}})),
    )
    .await
    .unwrap()
}

/// A readiness object `name` for the `kind` `target` whose one required PreRollout gate refuses
/// `latest` images.
fn image_gate(name: &str, kind: &str, target: &str) -> gonogo::api::DeploymentReadiness {
    from_yaml(&format!(
        "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: {name}}}\n\
         spec: {{targetRef: {{kind: {kind}, name: {target}}}, items: [{{name: image, image: {{disallowLatest: true}}}}]}}\n"
    ))
}

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
    assert!(dr.status.as_ref().unwrap().blocking, "held: {dr:?}");
    // The StatefulSet is held by its partition (its own, 0, recorded); the Deployment of the
    // same name is not touched.
    let set = wait_until(&sets, "api", "to be held by its partition", PROMPTLY, |s| {
        partition(s) == HOLD_PARTITION
    })
    .await;
    assert_eq!(annotation(&set.metadata, MARK), Some("true"));
    assert_eq!(annotation(&set.metadata, BEFORE), Some("0"));
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
    // Released to its own partition, with nothing of gonogo's left on it.
    let set = wait_until(&sets, "api", "to be released", PROMPTLY, |s| {
        partition(s) == 0
    })
    .await;
    assert!(!ours(&set.metadata), "{:?}", set.metadata.annotations);
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
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}
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
    wait_until(&sets, "agent", "to be held OnDelete", PROMPTLY, |d| {
        strategy(d) == "OnDelete" && annotation(&d.metadata, MARK) == Some("true")
    })
    .await;
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
    // Released to RollingUpdate with its own parameters (maxSurge), nothing of gonogo's left.
    let set = wait_until(&sets, "agent", "to be released", PROMPTLY, |d| {
        strategy(d) == "RollingUpdate"
    })
    .await;
    assert!(!ours(&set.metadata), "{:?}", set.metadata.annotations);
    let rolling = set
        .spec
        .and_then(|s| s.update_strategy)
        .and_then(|u| u.rolling_update)
        .expect("rollingUpdate kept");
    assert_eq!(rolling.max_surge, Some(IntOrString::Int(1)));
    assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(0)));
    operator.assert_no_forbidden();
}

/// An update of a StatefulSet that fails a gate moves no pod to the new revision, also across a
/// scale-up and a restart of the operator; a fixed update is released to the person's own
/// partition and rolls out.
#[tokio::test]
async fn a_statefulset_update_that_fails_a_gate_moves_no_pod_until_released() {
    let WatchedNamespace {
        client,
        ns,
        mut operator,
        drs,
        ..
    } = watched_namespace_with_api("sts-hold").await;
    let pp = PostParams::default();
    let sets: Api<StatefulSet> = ns.api(&client);
    let pods: Api<Pod> = ns.api(&client);
    sets.create(
        &pp,
        &from_yaml(
            r#"
metadata: {name: db}
spec:
  replicas: 2
  serviceName: db
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: db}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "registry.k8s.io/pause:3.10"}]
"#,
        ),
    )
    .await
    .unwrap();
    drs.create(&pp, &image_gate("db", "StatefulSet", "db"))
        .await
        .unwrap();
    wait_until(&drs, "db", "Ready", TIMEOUT, |d| ready_is(d, "True")).await;
    let first = wait_until(&sets, "db", "2 ready pods", TIMEOUT, |s| {
        s.status.as_ref().and_then(|s| s.ready_replicas) == Some(2)
    })
    .await;
    let old_revision = first.status.unwrap().current_revision.unwrap();

    // The failing update is held at admission: its partition is above every ordinal.
    let held = set_image(&sets, "db", BAD).await;
    assert_eq!(partition(&held), HOLD_PARTITION);
    assert_eq!(annotation(&held.metadata, BEFORE), Some("1"));
    wait_until(&drs, "db", "to fail on the new image", PROMPTLY, |d| {
        ready_is(d, "False") && d.status.as_ref().is_some_and(|s| s.blocking)
    })
    .await;
    // Scaled up while held: the new pod starts on the old revision too.
    sets.patch(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 3}})),
    )
    .await
    .unwrap();
    // The operator restarts mid-hold: the hold stays, nothing is stranded or released.
    operator.restart().await;
    let revisions = eventually("3 pods", TIMEOUT, || async {
        let r = pod_revisions(&pods, "db").await;
        if r.len() == 3 {
            Ok(r)
        } else {
            Err(format!("{r:?}"))
        }
    })
    .await;
    assert!(
        revisions.iter().all(|r| *r == old_revision),
        "every pod stays on {old_revision}: {revisions:?}"
    );
    let set = sets.get("db").await.unwrap();
    assert_eq!(partition(&set), HOLD_PARTITION);
    assert_eq!(
        set.status.and_then(|s| s.updated_replicas).unwrap_or(0),
        0,
        "no pod on the new revision"
    );
    assert_eq!(operator.metric("gonogo_held_workloads"), 1.0);

    // Fixed: released to the person's partition (1): pods 1 and 2 move, pod 0 stays.
    set_image(&sets, "db", "registry.k8s.io/pause:3.9").await;
    wait_until(&drs, "db", "Ready on the fixed image", TIMEOUT, |d| {
        ready_is(d, "True")
    })
    .await;
    let released = wait_until(
        &sets,
        "db",
        "released, rolled out above its partition",
        TIMEOUT,
        |s| partition(s) == 1 && s.status.as_ref().and_then(|s| s.updated_replicas) == Some(2),
    )
    .await;
    assert!(
        !ours(&released.metadata),
        "{:?}",
        released.metadata.annotations
    );
    assert_eq!(operator.metric("gonogo_held_workloads"), 0.0);
    operator.assert_no_forbidden();
}

/// An update of a DaemonSet that fails a gate puts no pod on the new revision; deleting the
/// readiness object (its finalizer) releases it, and the update rolls out.
#[tokio::test]
async fn a_daemonset_update_that_fails_a_gate_rolls_out_nowhere_until_released() {
    let WatchedNamespace {
        client,
        ns,
        operator,
        drs,
        ..
    } = watched_namespace_with_api("ds-hold").await;
    let pp = PostParams::default();
    let sets: Api<DaemonSet> = ns.api(&client);
    let pods: Api<Pod> = ns.api(&client);
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
    drs.create(&pp, &image_gate("agent", "DaemonSet", "agent"))
        .await
        .unwrap();
    wait_until(&drs, "agent", "Ready", TIMEOUT, |d| ready_is(d, "True")).await;
    let first = wait_until(&sets, "agent", "a ready pod per node", TIMEOUT, |d| {
        d.status.as_ref().is_some_and(|s| {
            s.desired_number_scheduled > 0 && s.number_ready == s.desired_number_scheduled
        })
    })
    .await;
    let nodes = first.status.unwrap().desired_number_scheduled as usize;
    let old_revisions = pod_revisions(&pods, "agent").await;

    let held = set_image(&sets, "agent", BAD).await;
    assert_eq!(strategy(&held), "OnDelete");
    assert_eq!(annotation(&held.metadata, MARK), Some("true"));
    wait_until(&drs, "agent", "to fail on the new image", PROMPTLY, |d| {
        ready_is(d, "False")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        pod_revisions(&pods, "agent").await,
        old_revisions,
        "no pod replaced while held"
    );

    // The readiness object goes: its finalizer releases the DaemonSet, which rolls out.
    drs.delete("agent", &DeleteParams::default()).await.unwrap();
    let released = wait_until(&sets, "agent", "released and rolled out", TIMEOUT, |d| {
        strategy(d) == "RollingUpdate"
            && d.status
                .as_ref()
                .and_then(|s| s.updated_number_scheduled)
                .is_some_and(|n| n as usize == nodes)
    })
    .await;
    assert!(
        !ours(&released.metadata),
        "{:?}",
        released.metadata.annotations
    );
    operator.assert_no_forbidden();
}
