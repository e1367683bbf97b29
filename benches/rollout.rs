//! A passing update's cost in latency, on the real control plane (tests/cluster): every new pod
//! template is held at admission (deploy/admission/hold-rollouts.yaml) and released by
//! `gonogo run` (as the chart's ServiceAccount) once its required PreRollout gates pass. This
//! measures, per update, the time from the API server accepting the new template (already
//! paused) to gonogo's release being visible through a watch.
//!
//!     GONOGO_CLUSTER_BIN=$(tests/cluster/build.sh) cargo bench --bench rollout
//!
//! GONOGO_BENCH_UPDATES sets the number of updates (default 50; 5 under `cargo test`). They are
//! sequential, one Deployment, 200 ms apart, with a DeploymentReadiness of four PreRollout gates.

#[path = "../tests/operator/mod.rs"]
mod operator;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use gonogo::api::DeploymentReadiness;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use support::{
    TIMEOUT, TestNamespace, cluster, from_yaml, single_container_deployment, wait_until,
};

fn paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(updates: usize) {
    let cluster = cluster();
    operator::install(cluster).await;
    let client = cluster.client().await;
    let ns = TestNamespace::new(&client, "bench-rollout").await;
    let operator =
        operator::Operator::start(cluster, "bench-rollout", &["--namespace", &ns.name]).await;
    let deployments: Api<Deployment> = ns.api(&client);
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let pp = PostParams::default();
    let readiness: DeploymentReadiness = from_yaml(
        "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {name: api}\nspec:\n  targetRef: {name: api}\n  items:\n  - {name: image, image: {disallowLatest: true}}\n  - {name: resources, resources: {requests: [cpu], limits: [memory]}}\n  - {name: secrets, secrets: {}}\n  - {name: config-maps, configMaps: {}}\n",
    );
    drs.create(&pp, &readiness)
        .await
        .expect("create DeploymentReadiness");
    let mut api = single_container_deployment("api", "registry.k8s.io/pause:3.10");
    let container = &mut api
        .spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0];
    container.resources = Some(from_yaml("{requests: {cpu: 10m}, limits: {memory: 32Mi}}"));
    deployments
        .create(&pp, &api)
        .await
        .expect("create Deployment");
    wait_until(&deployments, "api", "to be released", TIMEOUT, |d| {
        !paused(d)
    })
    .await;

    // Releases seen through a watch, as a rollout tool would see them.
    let (released_tx, mut released_rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = watcher(
        deployments.clone(),
        watcher::Config::default().fields("metadata.name=api"),
    );
    let watching = tokio::spawn(async move {
        let mut events = watch.applied_objects().boxed();
        while let Some(Ok(d)) = events.next().await {
            if !paused(&d) {
                let _ = released_tx.send((d.metadata.generation, Instant::now()));
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    while released_rx.try_recv().is_ok() {}

    let mut latencies = Vec::with_capacity(updates);
    for i in 0..updates {
        let body = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "api", "env": [{"name": "VERSION", "value": i.to_string()}]}
        ]}}}});
        let sent = Instant::now();
        let admitted = deployments
            .patch("api", &PatchParams::default(), &Patch::Strategic(body))
            .await
            .expect("update");
        assert!(paused(&admitted), "update {i} was not held at admission");
        let held_generation = admitted.metadata.generation.unwrap_or(0);
        let released = loop {
            let (generation, at) = tokio::time::timeout(TIMEOUT, released_rx.recv())
                .await
                .expect("released within the timeout")
                .expect("watch running");
            if generation.unwrap_or(0) > held_generation {
                break at;
            }
        };
        latencies.push(released - sent);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    watching.abort();
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "update -> released (held at admission, judged, unpaused, seen by a watch), {} updates: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (target p99 < 300 ms)",
        latencies.len(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().expect("at least one update")),
    );
    operator.assert_no_forbidden();
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` this is a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let updates = std::env::var("GONOGO_BENCH_UPDATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 50 } else { 5 });
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(run(updates));
}
