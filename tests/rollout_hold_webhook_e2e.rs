//! The webhook path of the hold, on a real control plane started without
//! MutatingAdmissionPolicy (`--disable-admission-plugins=MutatingAdmissionPolicy`, as on
//! Kubernetes < 1.36): the shipped policy then holds nothing, and `gonogo run
//! --admission-webhook-port` (as the chart's ServiceAccount, registered through
//! `deploy/admission/hold-rollouts-webhook.yaml` with a `url` to 127.0.0.1) holds instead:
//! - every case of `tests/fixtures/hold/cases.yaml` is decided as the table says;
//! - its certificate (lifetime 15 s here) is renewed, with the caBundle, and it keeps answering
//!   (with `failurePolicy: Fail`, an answer it failed to give would be a refused request);
//! - an image update to a failing template never gets a ReplicaSet (watched from before the
//!   update), and rolls out once the gate is fixed (the operator then leads and releases);
//! - gonogo stopped: with `Fail` a create is refused with the webhook's error, with `Ignore` it
//!   is admitted unheld.
//!
//! The operator first runs as a standby (another holder keeps its Lease), so only admission
//! acts on the Deployments of the table: every replica answers reviews, leader or not.
//!
//! One test, in phases: they share the one MutatingWebhookConfiguration and Secret, and this
//! process's control plane is started with the flag above.

mod hold_cases;
mod operator;
mod support;

use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use futures::StreamExt;
use gonogo::api::DeploymentReadiness;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use operator::{Operator, free_port, webhook_objects};
use support::{Cluster, TIMEOUT, TestNamespace, cluster, deployment_available, repo_root};

use hold_cases::{marked, paused};

const CONFIGURATION: &str = "gonogo-hold-rollouts";
const SECRET: &str = "gonogo-webhook-tls";
const GOOD: &str = "registry.k8s.io/pause:3.10";
/// Fails the `image` gate (`disallowLatest`).
const BAD: &str = "registry.k8s.io/pause:latest";

/// This process's control plane, its kube-apiserver wrapped to drop MutatingAdmissionPolicy.
fn cluster_without_map() -> &'static Cluster {
    static WRAP: Once = Once::new();
    WRAP.call_once(|| {
        // Not support::bin_dir(): it remembers its answer, and the control plane must start
        // from the wrapped directory.
        let real = std::path::PathBuf::from(
            std::env::var_os("GONOGO_CLUSTER_BIN")
                .filter(|p| !p.is_empty())
                .expect("GONOGO_CLUSTER_BIN: the directory tests/cluster/build.sh prints"),
        );
        let dir = std::env::temp_dir().join(format!("gonogo-nomap-bin-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("bin dir");
        for entry in std::fs::read_dir(&real).expect("read bin dir").flatten() {
            let name = entry.file_name();
            if name != "kube-apiserver" && name != "launcher" {
                std::os::unix::fs::symlink(entry.path(), dir.join(&name)).expect("symlink tool");
            }
        }
        let script = |name: &str, body: String| {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("wrapper");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .expect("chmod wrapper");
        };
        script(
            "kube-apiserver",
            format!(
                "exec '{}' \"$@\" --disable-admission-plugins=MutatingAdmissionPolicy",
                real.join("kube-apiserver").display()
            ),
        );
        script(
            "launcher",
            format!(
                "exec '{}' --bin '{}' \"$@\"",
                real.join("launcher").display(),
                dir.display()
            ),
        );
        // SAFETY: under the Once, before the control plane is started; the one test of this
        // file is the only thread that reads the environment meanwhile.
        unsafe { std::env::set_var("GONOGO_CLUSTER_BIN", &dir) };
    });
    cluster()
}

fn readiness(name: &str, target: &str) -> DeploymentReadiness {
    support::from_yaml(&format!(
        "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: {name}}}\nspec:\n  targetRef: {{name: {target}}}\n  items: [{{name: image, image: {{disallowLatest: true}}}}]\n"
    ))
}

fn dry_run() -> PostParams {
    PostParams {
        dry_run: true,
        ..Default::default()
    }
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn without_mutating_admission_policy_the_webhook_holds_rollouts() {
    let cluster = cluster_without_map();
    let client = cluster.client().await;
    cluster.apply_crds().await;
    cluster
        .kubectl_stdin(
            &["apply", "-f", "-"],
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: gonogo-system}\n",
        )
        .await;
    for file in ["deploy/rbac.yaml", "deploy/admission/hold-rollouts.yaml"] {
        let path = repo_root().join(file);
        cluster
            .kubectl(&["apply", "--server-side", "-f", &path.to_string_lossy()])
            .await;
    }
    let ns = TestNamespace::new(&client, "hold-webhook").await;
    let deployments: Api<Deployment> = ns.api(&client);
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let pp = PostParams::default();
    drs.create(&pp, &readiness("probe", "probe"))
        .await
        .expect("create readiness");
    let probe = support::single_container_deployment("probe", GOOD);

    // Phase 1: the policy is installed but the API server runs no MutatingAdmissionPolicy.
    // Given the time it takes to load one where it runs (tests/operator/mod.rs waits for it):
    tokio::time::sleep(Duration::from_secs(3)).await;
    let admitted = deployments
        .create(&dry_run(), &probe)
        .await
        .expect("dry-run create");
    assert!(
        !paused(&admitted),
        "the control plane should run without MutatingAdmissionPolicy, yet the policy held the Deployment"
    );

    // Phase 2: the webhook, failurePolicy Fail, served by a standby operator.
    let port = free_port();
    cluster
        .kubectl_stdin(
            &["apply", "--server-side", "-f", "-"],
            &webhook_objects(port, "Fail"),
        )
        .await;
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), "gonogo-system");
    let mut lease: k8s_openapi::api::coordination::v1::Lease = support::from_yaml(
        "metadata: {name: gonogo-controller}\nspec: {holderIdentity: someone-else, leaseDurationSeconds: 3600}\n",
    );
    if let Some(spec) = lease.spec.as_mut() {
        spec.renew_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
            jiff::Timestamp::now(),
        ));
    }
    leases
        .create(&pp, &lease)
        .await
        .expect("create the Lease another holder keeps");
    let port_arg = port.to_string();
    let mut operator = Operator::start(
        cluster,
        "webhook",
        &[
            "--leader-election",
            "--admission-webhook-port",
            &port_arg,
            "--admission-webhook-host",
            "127.0.0.1",
            "--admission-webhook-certificate-lifetime",
            "15s",
        ],
    )
    .await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "gonogo-system");
    let configurations: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let ca_of = |s: &Secret| {
        s.data
            .as_ref()
            .and_then(|d| d.get("ca.crt"))
            .map(|b| b.0.clone())
    };
    wait_for(
        "the Secret and the caBundle",
        Duration::from_secs(30),
        || async {
            let (Ok(Some(secret)), Ok(configuration)) = (
                secrets.get_opt(SECRET).await,
                configurations.get(CONFIGURATION).await,
            ) else {
                return false;
            };
            configuration.webhooks.unwrap_or_default()[0]
                .client_config
                .ca_bundle
                .as_ref()
                .map(|b| b.0.clone())
                == ca_of(&secret)
        },
    )
    .await;
    let first_certificate = secrets.get(SECRET).await.unwrap().data.unwrap()["tls.crt"].clone();
    let certificate_made = Instant::now();
    // The API server reloads the configuration (caBundle) asynchronously.
    wait_for(
        "the webhook to hold the probe",
        Duration::from_secs(30),
        || async {
            deployments
                .create(&dry_run(), &probe)
                .await
                .is_ok_and(|d| paused(&d) && marked(&d))
        },
    )
    .await;

    // Phase 3: every case of the table, through the webhook.
    // The webhook reads readiness objects from its own watch: give it the moment the event
    // takes to arrive.
    let wrong =
        hold_cases::wrongly_decided(&deployments, &drs, &ns.name, Duration::from_millis(300)).await;
    assert!(
        wrong.is_empty(),
        "the webhook decided cases wrongly: {wrong:#?}"
    );

    // Phase 4: the certificate was renewed (15 s lifetime, renewed with 5 s left) and the first
    // one has expired; the webhook still answers (failurePolicy Fail would refuse otherwise).
    wait_for("a renewed certificate", Duration::from_secs(30), || async {
        secrets.get(SECRET).await.is_ok_and(|s| {
            s.data.as_ref().and_then(|d| d.get("tls.crt")) != Some(&first_certificate)
        })
    })
    .await;
    let expired = Duration::from_secs(16).saturating_sub(certificate_made.elapsed());
    tokio::time::sleep(expired).await;
    wait_for(
        "the caBundle to follow the renewal",
        Duration::from_secs(30),
        || async {
            let (Ok(secret), Ok(configuration)) = (
                secrets.get(SECRET).await,
                configurations.get(CONFIGURATION).await,
            ) else {
                return false;
            };
            configuration.webhooks.unwrap_or_default()[0]
                .client_config
                .ca_bundle
                .as_ref()
                .map(|b| b.0.clone())
                == ca_of(&secret)
        },
    )
    .await;
    for _ in 0..5 {
        let admitted = deployments
            .create(&dry_run(), &probe)
            .await
            .expect("the webhook answers with its renewed certificate");
        assert!(paused(&admitted) && marked(&admitted), "held after renewal");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        operator
            .log_text()
            .contains("renewed the serving certificate"),
        "the operator's log does not show a renewal"
    );
    operator.assert_no_forbidden();

    // Phase 5: the operator leads (the other holder's Lease is gone) and releases what the
    // webhook holds. An image update to a failing template never gets a ReplicaSet, watched
    // from before the update; once the gate is fixed the rollout completes.
    leases
        .delete("gonogo-controller", &Default::default())
        .await
        .expect("delete the other holder's Lease");
    // A standby waits out the lease it last saw (an hour here): start afresh instead.
    operator.restart().await;
    wait_for("the operator to lead", TIMEOUT, || async {
        operator.log_text().contains("became leader")
    })
    .await;
    drs.create(&pp, &readiness("app", "app"))
        .await
        .expect("create readiness app");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let created = deployments
        .create(&pp, &support::single_container_deployment("app", GOOD))
        .await
        .expect("create app");
    assert!(paused(&created) && marked(&created), "app held at creation");
    wait_for("app released and available", TIMEOUT, || async {
        deployments
            .get("app")
            .await
            .is_ok_and(|d| !paused(&d) && deployment_available(&d))
    })
    .await;
    let failing_replica_sets = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let (listed_tx, listed_rx) = tokio::sync::oneshot::channel();
        let mut listed_tx = Some(listed_tx);
        let seen = failing_replica_sets.clone();
        let mut events = watcher(ns.api::<ReplicaSet>(&client), watcher::Config::default()).boxed();
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = listed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(watcher::Event::Apply(rs) | watcher::Event::InitApply(rs)) => {
                        let image = rs
                            .spec
                            .as_ref()
                            .and_then(|s| s.template.as_ref())
                            .and_then(|t| t.spec.as_ref())
                            .and_then(|s| s.containers.first())
                            .and_then(|c| c.image.clone());
                        if image.as_deref() == Some(BAD) {
                            seen.lock().unwrap().push(rs.name_any());
                        }
                    }
                    _ => {}
                }
            }
        });
        tokio::time::timeout(TIMEOUT, listed_rx)
            .await
            .expect("ReplicaSet watch listed")
            .expect("ReplicaSet watch running");
    }
    let image = |image: &str| {
        Patch::Merge(
            serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}),
        )
    };
    let updated = deployments
        .patch("app", &PatchParams::default(), &image(BAD))
        .await
        .expect("update app to a failing image");
    assert!(
        paused(&updated) && marked(&updated),
        "the update to a failing template was admitted unheld"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        failing_replica_sets.lock().unwrap().is_empty(),
        "ReplicaSets of the failing template exist: {:?}",
        failing_replica_sets.lock().unwrap()
    );
    assert!(
        paused(&deployments.get("app").await.unwrap()),
        "gonogo released a failing template"
    );
    drs.patch(
        "app",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"items": [{"name": "image", "image": {"disallowLatest": false}}]}})),
    )
    .await
    .expect("fix the gate");
    wait_for("the fixed rollout to complete", TIMEOUT, || async {
        deployments.get("app").await.is_ok_and(|d| {
            !paused(&d)
                && deployment_available(&d)
                && d.spec
                    .as_ref()
                    .and_then(|s| s.template.spec.as_ref())
                    .and_then(|s| s.containers[0].image.as_deref())
                    == Some(BAD)
        })
    })
    .await;
    operator.assert_no_forbidden();

    // Phase 6: gonogo down. Fail: refused with the webhook's error.
    operator.stop(false);
    let refused = deployments
        .create(&dry_run(), &probe)
        .await
        .expect_err("with failurePolicy Fail and gonogo down, a create must be refused");
    let message = refused.to_string();
    assert!(
        message.contains("hold-rollouts.gonogo.dev"),
        "the refusal should name the webhook: {message}"
    );
    // Scaling never calls the webhook, even with gonogo down.
    deployments
        .patch(
            "c0",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 2}})),
        )
        .await
        .expect("a scale is not held nor refused");

    // Ignore: admitted unheld.
    configurations
        .patch(
            CONFIGURATION,
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(serde_json::json!([
                    {"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Ignore"}
                ]))
                .unwrap(),
            ),
        )
        .await
        .expect("set failurePolicy Ignore");
    wait_for(
        "the API server to ignore the failing webhook",
        Duration::from_secs(30),
        || async {
            deployments
                .create(&dry_run(), &probe)
                .await
                .is_ok_and(|d| !paused(&d))
        },
    )
    .await;
}
