//! The controller end to end, on the real control plane: `gonogo run` as the chart's
//! ServiceAccount, real Deployments whose pods become Ready through kwok.

mod operator;
mod support;

use std::time::{Duration, Instant};

use gonogo::api::DeploymentReadiness;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, ResourceExt};
use operator::{Operator, install};
use support::{
    TIMEOUT, TestNamespace, api_keys, cluster, condition, deployment_available, ready_is,
    wait_until,
};

fn from_yaml<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
    serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("test YAML: {e}\n{yaml}"))
}

fn deployment(name: &str, replicas: i32, paused: bool) -> Deployment {
    from_yaml(&format!(
        r#"
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  replicas: {replicas}
  paused: {paused}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: api
        image: registry.k8s.io/pause:3.10
        env:
        - name: OPENAI_API_KEY
          valueFrom: {{secretKeyRef: {{name: api-keys, key: OPENAI_API_KEY}}}}
"#
    ))
}

fn readiness(name: &str, target: &str, enforcement: &str, items: &str) -> DeploymentReadiness {
    from_yaml(&format!(
        "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: {name}}}\nspec:\n  targetRef: {{name: {target}}}\n  enforcement: {enforcement}\n  items: {items}\n"
    ))
}

fn paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

async fn setup(prefix: &str) -> (Client, TestNamespace, Operator) {
    let cluster = cluster();
    install(cluster).await;
    let client = cluster.client().await;
    let ns = TestNamespace::new(&client, prefix).await;
    let operator = Operator::start(cluster, prefix, &["--namespace", &ns.name]).await;
    (client, ns, operator)
}

#[tokio::test]
async fn missing_secret_blocks_the_rollout_until_it_exists() {
    let (client, ns, operator) = setup("block").await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let deployments: Api<Deployment> = ns.api(&client);
    let replica_sets: Api<ReplicaSet> = ns.api(&client);
    let pp = PostParams::default();

    // The readiness object exists first (as a Helm pre-install hook would create it).
    drs.create(
        &pp,
        &readiness(
            "api",
            "api",
            "Block",
            "[{name: secrets, secrets: {}}, {name: ready, readyReplicas: {}}]",
        ),
    )
    .await
    .unwrap();
    wait_until(&drs, "api", "to report its target missing", TIMEOUT, |d| {
        condition(d, "Ready").is_some_and(|(_, reason, _)| reason == "TargetNotFound")
    })
    .await;
    deployments
        .create(&pp, &deployment("api", 2, false))
        .await
        .unwrap();

    let dr = wait_until(&drs, "api", "to fail on the missing Secret", TIMEOUT, |d| {
        ready_is(d, "False") && d.status.as_ref().is_some_and(|s| s.blocking)
    })
    .await;
    let gate = dr
        .status
        .as_ref()
        .unwrap()
        .gates
        .iter()
        .find(|g| g.name == "secrets")
        .unwrap();
    assert!(
        gate.message.contains("Secret api-keys"),
        "gate message: {}",
        gate.message
    );
    let d = wait_until(&deployments, "api", "to be paused", TIMEOUT, paused).await;
    assert_eq!(
        d.annotations()
            .get("gonogo.dev/blocked")
            .map(String::as_str),
        Some("true")
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rs = replica_sets.list(&ListParams::default()).await.unwrap();
    assert!(
        rs.items.is_empty(),
        "no ReplicaSet may exist while blocked: {:?}",
        rs.items.iter().map(|r| r.name_any()).collect::<Vec<_>>()
    );

    let cluster = cluster();
    let describe_deployment = cluster
        .kubectl(&["describe", "deployment", "api", "-n", &ns.name])
        .await;
    assert!(
        describe_deployment.contains("RolloutBlocked"),
        "{describe_deployment}"
    );
    assert!(
        describe_deployment.contains("Secret api-keys"),
        "{describe_deployment}"
    );
    let describe_dr = cluster
        .kubectl(&["describe", "deploymentreadiness", "api", "-n", &ns.name])
        .await;
    assert!(describe_dr.contains("Secret api-keys"), "{describe_dr}");
    assert!(describe_dr.contains("GateFailed"), "{describe_dr}");

    // Create the Secret: unpaused within 2 s.
    let secrets: Api<Secret> = ns.api(&client);
    let created = Instant::now();
    secrets.create(&pp, &api_keys()).await.unwrap();
    wait_until(
        &deployments,
        "api",
        "to be unpaused",
        Duration::from_secs(10),
        |d| !paused(d),
    )
    .await;
    let unpause = created.elapsed();
    assert!(
        unpause < Duration::from_secs(2),
        "unpaused after {unpause:?}"
    );

    wait_until(
        &deployments,
        "api",
        "to become Available through kwok",
        Duration::from_secs(120),
        deployment_available,
    )
    .await;
    wait_until(&drs, "api", "to become Ready", TIMEOUT, |d| {
        ready_is(d, "True")
    })
    .await;
    let kstatus = cluster
        .kstatus(&ns.name, "deploymentreadiness", "api")
        .await;
    assert_eq!(kstatus.status, "Current", "kstatus: {kstatus:?}");
    cluster
        .kubectl(&[
            "wait",
            "--for=condition=Ready",
            "deploymentreadiness/api",
            "-n",
            &ns.name,
            "--timeout=30s",
        ])
        .await;
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn annotate_mode_reports_but_never_changes_the_spec() {
    let (client, ns, operator) = setup("annotate").await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let deployments: Api<Deployment> = ns.api(&client);
    let pp = PostParams::default();
    drs.create(
        &pp,
        &readiness("api", "api", "Annotate", "[{name: secrets, secrets: {}}]"),
    )
    .await
    .unwrap();
    deployments
        .create(&pp, &deployment("api", 1, false))
        .await
        .unwrap();
    let d = wait_until(
        &deployments,
        "api",
        "to be annotated with the failing gate",
        TIMEOUT,
        |d| {
            d.annotations()
                .get("gonogo.dev/failing")
                .is_some_and(|f| f.contains("api/secrets"))
        },
    )
    .await;
    assert!(!paused(&d));
    assert_eq!(
        d.annotations().get("gonogo.dev/blocked"),
        None,
        "nothing is held in Annotate mode"
    );
    let dr = wait_until(&drs, "api", "to be not Ready", TIMEOUT, |d| {
        ready_is(d, "False")
    })
    .await;
    assert!(!dr.status.unwrap().blocking);
    // gonogo owns annotations only: no spec field in its managed fields.
    let full = deployments.get("api").await.unwrap();
    for entry in full
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| m.manager.as_deref() == Some("gonogo"))
    {
        let fields = serde_json::to_string(&entry.fields_v1).unwrap();
        assert!(
            !fields.contains("f:spec"),
            "gonogo owns spec fields in Annotate mode: {fields}"
        );
    }
    wait_until(
        &deployments,
        "api",
        "to become Available",
        Duration::from_secs(120),
        deployment_available,
    )
    .await;
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn a_person_paused_deployment_stays_paused() {
    let (client, ns, operator) = setup("person").await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let deployments: Api<Deployment> = ns.api(&client);
    let pp = PostParams::default();
    ns.api::<Secret>(&client)
        .create(&pp, &api_keys())
        .await
        .unwrap();
    deployments
        .create(&pp, &deployment("api", 1, true))
        .await
        .unwrap();
    drs.create(
        &pp,
        &readiness("api", "api", "Block", "[{name: secrets, secrets: {}}]"),
    )
    .await
    .unwrap();
    wait_until(&drs, "api", "to become Ready", TIMEOUT, |d| {
        ready_is(d, "True")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let d = deployments.get("api").await.unwrap();
    assert!(paused(&d), "gonogo unpaused a Deployment a person paused");
    assert!(
        !d.annotations().keys().any(|k| k.starts_with("gonogo.dev/")),
        "a passing Deployment carries nothing of gonogo's: {:?}",
        d.annotations()
    );
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn deleting_a_blocking_readiness_unpauses() {
    let (client, ns, operator) = setup("delete").await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let deployments: Api<Deployment> = ns.api(&client);
    let pp = PostParams::default();
    deployments
        .create(&pp, &deployment("api", 1, false))
        .await
        .unwrap();
    drs.create(
        &pp,
        &readiness("api", "api", "Block", "[{name: secrets, secrets: {}}]"),
    )
    .await
    .unwrap();
    wait_until(&deployments, "api", "to be paused", TIMEOUT, paused).await;
    drs.delete("api", &Default::default()).await.unwrap();
    let d = wait_until(
        &deployments,
        "api",
        "to be unpaused after the readiness object is deleted",
        TIMEOUT,
        |d| !paused(d),
    )
    .await;
    assert!(
        !d.annotations().keys().any(|k| k.starts_with("gonogo.dev/")),
        "annotations left behind: {:?}",
        d.annotations()
    );
    support::eventually(
        "the readiness object to be gone (finalizer released)",
        TIMEOUT,
        || async {
            match drs.get_opt("api").await {
                Ok(None) => Ok(()),
                Ok(Some(d)) => Err(format!(
                    "still there, finalizers {:?}",
                    d.metadata.finalizers
                )),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await;
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn restarting_the_operator_mid_scenario_converges() {
    let (client, ns, mut operator) = setup("restart").await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let deployments: Api<Deployment> = ns.api(&client);
    let pp = PostParams::default();
    deployments
        .create(&pp, &deployment("api", 1, false))
        .await
        .unwrap();
    drs.create(
        &pp,
        &readiness("api", "api", "Block", "[{name: secrets, secrets: {}}]"),
    )
    .await
    .unwrap();
    wait_until(&deployments, "api", "to be paused", TIMEOUT, paused).await;
    operator.stop(true);
    ns.api::<Secret>(&client)
        .create(&pp, &api_keys())
        .await
        .unwrap();
    operator.restart().await;
    wait_until(
        &deployments,
        "api",
        "to be unpaused by the restarted operator",
        TIMEOUT,
        |d| !paused(d),
    )
    .await;
    wait_until(&drs, "api", "to become Ready", TIMEOUT, |d| {
        ready_is(d, "True")
    })
    .await;
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn a_post_rollout_gate_never_blocks_the_rollout_it_waits_for() {
    let (client, ns, operator) = setup("post").await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let deployments: Api<Deployment> = ns.api(&client);
    let pp = PostParams::default();
    ns.api::<Secret>(&client)
        .create(&pp, &api_keys())
        .await
        .unwrap();
    drs.create(
        &pp,
        &readiness(
            "api",
            "api",
            "Block",
            "[{name: ready, readyReplicas: {}}, {name: rollout, rollout: {}}]",
        ),
    )
    .await
    .unwrap();
    deployments
        .create(&pp, &deployment("api", 2, false))
        .await
        .unwrap();
    let dr = wait_until(&drs, "api", "to wait for ready replicas", TIMEOUT, |d| {
        d.status.is_some()
    })
    .await;
    assert!(
        !dr.status.unwrap().blocking,
        "a PostRollout gate must not block"
    );
    wait_until(
        &deployments,
        "api",
        "to become Available",
        Duration::from_secs(120),
        deployment_available,
    )
    .await;
    wait_until(
        &drs,
        "api",
        "to become Ready once the replicas are",
        TIMEOUT,
        |d| ready_is(d, "True"),
    )
    .await;
    assert!(!paused(&deployments.get("api").await.unwrap()));
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn cross_namespace_target_is_refused_with_a_condition() {
    let (client, ns, operator) = setup("xns").await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let dr: DeploymentReadiness = from_yaml(
        "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {name: other}\nspec:\n  targetRef: {name: api, namespace: kube-system}\n  items: [{name: probes, probes: {}}]\n",
    );
    drs.create(&PostParams::default(), &dr).await.unwrap();
    let dr = wait_until(
        &drs,
        "other",
        "to refuse the cross-namespace target",
        TIMEOUT,
        |d| condition(d, "Ready").is_some_and(|(_, reason, _)| reason == "CrossNamespaceReference"),
    )
    .await;
    let (_, _, message) = condition(&dr, "Ready").unwrap();
    assert!(message.contains("kube-system"), "{message}");
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn converged_state_causes_zero_writes() {
    let (client, ns, operator) = setup("steady").await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let deployments: Api<Deployment> = ns.api(&client);
    let pp = PostParams::default();
    ns.api::<Secret>(&client)
        .create(&pp, &api_keys())
        .await
        .unwrap();
    for name in ["a", "b"] {
        deployments
            .create(&pp, &deployment(name, 1, false))
            .await
            .unwrap();
    }
    drs.create(
        &pp,
        &readiness(
            "a",
            "a",
            "Block",
            "[{name: secrets, secrets: {}}, {name: ready, readyReplicas: {}}]",
        ),
    )
    .await
    .unwrap();
    drs.create(
        &pp,
        &readiness("b", "b", "Block", "[{name: probes, probes: {}}]"),
    )
    .await
    .unwrap();
    wait_until(
        &drs,
        "a",
        "to become Ready",
        Duration::from_secs(120),
        |d| ready_is(d, "True"),
    )
    .await;
    wait_until(&drs, "b", "to block on probes", TIMEOUT, |d| {
        ready_is(d, "False")
    })
    .await;
    wait_until(&deployments, "b", "to be paused", TIMEOUT, paused).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let status_writes = operator.metric("gonogo_status_writes_total");
    let deployment_writes = operator.metric("gonogo_deployment_writes_total");
    let versions: Vec<String> = drs
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|d| d.resource_version().unwrap())
        .collect();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        operator.metric("gonogo_status_writes_total"),
        status_writes,
        "status writes at steady state"
    );
    assert_eq!(
        operator.metric("gonogo_deployment_writes_total"),
        deployment_writes,
        "Deployment writes at steady state"
    );
    let after: Vec<String> = drs
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|d| d.resource_version().unwrap())
        .collect();
    assert_eq!(
        versions, after,
        "DeploymentReadiness objects changed at steady state"
    );
    eprintln!(
        "steady state: {status_writes} status writes and {deployment_writes} Deployment writes to converge, 0 in the next 60 s"
    );
    operator.assert_no_forbidden();
}

#[tokio::test]
async fn two_replicas_elect_one_writer_and_fail_over() {
    let cluster = cluster();
    install(cluster).await;
    let client = cluster.client().await;
    let ns = TestNamespace::new(&client, "leader").await;
    let lease = format!("gonogo-{}", ns.name);
    operator::grant_lease(cluster, &lease).await;
    let args = [
        "--namespace",
        ns.name.as_str(),
        "--leader-election",
        "--lease-name",
        lease.as_str(),
    ];
    let mut replicas = [
        Operator::start(cluster, "leader-a", &args).await,
        Operator::start(cluster, "leader-b", &args).await,
    ];
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let deployments: Api<Deployment> = ns.api(&client);
    let pp = PostParams::default();
    deployments
        .create(&pp, &deployment("api", 1, false))
        .await
        .unwrap();
    drs.create(
        &pp,
        &readiness("api", "api", "Block", "[{name: secrets, secrets: {}}]"),
    )
    .await
    .unwrap();
    wait_until(
        &deployments,
        "api",
        "to be paused by the leader",
        TIMEOUT,
        paused,
    )
    .await;

    let leading: Vec<bool> = replicas
        .iter()
        .map(|o| o.log_text().contains("became leader"))
        .collect();
    assert_eq!(
        leading.iter().filter(|l| **l).count(),
        1,
        "exactly one replica leads"
    );
    let leader = leading.iter().position(|l| *l).unwrap();
    assert!(replicas[leader].metric("gonogo_status_writes_total") >= 1.0);
    assert_eq!(
        replicas[1 - leader].metric("gonogo_status_writes_total"),
        0.0,
        "the standby must not write"
    );

    // The leader goes away (releasing its Lease); the standby takes over and acts on the next change.
    replicas[leader].stop(false);
    let new_leader = &replicas[1 - leader];
    ns.api::<Secret>(&client)
        .create(&pp, &api_keys())
        .await
        .unwrap();
    wait_until(
        &deployments,
        "api",
        "to be unpaused by the new leader",
        Duration::from_secs(60),
        |d| !paused(d),
    )
    .await;
    assert!(
        new_leader.log_text().contains("became leader"),
        "the standby never took over:\n{}",
        new_leader.log_text()
    );
    new_leader.assert_no_forbidden();
}

/// Several readiness objects on one Deployment (a documented setup) agree on one verdict and
/// write nothing once it is applied: not while they hold it, not once they release it.
#[tokio::test]
async fn three_readiness_objects_on_one_deployment_write_nothing_at_steady_state() {
    let (client, ns, operator) = setup("siblings").await;
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let deployments: Api<Deployment> = ns.api(&client);
    let pp = PostParams::default();
    for name in ["a", "b", "c"] {
        drs.create(
            &pp,
            &readiness(name, "api", "Block", "[{name: secrets, secrets: {}}]"),
        )
        .await
        .unwrap();
    }
    deployments
        .create(&pp, &deployment("api", 1, false))
        .await
        .unwrap();
    let held = wait_until(
        &deployments,
        "api",
        "to be held by all three",
        TIMEOUT,
        |d| {
            paused(d)
                && d.annotations()
                    .get("gonogo.dev/blocked-by")
                    .is_some_and(|b| b == "a,b,c")
        },
    )
    .await;
    assert_eq!(
        held.annotations()
            .get("gonogo.dev/failing")
            .map(String::as_str),
        Some("a/secrets,b/secrets,c/secrets")
    );
    let quiet = |what: &'static str| {
        let deployments = deployments.clone();
        let operator = &operator;
        async move {
            // Let the last evaluations settle, then watch for writes.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let before = deployments.get("api").await.unwrap();
            let writes = operator.metric("gonogo_deployment_writes_total");
            tokio::time::sleep(Duration::from_secs(20)).await;
            let after = deployments.get("api").await.unwrap();
            assert_eq!(
                operator.metric("gonogo_deployment_writes_total"),
                writes,
                "gonogo wrote the Deployment at steady state ({what})"
            );
            // Its status moves with the rollout; its generation only with spec or annotations.
            assert_eq!(
                (before.metadata.generation, before.metadata.annotations),
                (after.metadata.generation, after.metadata.annotations),
                "the Deployment changed at steady state ({what})"
            );
        }
    };
    quiet("held").await;

    ns.api::<Secret>(&client)
        .create(&pp, &api_keys())
        .await
        .unwrap();
    let released = wait_until(&deployments, "api", "to be released", TIMEOUT, |d| {
        !paused(d) && !d.annotations().contains_key("gonogo.dev/paused-by-gonogo")
    })
    .await;
    assert!(
        !released
            .annotations()
            .keys()
            .any(|k| k.starts_with("gonogo.dev/")),
        "{:?}",
        released.annotations()
    );
    quiet("released").await;
    operator.assert_no_forbidden();
}
