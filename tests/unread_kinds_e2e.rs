//! `gonogo run --read-secrets=false --read-config-maps=false` on the real control plane (needs
//! the Go-built control plane: run it through `tests/run.sh`), as the chart's ServiceAccount:
//! no Secret or ConfigMap is listed or watched, and the gates that need them are Unknown,
//! saying why (never judged on an empty list: a present Secret is not "missing"), while the
//! other gates of the same object are judged.

mod operator;
mod support;

use std::time::Duration;

use gonogo::api::{DeploymentReadiness, GateOutcome};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use operator::watched_namespace_with_api_and_args;
use support::{api_keys, from_yaml, wait_gates};

#[tokio::test]
async fn unread_secrets_and_config_maps_make_their_gates_unknown() {
    let w = watched_namespace_with_api_and_args(
        "unread-kinds",
        &["--read-secrets=false", "--read-config-maps=false"],
    )
    .await;
    let pp = PostParams::default();
    let secrets: Api<Secret> = w.ns.api(&w.client);
    secrets.create(&pp, &api_keys()).await.unwrap();
    let dr: DeploymentReadiness = from_yaml(
        r#"
apiVersion: gonogo.dev/v1alpha1
kind: DeploymentReadiness
metadata: {name: api}
spec:
  targetRef: {name: api}
  enforcement: Annotate
  items:
  - {name: keys, secrets: {required: [{name: api-keys, keys: [OPENAI_API_KEY]}]}}
  - {name: flags, configMaps: {required: [{name: flags}]}}
  - {name: listed, cel: {expression: "secrets.exists(s, s.metadata.name == 'api-keys')"}}
  - {name: replicas, cel: {expression: "workload.spec.replicas >= 1"}}
"#,
    );
    w.drs.create(&pp, &dr).await.unwrap();
    wait_gates(
        &w.drs,
        "api",
        Duration::from_secs(30),
        &[
            (
                "keys",
                GateOutcome::Unknown,
                "Secrets are not read (gonogo runs with --read-secrets=false, chart value readSecrets: false): whether api-keys exist is not known",
            ),
            (
                "flags",
                GateOutcome::Unknown,
                "ConfigMaps are not read (gonogo runs with --read-config-maps=false",
            ),
            (
                "listed",
                GateOutcome::Unknown,
                "the expression reads `secrets`, but Secrets are not read",
            ),
            ("replicas", GateOutcome::Pass, "is true"),
        ],
    )
    .await;
    let log = w.operator.log_text();
    let synced: Vec<&str> = log.lines().filter(|l| l.contains("store synced")).collect();
    assert!(
        synced.iter().any(|l| l.contains("Service")),
        "no related store synced:\n{log}"
    );
    assert!(
        !synced
            .iter()
            .any(|l| l.contains("Secret") || l.contains("ConfigMap")),
        "a Secret or ConfigMap store was started:\n{}",
        synced.join("\n")
    );
    w.operator.assert_no_forbidden();
}
