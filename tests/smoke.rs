//! Smoke tests for the test control plane itself: it is a real Kubernetes
//! API server with working controllers, scheduler and (kwok) nodes, and the
//! tools the other suites drive (kubectl, helm, kstatus) work against it.

mod support;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;
use support::{TIMEOUT, TestNamespace, cluster, wait_until};

#[tokio::test]
async fn api_server_reports_the_pinned_version_and_nodes_are_ready() {
    let cluster = cluster();
    let client = cluster.client().await;
    let version = client.apiserver_version().await.expect("GET /version");
    if cluster.launched() {
        let go_mod = std::fs::read_to_string(support::repo_root().join("tests/cluster/go.mod"))
            .expect("go.mod");
        let pinned = go_mod
            .lines()
            .find_map(|l| l.trim().strip_prefix("k8s.io/kubernetes "))
            .map(|v| v.split_whitespace().next().unwrap_or_default().to_string())
            .expect("k8s.io/kubernetes in tests/cluster/go.mod");
        assert_eq!(
            version.git_version, pinned,
            "/version of the launched API server"
        );
    }

    let nodes = Api::<Node>::all(client)
        .list(&ListParams::default())
        .await
        .expect("list nodes");
    assert!(!nodes.items.is_empty(), "the cluster has no nodes");
    for node in &nodes.items {
        let labels = node.metadata.labels.clone().unwrap_or_default();
        assert!(
            labels.contains_key("kubernetes.io/hostname"),
            "node labels: {labels:?}"
        );
        assert!(
            labels.contains_key("topology.kubernetes.io/zone"),
            "node labels: {labels:?}"
        );
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        assert!(ready, "node {:?} is not Ready", node.metadata.name);
    }
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name, "labels": { "app": name } },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{
                    "name": "app",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": { "requests": { "cpu": "10m", "memory": "16Mi" } }
                }] }
            }
        }
    }))
    .expect("deployment object")
}

#[tokio::test]
async fn deployment_gets_ready_pods_and_tools_agree() {
    let cluster = cluster();
    let client = cluster.client().await;
    let ns = TestNamespace::new(&client, "smoke-deploy").await;
    let deployments: Api<Deployment> = ns.api(&client);
    deployments
        .create(&PostParams::default(), &deployment("web", 2))
        .await
        .expect("create deployment");

    let web = wait_until(
        &deployments,
        "web",
        "to be Available with 2 ready replicas",
        TIMEOUT,
        support::deployment_available,
    )
    .await;
    assert_eq!(
        web.status.as_ref().and_then(|s| s.available_replicas),
        Some(2)
    );

    let rs = Api::<ReplicaSet>::namespaced(client.clone(), &ns.name)
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("list replicasets");
    assert_eq!(rs.items.len(), 1, "one ReplicaSet for the Deployment");
    let owner = rs.items[0]
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default();
    assert!(
        owner
            .iter()
            .any(|o| o.kind == "Deployment" && o.name == "web"),
        "owner references: {owner:?}"
    );

    let pods = Api::<Pod>::namespaced(client.clone(), &ns.name)
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("list pods");
    assert_eq!(pods.items.len(), 2, "two pods");
    for pod in &pods.items {
        assert!(
            support::pod_ready(pod),
            "pod {:?} is not Running and Ready: {:?}",
            pod.metadata.name,
            pod.status
        );
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        assert!(
            node.starts_with("kwok-node-"),
            "pod {:?} scheduled to {node:?}",
            pod.metadata.name
        );
    }

    let verdict = cluster.kstatus(&ns.name, "deployment", "web").await;
    assert_eq!(verdict.status, "Current", "kstatus verdict: {verdict:?}");

    let describe = cluster
        .kubectl(&["describe", "deployment", "web", "-n", &ns.name])
        .await;
    assert!(
        describe.contains("2 desired | 2 updated | 2 total | 2 available"),
        "kubectl describe:\n{describe}"
    );
    cluster
        .kubectl(&[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            &ns.name,
            "--timeout=30s",
        ])
        .await;
}

#[tokio::test]
async fn pvc_binds_to_a_matching_static_pv() {
    let cluster = cluster();
    let client = cluster.client().await;
    let ns = TestNamespace::new(&client, "smoke-pvc").await;
    let class = format!("manual-{}", support::random_suffix());
    let pv_name = format!("pv-{class}");
    let pv: PersistentVolume = serde_json::from_value(json!({
        "metadata": { "name": pv_name },
        "spec": {
            "capacity": { "storage": "1Gi" },
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": class,
            "persistentVolumeReclaimPolicy": "Delete",
            "hostPath": { "path": "/tmp/gonogo-test-pv" }
        }
    }))
    .expect("pv object");
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    pvs.create(&PostParams::default(), &pv)
        .await
        .expect("create pv");

    let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": { "name": "data" },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": class,
            "resources": { "requests": { "storage": "1Gi" } }
        }
    }))
    .expect("pvc object");
    let pvcs: Api<PersistentVolumeClaim> = ns.api(&client);
    pvcs.create(&PostParams::default(), &pvc)
        .await
        .expect("create pvc");

    let bound = wait_until(&pvcs, "data", "to be Bound", TIMEOUT, support::pvc_bound).await;
    assert_eq!(
        bound.spec.and_then(|s| s.volume_name).as_deref(),
        Some(pv_name.as_str())
    );
    let pv = wait_until(
        &pvs,
        &pv_name,
        "to be Bound",
        TIMEOUT,
        |pv: &PersistentVolume| {
            pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
        },
    )
    .await;
    assert_eq!(
        pv.spec.and_then(|s| s.claim_ref).and_then(|r| r.namespace),
        Some(ns.name.clone())
    );

    support::delete_ignore_missing(&pvcs, "data").await;
    support::delete_ignore_missing(&pvs, &pv_name).await;
}

fn readiness_api(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("gonogo.dev", "v1alpha1", "DeploymentReadiness");
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk))
}

fn readiness(name: &str, items: serde_json::Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "gonogo.dev/v1alpha1",
        "kind": "DeploymentReadiness",
        "metadata": { "name": name },
        "spec": { "targetRef": { "name": "web" }, "items": items }
    }))
    .expect("DeploymentReadiness object")
}

#[tokio::test]
async fn crds_are_served_and_cel_rules_reject_invalid_objects() {
    let cluster = cluster();
    cluster.apply_crds().await;
    let client = cluster.client().await;
    let ns = TestNamespace::new(&client, "smoke-crd").await;

    let served = cluster
        .kubectl(&["api-resources", "--api-group=gonogo.dev", "-o", "name"])
        .await;
    let served: Vec<&str> = served.lines().collect();
    for kind in [
        "deploymentreadinesses",
        "readinesschecklists",
        "clusterreadinesschecklists",
        "readinessapprovals",
    ] {
        assert!(
            served.iter().any(|r| r.starts_with(&format!("{kind}."))),
            "{kind} not served; served: {served:?}"
        );
    }

    let api = readiness_api(&client, &ns.name);
    api.create(
        &PostParams::default(),
        &readiness("valid", json!([{ "name": "probes", "probes": {} }])),
    )
    .await
    .expect("a valid DeploymentReadiness is accepted");

    let invalid = readiness(
        "two-kinds",
        json!([{ "name": "x", "probes": {}, "image": {} }]),
    );
    match api.create(&PostParams::default(), &invalid).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "rejected as Invalid: {status:?}");
        }
        Ok(obj) => panic!("an item with two check kinds was accepted: {obj:?}"),
        Err(e) => panic!("unexpected error: {e}"),
    }

    // Retargeting would strand gonogo's pause and annotations on the old Deployment.
    let retarget = json!({"spec": {"targetRef": {"name": "other"}}});
    match api
        .patch(
            "valid",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&retarget),
        )
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "rejected as Invalid: {status:?}");
            assert!(
                status.message.contains("targetRef is immutable"),
                "{}",
                status.message
            );
        }
        Ok(obj) => panic!("a DeploymentReadiness was retargeted: {obj:?}"),
        Err(e) => panic!("unexpected error: {e}"),
    }

    let get = cluster.kubectl(&["get", "dr", "-n", &ns.name]).await;
    let header = get.lines().next().unwrap_or_default();
    assert!(
        header.split_whitespace().any(|c| c == "TARGET"),
        "printer columns of `kubectl get dr`:\n{get}"
    );
}

#[tokio::test]
async fn helm_install_waits_for_a_chart_to_be_ready() {
    let cluster = cluster();
    let client = cluster.client().await;
    let ns = TestNamespace::new(&client, "smoke-helm").await;
    let chart =
        std::env::temp_dir().join(format!("gonogo-smoke-chart-{}", support::random_suffix()));
    let chart_str = chart.to_string_lossy().into_owned();
    let version = cluster.helm(&["version", "--template={{.Version}}"]).await;
    assert!(version.starts_with("v4."), "helm version {version:?}");
    cluster.helm(&["create", &chart_str]).await;
    let out = cluster
        .helm(&[
            "install",
            "demo",
            &chart_str,
            "-n",
            &ns.name,
            "--wait",
            "--timeout=60s",
            "--set=replicaCount=2",
        ])
        .await;
    assert!(out.contains("STATUS: deployed"), "helm install:\n{out}");
    let status = cluster.helm(&["status", "demo", "-n", &ns.name]).await;
    assert!(
        status.contains("STATUS: deployed"),
        "helm status:\n{status}"
    );
    let _ = std::fs::remove_dir_all(&chart);
}

#[tokio::test]
async fn kstatus_judges_yaml_offline() {
    let cluster = cluster();
    let stale = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: x, generation: 2}\n\
                 spec: {replicas: 2}\nstatus: {observedGeneration: 1, replicas: 2}\n";
    let verdict = cluster.kstatus_yaml(stale).await;
    assert_eq!(verdict.status, "InProgress", "{verdict:?}");
    let stalled = "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\n\
                   metadata: {name: dr, namespace: x, generation: 1}\nstatus:\n  observedGeneration: 1\n  conditions:\n\
                   \x20 - {type: Ready, status: \"False\", reason: Blocked, message: blocked}\n\
                   \x20 - {type: Stalled, status: \"True\", reason: ProgressDeadlineExceeded, message: deadline}\n";
    let verdict = cluster.kstatus_yaml(stalled).await;
    assert_eq!(verdict.status, "Failed", "{verdict:?}");
}
