//! The controller at scale, against the real control plane (tests/cluster):
//! N Deployments (default 500), each with a DeploymentReadiness whose Secret is missing.
//! Prints: time to the first full evaluation from a cold start, p50/p99 latency from a Secret
//! being created to Ready=True and unpause, the operator's RSS, and writes at steady state.
//!
//!     GONOGO_CLUSTER_BIN=$(tests/cluster/build.sh) cargo bench --bench controller
//!     (GONOGO_BENCH_N=100 for a quicker run)

#[path = "../tests/support/mod.rs"]
mod support;
#[path = "../tests/operator/mod.rs"]
mod operator;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use gonogo::api::DeploymentReadiness;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::ResourceExt;

fn yaml<T: serde::de::DeserializeOwned>(s: &str) -> T {
    serde_yaml_ng::from_str(s).expect("bench YAML")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` this is a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("GONOGO_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(if full { 500 } else { 20 });
    let samples = n.min(100);
    let cluster = support::cluster();
    operator::install(cluster).await;
    let client = cluster.client().await;
    let ns = support::TestNamespace::new(&client, "bench").await;
    let deployments: Api<Deployment> = ns.api(&client);
    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let secrets: Api<Secret> = ns.api(&client);
    let pp = PostParams::default();

    eprintln!("creating {n} Deployments and DeploymentReadiness objects…");
    for i in 0..n {
        // Zero replicas: the benchmark measures gonogo, not kwok's pod lifecycle.
        let d: Deployment = yaml(&format!(
            "metadata: {{name: app-{i}}}\nspec:\n  replicas: 0\n  selector: {{matchLabels: {{app: app-{i}}}}}\n  template:\n    metadata: {{labels: {{app: app-{i}}}}}\n    spec:\n      containers:\n      - name: app\n        image: registry.k8s.io/pause:3.10\n        envFrom: [{{secretRef: {{name: secret-{i}}}}}]\n"
        ));
        deployments.create(&pp, &d).await.expect("create Deployment");
        let r: DeploymentReadiness = yaml(&format!(
            "apiVersion: gonogo.dev/v1alpha1\nkind: DeploymentReadiness\nmetadata: {{name: app-{i}}}\nspec:\n  targetRef: {{name: app-{i}}}\n  items: [{{name: secrets, secrets: {{}}}}, {{name: probes, probes: {{readiness: false, liveness: false}}}}]\n"
        ));
        drs.create(&pp, &r).await.expect("create DeploymentReadiness");
    }

    let start = Instant::now();
    let operator = operator::Operator::start(cluster, "bench", &["--namespace", &ns.name, "--concurrency", "16"]).await;
    let pid = operator.pid().expect("operator pid");
    loop {
        let list = drs.list(&ListParams::default()).await.expect("list");
        let evaluated = list.items.iter().filter(|d| d.status.as_ref().is_some_and(|s| s.observed_generation == d.metadata.generation)).count();
        if evaluated == n {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(600), "only {evaluated}/{n} evaluated after 10 minutes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_full = start.elapsed();
    loop {
        let paused = deployments.list(&ListParams::default()).await.expect("list").items.iter().filter(|d| d.spec.as_ref().and_then(|s| s.paused) == Some(true)).count();
        if paused == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_paused = start.elapsed();

    // Record when each DeploymentReadiness turns Ready and each Deployment is unpaused.
    let ready_at: Arc<Mutex<HashMap<String, Instant>>> = Default::default();
    let unpaused_at: Arc<Mutex<HashMap<String, Instant>>> = Default::default();
    {
        let ready_at = ready_at.clone();
        let drs = drs.clone();
        tokio::spawn(watcher(drs, watcher::Config::default()).applied_objects().for_each(move |d| {
            if let Ok(d) = d {
                let ready = d.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                if ready {
                    ready_at.lock().unwrap().entry(d.name_any()).or_insert_with(Instant::now);
                }
            }
            std::future::ready(())
        }));
        let unpaused_at = unpaused_at.clone();
        let deployments = deployments.clone();
        tokio::spawn(watcher(deployments, watcher::Config::default()).applied_objects().for_each(move |d| {
            if let Ok(d) = d {
                if d.spec.as_ref().and_then(|s| s.paused) != Some(true) {
                    unpaused_at.lock().unwrap().entry(d.name_any()).or_insert_with(Instant::now);
                }
            }
            std::future::ready(())
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut created = Vec::new();
    for i in 0..samples {
        let s: Secret = yaml(&format!("metadata: {{name: secret-{i}}}\nstringData: {{KEY: v}}\n"));
        created.push((format!("app-{i}"), Instant::now()));
        secrets.create(&pp, &s).await.expect("create Secret");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut latencies = Vec::new();
    for (name, at) in &created {
        loop {
            let r = ready_at.lock().unwrap().get(name).copied();
            let u = unpaused_at.lock().unwrap().get(name).copied();
            if let (Some(r), Some(u)) = (r, u) {
                latencies.push(r.max(u).duration_since(*at));
                break;
            }
            assert!(Instant::now() < deadline, "{name} not Ready and unpaused within 120 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    latencies.sort();

    tokio::time::sleep(Duration::from_secs(5)).await;
    let writes_before = operator.metric("gonogo_status_writes_total") + operator.metric("gonogo_deployment_writes_total");
    tokio::time::sleep(Duration::from_secs(if full { 30 } else { 5 })).await;
    let steady_writes = operator.metric("gonogo_status_writes_total") + operator.metric("gonogo_deployment_writes_total") - writes_before;
    let (rss, hwm) = rss_kib(pid);

    println!("controller: {n} Deployments with DeploymentReadiness objects, operator in namespace mode, concurrency 16");
    println!("controller: first full evaluation from cold start: {:.2} s (all {n} paused after {:.2} s)", first_full.as_secs_f64(), all_paused.as_secs_f64());
    println!(
        "controller: Secret created -> Ready=True and unpaused, {} samples: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (target p99 < 1000 ms)",
        latencies.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
    println!("controller: RSS {:.1} MiB, peak {:.1} MiB (target < 100 MiB)", rss as f64 / 1024.0, hwm as f64 / 1024.0);
    println!("controller: writes during {} s at steady state: {steady_writes} (target 0)", if full { 30 } else { 5 });
    assert_eq!(steady_writes, 0.0, "the controller writes at steady state");
    operator.assert_no_forbidden();
}
