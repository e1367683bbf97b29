//! Every new pod template is held before any pod of it starts, on the real control plane: the
//! shipped MutatingAdmissionPolicy (`deploy/admission/hold-rollouts.yaml`) pauses the Deployment
//! in the very request that changes its template, and `gonogo run` (as the chart's
//! ServiceAccount) releases it once the required PreRollout gates pass. A watch on ReplicaSets,
//! started before the first update, proves that no ReplicaSet of a failing template ever
//! exists.

mod hold_cases;
mod operator;
mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use gonogo::api::DeploymentReadiness;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use operator::{Operator, install};
use serde_json::json;
use support::{TIMEOUT, TestNamespace, cluster, deployment_available, from_yaml, wait_until};

const GOOD: &str = "registry.k8s.io/pause:3.10";
/// The API server reads the policy's params (DeploymentReadiness objects) from an informer: a
/// new one is seen within moments, not within the same millisecond.
const PARAMS_SETTLE: Duration = Duration::from_millis(500);
/// Fails the `image` gate (`disallowLatest`).
const BAD: &str = "registry.k8s.io/pause:latest";
use hold_cases::{marked, paused};

fn deployment(name: &str, replicas: i32) -> Deployment {
    from_yaml(&format!(
        r#"
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - {{name: app, image: "{GOOD}"}}
"#
    ))
}

/// A DeploymentReadiness whose one required PreRollout gate refuses `latest` images.
fn readiness(name: &str, target: &str) -> DeploymentReadiness {
    from_yaml(&format!(
        "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: {name}}}\nspec:\n  targetRef: {{name: {target}}}\n  items: [{{name: image, image: {{disallowLatest: true}}}}]\n"
    ))
}

fn image_of(d: &Deployment) -> Option<String> {
    d.spec.as_ref()?.template.spec.as_ref()?.containers[0]
        .image
        .clone()
}

fn ready(dr: &DeploymentReadiness) -> Option<bool> {
    let status = dr.status.as_ref()?;
    if status.observed_generation != dr.metadata.generation {
        return None;
    }
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status == "True")
}

/// Every ReplicaSet the namespace ever had, with the most replicas it was ever asked for or
/// reported, by (name, image).
#[derive(Clone, Default)]
struct ReplicaSetLog(Arc<Mutex<BTreeMap<(String, String), i32>>>);

impl ReplicaSetLog {
    /// Starts watching; returns once the initial list is in, so nothing after it is missed.
    async fn start(api: Api<ReplicaSet>) -> ReplicaSetLog {
        let log = ReplicaSetLog::default();
        let (listed_tx, listed_rx) = tokio::sync::oneshot::channel();
        let mut listed_tx = Some(listed_tx);
        let seen = log.clone();
        tokio::spawn(async move {
            let mut events = watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = listed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(watcher::Event::Apply(rs) | watcher::Event::InitApply(rs)) => {
                        seen.record(&rs)
                    }
                    _ => {}
                }
            }
        });
        tokio::time::timeout(TIMEOUT, listed_rx)
            .await
            .expect("ReplicaSet watch listed")
            .expect("ReplicaSet watch running");
        log
    }

    fn record(&self, rs: &ReplicaSet) {
        let image = rs
            .spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .and_then(|t| t.spec.as_ref())
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        let replicas = rs
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(0)
            .max(rs.status.as_ref().map(|s| s.replicas).unwrap_or(0));
        let mut log = self.0.lock().unwrap();
        let entry = log.entry((rs.name_any(), image)).or_insert(0);
        *entry = (*entry).max(replicas);
    }

    /// ReplicaSets of a failing template, whatever their size: none may ever exist.
    fn of_image(&self, image: &str) -> Vec<(String, i32)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|((_, i), _)| i == image)
            .map(|((name, _), replicas)| (name.clone(), *replicas))
            .collect()
    }
}

async fn setup(prefix: &str) -> (Client, TestNamespace, Operator) {
    let cluster = cluster();
    install(cluster).await;
    let client = cluster.client().await;
    let ns = TestNamespace::new(&client, prefix).await;
    let operator = Operator::start(cluster, prefix, &["--namespace", &ns.name]).await;
    (client, ns, operator)
}

/// A strategic-merge patch as a user's kubectl sends it; returns the object as admitted.
async fn patch(api: &Api<Deployment>, name: &str, body: serde_json::Value) -> Deployment {
    api.patch(name, &PatchParams::default(), &Patch::Strategic(body))
        .await
        .unwrap_or_else(|e| panic!("patch {name}: {e}"))
}

fn set_image(image: &str, version: usize) -> serde_json::Value {
    json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": image, "env": [{"name": "VERSION", "value": version.to_string()}]}
    ]}}}})
}

/// A running Deployment whose DeploymentReadiness passes.
async fn running(client: &Client, ns: &TestNamespace, name: &str) {
    let drs: Api<DeploymentReadiness> = ns.api(client);
    let deployments: Api<Deployment> = ns.api(client);
    let pp = PostParams::default();
    drs.create(&pp, &readiness(name, name)).await.unwrap();
    deployments.create(&pp, &deployment(name, 2)).await.unwrap();
    wait_until(&drs, name, "to be Ready", TIMEOUT, |d| {
        ready(d) == Some(true)
    })
    .await;
    wait_until(
        &deployments,
        name,
        "to be released and Available",
        Duration::from_secs(120),
        |d| !paused(d) && deployment_available(d),
    )
    .await;
}

#[tokio::test]
async fn an_update_that_fails_a_gate_never_gets_a_replica_set() {
    let (client, ns, operator) = setup("hold-update").await;
    let deployments: Api<Deployment> = ns.api(&client);
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    running(&client, &ns, "api").await;
    let replica_sets = ReplicaSetLog::start(ns.api(&client)).await;

    // The user's update comes back from the API server already paused, with gonogo's mark.
    let admitted = patch(&deployments, "api", set_image(BAD, 1)).await;
    assert!(
        paused(&admitted) && marked(&admitted),
        "the update was not held at admission: {:?}",
        admitted.annotations()
    );
    let dr = wait_until(&drs, "api", "to block on the latest image", TIMEOUT, |d| {
        ready(d) == Some(false) && d.status.as_ref().is_some_and(|s| s.blocking)
    })
    .await;
    let gate = &dr.status.as_ref().unwrap().gates[0];
    assert!(gate.message.contains("latest"), "{}", gate.message);
    let d = wait_until(
        &deployments,
        "api",
        "to name the failing gate",
        TIMEOUT,
        |d| {
            d.annotations()
                .get("gonogo.dev/failing")
                .is_some_and(|f| f == "api/image")
        },
    )
    .await;
    assert!(paused(&d), "gonogo released a failing template");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        replica_sets.of_image(BAD),
        vec![],
        "a ReplicaSet of the failing template exists"
    );
    let describe = cluster()
        .kubectl(&["describe", "deployment", "api", "-n", &ns.name])
        .await;
    assert!(describe.contains("RolloutBlocked"), "{describe}");

    // Fixing the gate (a tagged image) is a new template: held, judged, released, rolled out.
    patch(
        &deployments,
        "api",
        set_image("registry.k8s.io/pause:3.9", 2),
    )
    .await;
    let d = wait_until(
        &deployments,
        "api",
        "to roll out the fixed template",
        Duration::from_secs(120),
        |d| {
            !paused(d)
                && deployment_available(d)
                && d.status.as_ref().and_then(|s| s.updated_replicas) == Some(2)
                && d.status.as_ref().and_then(|s| s.observed_generation) == d.metadata.generation
        },
    )
    .await;
    assert!(
        !d.annotations().keys().any(|k| k.starts_with("gonogo.dev/")),
        "a passing Deployment carries nothing of gonogo's: {:?}",
        d.annotations()
    );
    assert_eq!(replica_sets.of_image(BAD), vec![]);
    assert_eq!(
        replica_sets.of_image("registry.k8s.io/pause:3.9").len(),
        1,
        "the fixed template rolled out"
    );
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn scaling_and_metadata_changes_are_not_held_a_restart_is_judged() {
    let (client, ns, operator) = setup("hold-scope").await;
    let deployments: Api<Deployment> = ns.api(&client);
    running(&client, &ns, "api").await;

    let scaled = patch(&deployments, "api", json!({"spec": {"replicas": 3}})).await;
    assert!(!paused(&scaled), "kubectl scale was held");
    let labelled = patch(
        &deployments,
        "api",
        json!({"metadata": {"labels": {"team": "payments"}, "annotations": {"note": "x"}}}),
    )
    .await;
    assert!(!paused(&labelled), "a label change was held");

    // `kubectl rollout restart` sends exactly this patch: a new template, held in the very
    // request, judged (it passes) and released.
    let restarted = patch(
        &deployments,
        "api",
        json!({"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": "2026-11-30T06:00:00Z"
        }}}}}),
    )
    .await;
    assert!(
        paused(&restarted) && marked(&restarted),
        "a restart was not held"
    );
    wait_until(
        &deployments,
        "api",
        "to roll the restart out",
        Duration::from_secs(120),
        |d| {
            !paused(d)
                && deployment_available(d)
                && d.status.as_ref().and_then(|s| s.updated_replicas) == Some(3)
                && d.status.as_ref().and_then(|s| s.observed_generation) == d.metadata.generation
        },
    )
    .await;
    // And the real command: the same held-then-released rollout.
    cluster()
        .kubectl(&["rollout", "restart", "deployment/api", "-n", &ns.name])
        .await;
    cluster()
        .kubectl(&[
            "rollout",
            "status",
            "deployment/api",
            "-n",
            &ns.name,
            "--timeout=120s",
        ])
        .await;
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn a_person_s_pause_stays_theirs_and_break_glass_is_not_re_paused() {
    let (client, ns, operator) = setup("hold-person").await;
    let deployments: Api<Deployment> = ns.api(&client);
    running(&client, &ns, "api").await;
    let replica_sets = ReplicaSetLog::start(ns.api(&client)).await;
    let kubectl = |args: &'static [&'static str]| {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["-n".to_string(), ns.name.clone()]);
        async move {
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            cluster().kubectl(&refs).await
        }
    };

    // A person pauses, then changes the image: their pause, not gonogo's.
    kubectl(&["rollout", "pause", "deployment/api"]).await;
    let admitted = patch(&deployments, "api", set_image(BAD, 1)).await;
    assert!(
        paused(&admitted) && !marked(&admitted),
        "gonogo took over a person's pause: paused={} annotations={:?}",
        paused(&admitted),
        admitted.annotations()
    );
    wait_until(
        &deployments,
        "api",
        "to name the failing gate",
        TIMEOUT,
        |d| d.annotations().contains_key("gonogo.dev/failing"),
    )
    .await;
    assert!(!marked(&deployments.get("api").await.unwrap()));

    // Their resume lifts their pause; the failing template is then held by gonogo.
    kubectl(&["rollout", "resume", "deployment/api"]).await;
    let d = deployments.get("api").await.unwrap();
    assert!(
        paused(&d) && marked(&d),
        "a resumed failing template was not held: {:?}",
        d.annotations()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(replica_sets.of_image(BAD), vec![]);

    // Break-glass: resuming gonogo's own pause by hand overrides the gates for this template.
    kubectl(&["rollout", "resume", "deployment/api"]).await;
    let d = wait_until(
        &deployments,
        "api",
        "to record the break-glass",
        TIMEOUT,
        // Recorded in two writes (the mark is taken over, then dropped): wait for the second.
        |d| d.annotations().contains_key("gonogo.dev/break-glass") && !marked(d),
    )
    .await;
    assert!(!paused(&d));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !paused(&deployments.get("api").await.unwrap()),
        "gonogo re-paused a template a person released by hand"
    );
    let describe = cluster()
        .kubectl(&["describe", "deployment", "api", "-n", &ns.name])
        .await;
    assert!(describe.contains("RolloutResumedByHand"), "{describe}");

    // The next template is held again.
    let admitted = patch(&deployments, "api", set_image(BAD, 2)).await;
    assert!(
        paused(&admitted) && marked(&admitted),
        "the next template was not held"
    );
    wait_until(
        &deployments,
        "api",
        "to drop the break-glass record",
        TIMEOUT,
        |d| !d.annotations().contains_key("gonogo.dev/break-glass") && paused(d),
    )
    .await;
    assert_eq!(image_of(&admitted).as_deref(), Some(BAD));
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn a_refused_cross_namespace_target_acts_on_nothing() {
    let (client, ns, operator) = setup("hold-xns").await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let deployments: Api<Deployment> = ns.api(&client);
    let pp = PostParams::default();
    let mut dr = readiness("web", "web");
    dr.spec.target_ref.namespace = Some("team-b".into());
    drs.create(&pp, &dr).await.unwrap();
    let mut web = deployment("web", 1);
    web.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .image = Some(BAD.into());
    let created = deployments.create(&pp, &web).await.unwrap();
    assert!(
        !paused(&created),
        "the admission policy held another namespace's target"
    );
    wait_until(
        &drs,
        "web",
        "to report the refused reference",
        TIMEOUT,
        |d| {
            d.status.as_ref().is_some_and(|s| {
                s.conditions.iter().any(|c| {
                    c.message.contains("CrossNamespaceReference")
                        || c.reason == "CrossNamespaceReference"
                })
            })
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let d = deployments.get("web").await.unwrap();
    assert!(!paused(&d), "gonogo paused a Deployment it does not target");
    assert!(
        !d.annotations().keys().any(|k| k.starts_with("gonogo.dev/")),
        "{:?}",
        d.annotations()
    );
    operator.assert_no_forbidden();
}

/// 100 updates in a row on 20 Deployments, sent as fast as the API server takes them,
/// alternating failing and passing templates: no ReplicaSet of a failing template ever exists,
/// and every Deployment ends on its last (passing) template.
#[tokio::test]
async fn a_hundred_updates_in_a_row_none_slips_through() {
    let (client, ns, operator) = setup("hold-many").await;
    let deployments: Api<Deployment> = ns.api(&client);
    let names: Vec<String> = (0..20).map(|i| format!("app-{i}")).collect();
    let setups = names.iter().map(|name| running(&client, &ns, name));
    futures::future::join_all(setups).await;
    let replica_sets = ReplicaSetLog::start(ns.api(&client)).await;

    // bad, good, bad, bad, good: each template distinct (VERSION), the last one passing.
    let plan = [BAD, GOOD, BAD, BAD, GOOD];
    let updates = names.iter().map(|name| {
        let deployments = deployments.clone();
        async move {
            for (version, image) in plan.iter().enumerate() {
                let admitted = patch(&deployments, name, set_image(image, version + 1)).await;
                assert!(paused(&admitted), "{name}: update {version} was not held");
            }
        }
    });
    futures::future::join_all(updates).await;
    for name in &names {
        wait_until(
            &deployments,
            name,
            "to roll out its last template",
            Duration::from_secs(180),
            |d| {
                !paused(d)
                    && deployment_available(d)
                    && d.status.as_ref().and_then(|s| s.updated_replicas) == Some(2)
                    && d.status.as_ref().and_then(|s| s.observed_generation)
                        == d.metadata.generation
            },
        )
        .await;
    }
    assert_eq!(
        replica_sets.of_image(BAD),
        vec![],
        "a failing template got a ReplicaSet"
    );
    operator.assert_no_forbidden();
}

/// The shipped policy decides every case of the table the Rust decision is tested on
/// (`tests/fixtures/hold/cases.yaml`): admission alone, no operator running.
#[tokio::test]
async fn the_admission_policy_decides_every_case_of_the_table() {
    let cluster = cluster();
    install(cluster).await;
    let client = cluster.client().await;
    let ns = TestNamespace::new(&client, "hold-table").await;
    let deployments: Api<Deployment> = ns.api(&client);
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let wrong = hold_cases::wrongly_decided(&deployments, &drs, &ns.name, PARAMS_SETTLE).await;
    assert!(
        wrong.is_empty(),
        "the policy decided cases wrongly: {wrong:#?}"
    );
}
