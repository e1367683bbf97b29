//! The operator's memory with a namespace of large Secrets, on the real control plane (needs the
//! Go-built control plane: run it through `tests/run.sh`): 500 Opaque Secrets of 400 KiB each
//! (200 MiB of values; Helm release records, the usual bulk, are not even listed) are listed and
//! watched with the operator's peak resident memory under the chart's 256 Mi limit.

mod operator;
mod support;

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use operator::{Operator, install};
use support::{TestNamespace, cluster};

const SECRETS: usize = 500;
const SIZE: usize = 400 * 1024;
/// The chart's `resources.limits.memory`.
const LIMIT_MIB: u64 = 256;

/// The peak resident memory of a process (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[tokio::test]
async fn five_hundred_large_secrets_fit_the_charts_memory_limit() {
    let cluster = cluster();
    install(cluster).await;
    let client = cluster.client().await;
    let ns = TestNamespace::new(&client, "secret-memory").await;
    let secrets: Api<Secret> = ns.api(&client);
    let started = std::time::Instant::now();
    futures::stream::iter(0..SECRETS)
        .map(|i| {
            let secrets = secrets.clone();
            async move {
                // Incompressible-looking bytes, different per Secret.
                let value: Vec<u8> = (0..SIZE)
                    .map(|j| (j.wrapping_mul(2_654_435_761) ^ i) as u8)
                    .collect();
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some(format!("big-{i}")),
                        ..Default::default()
                    },
                    data: Some(BTreeMap::from([("blob".to_string(), ByteString(value))])),
                    ..Default::default()
                };
                secrets
                    .create(&PostParams::default(), &secret)
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    eprintln!(
        "{SECRETS} Secrets of {} KiB created in {:?}",
        SIZE / 1024,
        started.elapsed()
    );

    // Ready means every store holds its initial list, the Secrets' included.
    let operator = Operator::start(cluster, "secret-memory", &["--namespace", &ns.name]).await;
    let pid = operator.pid().expect("running");
    let peak = peak_rss_kib(pid);
    eprintln!(
        "peak RSS after listing {SECRETS} x {} KiB Secrets: {} MiB (limit {LIMIT_MIB} MiB)",
        SIZE / 1024,
        peak / 1024
    );
    assert!(
        peak / 1024 < LIMIT_MIB,
        "peak RSS {} MiB over the chart's {LIMIT_MIB} Mi limit",
        peak / 1024
    );
    operator.assert_no_forbidden();
}
