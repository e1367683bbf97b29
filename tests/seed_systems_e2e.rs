//! A seed system on the real control plane: examples/knowledgebeast/healthy and the
//! `knowledgebeast` checklist applied as they are, `gonogo run` judging them against a real
//! Prometheus holding the system's metrics (tests/seed_metrics). The live gates a cluster of
//! fake nodes can show — `readyReplicas`, `rollout`, `pvcsBound`, `tlsCertificate` and every
//! `prometheus` gate — pass on the healthy system, then fail when the system turns unhealthy:
//! the certificate replaced by one expiring in 10 days, the metrics by the unhealthy ones.
//!
//! `http` gates need answers from the pods (kwok pods answer nothing): tests/seed_http_gates.rs
//! probes them against the seeds' documented answers; approvals need a person.

mod operator;
mod seed_metrics;
mod support;

use std::time::{Duration, Instant};

use gonogo::api::{DeploymentReadiness, GateOutcome};
use kube::api::Api;
use operator::{Operator, install};
use seed_metrics::{Server, healthy, unhealthy};
use support::{TestNamespace, cluster, repo_root};

use GateOutcome::{Fail, Pass, Unknown};

/// A self-signed certificate for `names`, valid from yesterday for `days` more days, and its
/// key (as tests/live_gates_e2e.rs makes them).
fn certificate(names: &[&str], days: i64) -> (String, String) {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let date = |d: jiff::civil::Date| {
        rcgen::date_time_ymd(i32::from(d.year()), d.month() as u8, d.day() as u8)
    };
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.not_before = date(today.yesterday().unwrap());
    params.not_after = date(today.checked_add(jiff::Span::new().days(days)).unwrap());
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0]);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn tls_secret(name: &str, days: i64) -> String {
    let (cert, key) = certificate(&["api.knowledgebeast.com"], days);
    let indent = |pem: &str| {
        pem.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}  tls.key: |\n{}",
        indent(&cert),
        indent(&key)
    )
}

/// The gate results of the readiness object, by name, once its status is of this generation.
async fn gates(drs: &Api<DeploymentReadiness>, name: &str) -> Vec<(String, GateOutcome, String)> {
    let Ok(dr) = drs.get(name).await else {
        return Vec::new();
    };
    let Some(status) = dr.status.as_ref() else {
        return Vec::new();
    };
    status
        .gates
        .iter()
        .map(|g| (g.name.clone(), g.result, g.message.clone()))
        .collect()
}

/// Waits until every `(gate, result)` holds at once; on timeout names those that do not.
async fn wait_for(
    drs: &Api<DeploymentReadiness>,
    name: &str,
    expected: &[(String, GateOutcome)],
    timeout: Duration,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let now = gates(drs, name).await;
        let unmet: Vec<String> = expected
            .iter()
            .filter_map(|(gate, want)| {
                let got = now.iter().find(|(n, _, _)| n == gate);
                match got {
                    Some((_, result, _)) if result == want => None,
                    Some((_, result, message)) => {
                        Some(format!("{gate}: {result:?} ({message}), want {want:?}"))
                    }
                    None => Some(format!("{gate}: not reported, want {want:?}")),
                }
            })
            .collect();
        if unmet.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "DeploymentReadiness {name}, after {timeout:?}:\n{}",
            unmet.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The `prometheus` items of the knowledgebeast checklist: (name, held `for` a duration).
fn prometheus_items() -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(repo_root().join("examples/checklists/knowledgebeast.yaml"))
        .unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    doc["spec"]["items"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|item| {
            let p = item.get("prometheus")?;
            Some((
                item["name"].as_str().unwrap().to_string(),
                p.get("for").is_some(),
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledgebeast_live_gates_pass_on_the_healthy_system_and_fail_on_the_unhealthy_one() {
    let (good, bad) = tokio::join!(Server::start("15d"), Server::start("7d"));
    let (good_series, bad_series) = (healthy(), unhealthy());
    tokio::join!(good.push(&good_series), bad.push(&bad_series));

    let cluster = cluster();
    install(cluster).await;
    let client = cluster.client().await;
    let ns = TestNamespace::new(&client, "seed-kb").await;
    let n = ns.name.as_str();
    // The healthy Prometheus first; the operator restarts on the unhealthy one below.
    let good_url = good.url();
    let mut operator = Operator::start(
        cluster,
        "seed-kb",
        &["--namespace", n, "--prometheus-url", &good_url],
    )
    .await;

    // A volume for the claim (the test cluster has no provisioner), the certificate
    // cert-manager would make, the checklist and the system as examples/ ship them.
    let volume = format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: {n}-data}}\nspec:\n  capacity: {{storage: 100Gi}}\n  accessModes: [ReadWriteMany]\n  hostPath: {{path: /tmp/{n}}}\n  claimRef: {{namespace: {n}, name: knowledgebeast-data}}\n"
    );
    cluster.kubectl_stdin(&["apply", "-f", "-"], &volume).await;
    cluster
        .kubectl_stdin(
            &["apply", "-n", n, "-f", "-"],
            &tls_secret("knowledgebeast-tls", 91),
        )
        .await;
    // The readiness object first, with `enforcement: Annotate`: its approvals stay missing, and
    // a hold would keep the Deployment from ever rolling out.
    let checklist = repo_root().join("examples/checklists/knowledgebeast.yaml");
    let system = repo_root().join("examples/knowledgebeast/healthy");
    let readiness = std::fs::read_to_string(system.join("readiness.yaml"))
        .unwrap()
        .replace(
            "  progressDeadlineSeconds: 900",
            "  enforcement: Annotate\n  progressDeadlineSeconds: 900",
        );
    assert!(readiness.contains("enforcement: Annotate"));
    cluster
        .kubectl(&["apply", "-n", n, "-f", checklist.to_str().unwrap()])
        .await;
    cluster
        .kubectl_stdin(&["apply", "-n", n, "-f", "-"], &readiness)
        .await;
    cluster
        .kubectl(&[
            "apply",
            "-n",
            n,
            "-f",
            system.join("green.yaml").to_str().unwrap(),
        ])
        .await;

    let drs: Api<DeploymentReadiness> = ns.api(&client);
    let dr = "knowledgebeast-green";
    let items = prometheus_items();
    assert!(items.len() >= 10, "{items:?}");
    let mut healthy_gates: Vec<(String, GateOutcome)> = [
        "rollout",
        "green-ready",
        "pvcs-bound",
        "tls-30-days",
        "probes",
        "resources",
        "secret-keys",
        "no-plain-secrets",
    ]
    .iter()
    .map(|g| (g.to_string(), Pass))
    .collect();
    // A gate held `for` 1h cannot pass within a test: it is Unknown while it holds.
    healthy_gates.extend(
        items
            .iter()
            .map(|(name, held)| (name.clone(), if *held { Unknown } else { Pass })),
    );
    wait_for(&drs, dr, &healthy_gates, Duration::from_secs(180)).await;

    // Unhealthy: a certificate with 10 days left, and the unhealthy system's metrics.
    cluster
        .kubectl_stdin(
            &["apply", "-n", n, "-f", "-"],
            &tls_secret("knowledgebeast-tls", 11),
        )
        .await;
    operator.stop(false);
    drop(operator);
    let bad_url = bad.url();
    let _operator = Operator::start(
        cluster,
        "seed-kb-unhealthy",
        &["--namespace", n, "--prometheus-url", &bad_url],
    )
    .await;
    let mut failing: Vec<(String, GateOutcome)> = vec![("tls-30-days".into(), Fail)];
    failing.extend(items.iter().map(|(name, _)| (name.clone(), Fail)));
    wait_for(&drs, dr, &failing, Duration::from_secs(180)).await;
}
